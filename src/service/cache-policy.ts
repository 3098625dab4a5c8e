/**
 * What to remember from a verdict, and for how long: per-address entries with
 * TTLs by outcome (optimistic: a failed refresh never replaces a good entry,
 * as Postfix's address verification does), and the per-domain facts that let
 * later checks skip needless callouts.
 */
import type { AddressEntry, DomainFact, StoredVerdict } from '../cache/verdict-cache.js';
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

/** How long a verdict for one address is kept; null = not cached. */
export function addressTtl(
  v: Pick<ServiceVerdict, 'reason' | 'result' | 'rule'>,
  ttl: CacheTtls,
): number | null {
  switch (v.reason) {
    case 'invalid_syntax': // cheap to recompute, and not worth a row per typo
    case 'rate_limited': // about our own limits, not the address
    case 'pending':
    case 'skipped':
      return null;
    case 'greylisted':
      return ttl.greylisted;
    case 'timeout':
      // A callout cut short by our own shutdown says nothing about the address.
      return v.rule === 'local.aborted' ? null : ttl.temporary;
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

/** The domain-wide fact a verdict teaches, if any. */
export function factFrom(v: Omit<ServiceVerdict, 'cache'>): DomainFactKind | null {
  if (v.reason === 'catch_all') return 'catch_all';
  if (v.reason === 'null_sender_rejected') return 'null_sender_rejected';
  if (v.reason === 'policy_rejected' && v.smtp && ABOUT_US_STAGES.has(v.smtp.stage)) return 'refuses_us';
  const tried = v.attempts.filter((a) => a.reason !== 'unsafe_target' && a.reason !== 'rate_limited');
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

/** The answer a domain fact gives for one address of the domain. */
export function verdictFromFact(fact: DomainFact, address: string, now: number): ServiceVerdict {
  return {
    ...fact.verdict,
    address,
    catchAllProbe: fact.kind === 'catch_all' ? true : fact.verdict.catchAllProbe,
    rule: `cache.domain-fact.${fact.kind}`,
    message: `${fact.domain}: ${factMessage(fact.kind)} (learnt ${Math.round((now - fact.storedAt) / 1000)} s ago: ${fact.verdict.message})`,
    durationMs: 0,
    attempts: [],
    cache: { hit: true, fact: fact.kind, ageSeconds: Math.round((now - fact.storedAt) / 1000) },
  };
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
