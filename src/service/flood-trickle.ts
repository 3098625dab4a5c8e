/**
 * The trickle through a tripped domain. During a forged flood the verifier must not become
 * the forged domain's DDoS, yet a real new sender of that domain must still be
 * verified, however long the flood lasts.
 *
 * Requests for never-seen addresses of a tripped domain are answered rate_limited (the policy
 * server defers them) and remembered here. Every `intervalMs`, one session carries up to
 * `perSession` of them to the domain's MX; their verdicts are cached, so the sender's retry
 * is answered from the cache. Addresses asked again go first (a real MTA retries a deferral,
 * a forger rarely does), then the oldest. What the flood costs its victim is bounded by this
 * trickle, not by the flood.
 *
 * The trickle runs per site, as the breaker trips (floodSite): a flood over random subdomains
 * of one victim gets one trickle session per interval, not one per subdomain. A session carries
 * addresses of one domain (the first picked, and others of its domain).
 */
import { BoundedMap } from '../limits/bounded-map.js';
import { floodSite } from '../limits/flood-site.js';
import type { CalloutJob, CalloutScheduler } from './callout-scheduler.js';

export interface TrickleOptions {
  /** One trickle session per tripped site this often. */
  intervalMs: number;
  /** Addresses one trickle session carries. */
  perSession: number;
  /** Deferred addresses remembered per site (least recently asked forgotten first). */
  maxQueued: number;
}

/** What one trickle tick did, for logs and metrics. */
export interface TrickleReport {
  /** The tripped site (registrable domain). */
  domain: string;
  /** Addresses sent in this tick's session (0 when there was nothing to send or no slot). */
  sent: number;
  /** Senders deferred since the previous tick. */
  deferred: number;
  /** Addresses still waiting for the trickle. */
  queued: number;
}

export interface TrickleDeps {
  scheduler: Pick<CalloutScheduler, 'runUnattended'>;
  /** Whether the site of `domain` is still tripped. */
  isTripped(domain: string): Promise<boolean>;
  /** One call per tick of a tripped site. */
  tick(report: TrickleReport): void;
  /** The trip ended: the site is called out normally again. */
  ended(site: string): void;
}

interface Deferred {
  job: CalloutJob;
  asked: number;
  since: number;
}

interface DomainTrickle {
  queue: BoundedMap<string, Deferred>;
  timer: NodeJS.Timeout;
  deferred: number;
  busy: boolean;
}

export class FloodTrickle {
  private readonly sites = new Map<string, DomainTrickle>();

  constructor(
    private readonly options: TrickleOptions,
    private readonly deps: TrickleDeps,
  ) {}

  /** A request for a never-seen address of a tripped site was deferred: keep it for the trickle. */
  defer(job: CalloutJob): void {
    const d = this.site(floodSite(job.domain));
    d.deferred++;
    const held = d.queue.get(job.address);
    if (held) held.asked++;
    else d.queue.set(job.address, { job: { ...job, kind: 'trickle' }, asked: 1, since: Date.now() });
  }

  /** Tripped sites with what waits for their trickle. */
  snapshot(): { domain: string; queued: number }[] {
    return [...this.sites].map(([site, d]) => ({ domain: site, queued: d.queue.size }));
  }

  close(): void {
    for (const d of this.sites.values()) clearInterval(d.timer);
    this.sites.clear();
  }

  private site(site: string): DomainTrickle {
    let d = this.sites.get(site);
    if (!d) {
      const timer = setInterval(() => void this.tick(site), this.options.intervalMs);
      timer.unref();
      d = { queue: new BoundedMap(this.options.maxQueued), timer, deferred: 0, busy: false };
      this.sites.set(site, d);
    }
    return d;
  }

  private async tick(site: string): Promise<void> {
    const d = this.sites.get(site);
    if (!d || d.busy) return;
    if (!(await this.deps.isTripped(site))) {
      // Whoever was deferred retries and is verified normally now.
      clearInterval(d.timer);
      this.sites.delete(site);
      this.deps.ended(site);
      return;
    }
    const picked = this.pick(d);
    const deferred = d.deferred;
    d.deferred = 0;
    let sent = 0;
    const domain = picked[0]?.job.domain;
    if (domain !== undefined) {
      d.busy = true;
      try {
        const jobs = picked.map((p) => p.job);
        if (await this.deps.scheduler.runUnattended(domain, jobs, this.options.intervalMs))
          sent = jobs.length;
        else for (const p of picked) d.queue.set(p.job.address, p); // no slot: next time
      } finally {
        d.busy = false;
      }
    }
    this.deps.tick({ domain: site, sent, deferred, queued: d.queue.size });
  }

  /**
   * The most asked, then the oldest, and others of the same domain (a session speaks to one
   * domain's MX) up to perSession; taken out of the queue.
   */
  private pick(d: DomainTrickle): Deferred[] {
    const all = [...d.queue.entries()].map(([, v]) => v);
    all.sort((a, b) => b.asked - a.asked || a.since - b.since);
    const domain = all[0]?.job.domain;
    const picked = all.filter((p) => p.job.domain === domain).slice(0, this.options.perSession);
    for (const p of picked) d.queue.delete(p.job.address);
    return picked;
  }
}
