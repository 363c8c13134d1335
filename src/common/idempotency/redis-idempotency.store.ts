import { randomUUID } from 'node:crypto';
import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { createClient } from '@redis/client';
import { Gauge, register } from 'prom-client';
import {
  IDEMPOTENCY_LOCK_TIMEOUT_MS,
  type IdempotencyBegin,
  type IdempotencyLease,
  type IdempotencyRequest,
  type IdempotencyStore,
  type StoredAnswer,
} from './idempotency.store';

/** Replaces the value of a key only while `token` still holds it (a takeover changes it). */
const COMPLETE = `local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).token == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end
return 0`;

/** Deletes a key only while `token` still holds it. */
const RELEASE = `local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).token == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0`;

/** A command Redis has not answered by then counts as Redis being unreachable. */
const COMMAND_TIMEOUT_MS = 500;

interface RedisValue {
  token: string;
  fingerprint: string;
  state: 'in_flight' | 'completed';
  status?: number;
  headers?: Record<string, string>;
  /** base64 of the exact body bytes */
  body?: string;
}

/** 1 while this copy keeps idempotency keys in PostgreSQL because Redis is unreachable. */
export const idempotencyDegraded =
  (register.getSingleMetric('crm_idempotency_degraded') as Gauge | undefined) ??
  new Gauge({
    name: 'crm_idempotency_degraded',
    help: 'Whether this copy keeps idempotency keys in PostgreSQL because Redis is unreachable (1)',
  });

/**
 * Idempotency keys in Redis (REDIS_URL): `SET NX PX <lock timeout>` claims a key (a claim whose
 * process died expires by itself), the completed answer replaces it with the TTL (a Lua
 * compare-and-set on the claim's token). While Redis is unreachable (not connected, an error, no
 * answer within COMMAND_TIMEOUT_MS) new keys are claimed in the fallback store (PostgreSQL),
 * logged once each way, `crm_idempotency_degraded` 1 meanwhile; a claim is always completed or
 * released in the store that made it. Keys claimed in one store are not seen by the other: a
 * retry that crosses a Redis outage may run again (documented trade-off).
 */
export class RedisIdempotencyStore implements IdempotencyStore, OnModuleDestroy {
  private readonly logger = new Logger('Idempotency');
  private readonly client: ReturnType<typeof createClient>;
  private degraded = false;

  constructor(
    url: string,
    private readonly fallback: IdempotencyStore,
    private readonly lockTimeoutMs = IDEMPOTENCY_LOCK_TIMEOUT_MS,
  ) {
    this.client = createClient({
      url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 1000,
        reconnectStrategy: (retries) => Math.min(100 * retries, 2000),
      },
    });
    this.client.on('error', () => this.degrade('the connection failed'));
    void this.client.connect().catch(() => this.degrade('it does not answer'));
  }

  async begin(request: IdempotencyRequest, ttlSeconds: number): Promise<IdempotencyBegin> {
    if (!this.client.isReady) {
      this.degrade('not connected');
      return this.fallback.begin(request, ttlSeconds);
    }
    try {
      const result = await this.beginInRedis(request);
      this.recover();
      return result;
    } catch (error) {
      this.degrade((error as Error).message);
      return this.fallback.begin(request, ttlSeconds);
    }
  }

  onModuleDestroy(): void {
    this.client.destroy();
  }

  private async beginInRedis(request: IdempotencyRequest): Promise<IdempotencyBegin> {
    const name = redisKey(request);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const token = randomUUID();
      const claim: RedisValue = { token, fingerprint: request.fingerprint, state: 'in_flight' };
      const set = await this.command([
        'SET',
        name,
        JSON.stringify(claim),
        'NX',
        'PX',
        String(this.lockTimeoutMs),
      ]);
      if (set === 'OK')
        return { kind: 'claimed', lease: this.lease(name, token, request.fingerprint) };
      const raw = await this.command(['GET', name]);
      if (typeof raw !== 'string') continue; // released or expired meanwhile: claim again
      const holder = JSON.parse(raw) as RedisValue;
      if (holder.state !== 'completed' || holder.status === undefined) {
        return { kind: 'in_flight', fingerprint: holder.fingerprint };
      }
      return {
        kind: 'completed',
        fingerprint: holder.fingerprint,
        answer: {
          status: holder.status,
          headers: holder.headers ?? {},
          body: Buffer.from(holder.body ?? '', 'base64'),
        },
      };
    }
    return { kind: 'in_flight', fingerprint: request.fingerprint };
  }

  private lease(name: string, token: string, fingerprint: string): IdempotencyLease {
    return {
      complete: async (answer: StoredAnswer, ttlSeconds: number) => {
        const value: RedisValue = {
          token,
          fingerprint,
          state: 'completed',
          status: answer.status,
          headers: answer.headers,
          body: answer.body.toString('base64'),
        };
        await this.command([
          'EVAL',
          COMPLETE,
          '1',
          name,
          token,
          JSON.stringify(value),
          String(ttlSeconds * 1000),
        ]);
      },
      release: async () => {
        await this.command(['EVAL', RELEASE, '1', name, token]);
      },
    };
  }

  private async command(args: string[]): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.client.sendCommand(args),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer')), COMMAND_TIMEOUT_MS);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private degrade(why: string): void {
    if (this.degraded) return;
    this.degraded = true;
    idempotencyDegraded.set(1);
    this.logger.warn(
      `idempotency keys: Redis unreachable (${why}); keeping them in PostgreSQL until it is back`,
    );
  }

  private recover(): void {
    if (!this.degraded) return;
    this.degraded = false;
    idempotencyDegraded.set(0);
    this.logger.log('idempotency keys: Redis is back; keeping them in Redis again');
  }
}

/** The Redis key of an idempotency key: its scope and the key in base64url (any printable ASCII). */
function redisKey({ scope, key }: IdempotencyRequest): string {
  return `crm:idempotency:${scope}:${Buffer.from(key, 'latin1').toString('base64url')}`;
}
