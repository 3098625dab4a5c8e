/**
 * The flood breaker. A forged-sender flood shows one signature: many distinct,
 * never-seen local parts at one domain that its MX answers "no such user". Calling each of
 * them out would make us one of the many verifiers that DDoS the forged domain's MX.
 *
 * What counts, per domain, within `windowMs`, each local part once however often it is asked:
 *
 * - suspects: never-seen local parts the MX answered `user_unknown`;
 * - witnesses: never-seen local parts the MX confirmed (they exist);
 * - in flight: never-seen local parts sent to the MX and not answered yet.
 *
 * The domain trips when suspects reach `threshold` and outnumber the witnesses: a busy domain
 * whose new senders exist never trips, however many there are. While tripped (`cooldownMs`,
 * re-armed by fresh evidence) the service calls out only as a trickle (see FloodTrickle).
 *
 * Until then, a domain is *held* while it has suspects that its witnesses do not outnumber, or,
 * before any answer, `threshold` never-seen local parts in flight: it gets one session at a time,
 * each gathering the addresses queued for it, until the answers show which kind of domain it is.
 * That bounds what a flood costs its victim before it trips (a session or two), and slows a real
 * domain only while an unknown sender outweighs the known ones.
 */
export interface FloodOptions {
  /** Distinct never-seen local parts answered user_unknown within the window that trip a domain. */
  threshold: number;
  windowMs: number;
  /** How long a trip lasts after the last evidence that re-armed it. */
  cooldownMs: number;
  now?: () => number;
}

/** What one answer for a never-seen address says about its domain. */
export type FloodEvidence = 'unknown' | 'exists' | 'neither';

/** open: call out freely. held: one session at a time. tripped: trickle only. */
export type FloodState = 'open' | 'held' | 'tripped';

interface DomainWindow {
  /** local part -> when it was answered user_unknown. */
  suspects: Map<string, number>;
  /** local part -> when it was confirmed to exist. */
  witnesses: Map<string, number>;
  inFlight: Set<string>;
  trippedUntil: number;
}

/** Domains kept before idle ones are swept. */
const SWEEP_AT = 10_000;

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

  /** Whether a domain may get a callout session now, given how many it has in flight. */
  state(domain: string): FloodState {
    const w = this.domains.get(domain);
    if (!w) return 'open';
    const now = this.now();
    if (w.trippedUntil > now) return 'tripped';
    this.expire(w, now);
    if (w.witnesses.size > w.suspects.size) return 'open';
    if (w.suspects.size > 0) return 'held';
    return w.inFlight.size >= this.options.threshold ? 'held' : 'open';
  }

  /** Local parts of a domain are about to be asked at its MX. */
  dispatched(domain: string, localParts: readonly string[]): void {
    const w = this.window(domain);
    for (const local of localParts) w.inFlight.add(local);
  }

  /**
   * The MX answered for one local part (or the session ended without an answer: 'neither').
   * Returns 'tripped' when this answer trips the domain (or re-arms a tripped one).
   */
  settle(domain: string, localPart: string, evidence: FloodEvidence): 'tripped' | 'ok' {
    const now = this.now();
    const w = this.window(domain);
    w.inFlight.delete(localPart);
    this.expire(w, now);
    if (evidence === 'unknown') touch(w.suspects, localPart, now);
    else if (evidence === 'exists') touch(w.witnesses, localPart, now);
    const looksForged = w.suspects.size >= this.options.threshold && w.suspects.size > w.witnesses.size;
    if (evidence !== 'unknown' || !looksForged) return 'ok';
    const wasTripped = w.trippedUntil > now;
    w.trippedUntil = now + this.options.cooldownMs;
    return wasTripped ? 'ok' : 'tripped';
  }

  /** Domains currently tripped (for the dashboard and metrics). */
  tripped(): { domain: string; untilMs: number; suspects: number }[] {
    const now = this.now();
    const out: { domain: string; untilMs: number; suspects: number }[] = [];
    for (const [domain, w] of this.domains) {
      if (w.trippedUntil > now) out.push({ domain, untilMs: w.trippedUntil, suspects: w.suspects.size });
    }
    return out;
  }

  private window(domain: string): DomainWindow {
    let w = this.domains.get(domain);
    if (!w) {
      if (this.domains.size >= SWEEP_AT) this.sweep();
      w = { suspects: new Map(), witnesses: new Map(), inFlight: new Set(), trippedUntil: 0 };
      this.domains.set(domain, w);
    }
    return w;
  }

  /** Forget evidence older than the window (Maps keep insertion order; re-sets move to the end). */
  private expire(w: DomainWindow, now: number): void {
    const from = now - this.options.windowMs;
    for (const map of [w.suspects, w.witnesses]) {
      for (const [local, at] of map) {
        if (at > from) break;
        map.delete(local);
      }
    }
  }

  private sweep(): void {
    const now = this.now();
    for (const [domain, w] of this.domains) {
      this.expire(w, now);
      const idle = w.suspects.size === 0 && w.witnesses.size === 0 && w.inFlight.size === 0;
      if (idle && w.trippedUntil <= now) this.domains.delete(domain);
    }
  }
}

/** Set to now, moved to the end: expire() relies on the maps being in time order. */
function touch(map: Map<string, number>, key: string, now: number): void {
  map.delete(key);
  map.set(key, now);
}
