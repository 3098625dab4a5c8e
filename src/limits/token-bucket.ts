/**
 * Token buckets per key: `rate` tokens a second up to `burst`. Idle buckets
 * refill to full and are forgotten, so memory is bounded by the keys active
 * in the last burst/rate seconds, not by every domain ever seen.
 */
export interface BucketOptions {
  /** Tokens added per second. */
  rate: number;
  /** Bucket size: how many can be taken at once after a quiet spell. */
  burst: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;

  constructor(private readonly options: BucketOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  private refill(key: string): Bucket {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.options.burst, at: now };
    b.tokens = Math.min(this.options.burst, b.tokens + ((now - b.at) / 1000) * this.options.rate);
    b.at = now;
    return b;
  }

  /** Take a token if one is there; never waits. */
  tryTake(key: string): boolean {
    const b = this.refill(key);
    if (b.tokens < 1) {
      this.buckets.set(key, b);
      return false;
    }
    b.tokens -= 1;
    this.buckets.set(key, b);
    this.sweep();
    return true;
  }

  /** Milliseconds until a token will be there for this key (0 if one is). */
  waitMs(key: string): number {
    const b = this.refill(key);
    this.buckets.set(key, b);
    return b.tokens >= 1 ? 0 : Math.ceil(((1 - b.tokens) / this.options.rate) * 1000);
  }

  private sweep(): void {
    if (this.buckets.size < 10_000) return;
    const fullAfterMs = (this.options.burst / this.options.rate) * 1000;
    const now = this.now();
    for (const [key, b] of this.buckets) if (now - b.at > fullAfterMs) this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }
}
