import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { WakeUps } from '../../common/wake-ups';
import type { EventEnvelope } from '../envelope';
import { errorLine, likePattern, retryDelayMs, within, type RegisteredConsumer } from './consumer';

/** Messages one worker claims at a time. */
const CLAIM_BATCH = 50;
/** A claimed message is another copy's to retry if not settled by then (a copy that died). */
const LEASE_MS = 60_000;
/** A handler slower than this counts as failed (the lease must outlast it). */
export const HANDLER_TIMEOUT_MS = 30_000;

interface Claimed {
  id: string;
  envelope: EventEnvelope;
  attempts: number;
}

/** The relay's rows, as the dispatch needs them. */
export interface Dispatched {
  seq: string;
}

/**
 * The in-app consumers without RabbitMQ (API.md section 12, docs/decisions/0031), on the
 * `consumer_messages` table. `dispatch` is the relay's sink: one row per event and matching
 * consumer. Each copy runs one worker loop per consumer (a slow or failing consumer delays no
 * other): it claims due rows with `FOR UPDATE SKIP LOCKED` under a lease, runs the handler outside
 * any transaction, then deletes the row, or schedules the next attempt with backoff, or after
 * EVENT_MAX_ATTEMPTS keeps it as a dead letter with the last error. No timer holds work: a copy
 * that dies leaves rows that another copy claims when their lease ends.
 */
@Injectable()
export class TableConsumers {
  private readonly logger = new Logger(TableConsumers.name);
  private loops: Promise<void>[] = [];
  private stopping = false;
  private readonly wakeUps = new WakeUps();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Writes the events' messages for every consumer of their types (once per consumer). */
  async dispatch(
    query: (sql: string, params: unknown[]) => Promise<unknown>,
    rows: Dispatched[],
    consumers: RegisteredConsumer[],
  ): Promise<void> {
    const subscriptions = consumers.flatMap((c) =>
      c.types.map((type) => [c.name, likePattern(type)]),
    );
    if (!subscriptions.length || !rows.length) return;
    await query(
      `INSERT INTO consumer_messages (consumer, event_id, event_seq, organization_id, type, envelope)
       SELECT s.consumer, e.id, e.seq, e.organization_id, e.type, e.envelope
         FROM events e
         JOIN unnest($2::text[], $3::text[]) AS s(consumer, pattern) ON e.type LIKE s.pattern
        WHERE e.seq = ANY($1::bigint[])
        ORDER BY e.seq
       ON CONFLICT (consumer, event_id) DO NOTHING`,
      [
        rows.map((r) => r.seq),
        subscriptions.map(([name]) => name),
        subscriptions.map(([, pattern]) => pattern),
      ],
    );
    this.wakeUp();
  }

  start(consumers: RegisteredConsumer[]): void {
    this.loops = consumers.map((consumer) => this.work(consumer));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp();
    await Promise.all(this.loops);
  }

  wakeUp(): void {
    this.wakeUps.wake();
  }

  private async work(consumer: RegisteredConsumer): Promise<void> {
    while (!this.stopping) {
      const seen = this.wakeUps.seen;
      let claimed: Claimed[] = [];
      try {
        claimed = await this.claim(consumer.name);
        const rest = await this.deliverBatch(consumer, claimed);
        for (const message of rest) {
          if (this.stopping) break;
          await this.deliver(consumer, message);
        }
      } catch (error) {
        if (!this.stopping) {
          this.logger.warn(`consumer ${consumer.name}: ${(error as Error).message}`);
        }
      }
      if (claimed.length < CLAIM_BATCH && !this.stopping) {
        await this.wakeUps.nap(this.config.relay.pollMs, seen);
      }
    }
  }

  /** Due messages of one consumer, oldest event first, leased to this copy. */
  private async claim(consumer: string): Promise<Claimed[]> {
    if (!this.dataSource.isInitialized) return [];
    const [rows] = await this.dataSource.query<[(Claimed & { eventSeq: string })[], number]>(
      `UPDATE consumer_messages m
          SET attempts = m.attempts + 1, available_at = now() + make_interval(secs => $3 / 1000.0)
        WHERE m.id IN (
          SELECT id FROM consumer_messages
           WHERE consumer = $1 AND dead_at IS NULL AND available_at <= now()
           ORDER BY event_seq
           LIMIT $2
           FOR UPDATE SKIP LOCKED)
      RETURNING m.id, m.envelope, m.attempts, m.event_seq AS "eventSeq"`,
      [consumer, CLAIM_BATCH, LEASE_MS],
    );
    return rows.sort((a, b) => Number(BigInt(a.eventSeq) - BigInt(b.eventSeq)));
  }

  /**
   * The first attempts of a claimed batch through the consumer's `handleBatch`, if it has one:
   * handled messages are deleted in one statement. Returns what is left to deliver one by one
   * (retries, or the whole batch when `handleBatch` rejected).
   */
  private async deliverBatch(consumer: RegisteredConsumer, claimed: Claimed[]): Promise<Claimed[]> {
    const batch = consumer.handler.handleBatch?.bind(consumer.handler);
    const first = claimed.filter((m) => m.attempts === 1);
    if (!batch || first.length < 2 || this.stopping) return claimed;
    try {
      await within(HANDLER_TIMEOUT_MS, batch(first.map((m) => m.envelope)));
    } catch (error) {
      this.logger.warn(
        `consumer ${consumer.name}: a batch of ${first.length} failed (${errorLine(error)}); handling them one by one`,
      );
      return claimed;
    }
    await this.dataSource.query('DELETE FROM consumer_messages WHERE id = ANY($1::bigint[])', [
      first.map((m) => m.id),
    ]);
    return claimed.filter((m) => m.attempts !== 1);
  }

  private async deliver(consumer: RegisteredConsumer, message: Claimed): Promise<void> {
    const { id, envelope, attempts } = message;
    try {
      await within(HANDLER_TIMEOUT_MS, consumer.handler.handle(envelope, { attempt: attempts }));
    } catch (error) {
      await this.failed(consumer.name, message, errorLine(error));
      return;
    }
    await this.dataSource.query('DELETE FROM consumer_messages WHERE id = $1', [id]);
  }

  private async failed(consumer: string, message: Claimed, error: string): Promise<void> {
    const { maxAttempts, retryBaseMs } = this.config.consumers;
    const dead = message.attempts >= maxAttempts;
    const delayMs = dead ? 0 : retryDelayMs(message.attempts, retryBaseMs);
    await this.dataSource.query(
      `UPDATE consumer_messages
          SET last_error = $2, available_at = now() + make_interval(secs => $3 / 1000.0),
              dead_at = CASE WHEN $4 THEN now() END
        WHERE id = $1`,
      [message.id, error, delayMs, dead],
    );
    const about = `consumer ${consumer}, event ${message.envelope.id} (${message.envelope.type}), attempt ${message.attempts}/${maxAttempts}: ${error}`;
    if (dead) this.logger.error(`dead-lettered: ${about}`);
    else this.logger.warn(`${about}; next attempt in ${delayMs} ms`);
  }
}
