/**
 * One route = one declaration: method, path, zod schemas, access, responses,
 * handler. From it come the fastify route (whose JSON Schema, generated from
 * the zod schemas, validates the request) and the route's part of
 * /openapi.json. So the document cannot describe a request the server would
 * refuse, or the reverse.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import * as z from 'zod';
import type { RequestBudget } from './rate-limit.js';

/** public: anyone; token: a bearer token when tokens are configured; verify: that, and rate-limited. */
export type Access = 'public' | 'token' | 'verify';

export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
  /** Defaults to application/json. */
  contentType?: string;
}

export interface RouteInput<Q, P, B> {
  query: Q;
  params: P;
  body: B;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface RouteSpec<Q, P, B> {
  method: 'GET' | 'POST' | 'DELETE';
  /** OpenAPI style: /v1/cache/{address}. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  access: Access;
  querystring?: z.ZodType<Q>;
  params?: z.ZodType<P>;
  body?: z.ZodType<B>;
  /** For access 'verify': how many addresses the request asks about (its rate-limit cost). */
  cost?: (input: { query: Q; body: B }) => number;
  responses: Record<number, ResponseDoc>;
  handle(input: RouteInput<Q, P, B>): Promise<unknown>;
}

/** A route with its types erased, ready to register and to document. */
export interface ApiRoute {
  method: RouteSpec<unknown, unknown, unknown>['method'];
  path: string;
  summary: string;
  description: string | undefined;
  tag: string;
  access: Access;
  schemas: Record<'querystring' | 'params' | 'body', z.ZodType | undefined>;
  responses: Record<number, ResponseDoc>;
  run(request: FastifyRequest, reply: FastifyReply, guards: RouteGuards): Promise<unknown>;
}

export interface RouteGuards {
  /** Who made the request (set by the auth hook). */
  principal(request: FastifyRequest): string;
  budget: RequestBudget;
  onRateLimited(request: FastifyRequest, principal: string): void;
}

/**
 * Fastify's JSON Schema validation has already accepted the value (and
 * coerced query strings to numbers and booleans); parsing it again with the
 * zod schema it came from gives the handler typed data and defaults.
 */
function parsed<T>(schema: z.ZodType<T> | undefined, value: unknown): T {
  // Without a schema the handler's type parameter is `undefined`, by route()'s defaults.
  return schema ? schema.parse(value) : (undefined as T);
}

export function route<Q = undefined, P = undefined, B = undefined>(spec: RouteSpec<Q, P, B>): ApiRoute {
  return {
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    description: spec.description,
    tag: spec.tag,
    access: spec.access,
    schemas: { querystring: spec.querystring, params: spec.params, body: spec.body },
    responses: spec.responses,
    run: async (request, reply, guards) => {
      const query = parsed(spec.querystring, request.query);
      const params = parsed(spec.params, request.params);
      const body = parsed(spec.body, request.body);
      if (spec.access === 'verify') {
        const principal = guards.principal(request);
        const cost = spec.cost ? spec.cost({ query, body }) : 1;
        const admission = guards.budget.take(principal, cost);
        if (!admission.ok) {
          guards.onRateLimited(request, principal);
          const seconds = Math.max(1, Math.ceil(admission.retryAfterMs / 1000));
          return reply
            .code(429)
            .header('retry-after', String(seconds))
            .send({
              error: 'rate_limited',
              message: `verification rate limit reached for this ${principal.split(':')[0] ?? 'client'}; retry in ${seconds} s`,
              retryAfterSeconds: seconds,
            });
        }
      }
      return spec.handle({ query, params, body, request, reply });
    },
  };
}

/** The JSON Schema of a request part, as fastify's validator (Ajv, draft-07) takes it. */
export function requestJsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', io: 'input' });
  return rest;
}

export function registerRoutes(
  app: FastifyInstance,
  routes: readonly ApiRoute[],
  guards: RouteGuards,
  authenticate: onRequestAsyncHookHandler,
  sameSite: onRequestAsyncHookHandler,
): void {
  for (const r of routes) {
    const schema = Object.fromEntries(
      Object.entries(r.schemas)
        .filter((e): e is [string, z.ZodType] => e[1] !== undefined)
        .map(([part, s]) => [part, requestJsonSchema(s)]),
    );
    // Verifying or changing anything is for same-site callers only (a page elsewhere can make a browser ask).
    const onRequest = [
      ...(r.method !== 'GET' || r.access === 'verify' ? [sameSite] : []),
      ...(r.access === 'public' ? [] : [authenticate]),
    ];
    app.route({
      method: r.method,
      url: r.path.replace(/\{(\w+)\}/g, ':$1'),
      schema,
      ...(onRequest.length > 0 ? { onRequest } : {}),
      handler: (request, reply) => r.run(request, reply, guards),
    });
  }
}
