/** GET /v1/verify (one address) and POST /v1/verify (a batch): verdicts through the service. */
import { z } from 'zod';
import { route, type ApiRoute } from '../api-route.js';
import { addressText, verdictSchema } from '../schemas.js';
import type { HttpServices } from '../services.js';

const TAG = 'verify';

export function verifyRoutes(s: HttpServices): ApiRoute[] {
  const single = route({
    method: 'GET',
    path: '/v1/verify',
    tag: TAG,
    summary: 'Verify one address',
    description:
      'Answers from the cache when it can, otherwise calls the domain back (within the inline budget: ' +
      'a callout that takes longer answers `pending` and finishes in the background). A malformed ' +
      'address is a verdict (invalid_syntax), not an error. Costs one token of the rate limit.',
    access: 'verify',
    querystring: z.strictObject({
      address: addressText,
      transcript: z
        .boolean()
        .default(false)
        .describe('Include the SMTP transcript (only for a fresh callout this request waited for).'),
    }),
    responses: { 200: { description: 'The verdict.', schema: verdictSchema } },
    handle: ({ query }) => s.verifier.verify(query.address, { transcript: query.transcript }),
  });

  const batch = route({
    method: 'POST',
    path: '/v1/verify',
    tag: TAG,
    summary: 'Verify several addresses',
    description: `At most ${s.batchMax} addresses; each costs one token of the rate limit, and the batch is admitted whole or refused whole (429). Verdicts come back in the order asked.`,
    access: 'verify',
    body: z.strictObject({
      addresses: z.array(addressText).min(1).max(s.batchMax).describe('The addresses to verify.'),
    }),
    cost: ({ body }) => body.addresses.length,
    responses: {
      200: {
        description: 'One verdict per address, in order.',
        schema: z.object({ verdicts: z.array(verdictSchema) }),
      },
    },
    handle: async ({ body }) => ({
      verdicts: await Promise.all(body.addresses.map((a) => s.verifier.verify(a))),
    }),
  });
  return [single, batch];
}
