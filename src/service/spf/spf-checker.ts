/**
 * One SPF check (RFC 7208) per (domain, client IP), through mailauth 4.x with
 * cbv's resolver (guarded-resolver.ts), a budget for the whole evaluation,
 * and the cache: a result is kept for the smallest TTL of the records it
 * read, at most `cacheMaxTtlMs`. A temperror is never cached.
 *
 *   identity: MAIL FROM's domain, or the HELO name for the null sender (RFC 7208 2.3/2.4)
 *   -> cache -> mailauth (lookup and void limits, include/redirect) -> outcome -> cache
 */
import type { VerdictCache } from '../../cache/verdict-cache.js';
import type { SpfDnsClient } from './dns-client.js';
import { GuardedSpfResolver } from './guarded-resolver.js';
import { SPF_RESULTS, type SpfIdentity, type SpfOutcome, type SpfResult } from './outcome.js';

export interface SpfCheckerOptions {
  /** Budget of one evaluation, all lookups together (ms). */
  timeoutMs: number;
  maxLookups: number;
  maxVoidLookups: number;
  cacheMaxTtlMs: number;
  /** This receiver's name, for the explanation and Received-SPF (RFC 7208 9.1 `receiver`). */
  receiver: string;
}

export interface SpfQuestion {
  identity: SpfIdentity;
  /** The domain to evaluate: the sender's domain (A-labels), or the HELO name. */
  domain: string;
  /** MAIL FROM, or postmaster@<helo> for the HELO identity (RFC 7208 2.3). */
  sender: string;
  clientIp: string;
  helo: string | null;
}

type MailauthSpf = (typeof import('mailauth/lib/spf/index.js'))['spf'];
let mailauth: Promise<MailauthSpf> | undefined;

/**
 * mailauth's SPF evaluator, loaded on first use: a command that never checks SPF (`cbv verify`
 * without --client-ip, `cbv stats`) never pays for its module graph. The daemon loads it at
 * start-up (loadSpfEvaluator), so the first policy request does not either.
 */
export function loadSpfEvaluator(): Promise<MailauthSpf> {
  mailauth ??= import('mailauth/lib/spf/index.js').then((m) => m.spf);
  return mailauth;
}

/** The sender in a cached explanation, written as RFC 7208's own macro for it (7.3, %{s}). */
const SENDER = '%{s}';

const DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/i;

/** True when the name can be an SPF identity at all (not an address literal, not a bare word). */
export function isSpfDomain(name: string): boolean {
  return DOMAIN.test(name);
}

export class SpfChecker {
  constructor(
    private readonly options: SpfCheckerOptions,
    private readonly deps: { dns: SpfDnsClient; cache: VerdictCache; now?: () => number },
  ) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  async check(q: SpfQuestion): Promise<SpfOutcome> {
    const domain = q.domain.toLowerCase();
    const startedAt = this.now();
    const cached = await this.deps.cache.getSpf(domain, q.clientIp, startedAt);
    if (cached) {
      // Kept per (domain, client IP): this request's identity and sender go back into the words.
      const comment = cached.outcome.comment.replaceAll(SENDER, q.sender);
      return { ...cached.outcome, identity: q.identity, comment, cached: true };
    }
    const { outcome, ttlSeconds, sendersOwn } = await this.evaluate({ ...q, domain });
    // Per (domain, client IP) only when nothing else went in: a record with %{l}/%{s}/%{h} answers per sender.
    if (outcome.result !== 'temperror' && !sendersOwn) {
      const ttlMs = Math.min(this.options.cacheMaxTtlMs, Math.max(0, ttlSeconds) * 1000);
      if (ttlMs > 0) {
        const now = this.now();
        const comment = outcome.comment.replaceAll(q.sender, SENDER);
        await this.deps.cache.putSpf({
          domain,
          clientIp: q.clientIp,
          outcome: { ...outcome, comment },
          storedAt: now,
          expiresAt: now + ttlMs,
        });
      }
    }
    return { ...outcome, cached: false };
  }

  private async evaluate(
    q: SpfQuestion,
  ): Promise<{ outcome: Omit<SpfOutcome, 'cached'>; ttlSeconds: number; sendersOwn?: boolean }> {
    const budget = new AbortController();
    const resolver = new GuardedSpfResolver(this.deps.dns, budget.signal, q.clientIp.includes(':') ? 6 : 4);
    let timer: NodeJS.Timeout | undefined;
    const overrun = new Promise<'overrun'>((resolve) => {
      timer = setTimeout(() => {
        budget.abort();
        resolve('overrun');
      }, this.options.timeoutMs);
    });
    const base = { identity: q.identity, domain: q.domain, clientIp: q.clientIp };
    try {
      const mailauthSpf = await loadSpfEvaluator();
      const verdict = await Promise.race([
        mailauthSpf({
          sender: q.sender,
          ip: q.clientIp,
          ...(q.helo ? { helo: q.helo } : {}),
          mta: this.options.receiver,
          maxResolveCount: this.options.maxLookups,
          maxVoidCount: this.options.maxVoidLookups,
          resolver: resolver.resolve as never,
        }),
        overrun,
      ]);
      if (verdict === 'overrun') {
        const text = `SPF evaluation of ${q.domain} exceeded its budget of ${this.options.timeoutMs / 1000} s`;
        return { outcome: { ...base, result: 'temperror', comment: text }, ttlSeconds: 0 };
      }
      const result = asResult(verdict.status.result);
      const prefix = `${this.options.receiver}: `;
      const text = verdict.status.comment ?? result;
      const comment = text.startsWith(prefix) ? text.slice(prefix.length) : text;
      const failure = resolver.failures[0];
      if (result === 'fail' && failure !== undefined) {
        // RFC 7208 5.5 lets a `ptr` evaluation skip a name whose lookup failed; cbv refuses only on
        // evidence, and a DNS failure is none: the fail it led to is a temperror (never cached).
        const why = `DNS ${failure} during the evaluation of ${q.domain}: its fail is not proven`;
        return { outcome: { ...base, result: 'temperror', comment: why }, ttlSeconds: 0 };
      }
      if (result === 'fail' && resolver.validatedNameMacro) {
        // The record asks about the client's validated name (%{p}), which cbv does not validate:
        // the fail may only mean "no name was validated". Not evidence enough to refuse mail.
        const why = `${q.domain}'s SPF uses %{p}, the client's validated name, which cbv does not validate (RFC 7208 5.5): its fail is not proven`;
        return { outcome: { ...base, result: 'neutral', comment: why }, ttlSeconds: resolver.minTtl };
      }
      return {
        outcome: { ...base, result, comment },
        ttlSeconds: resolver.minTtl,
        sendersOwn: resolver.sendersOwn,
      };
    } catch (error) {
      // mailauth settles every DNS problem as a result; anything thrown is a bug, and a bug is temporary.
      const text = `SPF evaluation failed: ${error instanceof Error ? error.message : String(error)}`;
      return { outcome: { ...base, result: 'temperror', comment: text }, ttlSeconds: 0 };
    } finally {
      clearTimeout(timer);
      budget.abort();
    }
  }
}

/** mailauth's status words, in RFC 7208's (its 'temperr' and anything unforeseen are temperror). */
function asResult(word: string): SpfResult {
  return (SPF_RESULTS as readonly string[]).includes(word) ? (word as SpfResult) : 'temperror';
}
