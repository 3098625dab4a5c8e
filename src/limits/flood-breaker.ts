/**
 * The flood breaker. A forged-sender flood shows one signature: many distinct,
 * never-seen local parts at one domain that its MX answers "no such user". Calling each of
 * them out would make us one of the many verifiers that DDoS the forged domain's MX.
 *
 * The breaker counts per *site* (floodSite: the registrable domain), not per domain: random
 * subdomains of a wildcard-MX domain are one victim. Every method takes a mail domain and
 * answers for its site (or, given another `keyOf`, for another key: CalloutLimits keeps a second
 * breaker per MX address, for floods spread over many sites one MX serves). What counts, per
 * site, within `windowMs`, each address once however often it is asked:
 *
 * - suspects: never-seen addresses the MX answered `user_unknown`;
 * - silent: never-seen addresses the MX was reached for and said nothing about (a 4xx to the
 *   RCPT, greylisting, a 421 or 4xx before it, a stall, a lost session). A forged flood whose
 *   victim answers 4xx to every unknown address gives only these, and must cost it no more than
 *   one that answers 5xx;
 * - witnesses: never-seen addresses the MX confirmed (they exist);
 * - in flight: never-seen addresses sent to the MX and not answered yet.
 *
 * The site trips when its unconfirmed addresses (suspects and silent together) reach `threshold`
 * and outnumber the witnesses: a busy domain whose new senders exist never trips, however many
 * there are. Tripping only ever defers (rate_limited): for a silent MX, whose answer would have
 * been a deferral anyway, that costs a real sender nothing on its first attempt, and its retry
 * reaches the MX through the trickle. While tripped (`cooldownMs`, re-armed by fresh unconfirmed
 * evidence) the service calls out only as a trickle (see FloodTrickle). A confirmed address lifts
 * the trip at once when the trip rests on silence alone (a greylisting domain whose retried
 * senders now pass: the trickle's first confirmation reopens it), or when the witnesses then
 * outnumber the unconfirmed addresses. A forger who mixes real addresses into a flood at a silent
 * MX buys one held session per real address: the very next silent answer trips the site again.
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

/**
 * What one answer for a never-seen address says about its domain: unknown (user_unknown),
 * exists (confirmed), silent (the MX was reached and said nothing about it), or neither (nothing
 * about the MX at all: our own limits or shutdown, DNS, a domain fact, a catch-all).
 */
export type FloodEvidence = 'unknown' | 'exists' | 'silent' | 'neither';

/** open: call out freely. held: one session at a time. tripped: trickle only. */
export type FloodState = 'open' | 'held' | 'tripped';

interface DomainWindow {
  /** address (local part @ domain) -> when it was answered user_unknown. */
  suspects: Map<string, number>;
  /** address -> when the MX was reached for it and said nothing about it. */
  silent: Map<string, number>;
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

  /**
   * @param keyOf What a domain is counted under: its site (the default), or the key itself
   *   (the per-MX-address breaker passes addresses).
   */
  constructor(
    private readonly options: FloodOptions,
    private readonly keyOf: (domain: string) => string = floodSite,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Whether the site of `domain` is tripped. */
  isTripped(domain: string): boolean {
    const w = this.sites.get(this.keyOf(domain));
    return w !== undefined && w.trippedUntil > this.now();
  }

  /** Whether a domain may get a callout session now: the state of its site. */
  state(domain: string): FloodState {
    const w = this.sites.get(this.keyOf(domain));
    if (!w) return 'open';
    const now = this.now();
    if (w.trippedUntil > now) return 'tripped';
    this.expire(w, now);
    const unconfirmed = w.suspects.size + w.silent.size;
    if (w.witnesses.size > unconfirmed) return 'open';
    if (unconfirmed > 0) return 'held';
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
    return this.sites.get(this.keyOf(domain))?.inFlight.size ?? 0;
  }

  /**
   * The MX answered for one local part (or the session ended without an answer: 'neither').
   * Returns 'tripped' when this answer trips the domain (not when it re-arms a tripped one),
   * 'lifted' when a confirmed address ends a trip, else 'ok'.
   */
  settle(domain: string, localPart: string, evidence: FloodEvidence): 'tripped' | 'lifted' | 'ok' {
    const now = this.now();
    const w = this.window(domain);
    const address = `${localPart}@${domain}`;
    w.inFlight.delete(address);
    this.expire(w, now);
    if (evidence === 'unknown') touch(w.suspects, address, now);
    else if (evidence === 'silent') touch(w.silent, address, now);
    else if (evidence === 'exists') touch(w.witnesses, address, now);
    const unconfirmed = w.suspects.size + w.silent.size;
    const wasTripped = w.trippedUntil > now;
    if (evidence === 'exists') {
      // A trip on silence alone is lifted by the first confirmation (the MX speaks again: a
      // greylisting domain whose retried senders now pass); one with user_unknown answers only
      // once the confirmed addresses outnumber the unconfirmed ones.
      const lifts = w.suspects.size === 0 || w.witnesses.size > unconfirmed;
      if (!wasTripped || !lifts) return 'ok';
      w.trippedUntil = 0;
      return 'lifted';
    }
    const looksForged = unconfirmed >= this.options.threshold && unconfirmed > w.witnesses.size;
    if (evidence === 'neither' || !looksForged) return 'ok';
    w.trippedUntil = now + this.options.cooldownMs;
    return wasTripped ? 'ok' : 'tripped';
  }

  /**
   * Sites currently tripped (for the dashboard and metrics): `domain` is the site (the key);
   * `suspects` counts its unconfirmed addresses (unknown or silent) in the window.
   */
  tripped(): { domain: string; untilMs: number; suspects: number }[] {
    const now = this.now();
    const out: { domain: string; untilMs: number; suspects: number }[] = [];
    for (const [site, w] of this.sites) {
      if (w.trippedUntil > now)
        out.push({ domain: site, untilMs: w.trippedUntil, suspects: w.suspects.size + w.silent.size });
    }
    return out;
  }

  private window(domain: string): DomainWindow {
    const site = this.keyOf(domain);
    let w = this.sites.get(site);
    if (!w) {
      if (this.sites.size >= SWEEP_AT) this.sweep();
      w = {
        suspects: new Map(),
        silent: new Map(),
        witnesses: new Map(),
        inFlight: new Set(),
        trippedUntil: 0,
      };
      this.sites.set(site, w);
    }
    return w;
  }

  /** Forget evidence older than the window (Maps keep insertion order; re-sets move to the end). */
  private expire(w: DomainWindow, now: number): void {
    const from = now - this.options.windowMs;
    for (const map of [w.suspects, w.silent, w.witnesses]) {
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
      const idle =
        w.suspects.size === 0 && w.silent.size === 0 && w.witnesses.size === 0 && w.inFlight.size === 0;
      if (idle && w.trippedUntil <= now) this.sites.delete(site);
    }
  }
}

/** Set to now, moved to the end: expire() relies on the maps being in time order. */
function touch(map: Map<string, number>, key: string, now: number): void {
  map.delete(key);
  map.set(key, now);
}
