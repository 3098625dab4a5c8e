/** Identical work in flight is done once: later callers share the first caller's promise. */
export class Coalescer<T> {
  private readonly inflight = new Map<string, Promise<T>>();

  run(key: string, work: () => Promise<T>): { promise: Promise<T>; joined: boolean } {
    const existing = this.inflight.get(key);
    if (existing) return { promise: existing, joined: true };
    const promise = work().finally(() => this.inflight.delete(key));
    this.inflight.set(key, promise);
    return { promise, joined: false };
  }

  get size(): number {
    return this.inflight.size;
  }

  /** Every promise in flight now (for graceful shutdown). */
  pending(): Promise<T>[] {
    return [...this.inflight.values()];
  }
}
