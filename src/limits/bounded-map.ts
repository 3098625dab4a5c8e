/**
 * A size-bounded map with least-recently-used eviction, in the manner of
 * quick-lru: two generations of Map. Reads promote an entry into the young
 * generation; when the young one is full it becomes the old one and the old
 * one is dropped whole. Every operation is O(1), with no iteration over a
 * Map's deleted slots (which is what evicting with `keys().next()` costs).
 * Between `max` and `2 * max` entries are held.
 */
export class BoundedMap<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();

  constructor(private readonly max: number) {}

  get(key: K): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const aged = this.old.get(key);
    if (aged !== undefined) {
      this.old.delete(key);
      this.put(key, aged);
    }
    return aged;
  }

  /** Whether the key is held, without promoting it. */
  has(key: K): boolean {
    return this.young.has(key) || this.old.has(key);
  }

  set(key: K, value: V): void {
    if (this.young.has(key)) this.young.set(key, value);
    else {
      this.old.delete(key);
      this.put(key, value);
    }
  }

  private put(key: K, value: V): void {
    this.young.set(key, value);
    if (this.young.size >= this.max) {
      this.old = this.young;
      this.young = new Map();
    }
  }

  delete(key: K): boolean {
    const a = this.young.delete(key);
    const b = this.old.delete(key);
    return a || b;
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  *entries(): IterableIterator<[K, V]> {
    yield* this.young.entries();
    for (const [k, v] of this.old) if (!this.young.has(k)) yield [k, v];
  }

  get size(): number {
    let n = this.young.size;
    for (const k of this.old.keys()) if (!this.young.has(k)) n++;
    return n;
  }
}
