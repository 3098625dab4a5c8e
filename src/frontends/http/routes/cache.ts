/** The verdict cache: look up and purge an address, or a domain (its fact and all its addresses). */
import * as z from 'zod';
import { parseMailbox, parseMailDomain, type Mailbox } from '../../../core/index.js';
import { route, type ApiRoute } from '../api-route.js';
import { invalid, notFound } from '../errors.js';
import {
  addressText,
  cacheEntrySchema,
  domainFactSchema,
  entryView,
  factView,
  removedSchema,
} from '../schemas.js';
import type { HttpServices } from '../services.js';

const TAG = 'cache';
const addressParams = z.strictObject({ address: addressText });
const domainParams = z.strictObject({
  domain: z.string().min(1).max(255).describe('A domain (or an address literal such as [192.0.2.1]).'),
});

/** A lookup rejects nobody: an address at a single-label domain may be in the cache (verify.allow_single_label_domains). */
const LOOKUP = { singleLabelDomains: true } as const;

function mailbox(address: string): Mailbox {
  const parsed = parseMailbox(address, LOOKUP);
  if (!parsed.ok) throw invalid('address', `address: ${parsed.error}`);
  return parsed.mailbox;
}

/** The domain as the cache keys it (A-labels, lower case), by the same rules as an address's domain. */
function domainKey(domain: string): string {
  const parsed = parseMailDomain(domain, LOOKUP);
  if (!parsed.ok) throw invalid('domain', `domain: ${parsed.error}`);
  return parsed.domain;
}

const missing = { 404: { description: 'Nothing cached.' } };

export function cacheRoutes(s: HttpServices): ApiRoute[] {
  return [...addressRoutes(s), ...domainRoutes(s)];
}

function addressRoutes(s: HttpServices): ApiRoute[] {
  const cache = s.verifier.cache;
  return [
    route({
      method: 'GET',
      path: '/v1/cache/{address}',
      tag: TAG,
      summary: "An address's cached answer",
      description: "The address's own entry, else the fact about its domain that would answer for it.",
      access: 'token',
      params: addressParams,
      responses: {
        200: {
          description: 'What the cache holds for the address.',
          schema: z.object({
            address: z.string(),
            domain: z.string(),
            entry: cacheEntrySchema.nullable(),
            fact: domainFactSchema.nullable(),
          }),
        },
        ...missing,
      },
      handle: async ({ params }) => {
        const { address, domain } = mailbox(params.address);
        const now = s.now();
        const entry = await cache.getAddress(address, now);
        const fact = entry ? null : await cache.getDomainFact(domain, now);
        if (!entry && !fact) throw notFound(`${address}: not in the cache`);
        return { address, domain, entry: entry && entryView(entry), fact: fact && factView(fact) };
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/cache/{address}',
      tag: TAG,
      summary: 'Forget an address',
      access: 'token',
      params: addressParams,
      responses: { 200: { description: 'How many entries were removed.', schema: removedSchema } },
      handle: async ({ params }) => ({ removed: await cache.purgeAddress(mailbox(params.address).address) }),
    }),
  ];
}

function domainRoutes(s: HttpServices): ApiRoute[] {
  const cache = s.verifier.cache;
  return [
    route({
      method: 'GET',
      path: '/v1/cache/domain/{domain}',
      tag: TAG,
      summary: "A domain's cached fact",
      access: 'token',
      params: domainParams,
      responses: {
        200: { description: 'The fact.', schema: z.object({ domain: z.string(), fact: domainFactSchema }) },
        ...missing,
      },
      handle: async ({ params }) => {
        const domain = domainKey(params.domain);
        const fact = await cache.getDomainFact(domain, s.now());
        if (!fact) throw notFound(`${domain}: no domain fact in the cache`);
        return { domain, fact: factView(fact) };
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/cache/domain/{domain}',
      tag: TAG,
      summary: 'Forget a domain',
      description: "Removes the domain's fact and every cached address of the domain.",
      access: 'token',
      params: domainParams,
      responses: { 200: { description: 'How many entries were removed.', schema: removedSchema } },
      handle: async ({ params }) => ({ removed: await cache.purgeDomain(domainKey(params.domain)) }),
    }),
  ];
}
