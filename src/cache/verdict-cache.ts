/**
 * The one cache interface. Implementations: memory (LRU), sqlite (embedded
 * default, persistent), tiered (memory in front of sqlite). All of them pass
 * test/contract/verdict-cache.contract.ts.
 */
import type { DomainFactKind, ServiceVerdict } from '../service/verdict.js';
import type { SpfEntry } from '../service/spf/outcome.js';

export type { SpfEntry };

/**
 * A verdict as stored: never the transcript (large, and may contain remote text we need not keep),
 * nor the SPF outcome (it belongs to one connection's client IP, and is cached per client IP).
 */
export type StoredVerdict = Omit<ServiceVerdict, 'transcript' | 'spf'>;

export interface AddressEntry {
  address: string;
  domain: string;
  verdict: StoredVerdict;
  /** Epoch ms. */
  storedAt: number;
  expiresAt: number;
  /** After this, the entry is still served but a background refresh is due (null: never). */
  refreshAt: number | null;
}

export interface DomainFact {
  domain: string;
  kind: DomainFactKind;
  /** The verdict that taught the fact. */
  verdict: StoredVerdict;
  storedAt: number;
  expiresAt: number;
}

export interface CacheStats {
  addresses: number;
  domainFacts: number;
  /** Implementation-specific details (file size, memory entries). */
  detail: Record<string, number | string>;
}

export interface VerdictCache {
  /** The live (unexpired at `now`) entry for an address. */
  getAddress(address: string, now: number): Promise<AddressEntry | null>;
  /**
   * What getAddress would give, when this cache can tell without waiting (a memory tier):
   * the entry, null when it knows there is none, undefined when only getAddress can tell.
   * The hot path of a cache hit: no promise, no trip through the event loop.
   */
  peekAddress?(address: string, now: number): AddressEntry | null | undefined;
  putAddress(entry: AddressEntry): Promise<void>;
  getDomainFact(domain: string, now: number): Promise<DomainFact | null>;
  putDomainFact(fact: DomainFact): Promise<void>;
  /** The live SPF outcome for (domain, client IP), both as normalised by the service. */
  getSpf(domain: string, clientIp: string, now: number): Promise<SpfEntry | null>;
  putSpf(entry: SpfEntry): Promise<void>;
  /** Returns how many entries were removed. */
  purgeAddress(address: string): Promise<number>;
  /** Removes the domain's fact, every address entry of the domain and its SPF outcomes. */
  purgeDomain(domain: string): Promise<number>;
  stats(now: number): Promise<CacheStats>;
  /** Flush and release resources. */
  close(): Promise<void>;
  /**
   * True when another process changed the store since the last call (e.g.
   * `cbv cache purge` next to the daemon), so memory tiers in front of it
   * must forget what they hold.
   */
  changedElsewhere?(): boolean;
  /** Forget everything held (memory tiers only). */
  clear?(): void;
}

export class CacheOpenError extends Error {
  readonly code = 'CBV_ERR_CACHE_OPEN';
}
