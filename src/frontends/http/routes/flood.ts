/** The domains the flood breaker holds tripped now, for the dashboard and operators. */
import * as z from 'zod';
import { route, type ApiRoute } from '../api-route.js';
import type { HttpServices } from '../services.js';

const TAG = 'activity';

const trippedSchema = z.object({
  domain: z.string().describe('The tripped site (registrable domain), or mx:<ip> for a tripped MX address.'),
  until: z.string().describe('When the trip ends unless fresh evidence re-arms it (ISO 8601).'),
  suspects: z
    .number()
    .int()
    .describe(
      'Distinct never-seen addresses its MX answered user_unknown or with no information within limits.flood_window; for an MX address (domain mx:<ip>), the sites it left unconfirmed.',
    ),
  queued: z.number().int().describe('Deferred senders waiting for the trickle.'),
});

export function floodRoutes(s: HttpServices): ApiRoute[] {
  return [
    route({
      method: 'GET',
      path: '/v1/flood',
      tag: TAG,
      summary: 'Domains the flood breaker holds tripped',
      description:
        'A tripped domain showed the forged-flood signature: its new senders are deferred (rate_limited) and verified as a trickle, one session per limits.flood_trickle_interval; known senders are answered from the cache.',
      access: 'token',
      responses: {
        200: { description: 'The tripped domains.', schema: z.object({ tripped: z.array(trippedSchema) }) },
      },
      handle: () =>
        Promise.resolve({
          tripped: s.verifier.floodSnapshot().map((t) => ({
            domain: t.domain,
            until: new Date(t.untilMs).toISOString(),
            suspects: t.suspects,
            queued: t.queued,
          })),
        }),
    }),
  ];
}
