/** Verdicts the service gives without a callout: skipped, pending, rate_limited, invalid_syntax. */
import { SERVICE_REASON_MEANING, type ServiceReason, type ServiceVerdict } from './verdict.js';

export function localVerdict(
  address: string,
  domain: string,
  reason: ServiceReason,
  rule: string,
  message: string,
  startedAt: number,
): ServiceVerdict {
  const meaning = SERVICE_REASON_MEANING[reason];
  return {
    address,
    domain,
    result: meaning.result,
    reason,
    temporary: meaning.temporary,
    rule,
    message,
    mx: null,
    smtp: null,
    catchAllProbe: null,
    durationMs: Date.now() - startedAt,
    attempts: [],
    cache: { hit: false, fact: null, ageSeconds: null },
  };
}
