/**
 * The flood breaker (seed 001): a burst of distinct, never-seen addresses at
 * one domain is the signature of a forged-sender flood. Calling each of them
 * out would make us one of the many verifiers that DDoS the forged domain's MX.
 * Past `threshold` new addresses within `windowMs`, the domain is tripped for
 * `cooldownMs`: no callouts, answers come from cache or are rate_limited.
 */
export interface FloodOptions {
  threshold: number;
  windowMs: number;
  cooldownMs: number;
  now?: () => number;
}

interface DomainWindow {
  /** Timestamps of new-address sightings inside the window. */
  seen: number[];
  trippedUntil: number;
}

export class FloodBreaker {
  private readonly domains = new Map<string, DomainWindow>();
  private readonly now: () => number;

  constructor(private readonly options: FloodOptions) {
    this.now = options.now ?? Date.now;
  }

  isTripped(domain: string): boolean {
    const w = this.domains.get(domain);
    return w !== undefined && w.trippedUntil > this.now();
  }

  /**
   * Record a never-seen address at this domain. Returns 'tripped' when this
   * sighting trips the breaker, 'open' when it was already tripped, 'ok' otherwise.
   */
  recordNewAddress(domain: string): 'ok' | 'tripped' | 'open' {
    const now = this.now();
    const w = this.domains.get(domain) ?? { seen: [], trippedUntil: 0 };
    this.domains.set(domain, w);
    if (w.trippedUntil > now) return 'open';
    const from = now - this.options.windowMs;
    while (w.seen.length > 0 && (w.seen[0] ?? 0) <= from) w.seen.shift();
    w.seen.push(now);
    if (w.seen.length > this.options.threshold) {
      w.trippedUntil = now + this.options.cooldownMs;
      w.seen = [];
      return 'tripped';
    }
    this.sweep(now);
    return 'ok';
  }

  /** Domains currently tripped (for the dashboard and metrics). */
  tripped(): string[] {
    const now = this.now();
    return [...this.domains].filter(([, w]) => w.trippedUntil > now).map(([d]) => d);
  }

  private sweep(now: number): void {
    if (this.domains.size < 10_000) return;
    for (const [d, w] of this.domains) {
      if (w.trippedUntil <= now && (w.seen.at(-1) ?? 0) <= now - this.options.windowMs)
        this.domains.delete(d);
    }
  }
}
