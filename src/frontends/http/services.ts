/** What the HTTP routes use: the service's one API, the recent decisions, the metrics. */
import type { PromMetrics } from '../../observability/metrics.js';
import type { Decider } from '../../service/decider.js';
import type { RecentActivity } from '../../service/recent-activity.js';
import type { Verifier } from '../../service/verifier.js';

export interface HttpServices {
  verifier: Verifier;
  /** The decision path every front-end shares (the verify routes answer through it). */
  decider: Decider;
  recent: RecentActivity;
  metrics: PromMetrics | null;
  /** Most addresses in one POST /v1/verify (already capped by the rate-limit burst). */
  batchMax: number;
  now(): number;
}
