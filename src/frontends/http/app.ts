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
import { clientError, frameworkError, installErrorHandlers, validationProblem } from './errors.js';
import { buildOpenApi } from './openapi.js';
import type { RequestBudget } from './rate-limit.js';
import { cacheRoutes } from './routes/cache.js';
import { floodRoutes } from './routes/flood.js';
import { opsRoutes } from './routes/ops.js';
import { recentRoutes } from './routes/recent.js';
import { statsRoutes } from './routes/stats.js';
import {
  authenticator,
  crossSiteGuard,
  installResponseHooks,
  installSiteGuard,
  type Principals,
} from './request-hooks.js';
import type { HostAllowList } from './site-guard.js';
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
  /** The Host names this daemon answers to (DNS rebinding defence). */
  hosts: HostAllowList;
}

/** A batch of 100 addresses of 2048 characters is ~210 KB; nothing legitimate is larger. */
const BODY_LIMIT = 256 * 1024;
/**
 * Longest path parameter, as it appears in the URL (percent-encoded). Fastify's default of 100 refused
 * real domains (up to 255 octets) and addresses; the route schemas bound the decoded value precisely.
 */
const MAX_PARAM_LENGTH = 4096;

/** Which methods serve a path: the routes' patterns ({param} is one segment), HEAD wherever GET is. */
function methodIndex(patterns: readonly { method: string; path: string }[]): (path: string) => string[] {
  const compiled = patterns.map((p) => ({
    method: p.method,
    re: new RegExp(`^${p.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}$`),
  }));
  return (path) => {
    const methods = new Set(compiled.filter((c) => c.re.test(path)).map((c) => c.method));
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}

export function apiRoutes(services: HttpServices, openapi: () => unknown): ApiRoute[] {
  return [
    ...verifyRoutes(services),
    ...cacheRoutes(services),
    ...statsRoutes(services),
    ...recentRoutes(services),
    ...floodRoutes(services),
    ...opsRoutes(services, openapi),
  ];
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    // No fastify logger: every line is ours, with an event code (one per request, from onResponse).
    logger: false,
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // An HTTP/1.1 request without Host is refused by the site guard, in cbv's shape (Node's own 400 has an empty body).
    http: { requireHostHeader: false },
    schemaErrorFormatter: (errors, part) => validationProblem(errors, part),
    // Every answer in cbv's error shape, also those fastify and Node's parser give by themselves.
    frameworkErrors: frameworkError,
    clientErrorHandler: clientError,
  });
  // Lossless for any JSON parser, and a person reading a body with curl sees no C1 or bidi character raw.
  app.setReplySerializer((payload) => safeJson(payload));
  installValidators(app);

  const principals: Principals = new WeakMap();
  const hookDeps = { auth: deps.auth, logger: deps.logger, metrics: deps.services.metrics };
  installSiteGuard(app, deps.hosts, deps.logger);
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
  registerRoutes(app, routes, guards, authenticator(hookDeps, principals), crossSiteGuard(deps.logger));
  registerDashboard(app, deps.assets);
  const methodsOf = methodIndex([
    ...routes,
    ...[...deps.assets.keys()].map((path) => ({ method: 'GET', path })),
  ]);
  installErrorHandlers(app, deps.logger, methodsOf);
  return app;
}
