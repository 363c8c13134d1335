import { eventsPublished } from '../common/metrics/metrics';
import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { AmqpConnectionManager, ChannelWrapper } from 'amqp-connection-manager';
import type { ConfirmChannel } from 'amqplib';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { activeTracing } from '../common/tracing/trace-hooks';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { Broker, EVENT_CONTENT_TYPE } from './broker';
import { ConsumerRegistry } from './consumers/consumer-registry';
import { TableConsumers } from './consumers/table-consumers';
import { RELAY_CHANNEL } from './outbox.recorder';

export { EVENT_CONTENT_TYPE, EVENTS_EXCHANGE } from './broker';
/** The session-level advisory lock the active relay holds (one per database). */
const LEADER_LOCK = "hashtextextended('events:relay', 0)";
/** How often a copy that is not the relay tries to become it. */
const LEADER_RETRY_MS = 3000;
/** At shutdown, how long a batch in flight may take to get its confirms before it is abandoned. */
const SHUTDOWN_GRACE_MS = 3000;

interface Unpublished {
  seq: string;
  id: string;
  type: string;
  /** The envelope as stored (jsonb as text: published as is, never parsed here). */
  body: string;
  /** The envelope's traceparent (read only when tracing is on). */
  traceparent?: string | null;
}

/**
 * The outbox relay (API.md section 12, docs/decisions/0030 and 0031). Every copy runs one, but
 * only the copy holding a session-level advisory lock (on a dedicated connection outside the
 * pool) relays; the others retry taking it every few seconds, and it is freed when the holder's
 * connection closes. The relay reads the unpublished events in `seq` order in batches and hands
 * each batch to its sink, then sets `published_at` on what the sink took: with AMQP_URL the
 * sink is RabbitMQ (published on a confirm channel, an event counts only once the broker
 * confirmed it); without it, the in-app consumers' table (consumer_messages). At least once, in
 * commit order per organization. It wakes up on NOTIFY from the recorder (with RabbitMQ) and
 * polls every RELAY_POLL_MS. Requests never wait for it.
 */
@Injectable()
export class EventRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(EventRelay.name);
  private connection?: AmqpConnectionManager;
  private channel?: ChannelWrapper;
  private running?: Promise<void>;
  private stopping = false;
  private woken = false;
  private wake?: () => void;
  /** Whether this copy is the active relay (holds the lock). */
  leader = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly broker: Broker,
    private readonly registry: ConsumerRegistry,
    private readonly table: TableConsumers,
  ) {}

  onApplicationBootstrap(): void {
    if (this.broker.enabled) {
      const connection = this.broker.acquire();
      this.connection = connection;
      connection.on('connect', () => this.wakeUp());
      // A batch in flight is abandoned (its unconfirmed messages are not resent by the old
      // channel behind newer ones) and read again from the outbox: order is kept.
      connection.on('disconnect', () => this.renewChannel());
      this.channel = this.openChannel();
    }
    this.running = this.run();
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
    this.wakeUp();
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      this.running,
      new Promise((resolve) => (grace = setTimeout(resolve, SHUTDOWN_GRACE_MS))),
    ]);
    clearTimeout(grace);
    if (this.connection) {
      await this.channel?.close().catch(() => undefined);
      await this.broker.release();
    }
    await this.running;
  }

  private openChannel(): ChannelWrapper {
    return this.broker.channel('event relay', {
      confirm: true,
      setup: async (ch: ConfirmChannel) => {
        await ch.assertExchange(this.broker.names.exchange, 'topic', { durable: true });
      },
    });
  }

  private renewChannel(): void {
    if (this.stopping || !this.connection) return;
    const old = this.channel;
    this.channel = this.openChannel();
    void old?.close().catch(() => undefined);
  }

  private wakeUp(): void {
    this.woken = true;
    this.wake?.();
  }

  /** Waits `ms`, or less when woken up (NOTIFY, broker back, shutdown). */
  private nap(ms: number): Promise<void> {
    if (this.woken || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  /** Becomes the relay when the lock is free, relays until stopped or the connection fails. */
  private async run(): Promise<void> {
    const connectionString = (this.dataSource.options as { url?: string }).url;
    while (!this.stopping) {
      const client = new Client({
        connectionString,
        keepAlive: true,
        application_name: 'crm-api event relay',
      });
      client.on('error', (error) => this.logger.warn(`event relay database: ${error.message}`));
      client.on('end', () => {
        if (this.leader && !this.stopping) this.renewChannel();
        this.wakeUp();
      });
      try {
        await client.connect();
        while (!this.stopping && !(await this.tryLead(client))) await this.nap(LEADER_RETRY_MS);
        if (this.leader) await this.relay(client);
      } catch (error) {
        if (!this.stopping) this.logger.warn(`event relay: ${(error as Error).message}`);
      } finally {
        const wasLeader = this.leader;
        this.leader = false;
        if (wasLeader) {
          await client.query(`SELECT pg_advisory_unlock(${LEADER_LOCK})`).catch(() => undefined);
        }
        await client.end().catch(() => undefined);
      }
      if (!this.stopping) await this.nap(LEADER_RETRY_MS);
    }
  }

  private async tryLead(client: Client): Promise<boolean> {
    this.woken = false;
    const { rows } = await client.query<{ locked: boolean }>(
      `SELECT pg_try_advisory_lock(${LEADER_LOCK}) AS locked`,
    );
    if (!rows[0].locked) return false;
    this.leader = true;
    client.on('notification', () => this.wakeUp());
    await client.query(`LISTEN ${RELAY_CHANNEL}`);
    this.logger.log(
      this.connection
        ? 'this copy relays the domain events to RabbitMQ'
        : 'this copy relays the domain events to the in-app consumers',
    );
    return true;
  }

  /** The leader's loop: a batch in seq order, its sink, one UPDATE; then the next. */
  private async relay(client: Client): Promise<void> {
    const { pollMs, batch } = this.config.relay;
    while (!this.stopping) {
      this.woken = false;
      const traced = activeTracing() ? ", envelope->>'traceparent' AS traceparent" : '';
      const { rows } = await client.query<Unpublished>(
        `SELECT seq, id, type, envelope::text AS body${traced} FROM events WHERE published_at IS NULL ORDER BY seq LIMIT $1`,
        [batch],
      );
      const taken = rows.length ? await this.deliver(client, rows) : 0;
      if (taken) {
        await client.query(
          'UPDATE events SET published_at = now() WHERE seq = ANY($1::bigint[]) AND published_at IS NULL',
          [rows.slice(0, taken).map((r) => r.seq)],
        );
        eventsPublished.inc(taken);
      }
      if (taken < rows.length || rows.length < batch) await this.nap(pollMs);
    }
  }

  /** Hands the batch to the sink; how many of its first events the sink took. */
  private async deliver(client: Client, rows: Unpublished[]): Promise<number> {
    if (!this.connection) {
      await this.table.dispatch(
        (sql, params) => client.query(sql, params),
        rows,
        this.registry.consumers,
      );
      return rows.length;
    }
    return this.publish(rows);
  }

  /**
   * Publishes the batch to RabbitMQ: all of it, or the events before the first one that was not
   * confirmed (that one and the rest are read again).
   */
  private async publish(rows: Unpublished[]): Promise<number> {
    const channel = this.channel!;
    const { exchange } = this.broker.names;
    const tracing = activeTracing();
    const send = (row: Unpublished): Promise<boolean> =>
      channel.publish(exchange, row.type, Buffer.from(row.body), {
        persistent: true,
        messageId: row.id,
        type: row.type,
        contentType: EVENT_CONTENT_TYPE,
        // When tracing is on, the message carries the trace of the request that recorded the
        // event: a `traceparent` header (the AMQP instrumentation replaces it with its publish
        // span's, a child of that trace, when it publishes in this span's context).
        ...(row.traceparent && { headers: { traceparent: row.traceparent } }),
      });
    const results = await Promise.allSettled(
      rows.map((row) =>
        tracing && row.traceparent
          ? tracing.inSpan(
              'event relay',
              'internal',
              row.traceparent,
              { 'messaging.message.id': row.id, 'crm.event.type': row.type },
              () => send(row),
            )
          : send(row),
      ),
    );
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed >= 0 && !this.stopping) {
      const reason = (results[failed] as PromiseRejectedResult).reason as Error;
      this.logger.debug(`event relay: batch not confirmed (${reason.message}); retrying`);
    }
    return failed < 0 ? rows.length : failed;
  }
}
