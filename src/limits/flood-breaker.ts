/**
 * The flood breaker. A forged-sender flood shows one signature: many distinct,
 * never-seen local parts at one domain that its MX answers "no such user". Calling each of
 * them out would make us one of the many verifiers that DDoS the forged domain's MX.
 *
 * The breaker counts per *site* (floodSite: the registrable domain), not per domain: random
 * subdomains of a wildcard-MX domain are one victim. Every method takes a mail domain and
 * answers for its site. What counts, per site, within `windowMs`, each address once however
 * often it is asked:
 *
 * - suspects: never-seen addresses the MX answered `user_unknown`;
 * - witnesses: never-seen addresses the MX confirmed (they exist);
 * - in flight: never-seen addresses sent to the MX and not answered yet.
 *
 * The site trips when suspects reach `threshold` and outnumber the witnesses: a busy domain
 * whose new senders exist never trips, however many there are. While tripped (`cooldownMs`,
 * re-armed by fresh evidence) the service calls out only as a trickle (see FloodTrickle).
 *
 * Until then, a site is *held* while it has suspects that its witnesses do not outnumber, or,
 * before any answer, `threshold` never-seen addresses in flight: it gets one session at a time
 * (across all its domains: see inFlight), each gathering the addresses queued for it, until the
 * answers show which kind of site it is. That bounds what a flood costs its victim before it
 * trips (a session or two), and slows a real domain only while an unknown sender outweighs the
 * known ones.
 */
import { floodSite } from './flood-site.js';

export interface FloodOptions {
  /** Distinct never-seen addresses answered user_unknown within the window that trip a site. */
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
  /** address (local part @ domain) -> when it was answered user_unknown. */
  suspects: Map<string, number>;
  /** address -> when it was confirmed to exist. */
  witnesses: Map<string, number>;
  inFlight: Set<string>;
  trippedUntil: number;
}

/** Sites kept before idle ones are swept. */
const SWEEP_AT = 10_000;

export class FloodBreaker {
  private readonly sites = new Map<string, DomainWindow>();
  private readonly now: () => number;

  constructor(private readonly options: FloodOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Whether the site of `domain` is tripped. */
  isTripped(domain: string): boolean {
    const w = this.sites.get(floodSite(domain));
    return w !== undefined && w.trippedUntil > this.now();
  }

  /** Whether a domain may get a callout session now: the state of its site. */
  state(domain: string): FloodState {
    const w = this.sites.get(floodSite(domain));
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
    for (const local of localParts) w.inFlight.add(`${local}@${domain}`);
  }

  /**
   * Never-seen addresses of the site of `domain` (any of its domains) asked and not answered
   * yet: a held site gets its next session only when this is 0.
   */
  inFlight(domain: string): number {
    return this.sites.get(floodSite(domain))?.inFlight.size ?? 0;
  }

  /**
   * The MX answered for one local part (or the session ended without an answer: 'neither').
   * Returns 'tripped' when this answer trips the domain (or re-arms a tripped one).
   */
  settle(domain: string, localPart: string, evidence: FloodEvidence): 'tripped' | 'ok' {
    const now = this.now();
    const w = this.window(domain);
    const address = `${localPart}@${domain}`;
    w.inFlight.delete(address);
    this.expire(w, now);
    if (evidence === 'unknown') touch(w.suspects, address, now);
    else if (evidence === 'exists') touch(w.witnesses, address, now);
    const looksForged = w.suspects.size >= this.options.threshold && w.suspects.size > w.witnesses.size;
    if (evidence !== 'unknown' || !looksForged) return 'ok';
    const wasTripped = w.trippedUntil > now;
    w.trippedUntil = now + this.options.cooldownMs;
    return wasTripped ? 'ok' : 'tripped';
  }

  /** Sites currently tripped (for the dashboard and metrics): `domain` is the site. */
  tripped(): { domain: string; untilMs: number; suspects: number }[] {
    const now = this.now();
    const out: { domain: string; untilMs: number; suspects: number }[] = [];
    for (const [site, w] of this.sites) {
      if (w.trippedUntil > now)
        out.push({ domain: site, untilMs: w.trippedUntil, suspects: w.suspects.size });
    }
    return out;
  }

  private window(domain: string): DomainWindow {
    const site = floodSite(domain);
    let w = this.sites.get(site);
    if (!w) {
      if (this.sites.size >= SWEEP_AT) this.sweep();
      w = { suspects: new Map(), witnesses: new Map(), inFlight: new Set(), trippedUntil: 0 };
      this.sites.set(site, w);
    }
    return w;
  }

  /** Forget evidence older than the window (Maps keep insertion order; re-sets move to the end). */
  private expire(w: DomainWindow, now: number): void {
    const from = now - this.options.windowMs;
    for (const map of [w.suspects, w.witnesses]) {
      for (const [address, at] of map) {
        if (at > from) break;
        map.delete(address);
      }
    }
  }

  private sweep(): void {
    const now = this.now();
    for (const [site, w] of this.sites) {
      this.expire(w, now);
      const idle = w.suspects.size === 0 && w.witnesses.size === 0 && w.inFlight.size === 0;
      if (idle && w.trippedUntil <= now) this.sites.delete(site);
    }
  }
}

/** Set to now, moved to the end: expire() relies on the maps being in time order. */
function touch(map: Map<string, number>, key: string, now: number): void {
  map.delete(key);
  map.set(key, now);
}
