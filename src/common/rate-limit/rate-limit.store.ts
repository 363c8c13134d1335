/** Result of counting one hit against a key's current window. */
export interface RateLimitHit {
  count: number;
  /** Milliseconds until the window (and so the count) resets. */
  resetInMs: number;
}

/**
 * Where rate-limit counters live. In memory by default (one process); a shared store (Redis)
 * slots in here when several app copies must share their counters.
 */
export interface RateLimitStore {
  hit(key: string, windowMs: number): Promise<RateLimitHit>;
}

export const RATE_LIMIT_STORE = Symbol('RATE_LIMIT_STORE');

/** Fixed windows in a Map; expired windows are swept periodically so memory stays bounded. */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private lastSweep = Date.now();

  hit(key: string, windowMs: number): Promise<RateLimitHit> {
    const now = Date.now();
    if (now - this.lastSweep > windowMs) this.sweep(now);
    let window = this.windows.get(key);
    if (!window || window.resetAt <= now) {
      window = { count: 0, resetAt: now + windowMs };
      this.windows.set(key, window);
    }
    window.count += 1;
    return Promise.resolve({ count: window.count, resetInMs: window.resetAt - now });
  }

  private sweep(now: number): void {
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key);
    this.lastSweep = now;
  }
}
