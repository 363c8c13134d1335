import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Keyv } from 'keyv';
import { type AppConfig, loadConfig } from '../../config/app-config';
import { createCacheKeyv } from './cache-store';
import {
  ANALYTICS,
  CACHE_OPERATION_TIMEOUT_MS,
  CACHE_READ_BYPASS_MS,
  type CacheStore,
  GENERATION_TTL_MS,
  LIST_TOTALS,
  TenantCache,
} from './tenant-cache';
import { BoundedMemoryStore } from './bounded-memory-store';

const ORG = '6f1c1c1e-1111-4222-8333-944455556666';
const OTHER_ORG = '6f1c1c1e-1111-4222-8333-944455557777';

/** Both kinds with `ttlSeconds` unless `env` says otherwise. */
function config(ttlSeconds: number, env: Record<string, string> = {}): AppConfig {
  return loadConfig({
    NODE_ENV: 'test',
    JWT_ACCESS_SECRET: 'access-secret-for-tenant-cache-tests',
    JWT_REFRESH_SECRET: 'refresh-secret-for-tenant-cache-tests',
    ANALYTICS_CACHE_TTL_SECONDS: String(ttlSeconds),
    LIST_TOTAL_CACHE_TTL_SECONDS: String(ttlSeconds),
    ...env,
  });
}

/** An in-memory store that records what it was asked (and the TTLs given). */
class RecordingStore implements CacheStore {
  readonly data = new Map<string, { value: unknown; expiresAt: number }>();
  readonly ttls = new Map<string, number>();

  get<T>(key: string): Promise<T | undefined> {
    const hit = this.data.get(key);
    if (!hit || hit.expiresAt <= Date.now()) return Promise.resolve(undefined);
    return Promise.resolve(hit.value as T);
  }

  set<T>(key: string, value: T, ttlMs?: number): Promise<T> {
    this.data.set(key, { value, expiresAt: Date.now() + (ttlMs ?? Infinity) });
    this.ttls.set(key, ttlMs ?? 0);
    return Promise.resolve(value);
  }
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

describe('TenantCache', () => {
  let store: RecordingStore;
  let computed: number;
  const compute = (): Promise<{ n: number }> => Promise.resolve({ n: ++computed });

  beforeAll(() => {
    Logger.overrideLogger(false);
  });
  afterAll(() => {
    Logger.overrideLogger(new Logger());
  });

  beforeEach(() => {
    store = new RecordingStore();
    computed = 0;
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('computes once per organization and key, then answers from the store', async () => {
    const cache = new TenantCache(store, config(60));
    await expect(cache.getOrCompute(ANALYTICS, ORG, 'k', compute)).resolves.toEqual({ n: 1 });
    await expect(cache.getOrCompute(ANALYTICS, ORG, 'k', compute)).resolves.toEqual({ n: 1 });
    await expect(cache.getOrCompute(ANALYTICS, ORG, 'other', compute)).resolves.toEqual({ n: 2 });
    await expect(cache.getOrCompute(ANALYTICS, OTHER_ORG, 'k', compute)).resolves.toEqual({ n: 3 });
    expect(computed).toBe(3);
    const entries = [...store.ttls].filter(([k]) => !k.startsWith('generation:'));
    expect(entries.map(([, ttl]) => ttl)).toEqual([60_000, 60_000, 60_000]);
    expect(entries.every(([k]) => k.startsWith('analytics:'))).toBe(true);
  });

  it('invalidate makes every entry of that organization, and only that one, stale', async () => {
    const cache = new TenantCache(store, config(60));
    await cache.getOrCompute(ANALYTICS, ORG, 'a', compute);
    await cache.getOrCompute(ANALYTICS, ORG, 'b', compute);
    await cache.getOrCompute(ANALYTICS, OTHER_ORG, 'a', compute);
    await cache.invalidate(ORG);
    await expect(cache.getOrCompute(ANALYTICS, ORG, 'a', compute)).resolves.toEqual({ n: 4 });
    await expect(cache.getOrCompute(ANALYTICS, ORG, 'b', compute)).resolves.toEqual({ n: 5 });
    await expect(cache.getOrCompute(ANALYTICS, OTHER_ORG, 'a', compute)).resolves.toEqual({ n: 3 });
  });

  it('shares entries and invalidations between copies on one store (as on Redis)', async () => {
    const a = new TenantCache(store, config(60));
    const b = new TenantCache(store, config(60));
    await b.getOrCompute(ANALYTICS, ORG, 'k', compute);
    await expect(a.getOrCompute(ANALYTICS, ORG, 'k', compute)).resolves.toEqual({ n: 1 });
    await a.invalidate(ORG);
    await expect(b.getOrCompute(ANALYTICS, ORG, 'k', compute)).resolves.toEqual({ n: 2 });
  });

  it('gives generation tokens a lifetime longer than any entry', async () => {
    const cache = new TenantCache(store, config(86_400));
    await cache.getOrCompute(ANALYTICS, ORG, 'k', compute);
    await cache.invalidate(ORG);
    expect(store.ttls.get(`generation:${ORG}`)).toBe(GENERATION_TTL_MS);
    expect(GENERATION_TTL_MS).toBeGreaterThan(86_400_000);
  });

  it('entries expire after the TTL', async () => {
    jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00.000Z') });
    const cache = new TenantCache(store, config(60));
    await cache.getOrCompute(ANALYTICS, ORG, 'k', compute);
    jest.advanceTimersByTime(59_999);
    await expect(cache.getOrCompute(ANALYTICS, ORG, 'k', compute)).resolves.toEqual({ n: 1 });
    jest.advanceTimersByTime(1);
    await expect(cache.getOrCompute(ANALYTICS, ORG, 'k', compute)).resolves.toEqual({ n: 2 });
  });

  it('with TTL 0 never touches the store', async () => {
    const cache = new TenantCache(store, config(0));
    await cache.getOrCompute(ANALYTICS, ORG, 'k', compute);
    await cache.getOrCompute(ANALYTICS, ORG, 'k', compute);
    await cache.invalidate(ORG);
    expect(computed).toBe(2);
    expect(store.data.size).toBe(0);
  });

  it('a failing store: answers computed, invalidate does not throw', async () => {
    const failing: CacheStore = {
      get: () => Promise.reject(new Error('ECONNREFUSED')),
      set: () => Promise.reject(new Error('ECONNREFUSED')),
    };
    const cache = new TenantCache(failing, config(60));
    await expect(cache.getOrCompute(ANALYTICS, ORG, 'k', compute)).resolves.toEqual({ n: 1 });
    await expect(cache.invalidate(ORG)).resolves.toBeUndefined();
  });

  it('a store that does not answer: bounded wait, then reads skip it for a while', async () => {
    jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00.000Z') });
    let gets = 0;
    let sets = 0;
    const hanging: CacheStore = {
      get: <T>() => {
        gets += 1;
        return never<T | undefined>();
      },
      set: () => {
        sets += 1;
        return never();
      },
    };
    // A remote store (REDIS_URL): its operations are the ones bounded.
    const cache = new TenantCache(hanging, config(60, { REDIS_URL: 'redis://127.0.0.1:6390' }));

    const first = cache.getOrCompute(ANALYTICS, ORG, 'k', compute);
    await jest.advanceTimersByTimeAsync(CACHE_OPERATION_TIMEOUT_MS);
    await expect(first).resolves.toEqual({ n: 1 });
    expect(gets).toBe(1);

    // Within the bypass window the store is not asked at all.
    await expect(cache.getOrCompute(ANALYTICS, ORG, 'k', compute)).resolves.toEqual({ n: 2 });
    expect(gets).toBe(1);

    // Invalidations are still sent (and bounded).
    const invalidation = cache.invalidate(ORG);
    await jest.advanceTimersByTimeAsync(CACHE_OPERATION_TIMEOUT_MS);
    await expect(invalidation).resolves.toBeUndefined();
    expect(sets).toBe(1);

    // After the window the store is tried again.
    jest.advanceTimersByTime(CACHE_READ_BYPASS_MS);
    const later = cache.getOrCompute(ANALYTICS, ORG, 'k', compute);
    await jest.advanceTimersByTimeAsync(CACHE_OPERATION_TIMEOUT_MS);
    await expect(later).resolves.toEqual({ n: 3 });
    expect(gets).toBe(2);
  });

  it('runs one computation for concurrent requests of the same entry (single flight)', async () => {
    const cache = new TenantCache(store, config(60));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = async (): Promise<{ n: number }> => {
      await gate;
      return compute();
    };
    const answers = Promise.all(
      Array.from({ length: 10 }, () => cache.getOrCompute(ANALYTICS, ORG, 'k', slow)),
    );
    await new Promise((resolve) => setImmediate(resolve));
    release();
    expect(await answers).toEqual(Array.from({ length: 10 }, () => ({ n: 1 })));
    expect(computed).toBe(1);
  });

  it('does not join a computation of an older generation', async () => {
    const cache = new TenantCache(store, config(60));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const before = cache.getOrCompute(ANALYTICS, ORG, 'k', async () => {
      await gate;
      return compute();
    });
    await new Promise((resolve) => setImmediate(resolve));
    await cache.invalidate(ORG); // a write committed while the first computation ran
    const after = cache.getOrCompute(ANALYTICS, ORG, 'k', compute);
    await expect(after).resolves.toEqual({ n: 1 });
    release();
    await expect(before).resolves.toEqual({ n: 2 });
    // The older answer was stored under the older generation: it is never read again.
    await expect(cache.getOrCompute(ANALYTICS, ORG, 'k', compute)).resolves.toEqual({ n: 1 });
  });

  it('after an invalidation, requests do not join a token lookup that began before it', async () => {
    const cache = new TenantCache(store, config(60));
    await cache.getOrCompute(ANALYTICS, ORG, 'k', compute); // n=1 under the first token
    // The next token read is answered late, with what the store held when it was asked.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const get = store.get.bind(store);
    let delayed = true;
    store.get = <T>(key: string): Promise<T | undefined> => {
      const answer = get<T>(key);
      if (!delayed || !key.startsWith('generation:')) return answer;
      delayed = false;
      return gate.then(() => answer);
    };
    const early = cache.getOrCompute(ANALYTICS, ORG, 'k', compute);
    await cache.invalidate(ORG); // a write committed
    await expect(cache.getOrCompute(ANALYTICS, ORG, 'k', compute)).resolves.toEqual({ n: 2 });
    release();
    await expect(early).resolves.toEqual({ n: 1 }); // began before the write: may be older
  });

  it('keeps each kind under its own prefix and TTL; one invalidation covers both', async () => {
    const cache = new TenantCache(
      store,
      config(60, { LIST_TOTAL_CACHE_TTL_SECONDS: '5', ANALYTICS_CACHE_TTL_SECONDS: '90' }),
    );
    await cache.getOrCompute(ANALYTICS, ORG, 'k', compute);
    await cache.getOrCompute(LIST_TOTALS, ORG, 'k', compute);
    expect(computed).toBe(2);
    const ttls = Object.fromEntries(
      [...store.ttls]
        .filter(([k]) => !k.startsWith('generation:'))
        .map(([k, t]) => [k.split(':')[0], t]),
    );
    expect(ttls).toEqual({ analytics: 90_000, total: 5_000 });
    await cache.invalidate(ORG);
    await cache.getOrCompute(ANALYTICS, ORG, 'k', compute);
    await cache.getOrCompute(LIST_TOTALS, ORG, 'k', compute);
    expect(computed).toBe(4);
  });

  it('caches one kind while the other is off', async () => {
    const cache = new TenantCache(store, config(60, { ANALYTICS_CACHE_TTL_SECONDS: '0' }));
    await cache.getOrCompute(ANALYTICS, ORG, 'k', compute);
    await cache.getOrCompute(ANALYTICS, ORG, 'k', compute);
    await cache.getOrCompute(LIST_TOTALS, ORG, 'k', compute);
    await cache.getOrCompute(LIST_TOTALS, ORG, 'k', compute);
    expect(computed).toBe(3);
  });

  it('does not cache a failed computation', async () => {
    const cache = new TenantCache(store, config(60));
    await expect(
      cache.getOrCompute(ANALYTICS, ORG, 'k', () => Promise.reject(new Error('db down'))),
    ).rejects.toThrow('db down');
    await expect(cache.getOrCompute(ANALYTICS, ORG, 'k', compute)).resolves.toEqual({ n: 1 });
  });
});

describe('createCacheKeyv (in memory)', () => {
  it('stores values with a TTL and closes without error', async () => {
    jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00.000Z') });
    try {
      const store = createCacheKeyv(config(60));
      await store.set('k', { a: 1 }, 1_000);
      await expect(store.get('k')).resolves.toEqual({ a: 1 });
      jest.advanceTimersByTime(1_001);
      await expect(store.get('k')).resolves.toBeUndefined();
      await store.disconnect();
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('BoundedMemoryStore', () => {
  it('keeps at most maxEntries keys, dropping the oldest written first', () => {
    const map = new BoundedMemoryStore<number>(3);
    map.set('a', 1).set('b', 2).set('c', 3);
    map.set('a', 10); // rewritten: now the newest
    map.set('d', 4);
    expect([...map.entries()]).toEqual([
      ['c', 3],
      ['a', 10],
      ['d', 4],
    ]);
  });

  it('rejects a bound that is not a positive integer', () => {
    expect(() => new BoundedMemoryStore(0)).toThrow('maxEntries');
    expect(() => new BoundedMemoryStore(1.5)).toThrow('maxEntries');
  });

  it('works as a Keyv store', async () => {
    const keyv = new Keyv({ store: new BoundedMemoryStore(2), namespace: 'crm' });
    await keyv.set('x', 1);
    await keyv.set('y', 2);
    await keyv.set('z', 3);
    await expect(keyv.get('x')).resolves.toBeUndefined();
    await expect(keyv.get('z')).resolves.toBe(3);
  });
});
