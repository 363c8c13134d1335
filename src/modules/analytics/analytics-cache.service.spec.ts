import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Keyv } from 'keyv';
import { type AppConfig, loadConfig } from '../../config/app-config';
import {
  AnalyticsCache,
  CACHE_OPERATION_TIMEOUT_MS,
  CACHE_READ_BYPASS_MS,
  type CacheStore,
  GENERATION_TTL_MS,
} from './analytics-cache.service';
import { createAnalyticsKeyv } from './analytics-store';
import { BoundedMemoryStore } from './bounded-memory-store';

const ORG = '6f1c1c1e-1111-4222-8333-944455556666';
const OTHER_ORG = '6f1c1c1e-1111-4222-8333-944455557777';

function config(ttlSeconds: number, env: Record<string, string> = {}): AppConfig {
  return loadConfig({
    NODE_ENV: 'test',
    JWT_ACCESS_SECRET: 'access-secret-for-analytics-cache-tests',
    JWT_REFRESH_SECRET: 'refresh-secret-for-analytics-cache-tests',
    ANALYTICS_CACHE_TTL_SECONDS: String(ttlSeconds),
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

describe('AnalyticsCache', () => {
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
    const cache = new AnalyticsCache(store, config(60));
    await expect(cache.getOrCompute(ORG, 'k', compute)).resolves.toEqual({ n: 1 });
    await expect(cache.getOrCompute(ORG, 'k', compute)).resolves.toEqual({ n: 1 });
    await expect(cache.getOrCompute(ORG, 'other', compute)).resolves.toEqual({ n: 2 });
    await expect(cache.getOrCompute(OTHER_ORG, 'k', compute)).resolves.toEqual({ n: 3 });
    expect(computed).toBe(3);
    const entries = [...store.ttls].filter(([k]) => !k.endsWith(':generation'));
    expect(entries.map(([, ttl]) => ttl)).toEqual([60_000, 60_000, 60_000]);
    expect(entries.every(([k]) => k.startsWith('analytics:'))).toBe(true);
  });

  it('invalidate makes every entry of that organization, and only that one, stale', async () => {
    const cache = new AnalyticsCache(store, config(60));
    await cache.getOrCompute(ORG, 'a', compute);
    await cache.getOrCompute(ORG, 'b', compute);
    await cache.getOrCompute(OTHER_ORG, 'a', compute);
    await cache.invalidate(ORG);
    await expect(cache.getOrCompute(ORG, 'a', compute)).resolves.toEqual({ n: 4 });
    await expect(cache.getOrCompute(ORG, 'b', compute)).resolves.toEqual({ n: 5 });
    await expect(cache.getOrCompute(OTHER_ORG, 'a', compute)).resolves.toEqual({ n: 3 });
  });

  it('shares entries and invalidations between copies on one store (as on Redis)', async () => {
    const a = new AnalyticsCache(store, config(60));
    const b = new AnalyticsCache(store, config(60));
    await b.getOrCompute(ORG, 'k', compute);
    await expect(a.getOrCompute(ORG, 'k', compute)).resolves.toEqual({ n: 1 });
    await a.invalidate(ORG);
    await expect(b.getOrCompute(ORG, 'k', compute)).resolves.toEqual({ n: 2 });
  });

  it('gives generation tokens a lifetime longer than any entry', async () => {
    const cache = new AnalyticsCache(store, config(86_400));
    await cache.getOrCompute(ORG, 'k', compute);
    await cache.invalidate(ORG);
    expect(store.ttls.get(`analytics:${ORG}:generation`)).toBe(GENERATION_TTL_MS);
    expect(GENERATION_TTL_MS).toBeGreaterThan(86_400_000);
  });

  it('entries expire after the TTL', async () => {
    jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00.000Z') });
    const cache = new AnalyticsCache(store, config(60));
    await cache.getOrCompute(ORG, 'k', compute);
    jest.advanceTimersByTime(59_999);
    await expect(cache.getOrCompute(ORG, 'k', compute)).resolves.toEqual({ n: 1 });
    jest.advanceTimersByTime(1);
    await expect(cache.getOrCompute(ORG, 'k', compute)).resolves.toEqual({ n: 2 });
  });

  it('with TTL 0 never touches the store', async () => {
    const cache = new AnalyticsCache(store, config(0));
    await cache.getOrCompute(ORG, 'k', compute);
    await cache.getOrCompute(ORG, 'k', compute);
    await cache.invalidate(ORG);
    expect(computed).toBe(2);
    expect(store.data.size).toBe(0);
  });

  it('a failing store: answers computed, invalidate does not throw', async () => {
    const failing: CacheStore = {
      get: () => Promise.reject(new Error('ECONNREFUSED')),
      set: () => Promise.reject(new Error('ECONNREFUSED')),
    };
    const cache = new AnalyticsCache(failing, config(60));
    await expect(cache.getOrCompute(ORG, 'k', compute)).resolves.toEqual({ n: 1 });
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
    const cache = new AnalyticsCache(hanging, config(60));

    const first = cache.getOrCompute(ORG, 'k', compute);
    await jest.advanceTimersByTimeAsync(CACHE_OPERATION_TIMEOUT_MS);
    await expect(first).resolves.toEqual({ n: 1 });
    expect(gets).toBe(1);

    // Within the bypass window the store is not asked at all.
    await expect(cache.getOrCompute(ORG, 'k', compute)).resolves.toEqual({ n: 2 });
    expect(gets).toBe(1);

    // Invalidations are still sent (and bounded).
    const invalidation = cache.invalidate(ORG);
    await jest.advanceTimersByTimeAsync(CACHE_OPERATION_TIMEOUT_MS);
    await expect(invalidation).resolves.toBeUndefined();
    expect(sets).toBe(1);

    // After the window the store is tried again.
    jest.advanceTimersByTime(CACHE_READ_BYPASS_MS);
    const later = cache.getOrCompute(ORG, 'k', compute);
    await jest.advanceTimersByTimeAsync(CACHE_OPERATION_TIMEOUT_MS);
    await expect(later).resolves.toEqual({ n: 3 });
    expect(gets).toBe(2);
  });

  it('does not cache a failed computation', async () => {
    const cache = new AnalyticsCache(store, config(60));
    await expect(
      cache.getOrCompute(ORG, 'k', () => Promise.reject(new Error('db down'))),
    ).rejects.toThrow('db down');
    await expect(cache.getOrCompute(ORG, 'k', compute)).resolves.toEqual({ n: 1 });
  });
});

describe('createAnalyticsKeyv (in memory)', () => {
  it('stores values with a TTL and closes without error', async () => {
    jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00.000Z') });
    try {
      const store = createAnalyticsKeyv(config(60));
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
