/** The policy front-end, assembled from the daemon's context. */
import type { FrontendContext } from '../../app/frontends.js';
import { PolicyDecider } from './decide.js';
import { PolicyServer } from './server.js';

export function createPolicyFrontend(context: FrontendContext): PolicyServer {
  const { config, service, telemetry, logger } = context;
  const routed = new Set(Object.keys(config.service.routes).map((d) => d.toLowerCase()));
  const decider = new PolicyDecider(config.policy, service.verifier, telemetry, routed);
  return new PolicyServer(
    config.policy,
    decider,
    telemetry,
    logger,
    Math.round(config.service.inline_budget * 1000),
  );
}
