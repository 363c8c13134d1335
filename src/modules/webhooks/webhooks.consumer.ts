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
 * calls the network: the dispatcher sends. From the consumers' table, events come in batches
 * (`handleBatch`): a batch costs two statements, whatever its size.
 */
@Injectable()
@Consumer({ name: 'webhooks', types: ['crm.*'] })
export class WebhooksConsumer implements EventHandler {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly webhooks: WebhooksService,
  ) {}

  handle(event: EventEnvelope): Promise<void> {
    return this.handleBatch([event]);
  }

  /** Events of any organizations: one read of each one's endpoints, one write of the deliveries. */
  async handleBatch(events: EventEnvelope[]): Promise<void> {
    const organizations = [...new Set(events.map((e) => e.organizationid))];
    const endpoints = (
      await Promise.all(
        organizations.map((organizationId) =>
          this.uow
            .read(systemActor(organizationId))
            .visible(Webhook, 'w')
            .select(['w.id', 'w.organizationId', 'w.events', 'w.createdAt'])
            .andWhere('w.enabled')
            .getMany(),
        ),
      )
    ).flat();
    await this.webhooks.enqueue(
      events.flatMap((event) =>
        endpoints
          .filter(
            (w) =>
              w.organizationId === event.organizationid &&
              subscribed(w.events, event.type) &&
              // An endpoint receives the events recorded after it was created, not older ones
              // that the consumer happens to read after its creation (a backlog, a replay).
              new Date(event.time) >= w.createdAt,
          )
          .map((webhook) => ({ webhook, event })),
      ),
    );
  }
}
