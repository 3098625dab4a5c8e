/** For machines: liveness, readiness, Prometheus metrics and the OpenAPI document. */
import * as z from 'zod';
import { route, type ApiRoute } from '../api-route.js';
import { notFound } from '../errors.js';
import type { HttpServices } from '../services.js';

const TAG = 'operations';
/** A name no mail domain can have (RFC 2606), so the readiness probe never finds or disturbs a fact. */
const PROBE_DOMAIN = 'readiness-probe.invalid';

export function opsRoutes(s: HttpServices, openapi: () => unknown): ApiRoute[] {
  return [
    route({
      method: 'GET',
      path: '/healthz',
      tag: TAG,
      summary: 'Liveness: the process answers',
      access: 'public',
      responses: { 200: { description: 'Alive.', schema: z.object({ status: z.literal('ok') }) } },
      handle: () => Promise.resolve({ status: 'ok' as const }),
    }),
    readyRoute(s),
    route({
      method: 'GET',
      path: '/metrics',
      tag: TAG,
      summary: 'Prometheus metrics',
      access: 'token',
      responses: { 200: { description: 'Prometheus text exposition format.', contentType: 'text/plain' } },
      handle: async ({ reply }) => {
        if (!s.metrics) throw notFound('metrics are not collected in this process');
        const { contentType, body } = await s.metrics.expose();
        return reply.type(contentType).send(body);
      },
    }),
    route({
      method: 'GET',
      path: '/openapi.json',
      tag: TAG,
      summary: 'This API, as an OpenAPI 3.1 document',
      access: 'public',
      responses: { 200: { description: 'The document.' } },
      handle: () => Promise.resolve(openapi()),
    }),
  ];
}

/** What /readyz says beside its status: the HELO name and start-up warnings (docs/http-api.md). */
const details = z
  .object({
    heloName: z.string().describe('The name cbv says in EHLO/HELO.'),
    warnings: z
      .array(z.string())
      .describe(
        'Set-up problems that cost verdicts without stopping the daemon, each naming the setting that fixes it (a HELO name that is not fully qualified names verify.helo_name).',
      ),
  })
  .optional();

/** Readiness: whether the cache answers (the description says how it is asked), with the set-up details. */
function readyRoute(s: HttpServices): ApiRoute {
  const detail = s.readiness
    ? { details: { heloName: s.readiness.heloName, warnings: [...s.readiness.warnings] } }
    : {};
  return route({
    method: 'GET',
    path: '/readyz',
    tag: TAG,
    summary: 'Readiness: the cache answers',
    description:
      'One indexed lookup in the cache (not a count of its rows, which a large SQLite file would make slow). `details` names the HELO name and any set-up warning; a warning does not make the daemon unready.',
    access: 'public',
    responses: {
      200: { description: 'Ready.', schema: z.object({ status: z.literal('ready'), details }) },
      503: {
        description: 'The cache does not answer.',
        schema: z.object({ status: z.literal('unavailable'), message: z.string(), details }),
      },
    },
    handle: async ({ reply }) => {
      try {
        await s.verifier.cache.getDomainFact(PROBE_DOMAIN, s.now());
        return { status: 'ready', ...detail };
      } catch (error) {
        const message = `cache lookup failed: ${error instanceof Error ? error.message : String(error)}`;
        return reply.code(503).send({ status: 'unavailable', message, ...detail });
      }
    },
  });
}
