/**
 * Prometheus metrics: the telemetry member that counts. It has its own
 * registry (so tests and several daemons in one process never share
 * counters), and every label takes values from a closed set (results,
 * reasons, stages, limit kinds, policy actions): never an address or a
 * domain, which would make the series count grow without bound.
 *
 * docs/grafana-dashboard.json and docs/http-api.md use exactly these names.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LimitRefusal } from '../limits/callout-limits.js';
import type { CalloutJob } from '../service/callout-scheduler.js';
import type { TrickleReport } from '../service/flood-trickle.js';
import type { CalloutVerdict } from '../service/verifier.js';
import type { ServiceVerdict } from '../service/verdict.js';
import { NullTelemetry, type PolicyOutcome } from './telemetry.js';

/** What the gauges read at scrape time; set once the service exists (it is built after telemetry). */
export interface MetricsSource {
  inFlight(): number;
  trippedDomains(): number;
}

export const METRIC_NAMES = {
  verifications: 'cbv_verifications_total',
  cacheHits: 'cbv_cache_hits_total',
  cacheMisses: 'cbv_cache_misses_total',
  callouts: 'cbv_callouts_total',
  calloutAttempts: 'cbv_callout_attempts_total',
  calloutDuration: 'cbv_callout_duration_seconds',
  calloutsInFlight: 'cbv_callouts_in_flight',
  limitRefusals: 'cbv_limit_refusals_total',
  floodTrips: 'cbv_flood_trips_total',
  floodTrippedDomains: 'cbv_flood_tripped_domains',
  floodDeferred: 'cbv_flood_deferred_total',
  floodTrickleSessions: 'cbv_flood_trickle_sessions_total',
  floodTrickleAddresses: 'cbv_flood_trickle_addresses_total',
  calloutSessions: 'cbv_callout_sessions_total',
  calloutSessionAddresses: 'cbv_callout_session_addresses',
  policyDecisions: 'cbv_policy_decisions_total',
  backgroundErrors: 'cbv_background_errors_total',
  httpRequests: 'cbv_http_requests_total',
  httpAuthFailures: 'cbv_http_auth_failures_total',
  spfResults: 'cbv_spf_results_total',
  spfCalloutsAvoided: 'cbv_spf_callouts_avoided_total',
  // Fleet mode (issue 11).
  redisUp: 'cbv_redis_up',
  redisFallbacks: 'cbv_redis_fallbacks_total',
} as const;

/** Seconds; callouts range from a cached-DNS refusal (ms) to a tarpit that uses the whole budget. */
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60];

/** Postfix actions carry text ("REJECT 5.1.1 ..."): the label keeps the verb only. */
export function actionLabel(action: string): string {
  if (action === 'DUNNO') return action; // most replies: no splitting on every request
  return (action.trim().split(/\s+/)[0] ?? '').toUpperCase().slice(0, 24) || 'NONE';
}

/** One series of a TallyCounter: its labels (in the counter's label order) and its count. */
interface Tally {
  labels: Record<string, string>;
  n: number;
}

/**
 * A counter of one or two labels incremented on every request. prom-client's `inc(labels)`
 * builds a hash of the labels and validates them on each call (a `labels()` child too: it only
 * binds `inc` to the label object); here a call is two Map lookups and an addition, and the
 * totals are handed to prom-client when it is scraped (the counter's collect()). The exposition
 * is the same as if every increment had gone to prom-client (test/unit/observability/metrics-tally.test.ts).
 */
export class TallyCounter {
  private readonly tallies = new Map<string, Map<string, Tally>>();

  constructor(
    registry: Registry,
    name: string,
    help: string,
    private readonly labelNames: readonly [string] | readonly [string, string],
  ) {
    const self = (): TallyCounter => this;
    new Counter({
      name,
      help,
      labelNames: [...labelNames],
      registers: [registry],
      collect() {
        self().publish(this);
      },
    });
  }

  /** Add one to the series of these label values (`second` only for a counter of two labels). */
  inc(first: string, second = ''): void {
    let inner = this.tallies.get(first);
    if (inner === undefined) {
      inner = new Map();
      this.tallies.set(first, inner);
    }
    const tally = inner.get(second);
    if (tally !== undefined) tally.n++;
    else inner.set(second, { labels: this.labelsOf(first, second), n: 1 });
  }

  private labelsOf(first: string, second: string): Record<string, string> {
    const [a, b] = this.labelNames;
    return b === undefined ? { [a]: first } : { [a]: first, [b]: second };
  }

  /** The totals, as prom-client's own series. */
  private publish(counter: Counter): void {
    counter.reset();
    for (const inner of this.tallies.values())
      for (const { labels, n } of inner.values()) counter.inc(labels, n);
  }
}

export class PromMetrics extends NullTelemetry {
  readonly registry = new Registry();
  private source: MetricsSource = { inFlight: () => 0, trippedDomains: () => 0 };

  // Counted on every request: tallies (see TallyCounter).
  private readonly verifications = new TallyCounter(
    this.registry,
    METRIC_NAMES.verifications,
    'Verification requests answered, by result and reason.',
    ['result', 'reason'],
  );
  private readonly cacheHits = new TallyCounter(
    this.registry,
    METRIC_NAMES.cacheHits,
    'Requests answered from the cache, by kind (address entry or domain fact).',
    ['kind'],
  );
  private readonly cacheMisses = this.counter(
    METRIC_NAMES.cacheMisses,
    'Requests the cache could not answer (syntax errors and skips never look).',
    [],
  );
  private readonly callouts = this.counter(
    METRIC_NAMES.callouts,
    'Callouts made (coalesced requests share one), by final reason.',
    ['reason'],
  );
  private readonly attempts = this.counter(
    METRIC_NAMES.calloutAttempts,
    'Attempts at one MX address within callouts, by the stage that decided and its outcome.',
    ['stage', 'outcome'],
  );
  private readonly duration = new Histogram({
    name: METRIC_NAMES.calloutDuration,
    help: 'Duration of callouts, by result.',
    labelNames: ['result'],
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly limitRefusals = this.counter(
    METRIC_NAMES.limitRefusals,
    'Callouts refused by our own politeness limits, by limit.',
    ['limit'],
  );
  private readonly floodTrips = this.counter(
    METRIC_NAMES.floodTrips,
    'Times the flood breaker tripped for a domain.',
    [],
  );
  private readonly floodDeferrals = this.counter(
    METRIC_NAMES.floodDeferred,
    'Senders deferred (rate_limited) because the flood breaker holds their domain tripped.',
    [],
  );
  private readonly floodTrickleSessions = this.counter(
    METRIC_NAMES.floodTrickleSessions,
    'Trickle sessions to tripped domains (at most one per domain per limits.flood_trickle_interval).',
    [],
  );
  private readonly floodTrickleAddresses = this.counter(
    METRIC_NAMES.floodTrickleAddresses,
    'Deferred senders of tripped domains verified by the trickle.',
    [],
  );
  private readonly calloutSessions = this.counter(
    METRIC_NAMES.calloutSessions,
    'Callout sessions started (one MX walk for a batch of addresses of one domain), by why.',
    ['kind'],
  );
  private readonly sessionAddresses = new Histogram({
    name: METRIC_NAMES.calloutSessionAddresses,
    help: 'Addresses carried by one callout session (batching of one domain).',
    labelNames: [],
    buckets: [1, 2, 3, 4, 6, 8, 12, 16],
    registers: [this.registry],
  });
  private readonly policyDecisions = new TallyCounter(
    this.registry,
    METRIC_NAMES.policyDecisions,
    'Policy server replies, by action verb and why.',
    ['action', 'outcome'],
  );
  private readonly backgroundErrors = this.counter(
    METRIC_NAMES.backgroundErrors,
    'Failures of background refreshes.',
    [],
  );
  readonly httpRequests = this.counter(
    METRIC_NAMES.httpRequests,
    'HTTP requests, by route pattern, method and status code.',
    ['route', 'method', 'status'],
  );
  readonly httpAuthFailures = this.counter(
    METRIC_NAMES.httpAuthFailures,
    'HTTP requests refused for a missing or wrong bearer token.',
    ['reason'],
  );

  private readonly spfResults = new TallyCounter(
    this.registry,
    METRIC_NAMES.spfResults,
    'SPF checks of requests, by result (pass, fail, softfail, neutral, none, permerror, temperror) and identity.',
    ['result', 'identity'],
  );
  private readonly spfCalloutsAvoided = this.counter(
    METRIC_NAMES.spfCalloutsAvoided,
    'Senders answered by SPF alone (pass skipped, fail refused): callouts not made.',
    [],
  );

  constructor() {
    super();
    collectDefaultMetrics({ register: this.registry });
    const source = (): MetricsSource => this.source;
    new Gauge({
      name: METRIC_NAMES.calloutsInFlight,
      help: 'Callouts in flight now.',
      registers: [this.registry],
      collect() {
        this.set(source().inFlight());
      },
    });
    new Gauge({
      name: METRIC_NAMES.floodTrippedDomains,
      help: 'Domains the flood breaker holds tripped now.',
      registers: [this.registry],
      collect() {
        this.set(source().trippedDomains());
      },
    });
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private redisUp: () => boolean = () => false;

  readonly redisFallbacks = this.counter(
    METRIC_NAMES.redisFallbacks,
    'Redis calls that fell back to the local tier or limits (Redis down, slow or failing), by call.',
    ['call'],
  );

  /**
   * Fleet mode: `cbv_redis_up` reads the link at scrape time (1 when this node
   * uses Redis now); always exported, 0 on a single node without Redis.
   */
  trackRedis(up: () => boolean): void {
    this.redisUp = up;
  }

  private readonly redisGauge = new Gauge({
    name: METRIC_NAMES.redisUp,
    help: '1 while this node uses the fleet Redis, 0 while it runs on its local tier and limits (or has no Redis).',
    registers: [this.registry],
    collect: (() => {
      const self = (): PromMetrics => this;
      return function (this: Gauge) {
        this.set(self().redisUp() ? 1 : 0);
      };
    })(),
  });

  /** Read the gauges from the running service. */
  track(source: MetricsSource): void {
    this.source = source;
  }

  override verdict(v: ServiceVerdict): void {
    this.verifications.inc(v.result, v.reason);
    if (v.cache.hit) this.cacheHits.inc(v.cache.fact ? 'domain_fact' : 'address');
    else if (
      v.reason !== 'invalid_syntax' &&
      v.reason !== 'unverifiable' &&
      v.reason !== 'skipped' &&
      !v.reason.startsWith('spf_')
    )
      this.cacheMisses.inc();
    if (v.spf) {
      this.spfResults.inc(v.spf.result, v.spf.identity);
      if ((v.reason === 'spf_pass' || v.reason === 'spf_fail') && v.spf.identity === 'mailfrom')
        this.spfCalloutsAvoided.inc();
    }
  }

  override callout(v: CalloutVerdict): void {
    this.callouts.inc({ reason: v.reason });
    for (const a of v.attempts) this.attempts.inc({ stage: a.stage ?? 'none', outcome: a.reason });
    this.duration.observe({ result: v.result }, v.durationMs / 1000);
  }

  override floodTripped(): void {
    this.floodTrips.inc();
  }

  override floodDeferred(): void {
    this.floodDeferrals.inc();
  }

  override floodTrickle(report: TrickleReport): void {
    if (report.sent === 0) return;
    this.floodTrickleSessions.inc();
    this.floodTrickleAddresses.inc(report.sent);
  }

  override calloutSession(kind: CalloutJob['kind'], addresses: number): void {
    this.calloutSessions.inc({ kind });
    this.sessionAddresses.observe(addresses);
  }

  override backgroundError(): void {
    this.backgroundErrors.inc();
  }

  override limitRefused(what: LimitRefusal): void {
    this.limitRefusals.inc({ limit: what });
  }

  override policyDecision(action: string, outcome: PolicyOutcome): void {
    this.policyDecisions.inc(actionLabel(action), outcome);
  }

  /** The exposition text and its content type. */
  async expose(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
