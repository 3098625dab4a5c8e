/**
 * Politeness and protection, in one place the service consults before every
 * callout: per-domain and per-MX-address concurrency and token-bucket rates,
 * a global pool of SMTP sessions, and the flood breaker. Every wait is
 * bounded by the caller's signal; running out means `rate_limited`, never a
 * rejection.
 *
 * Capacity is shared fairly: a callout waits for its own domain (acquireDomain),
 * then, before each connection, for the MX address it is about to call, and
 * only then for a slot of the global pool (gate). So a destination's own limits
 * are the share of the pool it may use, and nobody holds a global slot while
 * queued behind a slow destination: 110 senders at domains whose MX is one
 * tarpit hold that tarpit's 2 sessions, not all 100 slots, and a sender at a
 * healthy domain still gets through. The pool itself hands a freed slot to the
 * waiting MX site that holds the fewest (fair-pool.ts).
 *
 * Many addresses are one destination too. A provider (or a forger) whose MX
 * hosts are mx1..mx60.hoster.example, or sixty addresses in one network, would
 * get sixty per-address shares: 110 senders at distinct domains it hosts held
 * all 100 slots while it stalled, and a sender elsewhere was deferred. So every
 * session also counts against its MX site (the MX host's registrable domain)
 * and its network (IPv4 /24, IPv6 /48), each held to `mxSiteShare` of the pool.
 *
 * The flood breaker counts twice: per site (`flood`, consulted by the scheduler before each
 * session) and per MX address (`mxFlood`, consulted here at the gate, the one place the address
 * is known before connecting). A flood spread over many small domains one provider hosts trips
 * no site, yet every one of them lands on the same MX address. The MX breaker counts *sites*:
 * a site is unconfirmed at an MX address when it answered a never-seen address of that site
 * user_unknown or with silence, confirmed when it confirmed one. So a flood at one site never
 * trips its MX (the site's own breaker bounds it, and the provider's other customers are left
 * alone), while `threshold` unconfirmed sites that outnumber the confirmed ones do. A tripped
 * MX address gets one session per trickle interval (fleet-wide with Redis) for sites that are
 * not tripped themselves (a tripped site's sessions are its own trickle already); the others are
 * refused (`mx_flood`: rate_limited, a deferral, never a rejection).
 */
import ipaddr from 'ipaddr.js';
import type { ConnectGate } from '../core/index.js';
import { FairPool } from './fair-pool.js';
import { FloodBreaker, type FloodEvidence, type FloodOptions } from './flood-breaker.js';
import { floodSite } from './flood-site.js';
import type { FleetLimits } from './fleet-limits.js';
import { KeyedSemaphore, type Release } from './semaphore.js';
import { TokenBuckets } from './token-bucket.js';

export interface LimitOptions {
  globalConcurrency: number;
  domainConcurrency: number;
  domainRate: number;
  domainBurst: number;
  mxConcurrency: number;
  mxRate: number;
  mxBurst: number;
  /**
   * The part of the global pool one MX site, and one network, may hold (0 < share <= 0.5;
   * default 0.25), never less than mxConcurrency.
   */
  mxSiteShare?: number;
  flood: FloodOptions;
  /** While an MX address is flood-tripped, one session to it this often (ms): the trickle interval. */
  mxTrickleMs: number;
}

/** The default of LimitOptions.mxSiteShare (limits.mx_site_share). */
export const MX_SITE_SHARE = 0.25;

/**
 * The destinations a session counts against besides its address: the MX host's site (its
 * registrable domain; none for an address literal) and the address's network (IPv4 /24,
 * IPv6 /48, the units providers and forgers are given addresses in).
 */
export function mxDestinations(
  ip: string,
  host: string | undefined,
): { site: string | null; network: string } {
  const name =
    host && !host.startsWith('[') && !ipaddr.isValid(host) ? host.toLowerCase().replace(/\.$/, '') : null;
  let network = ip;
  if (ipaddr.isValid(ip)) {
    const addr = ipaddr.process(ip);
    const bits = addr.kind() === 'ipv4' ? 24 : 48;
    network = `${ipaddr.fromByteArray(maskBytes(addr.toByteArray(), bits)).toString()}/${bits}`;
  }
  return { site: name ? floodSite(name) : null, network };
}

function maskBytes(bytes: number[], bits: number): number[] {
  return bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    return b & (0xff << (8 - keep)) & 0xff;
  });
}

export type LimitRefusal = 'global' | 'domain_concurrency' | 'domain_rate' | 'mx' | 'mx_flood';

/** Longest a session to a held MX address waits for the answers of those before it (ms). */
const MX_PENDING_MS = 2000;

/** The key of an MX address in the per-MX breaker's reports and in Redis: `mx:<ip>`. */
export const mxFloodKey = (ip: string): string => `mx:${ip}`;

export interface LimitSnapshot {
  /** SMTP sessions holding a slot of the global pool now. */
  inFlight: number;
  trippedDomains: string[];
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** Take a token, waiting for the bucket to refill while the signal allows. */
async function takeToken(buckets: TokenBuckets, key: string, signal: AbortSignal): Promise<boolean> {
  while (!buckets.tryTake(key)) {
    if (signal.aborted) return false;
    await sleep(buckets.waitMs(key), signal);
  }
  return true;
}

export class CalloutLimits {
  private readonly global: FairPool;
  private readonly domains: KeyedSemaphore;
  private readonly domainBuckets: TokenBuckets;
  private readonly mx: KeyedSemaphore;
  private readonly mxBuckets: TokenBuckets;
  /** Sessions per MX site and per network: keys 'site:<registrable domain>' and 'net:<prefix>'. */
  private readonly mxSites: KeyedSemaphore;
  readonly flood: FloodBreaker;
  /** The same breaker per MX address (keys are IP addresses). */
  readonly mxFlood: FloodBreaker;
  /**
   * Sessions granted per MX address whose answers are not weighed yet: ip -> site -> how many,
   * and when the last was granted (ms). See mxWeighed.
   */
  private readonly mxPending = new Map<string, Map<string, { n: number; at: number }>>();
  /** When each flood-tripped MX address may have its next session (ms since the epoch). */
  private readonly mxTrickleAt = new Map<string, number>();
  private readonly mxTrickleMs: number;
  /** Called with each refusal, for logs and metrics. */
  onRefusal: (what: LimitRefusal, key: string) => void = () => undefined;
  /** Called when an MX address trips (its key, `mx:<ip>`), once per trip. */
  onMxTripped: (key: string) => void = () => undefined;

  /**
   * @param fleet Fleet mode: the same limits counted across every node in
   *   Redis, consulted after this node's own (which alone apply while Redis is away).
   */
  constructor(
    options: LimitOptions,
    private readonly fleet: FleetLimits | null = null,
  ) {
    this.global = new FairPool(options.globalConcurrency);
    this.domains = new KeyedSemaphore(options.domainConcurrency);
    this.domainBuckets = new TokenBuckets({ rate: options.domainRate, burst: options.domainBurst });
    this.mx = new KeyedSemaphore(options.mxConcurrency);
    this.mxBuckets = new TokenBuckets({ rate: options.mxRate, burst: options.mxBurst });
    const share = Math.floor(options.globalConcurrency * (options.mxSiteShare ?? MX_SITE_SHARE));
    this.mxSites = new KeyedSemaphore(Math.max(1, options.mxConcurrency, share));
    this.flood = new FloodBreaker(options.flood);
    this.mxFlood = new FloodBreaker(options.flood, (ip) => ip);
    this.mxTrickleMs = options.mxTrickleMs;
  }

  /**
   * A slot for one callout to `domain`: a per-domain slot and token (and the
   * fleet's). The global pool is not taken here: each session takes its slot
   * at the gate, once its MX address lets it connect.
   */
  async acquireDomain(domain: string, signal: AbortSignal): Promise<Release | LimitRefusal> {
    const domainSlot = await this.domains.acquire(domain, signal);
    if (!domainSlot) return this.refuse('domain_concurrency', domain);
    if (!(await takeToken(this.domainBuckets, domain, signal))) {
      domainSlot();
      return this.refuse('domain_rate', domain);
    }
    const fleetSlot = await this.fleetSlot('domain', domain, signal);
    if (typeof fleetSlot === 'string') {
      domainSlot();
      return this.refuse(fleetSlot, domain);
    }
    return () => {
      fleetSlot();
      domainSlot();
    };
  }

  /**
   * Fleet mode: the fleet's concurrency slot and rate token for a domain or an
   * MX address (a no-op release on a single node or while Redis is away).
   */
  private async fleetSlot(
    scope: 'domain' | 'mx',
    key: string,
    signal: AbortSignal,
  ): Promise<Release | 'domain_concurrency' | 'domain_rate' | 'mx'> {
    const none = (): void => undefined;
    if (!this.fleet) return none;
    const slot = await this.fleet.slot(scope, key, signal);
    if (slot === null) return scope === 'domain' ? 'domain_concurrency' : 'mx';
    const release = slot === 'local' ? none : slot;
    const token = await this.fleet.token(scope, key, signal);
    if (token === false) {
      release();
      return scope === 'domain' ? 'domain_rate' : 'mx';
    }
    return release;
  }

  /**
   * What the MX answered for a never-seen address (the flood breaker's evidence): this node's
   * breakers weigh it, per site and per MX address (`mxIp`, the address that answered, when one
   * did), and in fleet mode the fleet's too. 'tripped' when this answer trips the site here or
   * across the fleet (once: not again while tripped); an MX address that trips is reported
   * through onMxTripped.
   */
  async floodEvidence(
    domain: string,
    address: string,
    evidence: FloodEvidence,
    mxIp: string | null = null,
  ): Promise<'tripped' | 'ok'> {
    if (mxIp !== null) this.mxAnswered(mxIp, floodSite(domain));
    if (evidence === 'neither') {
      this.flood.settle(domain, address.slice(0, address.lastIndexOf('@')), evidence);
      return 'ok';
    }
    if (mxIp !== null) await this.mxEvidence(mxIp, floodSite(domain), evidence);
    const wasTripped = this.flood.isTripped(domain);
    const local = this.flood.settle(domain, address.slice(0, address.lastIndexOf('@')), evidence);
    if (!this.fleet) return local === 'tripped' ? 'tripped' : 'ok';
    const fleet = await this.fleet.recordEvidence(floodSite(domain), address, evidence);
    return !wasTripped && (local === 'tripped' || fleet === 'tripped') ? 'tripped' : 'ok';
  }

  /** The same evidence for the MX address that gave it, counted per site (`site`). */
  private async mxEvidence(
    ip: string,
    site: string,
    evidence: Exclude<FloodEvidence, 'neither'>,
  ): Promise<void> {
    const wasTripped = this.mxFlood.isTripped(ip);
    const local = this.mxFlood.settle(ip, site, evidence);
    const fleet = this.fleet ? await this.fleet.recordEvidence(mxFloodKey(ip), site, evidence) : 'ok';
    if (!wasTripped && (local === 'tripped' || fleet === 'tripped')) this.onMxTripped(mxFloodKey(ip));
  }

  /** Whether the flood breaker holds `domain` tripped, on this node or (fleet mode) fleet-wide. */
  async floodTripped(domain: string): Promise<boolean> {
    if (this.flood.isTripped(domain)) return true;
    return this.fleet ? this.fleet.isFloodTripped(floodSite(domain)) : false;
  }

  /**
   * Whether a session to MX address `ip` for `domain` may go: always, unless the address is
   * flood-tripped (here or fleet-wide); then only for a domain whose site is tripped itself (its
   * sessions are its trickle already), or as the address's one session per trickle interval.
   */
  /** A session to `ip` for `site` was granted: its answers are pending until mxAnswered. */
  private mxGranted(ip: string, site: string): void {
    let sites = this.mxPending.get(ip);
    if (!sites) {
      if (this.mxPending.size > 10_000) this.mxPending.clear(); // only a wait is lost
      sites = new Map();
      this.mxPending.set(ip, sites);
    }
    const held = sites.get(site);
    sites.set(site, { n: (held?.n ?? 0) + 1, at: Date.now() });
  }

  /**
   * A session's answer for `domain` came from MX address `ip` (called by floodEvidence, and by
   * the scheduler for answers that are no flood evidence, such as a refresh's).
   */
  answered(domain: string, ip: string | null): void {
    if (ip !== null) this.mxAnswered(ip, floodSite(domain));
  }

  private mxAnswered(ip: string, site: string): void {
    const sites = this.mxPending.get(ip);
    const held = sites?.get(site);
    if (!sites || !held) return;
    if (held.n > 1) held.n--;
    else sites.delete(site);
    if (sites.size === 0) this.mxPending.delete(ip);
  }

  /**
   * While an MX address has unconfirmed sites that its confirmed ones do not outnumber (the
   * breaker's 'held'), a session waits until the answers of those already granted are weighed
   * (at most MX_PENDING_MS: an answer that names another address, or none, is not waited for):
   * the sessions of a spread flood then go one after another and the address trips after
   * `threshold` of them, not after as many more as were already queued at the gate.
   */
  private async mxWeighed(ip: string, signal: AbortSignal): Promise<void> {
    for (;;) {
      if (this.mxFlood.state(ip) === 'open' || signal.aborted) return;
      const sites = this.mxPending.get(ip);
      const now = Date.now();
      for (const [site, held] of sites ?? []) if (now - held.at > MX_PENDING_MS) sites?.delete(site);
      if (!sites || sites.size === 0) return;
      await sleep(10, signal);
    }
  }

  /**
   * This node's own view, without taking a turn: the address is tripped here, the site of
   * `domain` is not, and the address's trickle turn is not due yet.
   */
  private mxFloodHolds(ip: string, domain: string): boolean {
    if (!this.mxFlood.isTripped(ip) || this.flood.isTripped(domain)) return false;
    return (this.mxTrickleAt.get(ip) ?? 0) > Date.now();
  }

  private async mxFloodAllows(ip: string, domain: string): Promise<boolean> {
    const tripped =
      this.mxFlood.isTripped(ip) ||
      (this.fleet !== null && (await this.fleet.isFloodTripped(mxFloodKey(ip))));
    if (!tripped || (await this.floodTripped(domain))) return true;
    const now = Date.now();
    if ((this.mxTrickleAt.get(ip) ?? 0) > now) return false;
    this.mxTrickleAt.set(ip, now + this.mxTrickleMs);
    if (this.mxTrickleAt.size > 10_000) {
      for (const [key, at] of this.mxTrickleAt) if (at <= now) this.mxTrickleAt.delete(key);
    }
    return this.fleet ? this.fleet.trickleTurn(mxFloodKey(ip), this.mxTrickleMs) : true;
  }

  /**
   * The engine's gate, before each connection: the MX address's concurrency
   * and rate first (this node's, then the fleet's), then its site's and its
   * network's share, then its flood breaker (mxFloodAllows), then a slot of the
   * global pool, all within the callout's signal. The release frees them all
   * when the session has closed.
   */
  readonly gate: ConnectGate = {
    acquire: async (ip, signal, host, domain = '') => {
      // A session this node already knows it would refuse does not queue for the address's
      // slot and rate first: a spread flood's hundreds of refusals are answered at once.
      if (this.mxFloodHolds(ip, domain)) {
        this.refuse('mx_flood', ip);
        return null;
      }
      const slot = await this.mx.acquire(ip, signal);
      if (!slot) {
        this.refuse('mx', ip);
        return null;
      }
      if (!(await takeToken(this.mxBuckets, ip, signal))) {
        slot();
        this.refuse('mx', ip);
        return null;
      }
      const fleetSlot = await this.fleetSlot('mx', ip, signal);
      if (typeof fleetSlot === 'string') {
        slot();
        this.refuse('mx', ip);
        return null;
      }
      const shares = await this.siteShares(ip, host, signal);
      if (typeof shares === 'string') {
        fleetSlot();
        slot();
        this.refuse('mx', shares);
        return null;
      }
      // After the waits above: a session queued behind the ones whose answers tripped the
      // address must see the trip.
      await this.mxWeighed(ip, signal);
      if (!(await this.mxFloodAllows(ip, domain))) {
        shares.release();
        fleetSlot();
        slot();
        this.refuse('mx_flood', ip);
        return null;
      }
      const globalSlot = await this.global.acquire(shares.key, signal);
      if (!globalSlot) {
        shares.release();
        fleetSlot();
        slot();
        this.refuse('global', ip);
        return null;
      }
      this.mxGranted(ip, floodSite(domain));
      return () => {
        globalSlot();
        shares.release();
        fleetSlot();
        slot();
      };
    },
  };

  /**
   * A slot of the MX site's share and of the network's (this node's), or the key that had none
   * before the signal. `key` is what the global pool is shared by: the site, else the network.
   */
  private async siteShares(
    ip: string,
    host: string | undefined,
    signal: AbortSignal,
  ): Promise<{ key: string; release: Release } | string> {
    const { site, network } = mxDestinations(ip, host);
    const keys = [...(site ? [`site:${site}`] : []), `net:${network}`];
    const held: Release[] = [];
    const release = (): void => {
      for (const r of held) r();
    };
    for (const key of keys) {
      const r = await this.mxSites.acquire(key, signal);
      if (!r) {
        release();
        return key;
      }
      held.push(r);
    }
    return { key: keys[0] ?? network, release };
  }

  private refuse(what: LimitRefusal, key: string): LimitRefusal {
    this.onRefusal(what, key);
    return what;
  }

  snapshot(): LimitSnapshot {
    const sites = this.flood.tripped().map((t) => t.domain);
    const mxes = this.mxFlood.tripped().map((t) => mxFloodKey(t.domain));
    return { inFlight: this.global.total, trippedDomains: [...sites, ...mxes] };
  }
}
