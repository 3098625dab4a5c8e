/** Which front-ends the daemon hosts, and which extra telemetry (metrics) it feeds, from the config. */
import type { Config } from '../config/schema.js';
import type { Frontend } from '../frontends/frontend.js';
import { createPolicyFrontend } from '../frontends/policy/index.js';
import type { Logger } from '../observability/logger.js';
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

export function buildTelemetry(_config: Readonly<Config>): Telemetry[] {
  return [];
}

export function buildFrontends(context: FrontendContext): Frontend[] {
  const list: Frontend[] = [];
  if (context.config.policy.enabled) list.push(createPolicyFrontend(context));
  return list;
}
