import { cacheHits, cacheMisses } from '../metrics/metrics';
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

/** What the tenant cache uses of cache-manager's Cache. */
export type CacheStore = Pick<Cache, 'get' | 'set'>;

/** One kind of cached answer: its key prefix and how long its entries live (0 = not cached). */
export interface CacheKind {
  name: string;
  ttlSeconds: (config: AppConfig) => number;
}

/** Deal analytics (API.md section 9). */
export const ANALYTICS: CacheKind = {
  name: 'analytics',
  ttlSeconds: (config) => config.analyticsCacheTtlSeconds,
};
/** The `total` of offset list pages (API.md section 1). */
export const LIST_TOTALS: CacheKind = {
  name: 'total',
  ttlSeconds: (config) => config.listTotalCacheTtlSeconds,
};

class CacheTimeoutError extends Error {
  override name = 'CacheTimeoutError';
}

/**
 * Answers computed from an organization's data (analytics, list totals), cached per
 * organization and key (the key carries the visibility scope and parameters) on
 * @nestjs/cache-manager: process memory, or Redis shared by every app copy.
 *
 * Invalidation: every organization has a generation token, part of every entry's key. After
 * any write to the organization's data commits, `invalidate` replaces the token (the unit of
 * work does so after every transaction that committed in the organization): entries of older
 * generations are never read again and expire on their own. A computation always starts after
 * the token was read, so an answer is only ever stored under a generation that was current
 * before the computation began: a write that commits and invalidates later makes it
 * unreachable. A client that wrote therefore never reads an answer older than its write.
 *
 * Concurrent requests for the same entry share one computation (single flight, per process):
 * after an invalidation, 32 requests for the same aggregate cost one query, not 32.
 *
 * The cache never makes a request fail or hang: when the store errs or does not answer within
 * CACHE_OPERATION_TIMEOUT_MS (e.g. Redis down), answers are computed uncached, the failure is
 * logged, and reads skip the store for CACHE_READ_BYPASS_MS (invalidations are still sent).
 */
@Injectable()
export class TenantCache {
  private readonly logger = new Logger(TenantCache.name);
  /** Reads skip the store until this time (ms since the epoch) after a failure. */
  private bypassReadsUntil = 0;
  /** Computations in progress in this process, by entry key. */
  private readonly inFlight = new Map<string, Promise<unknown>>();
  /** Generation lookups in progress in this process, by organization. */
  private readonly generationLookups = new Map<string, Promise<string>>();
  private readonly enabled: boolean;
  /**
   * The store is Redis: its operations are bounded by CACHE_OPERATION_TIMEOUT_MS. The in-process
   * store answers at once and cannot hang: a timer and a race per operation would only cost.
   */
  private readonly remote: boolean;

  constructor(
    @Inject(CACHE_MANAGER) private readonly cache: CacheStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.enabled = [ANALYTICS, LIST_TOTALS].some((kind) => kind.ttlSeconds(config) > 0);
    this.remote = Boolean(config.redisUrl);
  }

  async getOrCompute<T>(
    kind: CacheKind,
    organizationId: string,
    key: string,
    compute: () => Promise<T>,
    options: { replica?: boolean } = {},
  ): Promise<T> {
    const ttlMs = kind.ttlSeconds(this.config) * 1000;
    if (ttlMs === 0 || Date.now() < this.bypassReadsUntil) return compute();
    // An answer computed on a replica may lag the primary: a writer, who reads the primary,
    // must never be served it (read-your-writes), so replicas' answers have entries of their own.
    const source = options.replica ? 'replica:' : '';
    let entry: string;
    try {
      entry = `${kind.name}:${organizationId}:${await this.generation(organizationId)}:${source}${key}`;
      const hit = await this.bounded(this.cache.get<T>(entry));
      if (hit !== undefined && hit !== null) {
        cacheHits.inc({ kind: kind.name });
        return hit;
      }
      cacheMisses.inc({ kind: kind.name });
    } catch (error) {
      this.bypassReadsUntil = Date.now() + CACHE_READ_BYPASS_MS;
      this.warn('read', error);
      return compute();
    }
    const running = this.inFlight.get(entry) as Promise<T> | undefined;
    if (running) return running;
    const computation = this.computeAndStore(entry, ttlMs, compute);
    this.inFlight.set(entry, computation);
    try {
      return await computation;
    } finally {
      this.inFlight.delete(entry);
    }
  }

  /**
   * Call after a write to the organization's data has committed. Never throws (the write has
   * already happened): a failure is logged, and answers cached before it may then be served
   * until they expire (at most their kind's TTL).
   */
  async invalidate(organizationId: string): Promise<void> {
    if (!this.enabled) return;
    // A lookup already under way may still answer the old token: later requests must not join it.
    this.generationLookups.delete(organizationId);
    try {
      await this.bounded(
        this.cache.set(this.generationKey(organizationId), randomUUID(), GENERATION_TTL_MS),
      );
    } catch (error) {
      this.logger.error(
        `cache: could not invalidate organization ${organizationId}: ${describe(error)}`,
      );
    }
  }

  /**
   * Marks `userId` as having written, for `ttlMs` (read-your-writes with replicas: their reads go
   * to the primary meanwhile). Never throws; works even when the answer caches are off.
   */
  async markWriter(userId: string, ttlMs: number): Promise<void> {
    try {
      await this.bounded(this.cache.set(this.writerKey(userId), 1, ttlMs));
    } catch (error) {
      this.logger.error(`cache: could not mark ${userId} as a writer: ${describe(error)}`);
    }
  }

  /** Whether `userId` was marked by `markWriter` and the mark lives; true when the store fails. */
  async wroteRecently(userId: string): Promise<boolean> {
    try {
      return Boolean(await this.bounded(this.cache.get(this.writerKey(userId))));
    } catch (error) {
      this.warn('read', error);
      return true;
    }
  }

  private writerKey(userId: string): string {
    return `wrote:${userId}`;
  }

  private async computeAndStore<T>(
    entry: string,
    ttlMs: number,
    compute: () => Promise<T>,
  ): Promise<T> {
    // The in-process store keeps the object itself (no serialization): frozen, so that no
    // request can change what later ones read.
    const value = this.remote ? await compute() : deepFreeze(await compute());
    try {
      await this.bounded(this.cache.set(entry, value, ttlMs));
    } catch (error) {
      this.warn('write', error);
    }
    return value;
  }

  /**
   * The organization's generation token. Concurrent lookups in this process share one (and,
   * when there is no token yet, one new token), so concurrent first requests share one entry.
   */
  private generation(organizationId: string): Promise<string> {
    let lookup = this.generationLookups.get(organizationId);
    if (!lookup) {
      lookup = this.readOrCreateGeneration(organizationId).finally(() => {
        if (this.generationLookups.get(organizationId) === lookup)
          this.generationLookups.delete(organizationId);
      });
      this.generationLookups.set(organizationId, lookup);
    }
    return lookup;
  }

  private async readOrCreateGeneration(organizationId: string): Promise<string> {
    const key = this.generationKey(organizationId);
    const current = await this.bounded(this.cache.get<string>(key));
    if (current) return current;
    // A new token: nothing can be cached under it yet, so nothing stale can be read.
    const fresh = randomUUID();
    await this.bounded(this.cache.set(key, fresh, GENERATION_TTL_MS));
    return fresh;
  }

  private generationKey(organizationId: string): string {
    return `generation:${organizationId}`;
  }

  /** `operation`, or a CacheTimeoutError when the store has not answered in time. */
  private bounded<R>(operation: Promise<R>): Promise<R> {
    if (!this.remote) return operation;
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
    this.logger.warn(`cache ${what} failed, answering uncached: ${describe(error)}`);
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
