/** The most recent decisions, and the SMTP transcript behind each. */
import * as z from 'zod';
import { route, type ApiRoute } from '../api-route.js';
import { notFound } from '../errors.js';
import { recentDecisionSchema, transcriptSchema } from '../schemas.js';
import type { HttpServices } from '../services.js';

const TAG = 'activity';

export function recentRoutes(s: HttpServices): ApiRoute[] {
  return [
    route({
      method: 'GET',
      path: '/v1/recent',
      tag: TAG,
      summary: 'The most recent decisions, newest first',
      description: 'Held in memory since the daemon started (the last 500).',
      access: 'token',
      querystring: z.strictObject({ limit: z.number().int().min(1).max(500).default(50) }),
      responses: {
        200: {
          description: 'The decisions.',
          schema: z.object({ decisions: z.array(recentDecisionSchema) }),
        },
      },
      handle: ({ query }) => Promise.resolve({ decisions: s.recent.list(query.limit) }),
    }),
    route({
      method: 'GET',
      path: '/v1/recent/{id}/transcript',
      tag: TAG,
      summary: 'The SMTP transcript behind a decision',
      description:
        "The latest callout's transcript for the decision's address: for a cache hit, the callout that filled the cache, while it is still held.",
      access: 'token',
      params: z.strictObject({ id: z.number().int().min(1) }),
      responses: {
        200: { description: 'The transcript.', schema: transcriptSchema },
        404: { description: 'No such decision, or no transcript held for it.' },
      },
      handle: ({ params }) => {
        const decision = s.recent.list(Number.MAX_SAFE_INTEGER).find((d) => d.id === params.id);
        if (!decision) return Promise.reject(notFound(`decision ${params.id}: not among the recent ones`));
        const transcript = s.recent.transcript(decision.address);
        if (!transcript)
          return Promise.reject(
            notFound(`decision ${params.id}: no transcript held for ${decision.address}`),
          );
        return Promise.resolve({ id: decision.id, address: decision.address, ...transcript });
      },
    }),
  ];
}
