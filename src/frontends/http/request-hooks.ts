/**
 * What happens around every request: authentication (remembering who asked,
 * for the rate limit and the log), security headers, and one log line and
 * one metric sample per response.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EVENTS } from '../../observability/events.js';
import { logEvent, type Logger } from '../../observability/logger.js';
import type { PromMetrics } from '../../observability/metrics.js';
import type { TokenAuth } from './auth.js';

export interface HookDeps {
  auth: TokenAuth;
  logger: Logger;
  metrics: PromMetrics | null;
}

/** Who made each request: a token's name, or the client address. */
export type Principals = WeakMap<FastifyRequest, string>;

/** The path without the query string, whose values (addresses) the log has no need of. */
function pathOf(request: FastifyRequest): string {
  return request.url.split('?')[0] ?? '';
}

export function authenticator(deps: HookDeps, principals: Principals) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const result = deps.auth.check(request.headers.authorization, request.ip);
    if (result.ok) {
      principals.set(request, result.principal);
      return;
    }
    deps.metrics?.httpAuthFailures.inc({ reason: result.reason });
    logEvent(deps.logger, 'warn', EVENTS.httpAuthFailed, {
      ip: request.ip,
      url: pathOf(request),
      reason: result.reason,
      route: request.routeOptions.url,
      reqId: request.id,
    });
    const message =
      result.reason === 'missing' ? 'a bearer token is required' : 'the bearer token is not valid';
    await reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="cbv"')
      .send({ error: 'unauthorized', message });
  };
}

export function installResponseHooks(app: FastifyInstance, deps: HookDeps, principals: Principals): void {
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('x-content-type-options', 'nosniff');
    // Verdicts and statistics are live data: no cache may keep them (the dashboard's files say otherwise).
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, never the URL: a URL holds addresses, which must not become label values.
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    deps.metrics?.httpRequests.inc({ route, method: request.method, status: String(status) });
    logEvent(deps.logger, 'debug', EVENTS.httpRequest, {
      method: request.method,
      url: pathOf(request),
      route,
      status,
      durationMs: Math.round(reply.elapsedTime),
      principal: principals.get(request) ?? null,
      reqId: request.id,
    });
    done();
  });
}
