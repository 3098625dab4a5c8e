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
import { HttpProblem } from './errors.js';
import { crossSite, requestAuthority, type HostAllowList } from './site-guard.js';

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

/**
 * First of all hooks, for every request (404s included): a request whose
 * authority (its absolute target's, else its Host's) is not one of this
 * daemon's names is meant for someone else, or comes from a DNS-rebinding
 * page: 421 Misdirected Request (RFC 9110, 15.5.20). Two Host fields or one
 * that is not host[:port]: 400 (RFC 9112 3.2).
 */
export function installSiteGuard(app: FastifyInstance, hosts: HostAllowList, logger: Logger): void {
  app.addHook('onRequest', (request): Promise<void> => {
    const authority = requestAuthority(
      request.raw.url ?? '',
      request.raw.rawHeaders,
      request.raw.httpVersion,
    );
    if (!authority.ok) {
      logEvent(logger, 'warn', EVENTS.httpRefused, {
        reason: 'host',
        detail: authority.problem,
        ip: request.ip,
        url: pathOf(request),
        reqId: request.id,
      });
      return Promise.reject(new HttpProblem(400, 'invalid_request', authority.problem, 'host'));
    }
    const host = authority.authority;
    if (hosts.allows(host)) return Promise.resolve();
    logEvent(logger, 'warn', EVENTS.httpRefused, {
      reason: 'host',
      host,
      ip: request.ip,
      url: pathOf(request),
      reqId: request.id,
    });
    return Promise.reject(
      new HttpProblem(
        421,
        'misdirected_request',
        `Host '${host ?? ''}' is not a name of this daemon; list it in http.allowed_hosts to serve it`,
      ),
    );
  });
}

/** For requests that verify or change something: refuse those a browser sends from another site (403). */
export function crossSiteGuard(logger: Logger) {
  return (request: FastifyRequest): Promise<void> => {
    // Origin is compared with the authority the site guard checked (an absolute target's, else Host).
    const authority = requestAuthority(
      request.raw.url ?? '',
      request.raw.rawHeaders,
      request.raw.httpVersion,
    );
    const why = crossSite({
      ...request.headers,
      host: authority.ok ? authority.authority : undefined,
    });
    if (why === null) return Promise.resolve();
    logEvent(logger, 'warn', EVENTS.httpRefused, {
      reason: 'cross_site',
      detail: why,
      ip: request.ip,
      url: pathOf(request),
      reqId: request.id,
    });
    return Promise.reject(
      new HttpProblem(
        403,
        'cross_site',
        `a request from another site may not verify or change anything (${why})`,
      ),
    );
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
