/**
 * The fastify application: error shapes, validation, the hooks around each
 * request, then the API routes and the dashboard's files.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { safeJson } from '../../core/index.js';
import { EVENTS } from '../../observability/events.js';
import { logEvent, type Logger } from '../../observability/logger.js';
import { registerRoutes, type ApiRoute, type RouteGuards } from './api-route.js';
import type { TokenAuth } from './auth.js';
import { registerDashboard, type loadDashboardAssets } from './dashboard-assets.js';
import { installErrorHandlers, validationProblem } from './errors.js';
import { buildOpenApi } from './openapi.js';
import type { RequestBudget } from './rate-limit.js';
import { cacheRoutes } from './routes/cache.js';
import { opsRoutes } from './routes/ops.js';
import { recentRoutes } from './routes/recent.js';
import { statsRoutes } from './routes/stats.js';
import { authenticator, installResponseHooks, type Principals } from './request-hooks.js';
import { verifyRoutes } from './routes/verify.js';
import type { HttpServices } from './services.js';
import { installValidators } from './validators.js';

export interface AppDeps {
  services: HttpServices;
  auth: TokenAuth;
  budget: RequestBudget;
  logger: Logger;
  assets: ReturnType<typeof loadDashboardAssets>;
  version: string;
}

/** A batch of 100 addresses of 512 characters is ~52 KB; nothing legitimate is larger. */
const BODY_LIMIT = 256 * 1024;

export function apiRoutes(services: HttpServices, openapi: () => unknown): ApiRoute[] {
  return [
    ...verifyRoutes(services),
    ...cacheRoutes(services),
    ...statsRoutes(services),
    ...recentRoutes(services),
    ...opsRoutes(services, openapi),
  ];
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    // No fastify logger: every line is ours, with an event code (one per request, from onResponse).
    logger: false,
    bodyLimit: BODY_LIMIT,
    schemaErrorFormatter: (errors, part) => validationProblem(errors, part),
  });
  // Lossless for any JSON parser, and a person reading a body with curl sees no C1 or bidi character raw.
  app.setReplySerializer((payload) => safeJson(payload));
  installErrorHandlers(app, deps.logger);
  installValidators(app);

  const principals: Principals = new WeakMap();
  const hookDeps = { auth: deps.auth, logger: deps.logger, metrics: deps.services.metrics };
  installResponseHooks(app, hookDeps, principals);
  const guards: RouteGuards = {
    principal: (request) => principals.get(request) ?? `ip:${request.ip}`,
    budget: deps.budget,
    onRateLimited: (request, principal) =>
      logEvent(deps.logger, 'info', EVENTS.limitRefused, {
        limit: 'http',
        key: principal,
        reqId: request.id,
      }),
  };

  let document: unknown = null;
  const routes = apiRoutes(deps.services, () => document);
  document = buildOpenApi(routes, { version: deps.version, tokensRequired: deps.auth.required });
  registerRoutes(app, routes, guards, authenticator(hookDeps, principals));
  registerDashboard(app, deps.assets);
  return app;
}
