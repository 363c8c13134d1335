import { jest } from '@jest/globals';
import { MemoryRateLimitStore } from './rate-limit.store';

const T0 = new Date('2030-01-01T00:00:00.000Z').getTime();

/** The store's private map, to check that sweeping keeps memory bounded. */
const keysOf = (store: MemoryRateLimitStore): string[] => [
  ...(store as unknown as { windows: Map<string, unknown> }).windows.keys(),
];

describe('MemoryRateLimitStore', () => {
  let store: MemoryRateLimitStore;

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
    store = new MemoryRateLimitStore();
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('counts hits per key within a window', async () => {
    await expect(store.hit('a', 1000)).resolves.toEqual({ count: 1, resetInMs: 1000 });
    jest.advanceTimersByTime(400);
    await expect(store.hit('a', 1000)).resolves.toEqual({ count: 2, resetInMs: 600 });
    await expect(store.hit('a', 1000)).resolves.toEqual({ count: 3, resetInMs: 600 });
  });

  it('keeps separate counters for separate keys', async () => {
    await store.hit('a', 1000);
    await store.hit('a', 1000);
    await expect(store.hit('b', 1000)).resolves.toEqual({ count: 1, resetInMs: 1000 });
    await expect(store.hit('a', 1000)).resolves.toMatchObject({ count: 3 });
  });

  it('starts a new window once the old one has ended', async () => {
    await store.hit('a', 1000);
    await store.hit('a', 1000);
    jest.advanceTimersByTime(999);
    await expect(store.hit('a', 1000)).resolves.toEqual({ count: 3, resetInMs: 1 });
    jest.advanceTimersByTime(1);
    await expect(store.hit('a', 1000)).resolves.toEqual({ count: 1, resetInMs: 1000 });
    await expect(store.hit('a', 1000)).resolves.toEqual({ count: 2, resetInMs: 1000 });
  });

  it('sweeps expired keys and keeps live ones', async () => {
    await store.hit('short-1', 1000);
    await store.hit('short-2', 1000);
    await store.hit('long', 10_000);
    expect(keysOf(store).sort()).toEqual(['long', 'short-1', 'short-2']);

    jest.advanceTimersByTime(1500);
    await store.hit('fresh', 1000);
    expect(keysOf(store).sort()).toEqual(['fresh', 'long']);

    await expect(store.hit('long', 10_000)).resolves.toEqual({ count: 2, resetInMs: 8500 });
  });

  it('does not sweep before a window has passed since the last sweep', async () => {
    await store.hit('a', 100);
    jest.advanceTimersByTime(100);
    await store.hit('b', 1000);
    // 'a' has expired but no sweep ran yet (100 ms since construction is not > 1000 ms).
    expect(keysOf(store).sort()).toEqual(['a', 'b']);
  });

  it('works with real time and a short window', async () => {
    jest.useRealTimers();
    const real = new MemoryRateLimitStore();
    await expect(real.hit('k', 30)).resolves.toMatchObject({ count: 1 });
    await expect(real.hit('k', 30)).resolves.toMatchObject({ count: 2 });
    await new Promise((resolve) => setTimeout(resolve, 60));
    const after = await real.hit('k', 30);
    expect(after.count).toBe(1);
    expect(after.resetInMs).toBeGreaterThan(0);
    expect(after.resetInMs).toBeLessThanOrEqual(30);
    expect(keysOf(real)).toEqual(['k']);
  });
});
