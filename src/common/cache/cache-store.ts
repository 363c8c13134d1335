import KeyvRedis from '@keyv/redis';
import { Logger } from '@nestjs/common';
import { Keyv } from 'keyv';
import type { AppConfig } from '../../config/app-config';
import { BoundedMemoryStore } from './bounded-memory-store';

/** Most keys the in-process store holds (an answer is a few hundred bytes at most). */
export const MEMORY_STORE_MAX_ENTRIES = 10_000;
/** How long a graceful Redis disconnect may take before pending commands are dropped. */
const DISCONNECT_TIMEOUT_MS = 500;

/**
 * The Keyv store under @nestjs/cache-manager: Redis when REDIS_URL is set (shared by every app
 * copy; keys `crm::analytics:...`, `crm::total:...`), else a bounded in-process map. Store errors (e.g. Redis
 * unreachable) are logged; Keyv then answers "not found" and the cache computes uncached.
 * cache-manager disconnects its stores on shutdown and waits without a limit: with Redis gone
 * that would hang the shutdown, so the disconnect is bounded and then forced.
 */
export function createCacheKeyv(config: AppConfig): Keyv {
  const logger = new Logger('TenantCache');
  const redis = config.redisUrl ? new KeyvRedis(config.redisUrl) : null;
  const keyv = new Keyv({
    store: redis ?? new BoundedMemoryStore(MEMORY_STORE_MAX_ENTRIES),
    namespace: 'crm',
    // In process memory an entry is kept as the object itself (TenantCache freezes it): a JSON
    // round trip on every read was a few percent of a list page's CPU. Redis stores JSON.
    ...(redis ? {} : { serialize: undefined, deserialize: undefined }),
  });
  keyv.on('error', (error: unknown) =>
    logger.warn(`cache store error: ${error instanceof Error ? error.message : String(error)}`),
  );
  if (redis) {
    keyv.disconnect = async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), DISCONNECT_TIMEOUT_MS);
      });
      const outcome = await Promise.race([
        redis.disconnect().catch(() => 'failed' as const),
        timeout,
      ]);
      clearTimeout(timer);
      if (outcome === 'timeout' || outcome === 'failed')
        await redis.disconnect(true).catch(() => undefined);
    };
  }
  return keyv;
}
