import { Injectable } from '@nestjs/common';
import { Consumer, type EventHandler } from '../../events/consumers/consumer';
import type { EventEnvelope } from '../../events/envelope';
import { systemActor } from '../../tenancy/actor';
import { UnitOfWork } from '../../tenancy/unit-of-work';
import { subscribed } from './webhook-events';
import { Webhook } from './webhook.entity';
import { WebhooksService } from './webhooks.service';

/**
 * Turns every domain event into one delivery per enabled endpoint of its organization that
 * subscribed to its type (API.md section 13). Idempotent by event id (one delivery per endpoint
 * and event), so a redelivered or replayed event is not sent twice by this path; nothing here
 * calls the network: the dispatcher sends.
 */
@Injectable()
@Consumer({ name: 'webhooks', types: ['crm.*'] })
export class WebhooksConsumer implements EventHandler {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly webhooks: WebhooksService,
  ) {}

  async handle(event: EventEnvelope): Promise<void> {
    const endpoints = await this.uow
      .read(systemActor(event.organizationid))
      .visible(Webhook, 'w')
      .select(['w.id', 'w.organizationId', 'w.events'])
      .andWhere('w.enabled')
      .getMany();
    await this.webhooks.enqueue(
      endpoints.filter((w) => subscribed(w.events, event.type)),
      event,
    );
  }
}
