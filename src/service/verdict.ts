/**
 * The service's verdict: the engine's, plus the reasons only the service can
 * give (pending, skipped) and where the answer came from (callout or cache).
 */
import { REASON_MEANING, type Attempt, type EngineReason, type Result, type Verdict } from '../core/index.js';

import type { SpfOutcome } from './spf/outcome.js';

/**
 * spf_pass: the sender's domain authorises the client (SPF pass), so no callout was made;
 * spf_fail: the sender's domain forbids the client (SPF fail, RFC 7208 8.4), so no callout either.
 * Neither says anything about the mailbox itself: result `unknown`.
 */
export type ServiceReason = EngineReason | 'pending' | 'skipped' | 'spf_pass' | 'spf_fail';

export const SERVICE_REASONS_EXTRA = ['pending', 'skipped', 'spf_pass', 'spf_fail'] as const;

export const SERVICE_REASON_MEANING: Readonly<Record<ServiceReason, { result: Result; temporary: boolean }>> =
  {
    ...REASON_MEANING,
    pending: { result: 'unknown', temporary: true },
    skipped: { result: 'unknown', temporary: false },
    spf_pass: { result: 'unknown', temporary: false },
    spf_fail: { result: 'unknown', temporary: false },
  };

/** What a domain taught us, answering for every address of it until it expires. */
export type DomainFactKind = 'catch_all' | 'null_sender_rejected' | 'refuses_us' | 'unreachable';

export interface CacheInfo {
  hit: boolean;
  /** Set when a domain fact answered, rather than an entry for this address. */
  fact: DomainFactKind | null;
  /** Age of the cached answer in seconds. */
  ageSeconds: number | null;
}

export interface ServiceVerdict extends Verdict<ServiceReason> {
  attempts: Attempt[];
  cache: CacheInfo;
  /** The SPF check of this request's client, when the front-end gave a client IP and SPF is on. */
  spf?: SpfOutcome;
}
