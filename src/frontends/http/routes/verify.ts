/**
 * GET /v1/verify (one address) and POST /v1/verify (a batch): answers through
 * the service's decision path, the same as the policy server's and `cbv verify
 * --client-ip`'s. The optional client_ip, helo, client_name and sasl_user are
 * the connection facts a mail server has; with them SPF can answer for the
 * sender (and save the callout) and the skip rules apply as they do there.
 */
import * as z from 'zod';
import { route, type ApiRoute } from '../api-route.js';
import { invalid } from '../errors.js';
import {
  addressText,
  answerSchema,
  answerView,
  clientIpText,
  clientNameText,
  heloText,
  saslUserText,
} from '../schemas.js';
import type { HttpServices } from '../services.js';
import { normaliseClientIp, type RequestInput } from '../../../service/request.js';

const TAG = 'verify';

const connection = {
  client_ip: clientIpText.optional(),
  helo: heloText.optional(),
  client_name: clientNameText.optional(),
  sasl_user: saslUserText.optional(),
};

type Facts = Partial<Record<keyof typeof connection, string | undefined>>;

/** The request for one address, refusing a client_ip that only looked like an address. */
function requestOf(address: string, facts: Facts): RequestInput {
  if (facts.client_ip !== undefined && normaliseClientIp(facts.client_ip) === null)
    throw invalid('client_ip', `client_ip: '${facts.client_ip}' is not an IPv4 or IPv6 address`);
  return {
    sender: address,
    clientIp: facts.client_ip,
    helo: facts.helo,
    clientHostname: facts.client_name,
    saslUser: facts.sasl_user,
    stage: 'mail',
  };
}

export function verifyRoutes(s: HttpServices): ApiRoute[] {
  const single = route({
    method: 'GET',
    path: '/v1/verify',
    tag: TAG,
    summary: 'Verify one address',
    description:
      'Answers from the cache when it can, otherwise calls the domain back (within the inline budget: ' +
      'a callout that takes longer answers `pending` and finishes in the background). A malformed ' +
      'address is a verdict (invalid_syntax), not an error. `decision` is what the shared decision ' +
      'table makes of the verdict (the policy server answers the same). Costs one token of the rate limit.',
    access: 'verify',
    querystring: z.strictObject({
      address: addressText,
      ...connection,
      transcript: z
        .boolean()
        .default(false)
        .describe('Include the SMTP transcript (only for a fresh callout this request waited for).'),
    }),
    responses: { 200: { description: 'The verdict and the decision.', schema: answerSchema } },
    handle: async ({ query }) =>
      answerView(await s.decider.sender(requestOf(query.address, query), { transcript: query.transcript })),
  });

  const batch = route({
    method: 'POST',
    path: '/v1/verify',
    tag: TAG,
    summary: 'Verify several addresses',
    description: `At most ${s.batchMax} addresses; each costs one token of the rate limit, and the batch is admitted whole or refused whole (429). Verdicts come back in the order asked. client_ip, helo, client_name and sasl_user, when given, are the connection facts for every address.`,
    access: 'verify',
    body: z.strictObject({
      addresses: z.array(addressText).min(1).max(s.batchMax).describe('The addresses to verify.'),
      ...connection,
    }),
    cost: ({ body }) => body.addresses.length,
    responses: {
      200: {
        description: 'One verdict (with its decision) per address, in order.',
        schema: z.object({ verdicts: z.array(answerSchema) }),
      },
    },
    handle: async ({ body }) => {
      const requests = body.addresses.map((a) => requestOf(a, body));
      return { verdicts: (await Promise.all(requests.map((r) => s.decider.sender(r)))).map(answerView) };
    },
  });
  return [single, batch];
}
