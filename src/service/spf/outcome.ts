/**
 * The outcome of one SPF check (RFC 7208 section 2.6), as the service keeps
 * and reports it: which identity was checked (MAIL FROM's domain, or the HELO
 * name for the null sender), for which client, with what result and why.
 */
export const SPF_RESULTS = ['pass', 'fail', 'softfail', 'neutral', 'none', 'permerror', 'temperror'] as const;
export type SpfResult = (typeof SPF_RESULTS)[number];

/** RFC 7208 section 2.3 / 2.4: the HELO identity, or the MAIL FROM identity. */
export type SpfIdentity = 'mailfrom' | 'helo';

export interface SpfOutcome {
  result: SpfResult;
  identity: SpfIdentity;
  /** The domain whose record was evaluated (the sender's domain, or the HELO name). */
  domain: string;
  /** The client IP the record was evaluated for (normalised). */
  clientIp: string;
  /** Why, in words (mailauth's explanation: the mechanism that matched, the problem). */
  comment: string;
  /** True when this outcome came from the cache rather than DNS. */
  cached: boolean;
}

/** An SPF outcome as cached: per (domain, client IP), for the records' TTL or the configured maximum. */
export interface SpfEntry {
  domain: string;
  clientIp: string;
  outcome: Omit<SpfOutcome, 'cached'>;
  /** Epoch ms. */
  storedAt: number;
  expiresAt: number;
}
