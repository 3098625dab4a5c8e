/**
 * Stage 1 of a callout: from the domain's mail hosts to the addresses that
 * may be tried, in order. Target safety is checked first, so that the limit
 * on addresses counts addresses that can be tried, not ones that are refused.
 */
import type { MailHost } from '../dns/mail-hosts.js';
import type { TargetPolicy } from '../target-safety.js';
import type { MxTarget } from '../verdict.js';

export interface TargetList {
  /** Addresses to try, in preference order, at most `maxAddresses`. */
  targets: MxTarget[];
  /** Addresses refused by target safety, with the range that refused them. */
  refused: { target: MxTarget; range: string }[];
}

export function targetsOf(
  hosts: readonly MailHost[],
  policy: TargetPolicy,
  maxAddresses: number,
): TargetList {
  const targets: MxTarget[] = [];
  const refused: TargetList['refused'] = [];
  for (const h of hosts) {
    for (const ip of h.addresses) {
      if (targets.length >= maxAddresses) return { targets, refused };
      const target = { host: h.host, ip, preference: h.preference };
      const safety = policy.check(ip);
      if (safety.safe) targets.push(target);
      else refused.push({ target, range: safety.range });
    }
  }
  return { targets, refused };
}
