/**
 * The Verifier: the one API every front-end calls. It wraps the engine with
 *
 *   syntax -> skip list -> address cache (with background refresh)
 *   -> domain facts -> flood breaker -> coalescing -> limits -> callout
 *   -> cache write, domain facts, statistics
 *
 * and an inline budget: a request that is not answered in time gets `pending`
 * while its callout finishes in the background, so the sender's retry is
 * answered from the cache.
 */
import { parseMailbox, type EngineVerdict, type VerifyOptions } from '../core/index.js';
import type { VerdictCache } from '../cache/verdict-cache.js';
import type { CalloutLimits } from '../limits/callout-limits.js';
import { Coalescer } from '../limits/coalescer.js';
import { LocalCoordinator, type CalloutCoordinator } from '../limits/fleet-coalescer.js';
import { calloutCounters, requestCounters } from '../stats/counters.js';
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
import { spfForHelo, spfForSender, type SpfPolicy, type SpfStep } from './spf/spf-stage.js';
import type { ServiceVerdict } from './verdict.js';

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
  floodTripped(domain: string): void;
  backgroundError(error: unknown): void;
}

export interface VerifierOptions {
  inlineBudgetMs: number;
  ttl: CacheTtls;
  skipDomains: readonly string[];
  skipAddresses: readonly string[];
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

export class Verifier {
  private readonly callouts = new Coalescer<CalloutVerdict>();
  private readonly skip: SkipList;
  private readonly shutdown = new AbortController();
  private readonly probeHints = new ProbeHints();
  private readonly now: () => number;
  private readonly coordinator: CalloutCoordinator;
  private closing = false;

  constructor(
    private readonly options: VerifierOptions,
    private readonly deps: VerifierDeps,
  ) {
    this.skip = new SkipList(options.skipDomains, options.skipAddresses);
    this.now = deps.now ?? Date.now;
    this.coordinator = deps.coordinator ?? new LocalCoordinator();
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
   * A front-end decided not to verify (null sender, authenticated client,
   * allow-list): counted as a request and a skip, like the service's own skips.
   */
  recordSkip(input: string, rule: string): ServiceVerdict {
    const parsed = parseMailbox(input);
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
    for (const counter of requestCounters(verdict)) this.deps.stats.count(counter);
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
    const { verdict, joined } = await this.answer(toRequest(input), opts);
    for (const counter of requestCounters(verdict)) this.deps.stats.count(counter);
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
    for (const counter of requestCounters(verdict)) this.deps.stats.count(counter);
    this.deps.observer.verdict(verdict, { joined: false });
    return verdict;
  }

  private async answer(
    request: VerificationRequest,
    opts: RequestOptions,
  ): Promise<{ verdict: ServiceVerdict; joined: boolean }> {
    const startedAt = this.now();
    const input = request.sender;
    const parsed = parseMailbox(input);
    if (!parsed.ok)
      return {
        verdict: localVerdict(input, '', 'invalid_syntax', 'local.invalid-syntax', parsed.error, startedAt),
        joined: false,
      };
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
    const spf = this.deps.spf ? await spfForSender(this.deps.spf, request, address, domain) : null;
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

  /** The address itself: cache, domain facts, flood breaker, then the callout within the budget. */
  private async fromAddress(
    address: string,
    domain: string,
    opts: RequestOptions,
    startedAt: number,
  ): Promise<{ verdict: ServiceVerdict; joined: boolean }> {
    const cached = await this.deps.cache.getAddress(address, startedAt);
    if (cached) {
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
    const flood = await this.deps.limits.recordNewAddress(domain, address);
    if (flood !== 'ok') {
      if (flood === 'tripped') this.deps.observer.floodTripped(domain);
      const message = `flood breaker: too many never-seen addresses at ${domain}; no callouts for a while`;
      return {
        verdict: localVerdict(address, domain, 'rate_limited', 'service.flood-breaker', message, startedAt),
        joined: false,
      };
    }
    const budgetMs = opts.budgetMs ?? this.options.inlineBudgetMs;
    const { promise, joined } = this.callouts.run(address, () =>
      this.coordinated(address, domain, budgetMs, null),
    );
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
    address: string,
    domain: string,
    budgetMs: number,
    knownStoredAt: number | null,
  ): Promise<CalloutVerdict> {
    return this.coordinator.run({
      key: address,
      work: () => this.callout(address, domain, budgetMs),
      peek: async () => {
        const e = await this.deps.cache.getAddress(address, this.now());
        if (!e || (knownStoredAt !== null && e.storedAt <= knownStoredAt)) return null;
        const { cache: _cache, ...verdict } = e.verdict;
        return { ...verdict, transcript: [] };
      },
      signal: this.shutdown.signal,
    });
  }

  /** One callout: wait for a slot within the budget, call out, remember what it taught. */
  private async callout(address: string, domain: string, budgetMs: number): Promise<CalloutVerdict> {
    const startedAt = this.now();
    const slot = await this.deps.limits.acquireDomain(
      domain,
      AbortSignal.any([AbortSignal.timeout(budgetMs), this.shutdown.signal]),
    );
    if (typeof slot === 'string') {
      const message = `callout limit reached (${slot.replace('_', ' ')}) for ${domain}; not calling out now`;
      return {
        ...localVerdict(address, domain, 'rate_limited', `service.limit.${slot}`, message, startedAt),
        transcript: [],
      };
    }
    let verdict: CalloutVerdict;
    try {
      const randomProbe = this.probeHints.randomProbeFor(domain, this.now());
      const engineVerdict = await this.deps.engine.verify(address, {
        signal: this.shutdown.signal,
        transcript: true,
        randomProbe,
      });
      this.probeHints.learn(engineVerdict, this.now());
      verdict = engineVerdict;
    } finally {
      slot();
    }
    this.deps.observer.callout(verdict);
    for (const counter of calloutCounters(verdict)) this.deps.stats.count(counter);
    // A callout our own shutdown cut short teaches nothing about the address, whatever
    // rule it ended with (cache-policy also refuses every rule that is about us).
    if (!this.shutdown.signal.aborted) await this.remember(verdict);
    return verdict;
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
    if (this.closing) return;
    const { promise } = this.callouts.run(address, () =>
      this.coordinated(address, domain, this.options.inlineBudgetMs, knownStoredAt),
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
    const settled = Promise.allSettled(this.callouts.pending());
    const grace = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([settled, grace]);
    this.shutdown.abort();
    await Promise.race([
      Promise.allSettled([settled, this.deps.engine.idle()]),
      new Promise((r) => setTimeout(r, 2000).unref()),
    ]);
    await this.deps.stats.stop();
  }
}

function raceBudget<T>(promise: Promise<T>, budgetMs: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), budgetMs);
  });
  return Promise.race([promise, budget]).finally(() => clearTimeout(timer));
}
