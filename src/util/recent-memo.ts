/**
 * A bounded memo that keeps what is still in use when it fills up.
 *
 * Entries go into a young generation; when that holds half the limit, it
 * becomes the old one and the previous old one is dropped. A hit in the old
 * generation moves the entry back to the young one. So a burst of new keys
 * (a flood of distinct JIDs, say) costs at most one more lookup for the keys
 * in steady use, instead of emptying the memo under them, and every
 * operation stays O(1): no per-hit reordering as an LRU list would need.
 */
export class RecentMemo<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly generationSize: number;

  /** limit: at most this many entries are held, two generations of half each (so at least 2). */
  constructor(limit: number) {
    this.generationSize = Math.max(1, Math.floor(limit / 2));
  }

  get(key: K): V | undefined {
    const value = this.young.get(key);
    if (value !== undefined || this.old.size === 0) return value;
    const older = this.old.get(key);
    if (older !== undefined) {
      this.old.delete(key);
      this.set(key, older);
    }
    return older;
  }

  set(key: K, value: V): void {
    if (this.young.size >= this.generationSize && !this.young.has(key)) {
      this.old = this.young;
      this.young = new Map();
    }
    // A copy left in the old generation is never read (the young one is
    // looked at first) and goes with the old generation.
    this.young.set(key, value);
  }

  delete(key: K): void {
    this.young.delete(key);
    this.old.delete(key);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  /** Entries held (the test's view; at most the limit, or 2 for a limit under 2). */
  get size(): number {
    return this.young.size + this.old.size;
  }
}
