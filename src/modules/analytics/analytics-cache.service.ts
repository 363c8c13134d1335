import { randomUUID } from 'node:crypto';
import { CACHE_MANAGER, type Cache } from '@nestjs/cache-manager';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';

/** Longest a single cache operation may take before the cache is bypassed. */
export const CACHE_OPERATION_TIMEOUT_MS = 500;
/** After a failed read, answers are computed without asking the store for this long. */
export const CACHE_READ_BYPASS_MS = 5_000;
/**
 * Lifetime of an organization's generation token: only so that tokens of idle organizations
 * do not stay in Redis forever. Longer than any entry TTL (at most a day); a token that expired
 * is replaced by a fresh one, which is safe (older entries just become unreachable).
 */
export const GENERATION_TTL_MS = 7 * 86_400_000;

/** What the analytics cache uses of cache-manager's Cache. */
export type CacheStore = Pick<Cache, 'get' | 'set'>;

class CacheTimeoutError extends Error {
  override name = 'CacheTimeoutError';
}

/**
 * The analytics cache (API.md section 9): answers are cached per organization and key (the key
 * carries the visibility scope and parameters) for ANALYTICS_CACHE_TTL_SECONDS. Every deal
 * write of an organization calls `invalidate`, which replaces the organization's generation
 * token: entries of older generations are never read again and expire on their own. Works the
 * same on the in-memory store and on Redis (shared by every app copy).
 *
 * The cache never makes a request fail or hang: when the store errs or does not answer within
 * CACHE_OPERATION_TIMEOUT_MS (e.g. Redis down), answers are computed uncached, the failure is
 * logged, and reads skip the store for CACHE_READ_BYPASS_MS (invalidations are still sent).
 *
 * A computation always starts after the generation token was read, so an answer is only ever
 * stored under a generation that was current before the computation began: a write that
 * commits and invalidates later makes it unreachable.
 */
@Injectable()
export class AnalyticsCache {
  private readonly logger = new Logger(AnalyticsCache.name);
  /** Reads skip the store until this time (ms since the epoch) after a failure. */
  private bypassReadsUntil = 0;

  constructor(
    @Inject(CACHE_MANAGER) private readonly cache: CacheStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async getOrCompute<T>(
    organizationId: string,
    key: string,
    compute: () => Promise<T>,
  ): Promise<T> {
    const ttlMs = this.config.analyticsCacheTtlSeconds * 1000;
    if (ttlMs === 0 || Date.now() < this.bypassReadsUntil) return compute();
    let entry: string;
    try {
      entry = `analytics:${organizationId}:${await this.generation(organizationId)}:${key}`;
      const hit = await this.bounded(this.cache.get<T>(entry));
      if (hit !== undefined && hit !== null) return hit;
    } catch (error) {
      this.bypassReadsUntil = Date.now() + CACHE_READ_BYPASS_MS;
      this.warn('read', error);
      return compute();
    }
    const value = await compute();
    try {
      await this.bounded(this.cache.set(entry, value, ttlMs));
    } catch (error) {
      this.warn('write', error);
    }
    return value;
  }

  /**
   * Call after a deal write of the organization has committed. Never throws (the write has
   * already happened): a failure is logged, and answers cached before it may then be served
   * until they expire (at most ANALYTICS_CACHE_TTL_SECONDS).
   */
  async invalidate(organizationId: string): Promise<void> {
    if (this.config.analyticsCacheTtlSeconds === 0) return;
    try {
      await this.bounded(
        this.cache.set(this.generationKey(organizationId), randomUUID(), GENERATION_TTL_MS),
      );
    } catch (error) {
      this.logger.error(
        `analytics cache: could not invalidate organization ${organizationId}: ${describe(error)}`,
      );
    }
  }

  private async generation(organizationId: string): Promise<string> {
    const key = this.generationKey(organizationId);
    const current = await this.bounded(this.cache.get<string>(key));
    if (current) return current;
    // A new token: nothing can be cached under it yet, so nothing stale can be read.
    const fresh = randomUUID();
    await this.bounded(this.cache.set(key, fresh, GENERATION_TTL_MS));
    return fresh;
  }

  private generationKey(organizationId: string): string {
    return `analytics:${organizationId}:generation`;
  }

  /** `operation`, or a CacheTimeoutError when the store has not answered in time. */
  private bounded<R>(operation: Promise<R>): Promise<R> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new CacheTimeoutError(`no answer in ${CACHE_OPERATION_TIMEOUT_MS} ms`)),
        CACHE_OPERATION_TIMEOUT_MS,
      );
      timer.unref();
    });
    return Promise.race([operation, timeout]).finally(() => clearTimeout(timer));
  }

  private warn(what: string, error: unknown): void {
    this.logger.warn(`analytics cache ${what} failed, answering uncached: ${describe(error)}`);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
