/**
 * The wake-ups of a polling worker loop: `nap(ms, seen)` waits `ms`, or less when `wake()` was
 * called since the loop read `seen` (so a wake-up that arrives while the loop is busy is not
 * lost: the next nap returns at once).
 */
export class WakeUps {
  private count = 0;
  private readonly sleepers = new Set<() => void>();

  /** The number of wake-ups so far: read it before the work, pass it to `nap` after. */
  get seen(): number {
    return this.count;
  }

  wake(): void {
    this.count += 1;
    for (const wake of [...this.sleepers]) wake();
  }

  nap(ms: number, seen: number): Promise<void> {
    if (this.count !== seen) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }
}
