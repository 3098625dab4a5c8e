/**
 * The Verifier: the one API every front-end calls. It wraps the engine with
 *
 *   syntax -> skip list -> address cache (with background refresh)
 *   -> domain facts -> flood breaker -> coalescing (in this node, then the fleet)
 *   -> the callout scheduler (batches per domain, limits, flood evidence) -> callout
 *   -> cache write, domain facts, statistics
 *
 * and an inline budget: a request that is not answered in time gets `pending`
 * while its callout finishes in the background, so the sender's retry is
 * answered from the cache.
 */
import { parseMailbox, type EngineVerdict, type ParseOptions, type VerifyOptions } from '../core/index.js';
import type { AddressEntry, VerdictCache } from '../cache/verdict-cache.js';
import { mxFloodKey, type CalloutLimits } from '../limits/callout-limits.js';
import { Coalescer } from '../limits/coalescer.js';
import { LocalCoordinator, type CalloutCoordinator } from '../limits/fleet-coalescer.js';
import { calloutCounters, requestCounters } from '../stats/counters.js';
import { CalloutScheduler, type CalloutJob } from './callout-scheduler.js';
import { FloodTrickle, type TrickleReport } from './flood-trickle.js';
import type { StatsRecorder } from '../stats/stats-store.js';
import {
  ProbeHints,
  entryToStore,
  factFrom,
  factHolds,
  factToStore,
  verdictFromFact,
  type CacheTtls,
} from './cache-policy.js';
import { localVerdict } from './local-verdict.js';
import { toRequest, type RequestInput, type VerificationRequest } from './request.js';
import { SkipList } from './skip-list.js';
import { spfApplies, spfForHelo, spfForSender, type SpfPolicy, type SpfStep } from './spf/spf-stage.js';
import type { ServiceVerdict } from './verdict.js';

/** A verdict, and whether it came from another request's callout (joined). */
interface Answered {
  verdict: ServiceVerdict;
  joined: boolean;
}

/** A callout's verdict: the engine's, or the service's own when limits prevented the callout. */
export type CalloutVerdict = Omit<ServiceVerdict, 'cache'>;

export interface CalloutEngine {
  verify(address: string, opts: VerifyOptions): Promise<EngineVerdict>;
  /** Several addresses of one domain in one SMTP session per attempt (VerificationEngine.verifyBatch). */
  verifyBatch(addresses: readonly string[], opts: VerifyOptions): Promise<EngineVerdict[]>;
  /** How many addresses one session carries: the most a batch should hold. */
  readonly addressesPerSession: number;
  idle(): Promise<void>;
}

/** Hooks for logs and metrics; the service itself decides, observers only watch. */
export interface VerifierObserver {
  /** One call per request answered, with how it was answered. */
  verdict(v: ServiceVerdict, context: { joined: boolean }): void;
  /** One call per callout actually made (coalesced requests share one). */
  callout(v: CalloutVerdict): void;
  /** The flood breaker tripped for a domain: new senders get rate_limited, callouts only as a trickle. */
  floodTripped(domain: string): void;
  /** One sender deferred because its domain is tripped. */
  floodDeferred?(domain: string): void;
  /** One tick of a tripped domain's trickle (a session sent, or nothing to send). */
  floodTrickle?(report: TrickleReport): void;
  /** A trip ended: the domain is called out normally again. */
  floodEnded?(domain: string): void;
  /** One callout session (one MX walk) started for `addresses` addresses of a domain. */
  calloutSession?(kind: CalloutJob['kind'], addresses: number): void;
  backgroundError(error: unknown): void;
}

export interface VerifierOptions {
  inlineBudgetMs: number;
  /** While a domain is tripped, one trickle session this often (ms). */
  trickleIntervalMs: number;
  ttl: CacheTtls;
  skipDomains: readonly string[];
  skipAddresses: readonly string[];
  /** Verify senders at single-label domains (verify.allow_single_label_domains); default false. */
  singleLabelDomains?: boolean;
}

export interface VerifierDeps {
  engine: CalloutEngine;
  cache: VerdictCache;
  limits: CalloutLimits;
  stats: StatsRecorder;
  observer: VerifierObserver;
  /** SPF before the callout; absent or null when SPF is off. */
  spf?: SpfPolicy | null;
  /** Who makes a callout when several nodes need it at once (fleet mode); default: this node. */
  coordinator?: CalloutCoordinator;
  now?: () => number;
}

export interface RequestOptions {
  /** Override the inline budget for this request (ms). */
  budgetMs?: number;
  /** Include the SMTP transcript (only for a fresh callout this request waited for). */
  transcript?: boolean;
}

/** Deferred addresses a tripped domain's trickle remembers. */
const TRICKLE_QUEUE_MAX = 2048;

export class Verifier {
  private readonly callouts = new Coalescer<CalloutVerdict>();
  private readonly skip: SkipList;
  private readonly shutdown = new AbortController();
  private readonly probeHints = new ProbeHints();
  private readonly scheduler: CalloutScheduler;
  private readonly trickle: FloodTrickle;
  private readonly now: () => number;
  private readonly coordinator: CalloutCoordinator;
  private closing = false;
  /** How senders are parsed: verify.allow_single_label_domains, as the engine parses them. */
  private readonly parseOptions: ParseOptions;

  constructor(
    private readonly options: VerifierOptions,
    private readonly deps: VerifierDeps,
  ) {
    this.skip = new SkipList(options.skipDomains, options.skipAddresses);
    this.parseOptions = { singleLabelDomains: options.singleLabelDomains ?? false };
    this.now = deps.now ?? Date.now;
    this.coordinator = deps.coordinator ?? new LocalCoordinator();
    const perSession = deps.engine.addressesPerSession;
    const observer = deps.observer;
    this.scheduler = new CalloutScheduler(
      { perSession },
      {
        engine: { verifyBatch: (addresses, opts) => this.engineBatch(addresses, opts) },
        limits: deps.limits,
        shutdown: this.shutdown.signal,
        settle: (verdict) => this.settle(verdict),
        floodTripped: (domain) => observer.floodTripped(domain),
        divert: (_domain, jobs) => jobs.forEach((job) => this.trickle.defer(job)),
        session: (_domain, jobs) => observer.calloutSession?.(jobs[0]?.kind ?? 'request', jobs.length),
      },
    );
    // An MX address that trips (a flood spread over many sites it serves) is reported as a site
    // is, under its key `mx:<ip>`.
    deps.limits.onMxTripped = (key) => observer.floodTripped(key);
    this.trickle = new FloodTrickle(
      { intervalMs: options.trickleIntervalMs, perSession, maxQueued: TRICKLE_QUEUE_MAX },
      {
        scheduler: this.scheduler,
        isTripped: (domain) => deps.limits.floodTripped(domain),
        tick: (report) => observer.floodTrickle?.(report),
        ended: (domain) => observer.floodEnded?.(domain),
      },
    );
  }

  get cache(): VerdictCache {
    return this.deps.cache;
  }

  get stats(): StatsRecorder {
    return this.deps.stats;
  }

  get limits(): CalloutLimits {
    return this.deps.limits;
  }

  /** Callouts in flight now. */
  get inFlight(): number {
    return this.callouts.size;
  }

  /**
   * Sites the flood breaker holds tripped, with what waits for their trickle, and MX addresses
   * tripped (`mx:<ip>`; `suspects` counts their unconfirmed sites).
   */
  floodSnapshot(): { domain: string; untilMs: number; suspects: number; queued: number }[] {
    const queued = new Map(this.trickle.snapshot().map((t) => [t.domain, t.queued]));
    const sites = this.deps.limits.flood.tripped().map((t) => ({ ...t, queued: queued.get(t.domain) ?? 0 }));
    const mxes = this.deps.limits.mxFlood
      .tripped()
      .map((t) => ({ ...t, domain: mxFloodKey(t.domain), queued: 0 }));
    return [...sites, ...mxes];
  }

  /**
   * A front-end decided not to verify (null sender, authenticated client,
   * allow-list): counted as a request and a skip, like the service's own skips.
   */
  recordSkip(input: string, rule: string): ServiceVerdict {
    const parsed = parseMailbox(input, this.parseOptions);
    const address = parsed.ok ? parsed.mailbox.address : input;
    const domain = parsed.ok ? parsed.mailbox.domain : '';
    const verdict = localVerdict(
      address,
      domain,
      'skipped',
      rule,
      'not verified by rule of the front-end',
      this.now(),
    );
    this.deps.stats.countAll(requestCounters(verdict));
    this.deps.observer.verdict(verdict, { joined: false });
    return verdict;
  }

  /**
   * The verdict about a request's sender (a bare string is an address without
   * connection facts). Never throws for anything the request can contain.
   */
  async verify(
    input: string | RequestInput | VerificationRequest,
    opts: RequestOptions = {},
  ): Promise<ServiceVerdict> {
    return this.verifyNow(input, opts);
  }

  /**
   * The same verdict as verify(), returned as it is when nothing has to be waited for (a hit
   * in the memory tier, a verdict of syntax or skip list), a promise otherwise. The policy
   * server's hot path: a cache hit goes through no promise and no turn of the event loop.
   */
  verifyNow(
    input: string | RequestInput | VerificationRequest,
    opts: RequestOptions = {},
  ): ServiceVerdict | Promise<ServiceVerdict> {
    const answered = this.answer(toRequest(input), opts);
    return answered instanceof Promise ? answered.then((a) => this.answered(a)) : this.answered(answered);
  }

  /** Counted and observed once per request answered. */
  private answered({ verdict, joined }: Answered): ServiceVerdict {
    this.deps.stats.countAll(requestCounters(verdict));
    if (verdict.rule === FLOOD_RULE) this.deps.observer.floodDeferred?.(verdict.domain);
    this.deps.observer.verdict(verdict, { joined });
    return verdict;
  }

  /**
   * The null sender cannot be called back; with a client IP and a HELO name,
   * SPF checks the HELO identity (RFC 7208 2.3). The verdict when SPF decides
   * alone (spf_pass, spf_fail), else null: the caller skips the sender as before.
   */
  async verifyNullSender(input: RequestInput | VerificationRequest): Promise<ServiceVerdict | null> {
    const request = toRequest(input);
    if (request.sender !== '' || !this.deps.spf) return null;
    const startedAt = this.now();
    const spf = await spfForHelo(this.deps.spf, request);
    if (!spf?.answers) return null;
    const verdict = this.fromSpf(spf, '', spf.outcome.domain, startedAt);
    this.deps.stats.countAll(requestCounters(verdict));
    this.deps.observer.verdict(verdict, { joined: false });
    return verdict;
  }

  private answer(request: VerificationRequest, opts: RequestOptions): Answered | Promise<Answered> {
    const startedAt = this.now();
    const input = request.sender;
    const parsed = parseMailbox(input, this.parseOptions);
    if (!parsed.ok) {
      const [reason, rule] =
        parsed.kind === 'unverifiable'
          ? (['unverifiable', 'local.unverifiable'] as const)
          : (['invalid_syntax', 'local.invalid-syntax'] as const);
      return { verdict: localVerdict(input, '', reason, rule, parsed.error, startedAt), joined: false };
    }
    const { address, domain } = parsed.mailbox;
    if (this.skip.matches(address, domain)) {
      return {
        verdict: localVerdict(
          address,
          domain,
          'skipped',
          'service.skip-list',
          'on the skip list: never called out',
          startedAt,
        ),
        joined: false,
      };
    }
    // No SPF to wait for (off, no client IP, an address literal): a cache hit is answered at once.
    if (!this.deps.spf || !spfApplies(request, domain))
      return this.fromAddress(address, domain, opts, startedAt);
    return this.withSpf(this.deps.spf, request, address, domain, opts, startedAt);
  }

  /** SPF first (when the request has a client IP): it may answer alone, else it goes with the verdict. */
  private async withSpf(
    policy: SpfPolicy,
    request: VerificationRequest,
    address: string,
    domain: string,
    opts: RequestOptions,
    startedAt: number,
  ): Promise<Answered> {
    const spf = await spfForSender(policy, request, address, domain);
    if (spf?.answers) return { verdict: this.fromSpf(spf, address, domain, startedAt), joined: false };
    const answered = await this.fromAddress(address, domain, opts, startedAt);
    return spf ? { ...answered, verdict: { ...answered.verdict, spf: spf.outcome } } : answered;
  }

  /** SPF answered alone: a pass needs no callout (spf_pass), a fail refuses without one (spf_fail). */
  private fromSpf(spf: SpfStep, address: string, domain: string, startedAt: number): ServiceVerdict {
    const o = spf.outcome;
    const reason = spf.answers === 'skip' ? 'spf_pass' : 'spf_fail';
    const message = `SPF ${o.result} for ${o.identity === 'helo' ? 'the HELO name' : 'the sender domain'}: ${o.comment}`;
    return { ...localVerdict(address, domain, reason, `spf.${o.result}`, message, startedAt), spf: o };
  }

  /**
   * The address itself: cache, domain facts, flood breaker, then the callout within the budget.
   * A hit in the memory tier is answered at once.
   */
  private fromAddress(
    address: string,
    domain: string,
    opts: RequestOptions,
    startedAt: number,
  ): Answered | Promise<Answered> {
    const hot = this.deps.cache.peekAddress?.(address, startedAt);
    if (hot) return this.fromCache(hot, address, domain, startedAt);
    return this.lookUp(address, domain, opts, startedAt);
  }

  /** A cached verdict, with a background refresh when one is due. */
  private fromCache(cached: AddressEntry, address: string, domain: string, startedAt: number): Answered {
    if (cached.refreshAt !== null && startedAt >= cached.refreshAt)
      this.refreshInBackground(address, domain, cached.storedAt);
    const ageSeconds = Math.round((startedAt - cached.storedAt) / 1000);
    return {
      verdict: {
        ...cached.verdict,
        durationMs: this.now() - startedAt,
        cache: { hit: true, fact: null, ageSeconds },
      },
      joined: false,
    };
  }

  /** fromAddress() beyond the memory tier: the persistent cache, then domain facts, limits, the callout. */
  private async lookUp(
    address: string,
    domain: string,
    opts: RequestOptions,
    startedAt: number,
  ): Promise<Answered> {
    const cached = await this.deps.cache.getAddress(address, startedAt);
    if (cached) return this.fromCache(cached, address, domain, startedAt);
    const fact = await this.deps.cache.getDomainFact(domain, startedAt);
    if (fact && factHolds(fact)) return { verdict: verdictFromFact(fact, address, startedAt), joined: false };
    if (this.closing) {
      return {
        verdict: localVerdict(
          address,
          domain,
          'rate_limited',
          'service.shutting-down',
          'the verifier is shutting down',
          startedAt,
        ),
        joined: false,
      };
    }
    const job: CalloutJob = { address, domain, localPart: localPartOf(address), kind: 'request' };
    if (await this.deps.limits.floodTripped(domain)) {
      // Known senders were answered above, from the cache, with no delay; a new one waits for the trickle.
      this.trickle.defer(job);
      return {
        verdict: localVerdict(address, domain, 'rate_limited', FLOOD_RULE, FLOOD_MESSAGE, startedAt),
        joined: false,
      };
    }
    const budgetMs = opts.budgetMs ?? this.options.inlineBudgetMs;
    const { promise, joined } = this.callouts.run(address, () => this.coordinated(job, budgetMs, null));
    const verdict = await raceBudget(promise, budgetMs);
    if (verdict === 'pending') {
      const message = `no answer within the inline budget of ${budgetMs} ms; the callout goes on and its result will be cached`;
      return {
        verdict: localVerdict(address, domain, 'pending', 'service.inline-budget', message, startedAt),
        joined,
      };
    }
    const { transcript, ...rest } = verdict;
    return {
      verdict: {
        ...rest,
        ...(opts.transcript && !joined && transcript ? { transcript } : {}),
        durationMs: this.now() - startedAt,
        cache: { hit: false, fact: null, ageSeconds: null },
      },
      joined,
    };
  }

  /**
   * One callout for the whole fleet: the coordinator either runs ours, or hands
   * us the verdict of another node that was already calling this address out.
   * `knownStoredAt` is the entry being refreshed (null on a miss): only a newer one counts as a result.
   */
  private coordinated(
    job: CalloutJob,
    budgetMs: number,
    knownStoredAt: number | null,
  ): Promise<CalloutVerdict> {
    const { address } = job;
    return this.coordinator.run({
      key: address,
      work: () => this.scheduler.submit(job, budgetMs),
      peek: async () => {
        const e = await this.deps.cache.getAddress(address, this.now());
        if (!e || (knownStoredAt !== null && e.storedAt <= knownStoredAt)) return null;
        const { cache: _cache, ...verdict } = e.verdict;
        return { ...verdict, transcript: [] };
      },
      signal: this.shutdown.signal,
    });
  }

  /** The engine, with what earlier callouts taught about the domain's random probe. */
  private async engineBatch(addresses: readonly string[], opts: VerifyOptions): Promise<EngineVerdict[]> {
    const first = addresses[0] ?? '';
    const domain = first.slice(first.lastIndexOf('@') + 1);
    const randomProbe = this.probeHints.randomProbeFor(domain, this.now());
    const verdicts = await this.deps.engine.verifyBatch(addresses, { ...opts, randomProbe });
    for (const v of verdicts) this.probeHints.learn(v, this.now());
    return verdicts;
  }

  /** Each verdict a session brought: observed, counted, remembered. */
  private async settle(verdict: CalloutVerdict): Promise<void> {
    this.deps.observer.callout(verdict);
    for (const counter of calloutCounters(verdict)) this.deps.stats.count(counter);
    // A callout our own shutdown cut short teaches nothing about the address, whatever
    // rule it ended with (cache-policy also refuses every rule that is about us).
    if (!this.shutdown.signal.aborted) await this.remember(verdict);
  }

  private async remember(verdict: CalloutVerdict): Promise<void> {
    const now = this.now();
    // Stored without transcript and attempts: they describe this callout (already counted and
    // logged), and an answer served later from the cache made no attempts.
    const { transcript: _transcript, ...stored } = {
      ...verdict,
      attempts: [],
      cache: { hit: false, fact: null, ageSeconds: null },
    };
    const previous = await this.deps.cache.getAddress(verdict.address, now);
    const entry = entryToStore(stored, previous, now, this.options.ttl);
    if (entry) await this.deps.cache.putAddress(entry);
    const fact = factFrom(verdict);
    if (fact) await this.deps.cache.putDomainFact(factToStore(fact, stored, now, this.options.ttl));
  }

  /** Optimistic refresh: the caller already has the cached answer; this only updates it. */
  private refreshInBackground(address: string, domain: string, knownStoredAt: number): void {
    // While a flood trips the domain the entry stays as it is: no callout adds to the flood.
    if (this.closing || this.deps.limits.flood.isTripped(domain)) return;
    const job: CalloutJob = { address, domain, localPart: localPartOf(address), kind: 'refresh' };
    const { promise } = this.callouts.run(address, () =>
      this.coordinated(job, this.options.inlineBudgetMs, knownStoredAt),
    );
    promise.catch((error: unknown) => this.deps.observer.backgroundError(error));
  }

  /**
   * Stop taking callouts, give those in flight `graceMs` to finish, abandon the
   * rest (their verdicts are not cached), flush statistics. The cache stays
   * open: its owner closes it.
   */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    this.trickle.close();
    const settled = Promise.allSettled(this.callouts.pending());
    const grace = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([settled, grace]);
    this.shutdown.abort();
    await Promise.race([
      Promise.allSettled([settled, this.scheduler.idle(), this.deps.engine.idle()]),
      new Promise((r) => setTimeout(r, 2000).unref()),
    ]);
    await this.deps.stats.stop();
  }
}

const FLOOD_RULE = 'service.flood-breaker';
const FLOOD_MESSAGE =
  'flood breaker: many never-seen addresses at this domain are unknown to its mail server (a forged-sender flood); new senders are verified as a trickle, please try again later';

function localPartOf(address: string): string {
  return address.slice(0, address.lastIndexOf('@'));
}

function raceBudget<T>(promise: Promise<T>, budgetMs: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), budgetMs);
  });
  return Promise.race([promise, budget]).finally(() => clearTimeout(timer));
}
