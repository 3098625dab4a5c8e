/**
 * Senders at single-label domains (`root@vm`), when a site accepts them
 * (`verify.allow_single_label_domains`). The DNS is no authority on such a name: it may live in a
 * search domain, in /etc/hosts or in the site's own resolver. "No such domain" or "no mail host"
 * for it is therefore no evidence against the address, and it becomes `unverifiable` (the policy
 * server answers DUNNO), never undeliverable. When the name does resolve, it is verified as any other.
 */
import { isSingleLabel } from '../address.js';
import type { MailRoute } from './mail-hosts.js';

/** A route, or the verdict that ends the verification, including `unverifiable`. */
export type SingleLabelRoute =
  | MailRoute
  | { kind: 'verdict'; reason: 'unverifiable'; rule: 'local.single-label-unresolved'; message: string };

/** `route` as it stands, unless `domain` is single-label and the DNS found no mail host for it. */
export function singleLabelRoute(domain: string, route: MailRoute): SingleLabelRoute {
  if (route.kind !== 'verdict' || !isSingleLabel(domain)) return route;
  if (route.reason !== 'no_such_domain' && route.reason !== 'no_mail_host') return route;
  return {
    kind: 'verdict',
    reason: 'unverifiable',
    rule: 'local.single-label-unresolved',
    message: `'${domain}' is a single-label domain the DNS has no mail host for (${route.message}); not verified`,
  };
}
