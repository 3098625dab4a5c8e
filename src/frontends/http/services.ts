/** What the HTTP routes use: the service's one API, the recent decisions, the metrics. */
import type { PromMetrics } from '../../observability/metrics.js';
import type { Decider } from '../../service/decider.js';
import type { RecentActivity } from '../../service/recent-activity.js';
import type { Verifier } from '../../service/verifier.js';
import type { RedisStatsStore } from '../../stats/redis-stats.js';

/** Facts about the daemon's set-up that /readyz reports in `details` (and the dashboard shows). */
export interface ReadinessNotes {
  /** The name cbv says in EHLO/HELO. */
  heloName: string;
  /** One line each, naming the setting that fixes it (e.g. verify.helo_name); empty when all is well. */
  warnings: readonly string[];
}

export interface HttpServices {
  verifier: Verifier;
  /** The decision path every front-end shares (the verify routes answer through it). */
  decider: Decider;
  recent: RecentActivity;
  metrics: PromMetrics | null;
  /** Most addresses in one POST /v1/verify (already capped by the rate-limit burst). */
  batchMax: number;
  /** Reported by /readyz; absent in processes that have none to give. */
  readiness?: ReadinessNotes;
  /** Fleet mode: every node's counters summed in Redis (null on a single node). */
  fleetStats: RedisStatsStore | null;
  now(): number;
}
