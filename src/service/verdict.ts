/**
 * The service's verdict: the engine's, plus the reasons only the service can
 * give (pending, skipped) and where the answer came from (callout or cache).
 */
import { REASON_MEANING, type Attempt, type EngineReason, type Result, type Verdict } from '../core/index.js';

export type ServiceReason = EngineReason | 'pending' | 'skipped';

export const SERVICE_REASONS_EXTRA = ['pending', 'skipped'] as const;

export const SERVICE_REASON_MEANING: Readonly<Record<ServiceReason, { result: Result; temporary: boolean }>> =
  {
    ...REASON_MEANING,
    pending: { result: 'unknown', temporary: true },
    skipped: { result: 'unknown', temporary: false },
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
}
