/**
 * The site a mail domain belongs to, as the flood breaker counts it.
 *
 * A forger does not need one domain to flood one mail exchanger: random subdomains of a domain
 * with a wildcard MX (`r1@a1.victim.example`, `r2@a2.victim.example`, ...) each look like a
 * domain with one never-seen sender, so a breaker that counts per domain never trips while the
 * victim's MX takes every callout. The breaker therefore counts per *site*: the registrable
 * domain (public suffix plus one label, from the Public Suffix List, private section included
 * so that `alice.github.io` and `bob.github.io` stay apart), which is the unit one
 * administrator, and usually one MX, serves.
 *
 * Address literals and single labels are their own site; a name under a suffix the list does
 * not know counts under its last two labels (the list's default rule).
 */
import { getDomain } from 'tldts';

/**
 * The site of `domain` (A-labels, lower case, as parseMailbox gives it): its registrable domain,
 * or the domain itself when it has none (`[192.0.2.1]`, `vm`).
 */
export function floodSite(domain: string): string {
  if (domain.startsWith('[')) return domain;
  return getDomain(domain, { allowPrivateDomains: true }) ?? domain;
}
