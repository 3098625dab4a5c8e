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

/**
 * The message of an `unsafe_target` verdict: which addresses were refused and why, and how an
 * operator allows a range on purpose (a lab, an internal relay): `verify.allow_targets` in the
 * configuration, or `--allow-target CIDR` on the `cbv verify` command line.
 */
export function refusedMessage(refused: TargetList['refused']): string {
  if (refused.length === 0) return 'no address to try';
  const shown = refused
    .slice(0, 3)
    .map(({ target, range }) => `${target.host} [${target.ip}] is ${range}`)
    .join(', ');
  const more = refused.length > 3 ? ` and ${refused.length - 3} more` : '';
  return (
    `every mail host address is in a special-purpose range, so no packet was sent (${shown}${more}); ` +
    'to allow a range on purpose, add its CIDR to verify.allow_targets (cbv verify: --allow-target CIDR)'
  );
}
