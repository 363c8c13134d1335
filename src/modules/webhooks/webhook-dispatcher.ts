import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { webhookDeliveries } from '../../common/metrics/metrics';
import { WakeUps } from '../../common/wake-ups';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { systemActor } from '../../tenancy/actor';
import { type SystemTx, type TenantTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { WebhookDelivery } from './webhook-delivery.entity';
import { type AttemptResult, WebhookSender } from './webhook-sender';
import { signedHeaders, signingSecrets } from './webhook-signature';

/** How often a copy looks for due deliveries when nothing woke it (retries, other copies' events). */
const POLL_MS = 250;
/** Deliveries of one endpoint taken at once, sent one after the other in event order. */
const LANE_BATCH = 20;
/** An endpoint failing for this long without a success is disabled (API.md section 13). */
const FAILING_DAYS = 5;

/** Who is told when an endpoint is disabled (the notifications module: the owners). */
export interface WebhookDisabledNotifier {
  webhookDisabled(
    tx: TenantTx,
    input: { key: string; webhookId: string; url: string; reason: string },
  ): Promise<void>;
}
export const WEBHOOK_DISABLED_NOTIFIER = Symbol('WEBHOOK_DISABLED_NOTIFIER');

/** A leased endpoint and its due deliveries, in event order. */
interface Lane {
  webhookId: string;
  deliveries: Claimed[];
}

/** What a claim returns per lane: the endpoint's columns (RETURNING of the lease's UPDATE). */
const LANE_COLUMNS = 'w.id, w.url, w.secret, w.previous_secret, w.previous_secret_expires_at';

/** The leased lanes (CTE `lanes`) with their next due deliveries, in event order. */
const LANE_DELIVERIES = `SELECT l.id AS "laneId", d.id, d.webhook_id AS "webhookId",
       d.organization_id AS "organizationId", d.event_id AS "eventId",
       d.event_type AS "eventType", d.payload, d.attempts,
       d.max_attempts AS "maxAttempts", d.event_seq AS "eventSeq", d.seq, l.url,
       l.secret, l.previous_secret AS "previousSecret",
       l.previous_secret_expires_at AS "previousSecretExpiresAt",
       d.payload::jsonb ->> 'requestid' AS "requestId"
  FROM lanes l LEFT JOIN LATERAL (
    SELECT * FROM webhook_deliveries d
     WHERE d.webhook_id = l.id AND d.status = 'pending' AND d.next_attempt_at <= now()
     ORDER BY d.event_seq, d.seq LIMIT $2) d ON true`;

type LaneRow = Claimed & { laneId: string };

/** Rows of LANE_DELIVERIES as lanes, each lane's deliveries in event order. */
function lanesOf(rows: LaneRow[]): Lane[] {
  const byEndpoint = new Map<string, Claimed[]>();
  for (const { laneId, ...row } of rows) {
    const lane = byEndpoint.get(laneId) ?? [];
    if (row.id) lane.push(row);
    byEndpoint.set(laneId, lane);
  }
  const order = (d: Claimed): [bigint, bigint] => [BigInt(d.eventSeq), BigInt(d.seq)];
  return [...byEndpoint].map(([webhookId, deliveries]) => ({
    webhookId,
    deliveries: deliveries.sort((a, b) => {
      const [x, y] = [order(a), order(b)];
      return x[0] === y[0] ? Number(x[1] - y[1]) : Number(x[0] - y[0]);
    }),
  }));
}

/** A claimed delivery with what sending it needs. */
interface Claimed {
  id: string;
  webhookId: string;
  organizationId: string;
  eventId: string;
  eventType: string;
  payload: string;
  attempts: number;
  maxAttempts: number;
  eventSeq: string;
  seq: string;
  url: string;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  requestId: string | null;
}

/**
 * Sends the webhook deliveries (API.md section 13, docs/decisions/0036). Every copy runs one
 * dispatcher. An endpoint is a lane: a claim takes, for up to WEBHOOK_CONCURRENCY endpoints with
 * due deliveries and none in flight anywhere, their next due deliveries in event order under a
 * lease (claims are serialized across copies by an advisory lock: two copies never hold the same
 * endpoint). Each lane sends its deliveries one after the other and stops at the first failure;
 * lanes run side by side, so a slow or dead endpoint holds one lane for at most its timeout and
 * never delays another endpoint, the relay or an API request. A copy that dies leaves leases that
 * lapse; the deliveries are then taken over (at least once: receivers deduplicate by
 * `webhook-id`). Each attempt is recorded in one transaction: the delivery's state, its log
 * line, the endpoint's failure count, and, when that disables the endpoint, the owners'
 * notification.
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Webhooks');
  private readonly sender: WebhookSender;
  private readonly wakeUps = new WakeUps();
  private readonly lanes = new Set<Promise<void>>();
  private running?: Promise<void>;
  private stopping = false;

  constructor(
    private readonly uow: UnitOfWork,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional()
    @Inject(WEBHOOK_DISABLED_NOTIFIER)
    private readonly notifier?: WebhookDisabledNotifier,
  ) {
    this.sender = new WebhookSender(config.webhooks, config.webhooks.timeoutMs);
  }

  onApplicationBootstrap(): void {
    this.running = this.run();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.wakeUps.wake();
    await this.running;
    await Promise.all(this.lanes);
    this.sender.close();
  }

  /** New deliveries were written (in this copy): look now instead of at the next poll. */
  wakeUp(): void {
    this.wakeUps.wake();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const seen = this.wakeUps.seen;
      const free = this.config.webhooks.concurrency - this.lanes.size;
      let claimed: Lane[] = [];
      if (free > 0) {
        try {
          claimed = await this.claim(free);
        } catch (error) {
          if (!this.stopping) this.logger.warn(`webhook dispatch: ${(error as Error).message}`);
        }
      }
      for (const lane of claimed) {
        const sending: Promise<void> = this.sendLane(lane).finally(() => {
          this.lanes.delete(sending);
          this.wakeUps.wake();
        });
        this.lanes.add(sending);
      }
      if (!this.stopping) await this.wakeUps.nap(POLL_MS, seen);
    }
  }

  /**
   * Up to `lanes` endpoints whose lane is due (`next_dispatch_at`) and not leased, leased to this
   * copy (the longest waiting first), with their next due deliveries in event order; an endpoint
   * taken without a due delivery (its lane was due for a backoff's end) comes back as an empty
   * lane. One statement, an index range of due endpoints only: the endpoint rows are taken with
   * FOR NO KEY UPDATE SKIP LOCKED (an enqueue's share lock does not hold that up), and a row
   * another copy leased meanwhile is re-checked on its newest version (READ COMMITTED), so two
   * copies never take one endpoint.
   */
  private claim(lanes: number): Promise<Lane[]> {
    return this.lease(
      `w.id IN (
         SELECT l.id FROM webhooks l
          WHERE l.enabled AND l.next_dispatch_at <= now()
            AND (l.dispatch_until IS NULL OR l.dispatch_until < now())
          ORDER BY l.next_dispatch_at
          LIMIT $1
          FOR NO KEY UPDATE SKIP LOCKED)`,
      lanes,
    );
  }

  /**
   * The next due deliveries of a lane this copy holds, with its lease extended: a busy endpoint
   * keeps its lane instead of ending it and being claimed again for every few deliveries. None
   * when the endpoint was disabled meanwhile.
   */
  private async more(webhookId: string): Promise<Claimed[]> {
    return (await this.lease('w.id = $1 AND w.enabled', webhookId))[0]?.deliveries ?? [];
  }

  /**
   * Leases the endpoints `endpoints` selects (a condition on `w`, with `$1` = `first`) and reads
   * their next due deliveries: one statement.
   */
  private async lease(endpoints: string, first: unknown): Promise<Lane[]> {
    const rows = await this.uow
      .systemRead()
      .repo(WebhookDelivery)
      .query<LaneRow[]>(
        `WITH lanes AS (
           UPDATE webhooks w SET dispatch_until = now() + make_interval(secs => $3 / 1000.0)
            WHERE ${endpoints}
           RETURNING ${LANE_COLUMNS}
         )
         ${LANE_DELIVERIES}`,
        [first, LANE_BATCH, this.leaseMs],
      );
    return lanesOf(rows);
  }

  /** A lane's lease: long enough for a batch of attempts that all wait for their timeout. */
  private get leaseMs(): number {
    return this.config.webhooks.timeoutMs * LANE_BATCH + 30_000;
  }

  /**
   * Sends a lane's deliveries in order and stops at the first failure; then ends the lane: its
   * lease, and when it is due next (the earliest due delivery, but after a failure not before
   * the schedule's first delay: a failing endpoint is tried at most that often, however many
   * deliveries wait for it).
   */
  private async sendLane(lane: Lane): Promise<void> {
    let failed = false;
    let deliveries = lane.deliveries;
    while (deliveries.length && !failed && !this.stopping) {
      for (const delivery of deliveries) {
        let ok = false;
        try {
          ok = await this.attempt(delivery);
        } catch (error) {
          this.logger.warn(`webhook delivery ${delivery.id}: ${(error as Error).message}`);
        }
        failed = !ok;
        if (!ok || this.stopping) break;
      }
      if (!failed && !this.stopping) {
        deliveries = await this.more(lane.webhookId).catch((error: Error) => {
          this.logger.warn(`webhook dispatch: ${error.message}`);
          return [];
        });
      }
    }
    const backoffMs = failed ? this.config.webhooks.retryScheduleMs[0] : 0;
    await this.uow
      .system(async (tx) => {
        const webhooks = tx.repo(WebhookDelivery);
        // The row lock first: an enqueue that wrote a delivery and touched this row commits
        // before the next statement's snapshot (which then counts its delivery), or runs after
        // this transaction and makes the lane due earlier when its delivery is (WebhooksService
        // .enqueue).
        await webhooks.query(`SELECT 1 FROM webhooks WHERE id = $1 FOR UPDATE`, [lane.webhookId]);
        await webhooks.query(
          `UPDATE webhooks w
              SET dispatch_until = NULL,
                  backoff_until = CASE WHEN $2 > 0 THEN now() + make_interval(secs => $2 / 1000.0) END,
                  next_dispatch_at = (
                    SELECT CASE WHEN min(d.next_attempt_at) IS NOT NULL THEN greatest(
                             min(d.next_attempt_at), now() + make_interval(secs => $2 / 1000.0))
                           END
                      FROM webhook_deliveries d
                     WHERE d.webhook_id = w.id AND d.status = 'pending')
            WHERE w.id = $1`,
          [lane.webhookId, backoffMs],
        );
      })
      .catch((error: Error) => this.logger.warn(`webhook dispatch: ${error.message}`));
  }

  /** One attempt of one delivery, recorded; whether it succeeded. */
  private async attempt(delivery: Claimed): Promise<boolean> {
    const at = new Date();
    const headers = signedHeaders(
      signingSecrets(delivery, at),
      delivery.eventId,
      delivery.payload,
      at,
    );
    const result = await this.sender.post(delivery.url, headers, delivery.payload);
    const attempt = delivery.attempts + 1;
    const final = !result.ok && attempt >= delivery.maxAttempts;
    const retryInMs = result.ok || final ? null : this.retryDelayMs(attempt);
    if (result.ok) {
      // One statement (it commits on its own): nothing else to decide after a success.
      await this.record(this.uow.systemRead(), delivery, at, result, retryInMs);
    } else {
      await this.uow.system(async (tx) => {
        await this.record(tx, delivery, at, result, retryInMs);
        await this.disableIfFailing(tx, delivery, result.error ?? 'failed');
      });
    }
    webhookDeliveries.inc({ status: result.ok ? 'succeeded' : final ? 'failed' : 'retry' });
    const line = {
      webhookId: delivery.webhookId,
      deliveryId: delivery.id,
      eventId: delivery.eventId,
      eventType: delivery.eventType,
      requestId: delivery.requestId,
      attempt,
      statusCode: result.statusCode,
      durationMs: result.durationMs,
    };
    if (result.ok) this.logger.log({ msg: 'webhook delivered', ...line });
    else {
      this.logger.warn({
        msg: final ? 'webhook delivery failed for good' : 'webhook attempt failed',
        ...line,
        error: result.error,
        nextAttemptInMs: retryInMs,
      });
    }
    return result.ok;
  }

  /** The delay after failed attempt number `attempt` (1 = the first): WEBHOOK_RETRY_SCHEDULE. */
  private retryDelayMs(attempt: number): number {
    const schedule = this.config.webhooks.retryScheduleMs;
    return schedule[Math.min(attempt, schedule.length) - 1];
  }

  private async record(
    tx: SystemTx,
    delivery: Claimed,
    at: Date,
    result: AttemptResult,
    retryInMs: number | null,
  ): Promise<void> {
    const status = result.ok ? 'succeeded' : retryInMs === null ? 'failed' : 'pending';
    await tx.repo(WebhookDelivery).query(
      `WITH d AS (
         UPDATE webhook_deliveries
            SET status = $2, attempts = attempts + 1, last_status_code = $3, last_error = $4,
                next_attempt_at = CASE WHEN $5::float8 IS NULL THEN NULL
                                       ELSE now() + make_interval(secs => $5::float8 / 1000.0) END,
                updated_at = now()
          WHERE id = $1
          RETURNING webhook_id
       ), logged AS (
         INSERT INTO webhook_delivery_attempts
                (delivery_id, at, status_code, duration_ms, error, response_body_excerpt)
         -- Nothing when the endpoint (and its deliveries) was deleted during the attempt.
         SELECT $1, $6, $3, $7, $4, $8 FROM d
       )
       UPDATE webhooks w
          SET consecutive_failures = CASE WHEN $2 = 'succeeded' THEN 0
                                          WHEN $2 = 'failed' THEN w.consecutive_failures + 1
                                          ELSE w.consecutive_failures END,
              failing_since = CASE WHEN $2 = 'succeeded' THEN NULL
                                   ELSE coalesce(w.failing_since, $6) END
        WHERE w.id = (SELECT webhook_id FROM d)
          -- A success of a healthy endpoint changes nothing there (no row version per delivery).
          AND ($2 <> 'succeeded' OR w.consecutive_failures <> 0 OR w.failing_since IS NOT NULL)`,
      [
        delivery.id,
        status,
        result.statusCode,
        result.error,
        retryInMs,
        at,
        result.durationMs,
        result.responseBodyExcerpt,
      ],
    );
  }

  /**
   * Disables the endpoint when its deliveries failed WEBHOOK_DISABLE_AFTER times in a row (each
   * delivery counted when it fails for good), or every attempt failed for FAILING_DAYS days; the
   * organization's owners are told in the same transaction.
   */
  private async disableIfFailing(
    tx: SystemTx,
    delivery: Claimed,
    lastError: string,
  ): Promise<void> {
    const disableAfter = this.config.webhooks.disableAfter;
    const [[disabled]] = await tx
      .repo(WebhookDelivery)
      .query<[{ reason: string; disabledAt: Date }[], number]>(
        `UPDATE webhooks
          SET enabled = false, updated_at = now(),
              disabled_reason = CASE WHEN consecutive_failures >= $2
                THEN consecutive_failures || ' deliveries in a row failed (the last: ' || $3::text || ')'
                ELSE 'every delivery failed since ' || to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' (the last: ' || $3::text || ')' END
        WHERE id = $1 AND enabled
          AND (consecutive_failures >= $2 OR failing_since <= now() - make_interval(days => $4))
      RETURNING disabled_reason AS reason, updated_at AS "disabledAt"`,
        [delivery.webhookId, disableAfter, lastError, FAILING_DAYS],
      );
    if (!disabled) return;
    this.logger.error({
      msg: 'webhook endpoint disabled',
      webhookId: delivery.webhookId,
      organizationId: delivery.organizationId,
      reason: disabled.reason,
    });
    await this.notifier?.webhookDisabled(tx.tenant(systemActor(delivery.organizationId)), {
      key: `${delivery.webhookId}:${disabled.disabledAt.toISOString()}`,
      webhookId: delivery.webhookId,
      url: delivery.url,
      reason: disabled.reason,
    });
  }
}
