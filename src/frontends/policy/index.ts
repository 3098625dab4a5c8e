/** The policy front-end, assembled from the daemon's context. */
import type { FrontendContext } from '../../app/frontends.js';
import { PolicyDecider } from './decide.js';
import { PolicyServer } from './server.js';

export function createPolicyFrontend(context: FrontendContext): PolicyServer {
  const { config, service, telemetry, logger } = context;
  const decider = new PolicyDecider(config.policy, service.decider, telemetry);
  return new PolicyServer(
    config.policy,
    decider,
    telemetry,
    logger,
    Math.round(config.service.inline_budget * 1000),
  );
}
