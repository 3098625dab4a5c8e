/**
 * Every callout the service makes goes through here, domain by domain:
 *
 *   queue (one entry per address: requests are coalesced before) -> flood state
 *   -> a session slot (CalloutLimits: domain concurrency and rate, global cap)
 *   -> one SMTP session for the addresses queued at that moment (engine.verifyBatch)
 *   -> each verdict settled (cache, statistics) -> flood evidence -> the next session
 *
 * Addresses of one domain that wait at the same time share a session: one catch-all probe,
 * then each address, within the per-session RCPT cap. While a session is under way the
 * next batch gathers, so a busy domain costs its MX sessions at the domain rate however
 * many senders it has, and a single sender costs one session.
 *
 * The flood breaker is consulted before each session. It answers for the domain's site (the
 * registrable domain, so that random subdomains of a wildcard-MX domain are one victim): a held
 * site (suspects, no witness yet) gets one session at a time across all its domains; a tripped
 * one gets none, its queued requests are answered rate_limited and handed to the trickle.
 */
import type { EngineVerdict, VerifyOptions } from '../core/index.js';
import type { CalloutLimits } from '../limits/callout-limits.js';
import type { FloodEvidence } from '../limits/flood-breaker.js';
import { floodSite } from '../limits/flood-site.js';
import { selfInflicted } from './cache-policy.js';
import { localVerdict } from './local-verdict.js';
import type { CalloutVerdict } from './verifier.js';

/** The engine's batch API: addresses of one domain, verdicts in the same order. */
export interface BatchEngine {
  verifyBatch(addresses: readonly string[], opts: VerifyOptions): Promise<EngineVerdict[]>;
}

/**
 * Why an address is called out: a request waiting for it, a background refresh of a known
 * address, or the trickle of a tripped domain. Only never-seen addresses (request, trickle)
 * are flood evidence.
 */
export type CalloutKind = 'request' | 'refresh' | 'trickle';

export interface CalloutJob {
  address: string;
  domain: string;
  localPart: string;
  kind: CalloutKind;
}

export interface SchedulerOptions {
  /** Addresses per session (verify.max_rcpt_per_session less the catch-all probe). */
  perSession: number;
}

export interface SchedulerDeps {
  engine: BatchEngine;
  limits: CalloutLimits;
  /** Aborted at shutdown: queued jobs are answered, sessions cancelled. */
  shutdown: AbortSignal;
  /** Each verdict of a session, before whoever waits for it hears it: cache writes, statistics. */
  settle(verdict: CalloutVerdict, job: CalloutJob): Promise<void>;
  /** The breaker tripped for a site (floodSite: the registrable domain), once per trip. */
  floodTripped(domain: string): void;
  /** Requests that were queued for a tripped domain, answered rate_limited: the trickle's now. */
  divert(domain: string, jobs: readonly CalloutJob[]): void;
  /** A session started (for the trickle's bookkeeping and metrics). */
  session?(domain: string, jobs: readonly CalloutJob[]): void;
}

interface Waiter {
  job: CalloutJob;
  resolve(verdict: CalloutVerdict): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout | null;
  startedAt: number;
}

interface DomainQueue {
  waiting: Waiter[];
  sessions: number;
  pumping: boolean;
  /** Aborts the pump's wait for a slot when nobody is left waiting. */
  wait: AbortController | null;
  /** A held domain's next session waits for a full batch, or this timer. */
  gather: NodeJS.Timeout | null;
}

/** How long a held domain's session waits to gather a full batch (ms). */
const GATHER_MS = 1000;

/**
 * Reasons that say the MX was reached (or tried) and told nothing about the address: a 4xx to
 * the RCPT (greylisting, a "450 User unknown" of unknown_local_recipient_reject_code, a
 * soft_bounce), a 421 or 4xx before it, a stall past the deadline, a session lost or garbled.
 */
const SILENT_REASONS: ReadonlySet<string> = new Set([
  'greylisted',
  'temporary_failure',
  'timeout',
  'connection_failed',
  'protocol_error',
]);

/**
 * What a verdict for a never-seen address says about its domain. Silence counts only when an MX
 * host was named (not a DNS failure) and the verdict is not about what we did to ourselves (our
 * limits, our shutdown, our own network: selfInflicted).
 */
export function evidenceOf(verdict: Pick<CalloutVerdict, 'reason' | 'rule' | 'mx'>): FloodEvidence {
  if (verdict.reason === 'user_unknown') return 'unknown';
  if (verdict.reason === 'accepted' || verdict.reason === 'mailbox_full') return 'exists';
  if (SILENT_REASONS.has(verdict.reason) && verdict.mx !== null && !selfInflicted(verdict)) return 'silent';
  return 'neither';
}

export class CalloutScheduler {
  private readonly domains = new Map<string, DomainQueue>();
  private readonly sessions = new Set<Promise<void>>();

  constructor(
    private readonly options: SchedulerOptions,
    private readonly deps: SchedulerDeps,
  ) {}

  /** Addresses queued or in a session now. */
  get inFlight(): number {
    let n = 0;
    for (const q of this.domains.values()) n += q.waiting.length;
    return n;
  }

  /**
   * Queue one address; resolves with its verdict. If no session could take it within
   * `waitMs`, it leaves the queue and resolves rate_limited (nothing is cached).
   */
  submit(job: CalloutJob, waitMs: number): Promise<CalloutVerdict> {
    return new Promise<CalloutVerdict>((resolve, reject) => {
      const q = this.queue(job.domain);
      const waiter: Waiter = { job, resolve, reject, timer: null, startedAt: Date.now() };
      waiter.timer = setTimeout(() => this.expire(q, waiter), waitMs);
      q.waiting.push(waiter);
      void this.pump(job.domain, q);
    });
  }

  /** One session for jobs nobody waits for (the trickle), within the same limits. */
  async runUnattended(domain: string, jobs: readonly CalloutJob[], waitMs: number): Promise<boolean> {
    if (jobs.length === 0) return false;
    const signal = AbortSignal.any([AbortSignal.timeout(waitMs), this.deps.shutdown]);
    const slot = await this.deps.limits.acquireDomain(domain, signal);
    if (typeof slot === 'string') return false;
    const q = this.queue(domain);
    q.sessions++;
    await this.session(
      domain,
      q,
      jobs.map((job) => ({
        job,
        resolve: () => undefined,
        reject: () => undefined,
        timer: null,
        startedAt: 0,
      })),
      slot,
    );
    return true;
  }

  /** Resolves when every session under way has ended. */
  async idle(): Promise<void> {
    while (this.sessions.size > 0) await Promise.allSettled([...this.sessions]);
  }

  private queue(domain: string): DomainQueue {
    let q = this.domains.get(domain);
    if (!q) {
      q = { waiting: [], sessions: 0, pumping: false, wait: null, gather: null };
      this.domains.set(domain, q);
    }
    return q;
  }

  /** Start sessions for a domain while jobs wait and the limits and the breaker allow. */
  private async pump(domain: string, q: DomainQueue): Promise<void> {
    if (q.pumping) return;
    q.pumping = true;
    try {
      while (q.waiting.length > 0) {
        if (this.deps.shutdown.aborted)
          return this.drain(q, 'service.shutting-down', 'the verifier is shutting down');
        const state = this.deps.limits.flood.state(domain);
        if (state === 'tripped' || (await this.deps.limits.floodTripped(domain)))
          return this.divert(domain, q);
        if (state === 'held' && (this.siteBusy(domain, q) || this.gathering(domain, q))) return; // pumped again later
        q.wait = new AbortController();
        const slot = await this.deps.limits.acquireDomain(
          domain,
          AbortSignal.any([q.wait.signal, this.deps.shutdown]),
        );
        q.wait = null;
        if (typeof slot === 'string') continue; // nobody left, or shutdown: the loop decides
        const again = this.deps.limits.flood.state(domain);
        if (again === 'tripped' || (again === 'held' && this.siteBusy(domain, q)) || q.waiting.length === 0) {
          slot();
          continue;
        }
        const batch = q.waiting.splice(0, this.options.perSession);
        for (const w of batch) if (w.timer) clearTimeout(w.timer);
        q.sessions++;
        const running = this.session(domain, q, batch, slot);
        this.sessions.add(running);
        void running.finally(() => this.sessions.delete(running));
      }
    } finally {
      q.pumping = false;
      this.forgetIfIdle(domain, q);
    }
  }

  /** A session of this domain, or of another domain of its site, is under way. */
  private siteBusy(domain: string, q: DomainQueue): boolean {
    return q.sessions > 0 || this.deps.limits.flood.inFlight(domain) > 0;
  }

  /**
   * After a session: the next one of this domain, and of the other domains of its site that
   * waited while the site was held (their queues are not pumped by anything else).
   */
  private pumpSite(domain: string, q: DomainQueue): void {
    void this.pump(domain, q);
    const site = floodSite(domain);
    for (const [other, oq] of this.domains) {
      if (other !== domain && oq.waiting.length > 0 && !oq.pumping && floodSite(other) === site)
        void this.pump(other, oq);
    }
  }

  /**
   * A held domain looks like a flood so far: its one session carries as many suspects as one
   * session can, rather than whichever arrived first. True while it waits (a timer, or the
   * next arrival, pumps again).
   */
  private gathering(domain: string, q: DomainQueue): boolean {
    const oldest = q.waiting[0]?.startedAt ?? Date.now();
    const waitMs = oldest + GATHER_MS - Date.now();
    if (q.waiting.length >= this.options.perSession || waitMs <= 0) return false;
    q.gather ??= setTimeout(() => {
      q.gather = null;
      void this.pump(domain, q);
    }, waitMs);
    q.gather.unref();
    return true;
  }

  /** One SMTP session (or one MX walk) for a batch of one domain. */
  private async session(domain: string, q: DomainQueue, batch: Waiter[], slot: () => void): Promise<void> {
    const jobs = batch.map((w) => w.job);
    const evidence = jobs.filter((j) => j.kind !== 'refresh').map((j) => j.localPart);
    this.deps.limits.flood.dispatched(domain, evidence);
    this.deps.session?.(domain, jobs);
    let verdicts: EngineVerdict[] | null = null;
    let failure: unknown = null;
    try {
      verdicts = await this.deps.engine.verifyBatch(
        jobs.map((j) => j.address),
        { signal: this.deps.shutdown, transcript: true },
      );
    } catch (error) {
      failure = error;
    }
    // The slot is held until the answers are settled as flood evidence: the next session of
    // this domain must see a trip this session's answers cause.
    let tripped = false;
    for (const [i, w] of batch.entries()) {
      const verdict = verdicts?.[i];
      if (verdict === undefined) {
        if (w.job.kind !== 'refresh') this.deps.limits.flood.settle(domain, w.job.localPart, 'neither');
        w.reject(failure ?? new Error(`engine returned no verdict for ${w.job.address}`));
        continue;
      }
      try {
        await this.deps.settle(verdict, w.job);
      } catch (error) {
        w.reject(error);
        continue;
      }
      if (w.job.kind === 'refresh' || this.deps.shutdown.aborted) {
        this.deps.limits.answered(domain, verdict.mx?.ip ?? null);
      } else {
        const evidence = await this.deps.limits.floodEvidence(
          domain,
          w.job.address,
          evidenceOf(verdict),
          verdict.mx?.ip ?? null,
        );
        tripped = evidence === 'tripped' || tripped;
      }
      w.resolve(verdict);
    }
    slot();
    q.sessions--;
    if (tripped) this.deps.floodTripped(floodSite(domain));
    this.pumpSite(domain, q);
  }

  /** The domain tripped while jobs waited: answer them now, and let the trickle have them. */
  private divert(domain: string, q: DomainQueue): void {
    const waiting = q.waiting.splice(0);
    const message = `flood breaker: too many never-seen addresses at this domain are unknown to its MX; callouts only as a trickle for now`;
    for (const w of waiting) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve({
        ...localVerdict(
          w.job.address,
          w.job.domain,
          'rate_limited',
          'service.flood-breaker',
          message,
          w.startedAt,
        ),
        transcript: [],
      });
    }
    q.wait?.abort();
    const requests = waiting.filter((w) => w.job.kind === 'request').map((w) => w.job);
    if (requests.length > 0) this.deps.divert(domain, requests);
  }

  private drain(q: DomainQueue, rule: string, message: string): void {
    for (const w of q.waiting.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve({
        ...localVerdict(w.job.address, w.job.domain, 'rate_limited', rule, message, w.startedAt),
        transcript: [],
      });
    }
  }

  /** A job whose wait ran out before any session could take it. */
  private expire(q: DomainQueue, waiter: Waiter): void {
    const i = q.waiting.indexOf(waiter);
    if (i < 0) return;
    q.waiting.splice(i, 1);
    const { address, domain } = waiter.job;
    const message = `callout limit reached for ${domain} (no session to it within the budget); not calling out now`;
    waiter.resolve({
      ...localVerdict(
        address,
        domain,
        'rate_limited',
        'service.limit.domain_queue',
        message,
        waiter.startedAt,
      ),
      transcript: [],
    });
    if (q.waiting.length === 0) q.wait?.abort();
  }

  private forgetIfIdle(domain: string, q: DomainQueue): void {
    if (q.waiting.length === 0 && q.sessions === 0 && !q.pumping) this.domains.delete(domain);
  }
}
