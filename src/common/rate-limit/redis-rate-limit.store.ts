import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { createClient } from '@redis/client';
import { rateLimitDegraded } from '../metrics/metrics';
import { MemoryRateLimitStore, type RateLimitHit, type RateLimitStore } from './rate-limit.store';

/** Counts a hit in a fixed window, atomically: the count and the milliseconds left. */
const HIT = `local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

/** A hit that Redis has not answered by then counts in this copy instead. */
const HIT_TIMEOUT_MS = 250;

/**
 * Rate-limit counters shared by every app copy in Redis (REDIS_URL; API.md section 15): one Lua
 * script per hit, so the count and its window are atomic across copies. While Redis is
 * unreachable (not connected, an error, or no answer within HIT_TIMEOUT_MS) each copy counts in
 * its own memory: the limits still hold per copy and logins keep working; the change is logged
 * once each way and `crm_rate_limit_degraded` is 1 meanwhile. The client reconnects by itself.
 */
export class RedisRateLimitStore implements RateLimitStore, OnModuleDestroy {
  private readonly logger = new Logger('RateLimit');
  private readonly client: ReturnType<typeof createClient>;
  private readonly local = new MemoryRateLimitStore();
  private degraded = false;

  constructor(url: string) {
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

  async hit(key: string, windowMs: number): Promise<RateLimitHit> {
    if (this.client.isReady) {
      let timer: NodeJS.Timeout | undefined;
      try {
        const [count, ttl] = (await Promise.race([
          this.client.sendCommand(['EVAL', HIT, '1', `crm:rate-limit:${key}`, String(windowMs)]),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('no answer')), HIT_TIMEOUT_MS);
          }),
        ])) as unknown as [number, number];
        this.recover();
        return { count, resetInMs: ttl };
      } catch (error) {
        this.degrade((error as Error).message);
      } finally {
        clearTimeout(timer);
      }
    } else {
      this.degrade('not connected');
    }
    return this.local.hit(key, windowMs);
  }

  onModuleDestroy(): void {
    this.client.destroy();
  }

  private degrade(why: string): void {
    if (this.degraded) return;
    this.degraded = true;
    rateLimitDegraded.set(1);
    this.logger.warn(
      `rate limits: Redis unreachable (${why}); counting in this copy until it is back`,
    );
  }

  private recover(): void {
    if (!this.degraded) return;
    this.degraded = false;
    rateLimitDegraded.set(0);
    this.logger.log('rate limits: Redis is back; counting across copies again');
  }
}
