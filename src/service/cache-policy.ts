/**
 * What to remember from a verdict, and for how long: per-address entries with
 * TTLs by outcome (optimistic: a failed refresh never replaces a good entry,
 * as Postfix's address verification does), and the per-domain facts that let
 * later checks skip needless callouts.
 */
import type { AddressEntry, DomainFact, StoredVerdict } from '../cache/verdict-cache.js';
import { NULL_SENDER_EVIDENCE, isAboutUs } from '../core/index.js';
import { BoundedMap } from '../limits/bounded-map.js';
import { SERVICE_REASON_MEANING, type DomainFactKind, type ServiceVerdict } from './verdict.js';

export interface CacheTtls {
  /** All in milliseconds. */
  deliverable: number;
  deliverableRefresh: number;
  undeliverable: number;
  risky: number;
  noInformation: number;
  temporary: number;
  greylisted: number;
  facts: Record<DomainFactKind, number>;
}

/**
 * Rules for what the verifier did to itself: a callout we cancelled (shutdown), a connection
 * our own machine could not make, a per-MX limit of ours. They say nothing about the address
 * or its domain, so they are never cached, and never teach a domain fact.
 */
const SELF_INFLICTED_RULES: ReadonlySet<string> = new Set([
  'local.aborted',
  'local.own-fault',
  'local.rate-limited-mx',
]);

/** Whether a verdict (or one attempt of it) is about what the verifier did to itself, not the remote side. */
export function selfInflicted(v: { rule: string }): boolean {
  return SELF_INFLICTED_RULES.has(v.rule) || v.rule.startsWith('service.');
}

/** How long a verdict for one address is kept; null = not cached. */
export function addressTtl(
  v: Pick<ServiceVerdict, 'reason' | 'result' | 'rule'>,
  ttl: CacheTtls,
): number | null {
  if (selfInflicted(v)) return null;
  switch (v.reason) {
    case 'invalid_syntax': // cheap to recompute, and not worth a row per typo
    case 'unverifiable': // decided by the address alone, as above
    case 'rate_limited': // about our own limits, not the address
    case 'pending':
    case 'skipped':
    case 'spf_pass':
    case 'spf_fail':
      return null;
    case 'greylisted':
      return ttl.greylisted;
    default:
      break;
  }
  if (v.result === 'deliverable') return ttl.deliverable;
  if (v.result === 'undeliverable') return ttl.undeliverable;
  if (v.result === 'risky') return ttl.risky;
  return SERVICE_REASON_MEANING[v.reason].temporary ? ttl.temporary : ttl.noInformation;
}

/** The entry to write, or null to keep what is there (optimistic caching). */
export function entryToStore(
  verdict: StoredVerdict,
  previous: AddressEntry | null,
  now: number,
  ttl: CacheTtls,
): AddressEntry | null {
  const ms = addressTtl(verdict, ttl);
  if (ms === null) return null;
  if (
    previous &&
    previous.verdict.result === 'deliverable' &&
    (verdict.result === 'unknown' || verdict.temporary)
  ) {
    // A refresh that failed to reach the server (or got no information) must not
    // turn a known-good sender into a deferral.
    return null;
  }
  return {
    address: verdict.address,
    domain: verdict.domain,
    verdict,
    storedAt: now,
    expiresAt: now + ms,
    refreshAt: verdict.result === 'deliverable' ? now + ttl.deliverableRefresh : null,
  };
}

const ABOUT_US_STAGES = new Set(['greeting', 'ehlo', 'helo', 'mail']);

/**
 * The domain-wide fact a verdict teaches, if any. null_sender_rejected rejects every address of
 * the domain, so it is learnt only from unambiguous evidence about the null sender (a rule in
 * NULL_SENDER_EVIDENCE); refuses_us from any refusal before RCPT, or from a rule that knows the
 * refusal is about us (our IP, network or HELO name) at RCPT.
 */
export function factFrom(v: Omit<ServiceVerdict, 'cache'>): DomainFactKind | null {
  if (selfInflicted(v)) return null;
  if (v.reason === 'catch_all') return 'catch_all';
  if (v.reason === 'null_sender_rejected')
    return NULL_SENDER_EVIDENCE.has(v.rule) ? 'null_sender_rejected' : null;
  if (v.reason === 'policy_rejected' && v.smtp && (ABOUT_US_STAGES.has(v.smtp.stage) || isAboutUs(v.rule)))
    return 'refuses_us';
  const tried = v.attempts.filter((a) => a.reason !== 'unsafe_target' && !selfInflicted(a));
  if (tried.length > 0 && tried.every((a) => a.stage === 'connect')) return 'unreachable';
  return null;
}

export function factToStore(
  kind: DomainFactKind,
  verdict: StoredVerdict,
  now: number,
  ttl: CacheTtls,
): DomainFact {
  return { domain: verdict.domain, kind, verdict, storedAt: now, expiresAt: now + ttl.facts[kind] };
}

/**
 * Whether a stored fact may still answer: a null_sender_rejected fact learnt by an older rule
 * table from evidence this one no longer takes as unambiguous is not served (it is asked again).
 */
export function factHolds(fact: DomainFact): boolean {
  return fact.kind !== 'null_sender_rejected' || NULL_SENDER_EVIDENCE.has(fact.verdict.rule);
}

/** The answer a domain fact gives for one address of the domain. */
export function verdictFromFact(fact: DomainFact, address: string, now: number): ServiceVerdict {
  return {
    ...fact.verdict,
    address,
    catchAllProbe: fact.kind === 'catch_all' ? true : fact.verdict.catchAllProbe,
    rule: `cache.domain-fact.${fact.kind}`,
    message: `${fact.domain}: ${factMessage(fact.kind)} (learnt ${Math.round((now - fact.storedAt) / 1000)} s ago${evidence(fact)}: ${fact.verdict.message})`,
    durationMs: 0,
    attempts: [],
    cache: { hit: true, fact: fact.kind, ageSeconds: Math.round((now - fact.storedAt) / 1000) },
  };
}

/** For the fact that rejects every address: on what evidence, so an administrator can judge it. */
function evidence(fact: DomainFact): string {
  if (fact.kind !== 'null_sender_rejected') return '';
  const reply = fact.verdict.smtp;
  const said = reply ? `, "${reply.code} ${reply.text.split('\n').join(' ')}"` : '';
  return ` on unambiguous evidence about the null sender (rule ${fact.verdict.rule}${said})`;
}

function factMessage(kind: DomainFactKind): string {
  switch (kind) {
    case 'catch_all':
      return 'the domain accepts any local part';
    case 'null_sender_rejected':
      return 'the domain refuses the null sender <>';
    case 'refuses_us':
      return 'the domain refuses our callouts';
    case 'unreachable':
      return 'no mail host of the domain could be reached';
  }
}

/**
 * Domains whose MX was seen to end the session after refusing the random
 * probe (EngineVerdict.probePunished, e.g. Postfix with smtpd_hard_error_limit
 * = 1): their next callouts ask the addresses first and the probe last
 * (`randomProbe: 'last'`), so the punishment costs no answer. A hint about how
 * to ask, not an answer, so it lives beside the domain facts rather than among
 * them (a domain fact answers for every address), in memory: losing it on a
 * restart costs one extra session.
 */
export class ProbeHints {
  private readonly until = new BoundedMap<string, number>(10_000);

  /** @param ttlMs how long a punished probe is remembered. */
  constructor(private readonly ttlMs: number = 86_400_000) {}

  learn(verdict: { domain: string; probePunished?: boolean }, now: number): void {
    if (verdict.probePunished) this.until.set(verdict.domain, now + this.ttlMs);
  }

  randomProbeFor(domain: string, now: number): 'first' | 'last' {
    const until = this.until.get(domain);
    return until !== undefined && until > now ? 'last' : 'first';
  }
}
