/**
 * Verification budget per principal (a token, or a client address when there
 * are no tokens): a token bucket where each address asked costs one token, so
 * a batch of 50 costs what 50 single requests cost. A request is admitted
 * whole or refused whole, with the wait until it would be admitted.
 * (src/limits/token-bucket.ts takes one token at a time; a batch needs n.)
 */
export interface RateOptions {
  /** Tokens per second. */
  rate: number;
  /** Bucket size: the largest request that can ever be admitted. */
  burst: number;
  now?: () => number;
}

export type Admission = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

/** Beyond this many principals, buckets that are full again are forgotten. */
const SWEEP_AT = 10_000;

export class RequestBudget {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;

  constructor(private readonly options: RateOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  get burst(): number {
    return this.options.burst;
  }

  take(principal: string, cost: number): Admission {
    const now = this.now();
    const b = this.buckets.get(principal) ?? { tokens: this.options.burst, at: now };
    b.tokens = Math.min(this.options.burst, b.tokens + ((now - b.at) / 1000) * this.options.rate);
    b.at = now;
    this.buckets.set(principal, b);
    if (b.tokens >= cost) {
      b.tokens -= cost;
      this.sweep(now);
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil(((cost - b.tokens) / this.options.rate) * 1000) };
  }

  private sweep(now: number): void {
    if (this.buckets.size < SWEEP_AT) return;
    const fullAfterMs = (this.options.burst / this.options.rate) * 1000;
    for (const [key, b] of this.buckets) if (now - b.at > fullAfterMs) this.buckets.delete(key);
  }
}
