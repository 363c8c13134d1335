/**
 * The in-memory store of the tenant cache: a Map that keeps at most `maxEntries` keys,
 * dropping the oldest written first. Keyv's own in-memory store only drops an expired entry
 * when it is read again, and entries of an invalidated generation are never read again, so
 * without a bound every write would leave garbage behind for the life of the process.
 * Dropping any key early is safe: a missing entry is recomputed, a missing generation token is
 * replaced by a fresh one (which only makes older entries unreachable).
 */
export class BoundedMemoryStore<V = unknown> extends Map<string, V> {
  constructor(private readonly maxEntries: number) {
    super();
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new Error('BoundedMemoryStore: maxEntries must be a positive integer');
    }
  }

  override set(key: string, value: V): this {
    // Re-inserting moves the key to the end: the oldest written key is always first.
    super.delete(key);
    super.set(key, value);
    while (this.size > this.maxEntries) {
      const oldest = this.keys().next();
      if (oldest.done) break;
      super.delete(oldest.value);
    }
    return this;
  }
}
