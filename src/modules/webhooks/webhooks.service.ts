import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Repository } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { ListQueryDto } from '../../common/pagination/list-query.dto';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { selectAs } from '../../common/pagination/select-as';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import type { EventEnvelope } from '../../events/envelope';
import type { Actor } from '../../tenancy/actor';
import { UnitOfWork } from '../../tenancy/unit-of-work';
import { AuditAction, AuditService } from '../audit/audit.service';
import {
  AttemptDto,
  type CreateWebhookDto,
  CreatedWebhookDto,
  DeliveryDetailDto,
  DeliveryDto,
  type DeliveryListQueryDto,
  type UpdateWebhookDto,
  WebhookDto,
  WebhookSecretDto,
} from './dto/webhook.dto';
import { WebhookDispatcher } from './webhook-dispatcher';
import { WebhookDelivery, WebhookDeliveryAttempt } from './webhook-delivery.entity';
import { PING_TYPE } from './webhook-events';
import { newSecret } from './webhook-signature';
import { assertUrlAllowed, UrlNotAllowedError } from './webhook-url';
import { Webhook } from './webhook.entity';

/** At most this many endpoints per organization (API.md section 13). */
export const MAX_WEBHOOKS = 20;
/** How long a rotated-out secret keeps signing. */
export const SECRET_OVERLAP_MS = 24 * 3600 * 1000;

const COLUMNS = [
  'id',
  'organizationId',
  'url',
  'events',
  'description',
  'enabled',
  'disabledReason',
  'createdAt',
  'updatedAt',
] as const;

const DELIVERY_COLUMNS = [
  'id',
  'eventId',
  'eventType',
  'status',
  'attempts',
  'lastStatusCode',
  'lastError',
  'nextAttemptAt',
  'createdAt',
  'updatedAt',
] as const;

/**
 * Webhook endpoints and their delivery log (API.md section 13). Owners and admins only (the
 * controller's roles). Deliveries are written by the webhooks consumer and sent by the
 * dispatcher (docs/decisions/0036).
 */
@Injectable()
export class WebhooksService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly dispatcher: WebhookDispatcher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly audit: AuditService,
  ) {}

  list(actor: Actor, query: ListQueryDto): Promise<ListResult<WebhookDto>> {
    const reader = this.uow.read(actor);
    return reader.list(
      reader.visible(Webhook, 'w').select(selectAs('w', COLUMNS)),
      query,
      { column: 'w.created_at', type: 'timestamptz', id: 'w.id' },
      { endpoint: 'webhooks', orderBy: 'createdAt' },
      (row: Webhook) => WebhookDto.from(row),
    );
  }

  async get(actor: Actor, id: string): Promise<WebhookDto> {
    return WebhookDto.from(await this.uow.read(actor).findVisible(Webhook, id));
  }

  async create(actor: Actor, input: CreateWebhookDto): Promise<CreatedWebhookDto> {
    await this.assertUrl(input.url);
    return this.audit.audited(actor, 'webhook', async (tx, audit) => {
      // Creations of one organization take turns, so that the limit holds under concurrency.
      await tx.organization({ lock: 'pessimistic_write' });
      if ((await tx.repo(Webhook).countBy({})) >= MAX_WEBHOOKS) {
        throw AppException.conflict(
          ErrorCode.WEBHOOK_LIMIT_REACHED,
          `An organization has at most ${MAX_WEBHOOKS} webhooks`,
        );
      }
      const webhook = await tx.repo(Webhook).save({
        url: input.url,
        events: [...new Set(input.events)],
        description: input.description || null,
        enabled: input.enabled ?? true,
        disabledReason: null,
        secret: newSecret(),
        previousSecret: null,
        previousSecretExpiresAt: null,
        consecutiveFailures: 0,
        failingSince: null,
      });
      await audit(AuditAction.WEBHOOK_CREATED, webhook.id, {
        url: webhook.url,
        events: webhook.events,
        enabled: webhook.enabled,
      });
      return { ...WebhookDto.from(webhook), secret: webhook.secret };
    });
  }

  async update(actor: Actor, id: string, input: UpdateWebhookDto): Promise<WebhookDto> {
    if (input.url !== undefined) {
      // 404 before 422 (API.md section 1): the endpoint must be visible first.
      await this.uow.read(actor).findVisible(Webhook, id);
      await this.assertUrl(input.url);
    }
    const saved = await this.audit.audited(actor, 'webhook', async (tx, audit) => {
      const webhook = await tx.findVisible(Webhook, id, { lock: 'pessimistic_write' });
      const before = WebhookDto.from(webhook);
      if (input.url !== undefined) webhook.url = input.url;
      if (input.events !== undefined) webhook.events = [...new Set(input.events)];
      if (input.description !== undefined) webhook.description = input.description || null;
      if (input.enabled !== undefined && input.enabled !== webhook.enabled) {
        webhook.enabled = input.enabled;
        // Enabled again (by hand): the failure count starts over.
        webhook.disabledReason = null;
        webhook.consecutiveFailures = 0;
        webhook.failingSince = null;
        // Its waiting deliveries are due again (the dispatcher skips a disabled endpoint).
        if (input.enabled) {
          webhook.nextDispatchAt = new Date();
          webhook.backoffUntil = null;
        }
      }
      const after = WebhookDto.from(await tx.repo(Webhook).save(webhook));
      // What changed, before and after (a PATCH that changes nothing is audited with none).
      const fields = ['url', 'events', 'description', 'enabled'] as const;
      const changed = fields.filter((f) => JSON.stringify(before[f]) !== JSON.stringify(after[f]));
      await audit(AuditAction.WEBHOOK_UPDATED, webhook.id, {
        changes: Object.fromEntries(changed.map((f) => [f, after[f]])),
        previous: Object.fromEntries(changed.map((f) => [f, before[f]])),
      });
      return after;
    });
    if (saved.enabled) this.dispatcher.wakeUp();
    return saved;
  }

  async remove(actor: Actor, id: string): Promise<void> {
    await this.audit.audited(actor, 'webhook', async (tx, audit) => {
      const webhook = await tx.findVisible(Webhook, id, { lock: 'pessimistic_write' });
      await tx.repo(Webhook).delete({ id: webhook.id });
      await audit(AuditAction.WEBHOOK_DELETED, webhook.id, { url: webhook.url });
    });
  }

  async rotateSecret(actor: Actor, id: string): Promise<WebhookSecretDto> {
    return this.audit.audited(actor, 'webhook', async (tx, audit) => {
      const webhook = await tx.findVisible(Webhook, id, { lock: 'pessimistic_write' });
      webhook.previousSecret = webhook.secret;
      webhook.previousSecretExpiresAt = new Date(Date.now() + SECRET_OVERLAP_MS);
      webhook.secret = newSecret();
      await tx.repo(Webhook).save(webhook);
      // Never the secrets themselves.
      await audit(AuditAction.WEBHOOK_SECRET_ROTATED, webhook.id, {
        previousSecretExpiresAt: webhook.previousSecretExpiresAt.toISOString(),
      });
      return { secret: webhook.secret };
    });
  }

  async deliveries(
    actor: Actor,
    webhookId: string,
    query: DeliveryListQueryDto,
  ): Promise<ListResult<DeliveryDto>> {
    const reader = this.uow.read(actor);
    const webhook = await reader.findVisible(Webhook, webhookId);
    const deliveries = this.deliveriesOf(actor, webhook.id).select(selectAs('d', DELIVERY_COLUMNS));
    if (query.status) deliveries.andWhere('d.status = :status', { status: query.status });
    if (query.eventType) {
      deliveries.andWhere('d.event_type = :eventType', { eventType: query.eventType });
    }
    return reader.list(
      deliveries,
      query,
      { column: 'd.created_at', type: 'timestamptz', id: 'd.id' },
      {
        endpoint: `webhooks/${webhook.id}/deliveries`,
        orderBy: 'createdAt',
        // The log changes with every attempt, outside the organization's writes.
        fresh: true,
        filters: { status: query.status, eventType: query.eventType },
      },
      (row: WebhookDelivery) => DeliveryDto.from(row),
    );
  }

  async delivery(actor: Actor, webhookId: string, deliveryId: string): Promise<DeliveryDetailDto> {
    const webhook = await this.uow.read(actor).findVisible(Webhook, webhookId);
    const delivery = await this.deliveriesOf(actor, webhook.id)
      .andWhere('d.id = :deliveryId', { deliveryId })
      .getOne();
    if (!delivery) throw AppException.notFound('Delivery');
    const attempts = await this.uow
      .systemRead()
      .repo(WebhookDeliveryAttempt)
      .find({ where: { deliveryId: delivery.id }, order: { at: 'ASC', id: 'ASC' } });
    return { ...DeliveryDto.from(delivery), attemptLog: attempts.map((a) => AttemptDto.from(a)) };
  }

  /**
   * A new attempt now, with the same event id; one attempt only when the delivery had ended
   * (succeeded or failed), the rest of its schedule when it was still pending.
   */
  async redeliver(actor: Actor, webhookId: string, deliveryId: string): Promise<DeliveryDto> {
    const webhook = await this.uow.read(actor).findVisible(Webhook, webhookId);
    const rows = await this.deliveryTable().query<{ id: string }[]>(
      `WITH again AS (
         UPDATE webhook_deliveries
            SET next_attempt_at = now(), updated_at = now(),
                max_attempts = CASE WHEN status = 'pending' THEN max_attempts ELSE attempts + 1 END,
                status = 'pending'
          WHERE id = $1 AND webhook_id = $2 AND organization_id = $3
        RETURNING id, webhook_id
       ), due AS (
         UPDATE webhooks SET next_dispatch_at = least(next_dispatch_at, now())
          WHERE id IN (SELECT webhook_id FROM again)
       )
       SELECT id FROM again`,
      [deliveryId, webhook.id, actor.organizationId],
    );
    if (!rows.length) throw AppException.notFound('Delivery');
    this.dispatcher.wakeUp();
    return this.delivery(actor, webhook.id, deliveryId);
  }

  /** Sends a `crm.webhook.ping.v1` event to this endpoint only. */
  async ping(actor: Actor, webhookId: string): Promise<DeliveryDto> {
    const webhook = await this.uow.read(actor).findVisible(Webhook, webhookId);
    const envelope: EventEnvelope = {
      specversion: '1.0',
      id: randomUUID(),
      type: PING_TYPE,
      source: `/organizations/${actor.organizationId}`,
      subject: `webhooks/${webhook.id}`,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      organizationid: actor.organizationId,
      actorid: actor.userId,
      requestid: actor.requestId || null,
      data: { webhook: WebhookDto.from(webhook) },
    };
    await this.enqueue([{ webhook, event: envelope }]);
    const delivery = await this.deliveriesOf(actor, webhook.id)
      .andWhere('d.event_id = :eventId', { eventId: envelope.id })
      .getOneOrFail();
    return DeliveryDto.from(delivery);
  }

  /**
   * Writes one pending delivery per endpoint and event (once: a second write of the same pair
   * is a no-op), ordered by the event's `seq` (a ping, which is not stored, takes its
   * organization's newest), and makes the endpoints' lanes due.
   */
  async enqueue(
    deliveries: { webhook: Pick<Webhook, 'id' | 'organizationId'>; event: EventEnvelope }[],
  ): Promise<void> {
    if (!deliveries.length) return;
    await this.uow.system(async (tx) => {
      const table = tx.repo(WebhookDelivery);
      // The endpoints' rows first (a share lock, in a statement of its own): a lane that is
      // ending (WebhookDispatcher.sendLane, which locks the row) either ends before the next
      // statement's snapshot, so that statement sees what the lane left and makes it due, or
      // waits for this transaction and then counts these deliveries.
      await table.query(
        `SELECT 1 FROM webhooks WHERE id = ANY($1::uuid[]) ORDER BY id FOR KEY SHARE`,
        [[...new Set(deliveries.map((d) => d.webhook.id))]],
      );
      await table.query(
        `WITH written AS (
           INSERT INTO webhook_deliveries
                  (organization_id, webhook_id, event_id, event_seq, event_type, payload,
                   max_attempts, next_attempt_at)
           SELECT x.organization_id, x.webhook_id, x.event_id,
                  coalesce((SELECT seq FROM events WHERE id = x.event_id),
                           (SELECT coalesce(max(seq), 0) FROM events
                             WHERE organization_id = x.organization_id)),
                  x.event_type, x.payload, $6, now()
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[])
                  AS x(organization_id, webhook_id, event_id, event_type, payload)
           ON CONFLICT (webhook_id, event_id) DO NOTHING
           RETURNING webhook_id
         )
         -- Only a lane due later than now (or not at all) is written: a busy endpoint's row is
         -- not rewritten for every event.
         UPDATE webhooks SET next_dispatch_at = greatest(now(), backoff_until)
          WHERE id IN (SELECT webhook_id FROM written)
            AND (next_dispatch_at IS NULL OR next_dispatch_at > greatest(now(), backoff_until))`,
        [
          deliveries.map((d) => d.webhook.organizationId),
          deliveries.map((d) => d.webhook.id),
          deliveries.map((d) => d.event.id),
          deliveries.map((d) => d.event.type),
          deliveries.map((d) => JSON.stringify(d.event)),
          this.config.webhooks.retryScheduleMs.length + 1,
        ],
      );
    });
    this.dispatcher.wakeUp();
  }

  /** The deliveries table, for single statements (each commits on its own). */
  private deliveryTable(): Repository<WebhookDelivery> {
    return this.uow.systemRead().repo(WebhookDelivery);
  }

  /** The deliveries of one of the actor's organization's endpoints (alias d). */
  private deliveriesOf(actor: Actor, webhookId: string) {
    return this.deliveryTable()
      .createQueryBuilder('d')
      .where('d.organization_id = :organizationId AND d.webhook_id = :webhookId', {
        organizationId: actor.organizationId,
        webhookId,
      });
  }

  private async assertUrl(url: string): Promise<void> {
    try {
      await assertUrlAllowed(url, this.config.webhooks);
    } catch (error) {
      if (!(error instanceof UrlNotAllowedError)) throw error;
      throw AppException.unprocessable(
        ErrorCode.WEBHOOK_URL_NOT_ALLOWED,
        `This webhook URL is not allowed: ${error.message}`,
      );
    }
  }
}
