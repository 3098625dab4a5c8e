/** Which front-ends the daemon hosts, and which extra telemetry (metrics) it feeds, from the config. */
import { heloIdentity } from '../config/helo-name.js';
import type { Config } from '../config/schema.js';
import type { ReadinessNotes } from '../frontends/http/services.js';
import type { Frontend } from '../frontends/frontend.js';
import { createPolicyFrontend } from '../frontends/policy/index.js';
import { HttpFrontend } from '../frontends/http/http-frontend.js';
import type { Logger } from '../observability/logger.js';
import { PromMetrics } from '../observability/metrics.js';
import type { Telemetry } from '../observability/telemetry.js';
import type { RecentActivity } from '../service/recent-activity.js';
import type { Service } from './build.js';

export interface FrontendContext {
  config: Readonly<Config>;
  service: Service;
  logger: Logger;
  /** Fan-out of every telemetry member: front-ends report their decisions here. */
  telemetry: Telemetry;
  recent: RecentActivity;
  /** The members buildTelemetry added (e.g. Prometheus metrics, for the HTTP front-end to expose). */
  extra: Telemetry[];
}

/** Metrics are only worth counting when something serves them. */
export function buildTelemetry(config: Readonly<Config>): Telemetry[] {
  const list: Telemetry[] = [];
  if (config.http.enabled) list.push(new PromMetrics());
  return list;
}

/** What /readyz and the dashboard report beside readiness: the HELO name, and start-up warnings. */
function readinessNotes(config: Readonly<Config>): ReadinessNotes {
  const helo = heloIdentity(config);
  return { heloName: helo.name, warnings: helo.warning ? [helo.warning] : [] };
}

export function buildFrontends(context: FrontendContext): Frontend[] {
  const { config, service, logger, recent, extra } = context;
  const metrics = extra.find((t): t is PromMetrics => t instanceof PromMetrics) ?? null;
  metrics?.track({
    inFlight: () => service.verifier.inFlight,
    trippedDomains: () => service.limits.snapshot().trippedDomains.length,
  });
  const link = service.stores.fleet?.link;
  if (metrics && link) {
    metrics.trackRedis(() => link.up);
    link.watch({ fallback: (call) => metrics.redisFallbacks.inc({ call }) });
  }
  const list: Frontend[] = [];
  if (config.policy.enabled) list.push(createPolicyFrontend(context));
  if (config.http.enabled)
    list.push(
      new HttpFrontend({
        http: config.http,
        verifier: service.verifier,
        decider: service.decider,
        recent,
        metrics,
        logger,
        readiness: readinessNotes(config),
        fleetStats: service.stores.fleet?.stats ?? null,
      }),
    );
  return list;
}
