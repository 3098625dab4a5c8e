/**
 * Stage 3 of a callout: the answer for each address. The first authoritative
 * answer wins; when no host gave one, the most informative failure stands
 * (a policy refusal or greylisting says more than a timeout), and of equally
 * informative ones the latest, which was asked knowing what the earlier taught.
 */
import type { Decision } from '../smtp/decision.js';
import type { EngineReason, MxTarget } from '../verdict.js';
import type { AddressState } from './batch.js';

const FAILURE_RANK: Partial<Record<EngineReason, number>> = {
  policy_rejected: 7,
  greylisted: 7,
  temporary_failure: 6,
  rate_limited: 5,
  protocol_error: 4,
  timeout: 3,
  connection_failed: 2,
  unsafe_target: 1,
};

export function chooseAnswer(a: AddressState): { decision: Decision; target: MxTarget } | null {
  if (a.decided) return a.decided;
  let best: AddressState['failures'][number] | null = null;
  for (const f of a.failures) {
    if (!best || (FAILURE_RANK[f.decision.reason] ?? 0) >= (FAILURE_RANK[best.decision.reason] ?? 0))
      best = f;
  }
  return best;
}
