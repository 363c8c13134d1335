import { join } from 'node:path';
import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import type { FastifyInstance } from 'fastify';
import { WakeUps } from '../../../common/wake-ups';
import type { Repository } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../../../config/app-config';
import { retryDelayMs } from '../../../events/consumers/consumer';
import { UnitOfWork } from '../../../tenancy/unit-of-work';
import type { SendChannel } from '../notification-kinds';
import { NotificationSend, SendStatus } from '../notification-send.entity';
import { ChannelError, type ChannelTransport, type OutgoingMessage } from './channel-error';
import { FileMailTransport, SmtpTransport } from './email.transport';
import { NotificationMetrics } from './notification-metrics';
import { LogSmsTransport, WebhookSmsTransport } from './sms.transport';

/** Rows one worker claims at a time. */
const CLAIM_BATCH = 20;
/** A claimed row is another copy's after this (a copy that died mid-send). Outlasts the timeouts. */
const LEASE_MS = 120_000;
/**
 * How often an idle worker looks for rows it was not told about: written or leased by another
 * copy that died, or retries another copy scheduled. Work of its own copy wakes it at once.
 */
const IDLE_POLL_MS = 5_000;
/** Consecutive channel failures that open a channel's circuit breaker. */
export const BREAKER_FAILURES = 3;
/** How long a breaker stays open before its probe: this many first-retry delays (default 10 s). */
const BREAKER_OPEN_RETRY_DELAYS = 5;

/** A claimed send row: the message, and what its attempt and log line need. */
interface Claimed extends OutgoingMessage {
  attempts: number;
  eventId: string | null;
  requestId: string | null;
  nextAttemptAt: Date;
}

type Fields = Record<string, unknown>;

/** Where structured lines go: the app's pino logger (the Fastify instance's). */
interface StructuredLog {
  info(fields: Fields, line: string): void;
  warn(fields: Fields, line: string): void;
  error(fields: Fields, line: string): void;
}

/** One channel: its transport, its circuit breaker, and what the worker knows about its timing. */
class Channel {
  readonly breaker: CircuitBreakerPolicy;
  /** When the breaker opened (its probe is due `openMs` later). */
  openedAt = 0;
  /** The earliest retry this copy scheduled (a hint: the rows are the truth). */
  nextRetryAt = Infinity;

  constructor(
    readonly name: SendChannel,
    readonly transport: ChannelTransport,
    readonly openMs: number,
  ) {
    this.breaker = circuitBreaker(
      handleWhen((error) => error instanceof ChannelError && error.channelDown),
      { halfOpenAfter: openMs, breaker: new ConsecutiveBreaker(BREAKER_FAILURES) },
    );
  }

  /** Rows to claim now: none while open (until the probe is due) or probing, one to probe. */
  capacity(now: number): number {
    switch (this.breaker.state) {
      case CircuitState.Closed:
        return CLAIM_BATCH;
      case CircuitState.Open:
        return now >= this.openedAt + this.openMs ? 1 : 0;
      default:
        return 0;
    }
  }

  /**
   * How long an idle worker may sleep: until its probe or the earliest retry it scheduled, when
   * still ahead, at most IDLE_POLL_MS.
   */
  napMs(now: number): number {
    const ahead = [this.nextRetryAt, IDLE_POLL_MS + now];
    if (this.breaker.state === CircuitState.Open) ahead.push(this.openedAt + this.openMs);
    return Math.min(...ahead.filter((at) => at > now)) - now;
  }
}

/**
 * Sends the notification_sends rows (API.md section 14, docs/decisions/0037): per copy, one
 * worker loop per channel (a dead SMS gateway delays no email). A worker claims due rows with
 * `FOR UPDATE SKIP LOCKED` and a lease (committed at once: no transaction is open while it
 * sends), sends them one by one, then marks each sent, or counts the attempt and schedules the
 * next one (NOTIFY_RETRY_BASE_MS x 4^(n-1)), `failed` after NOTIFY_MAX_ATTEMPTS.
 *
 * A circuit breaker per channel (cockatiel) opens after BREAKER_FAILURES consecutive channel
 * failures (no connection, timeouts, server errors; a refused recipient does not count). While it
 * is open the worker claims nothing of that channel: the rows stay pending and are charged no
 * attempt (rows claimed before it opened are released as they were). After the open time one
 * row is claimed as the probe; a probe that fails on the channel is released uncharged and the
 * breaker opens again; one that succeeds closes it, and every pending row of the channel is made
 * due at once: what waited is sent as soon as the channel is back. A breaker is per copy (each
 * copy learns the channel's state from its own attempts); the rows are shared.
 */
@Injectable()
export class NotificationSender implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly nestLogger = new Logger('Notifications');
  private readonly channels: Channel[];
  private loops: Promise<void>[] = [];
  private stopping = false;
  private readonly wakeUps = new WakeUps();
  private logger: StructuredLog | undefined;

  constructor(
    private readonly uow: UnitOfWork,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: NotificationMetrics,
    private readonly adapterHost: HttpAdapterHost,
  ) {
    const { smtpUrl, mailFrom, smsWebhookUrl, retryBaseMs } = config.notifications;
    const openMs = retryBaseMs * BREAKER_OPEN_RETRY_DELAYS;
    const email = smtpUrl
      ? new SmtpTransport(smtpUrl, mailFrom)
      : new FileMailTransport(join(config.dataDir, 'mail'), mailFrom);
    const sms = smsWebhookUrl
      ? new WebhookSmsTransport(smsWebhookUrl)
      : new LogSmsTransport((fields, line) => this.log.info({ channel: 'sms', ...fields }, line));
    this.channels = [new Channel('email', email, openMs), new Channel('sms', sms, openMs)];
    for (const channel of this.channels) this.watch(channel);
  }

  onApplicationBootstrap(): void {
    this.loops = this.channels.map((channel) => this.work(channel));
    const ways = this.channels.map((c) => `${c.name} to ${c.transport.describe}`).join(', ');
    this.log.info({}, `notifications: ${ways}`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.wakeUp();
    await Promise.all(this.loops);
    for (const channel of this.channels) channel.transport.close();
  }

  /** New rows were committed (by this copy): the workers look at once. */
  wakeUp(): void {
    this.wakeUps.wake();
  }

  /** The state of a channel's breaker (for tests and, later, /metrics). */
  breakerState(channel: SendChannel): 'closed' | 'open' | 'half-open' {
    const state = this.channel(channel).breaker.state;
    if (state === CircuitState.Closed) return 'closed';
    return state === CircuitState.HalfOpen ? 'half-open' : 'open';
  }

  private channel(name: SendChannel): Channel {
    return this.channels.find((c) => c.name === name)!;
  }

  /** Structured lines in the app's log (pino); Nest's logger before the HTTP adapter exists. */
  private get log(): StructuredLog {
    if (this.logger) return this.logger;
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (fastify?.log) {
      this.logger = fastify.log.child({ context: 'Notifications' });
      return this.logger;
    }
    const line = (fields: Fields, text: string): string => `${text} ${JSON.stringify(fields)}`;
    return {
      info: (fields, text) => this.nestLogger.log(line(fields, text)),
      warn: (fields, text) => this.nestLogger.warn(line(fields, text)),
      error: (fields, text) => this.nestLogger.error(line(fields, text)),
    };
  }

  /** Breaker lines and gauges; a breaker that closes makes its channel's waiting rows due. */
  private watch(channel: Channel): void {
    const { breaker, name } = channel;
    breaker.onBreak((reason) => {
      channel.openedAt = Date.now();
      this.metrics.breakerOpen(name, true);
      const error = 'error' in reason ? errorText(reason.error) : 'isolated';
      this.log.warn(
        { channel: name, breaker: 'open', probeInMs: channel.openMs, error },
        `circuit breaker open: ${name} (no attempts until a probe in ${channel.openMs} ms)`,
      );
    });
    breaker.onHalfOpen(() => {
      this.log.info({ channel: name, breaker: 'half-open' }, `circuit breaker half-open: ${name}`);
    });
    breaker.onReset(() => {
      this.metrics.breakerOpen(name, false);
      this.log.info({ channel: name, breaker: 'closed' }, `circuit breaker closed: ${name}`);
      void this.dueNow(name).finally(() => this.wakeUp());
    });
  }

  private async work(channel: Channel): Promise<void> {
    while (!this.stopping) {
      const seen = this.wakeUps.seen;
      let claimed: Claimed[] = [];
      let capacity = 0;
      try {
        const now = Date.now();
        // A retry of this copy is due: the claim below takes it (and any later one resets this).
        if (channel.nextRetryAt <= now) channel.nextRetryAt = Infinity;
        capacity = channel.capacity(now);
        if (capacity > 0) claimed = await this.claim(channel.name, capacity);
        for (const [i, row] of claimed.entries()) {
          if (this.stopping) {
            await this.release(claimed.slice(i).map((r) => r.id));
            break;
          }
          await this.attempt(channel, row);
        }
      } catch (error) {
        if (!this.stopping) {
          this.log.warn({ channel: channel.name, error: errorText(error) }, 'notification worker');
        }
      }
      if ((capacity === 0 || claimed.length < capacity) && !this.stopping) {
        await this.wakeUps.nap(channel.napMs(Date.now()), seen);
      }
    }
  }

  /**
   * The table, for this worker's statements: each is one statement committed on its own (no
   * transaction is open while a message is sent, and an idle poll is one statement).
   */
  private sends(): Repository<NotificationSend> {
    return this.uow.systemRead().repo(NotificationSend);
  }

  /** Due rows of a channel, oldest due first, leased to this copy (one statement). */
  private async claim(channel: SendChannel, limit: number): Promise<Claimed[]> {
    const [rows] = await this.sends().query<[Claimed[], number]>(
      `UPDATE notification_sends s
          SET leased_until = now() + make_interval(secs => $3 / 1000.0)
        WHERE s.id IN (
          SELECT id FROM notification_sends
           WHERE channel = $1 AND status = 'pending' AND next_attempt_at <= now()
             AND (leased_until IS NULL OR leased_until <= now())
           ORDER BY next_attempt_at, id
           LIMIT $2
           FOR UPDATE SKIP LOCKED)
      RETURNING s.id, s.kind, s.recipient, s.subject, s.body, s.text_body AS "textBody",
                s.attempts, s.event_id AS "eventId", s.request_id AS "requestId",
                s.created_at AS "createdAt", s.next_attempt_at AS "nextAttemptAt"`,
      [channel, limit, LEASE_MS],
    );
    // RETURNING does not keep the subquery's order.
    return rows.sort((a, b) => +new Date(a.nextAttemptAt) - +new Date(b.nextAttemptAt));
  }

  /** One attempt at one row, through the channel's breaker. */
  private async attempt(channel: Channel, row: Claimed): Promise<void> {
    const probe = channel.breaker.state !== CircuitState.Closed;
    const attempt = row.attempts + 1;
    const about = {
      channel: channel.name,
      sendId: row.id,
      kind: row.kind,
      eventId: row.eventId,
      requestId: row.requestId,
      attempt,
      ...(probe ? { probe: true } : {}),
    };
    const started = Date.now();
    const message: OutgoingMessage = {
      id: row.id,
      kind: row.kind,
      recipient: row.recipient,
      subject: row.subject,
      body: row.body,
      textBody: row.textBody,
      createdAt: new Date(row.createdAt),
    };
    try {
      await channel.breaker.execute(() => channel.transport.send(message));
    } catch (error) {
      const durationMs = Date.now() - started;
      if (error instanceof BrokenCircuitError) {
        // The breaker opened while this row waited its turn: not tried, not charged.
        await this.release([row.id]);
        return;
      }
      if (probe && error instanceof ChannelError && error.channelDown) {
        await this.release([row.id]);
        this.log.warn(
          { ...about, durationMs, outcome: 'probe-failed', error: errorText(error) },
          `notification probe failed (${channel.name} still down; not charged)`,
        );
        return;
      }
      await this.failed(channel, row, about, errorText(error), durationMs);
      return;
    }
    await this.sends().update(
      { id: row.id },
      {
        status: SendStatus.SENT,
        attempts: attempt,
        sentAt: () => 'now()',
        leasedUntil: null,
        lastError: null,
      },
    );
    this.metrics.count(channel.name, 'sent');
    this.log.info(
      { ...about, durationMs: Date.now() - started, outcome: 'sent' },
      `notification sent (${channel.name})`,
    );
  }

  private async failed(
    channel: Channel,
    row: Claimed,
    about: Fields & { attempt: number },
    error: string,
    durationMs: number,
  ): Promise<void> {
    const { maxAttempts, retryBaseMs } = this.config.notifications;
    const { attempt } = about;
    const dead = attempt >= maxAttempts;
    const delayMs = dead ? 0 : retryDelayMs(attempt, retryBaseMs);
    await this.sends().update(
      { id: row.id },
      {
        status: dead ? SendStatus.FAILED : SendStatus.PENDING,
        attempts: attempt,
        lastError: error,
        leasedUntil: null,
        nextAttemptAt: () => `now() + make_interval(secs => ${delayMs / 1000})`,
      },
    );
    if (dead) {
      this.metrics.count(channel.name, 'failed');
      this.log.error(
        { ...about, durationMs, outcome: 'failed', error },
        `notification failed after ${attempt} attempts (${channel.name})`,
      );
      return;
    }
    channel.nextRetryAt = Math.min(channel.nextRetryAt, Date.now() + delayMs);
    this.metrics.count(channel.name, 'retry');
    this.log.warn(
      { ...about, durationMs, outcome: 'retry', nextAttemptInMs: delayMs, error },
      `notification attempt ${attempt}/${maxAttempts} failed (${channel.name})`,
    );
  }

  /** Gives claimed rows back untouched (not attempted: no attempt is counted). */
  private async release(ids: string[]): Promise<void> {
    if (!ids.length) return;
    await this.sends().query(
      'UPDATE notification_sends SET leased_until = NULL WHERE id = ANY($1::uuid[])',
      [ids],
    );
  }

  /** A channel is back: its pending rows waiting for a later retry are due now. */
  private async dueNow(channel: SendChannel): Promise<void> {
    try {
      await this.sends().query(
        `UPDATE notification_sends SET next_attempt_at = now()
          WHERE channel = $1 AND status = 'pending' AND next_attempt_at > now()`,
        [channel],
      );
      this.channel(channel).nextRetryAt = Infinity;
    } catch (error) {
      this.log.warn({ channel, error: errorText(error) }, 'notification worker');
    }
  }
}

const errorText = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).slice(0, 1000);
