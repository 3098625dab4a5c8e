/**
 * From a domain to the ordered list of mail hosts and their addresses:
 * RFC 5321 section 5.1 (MX in preference order, equal preferences shuffled,
 * implicit MX when there is no MX) and RFC 7505 (Null MX).
 */
import type { EngineReason } from '../verdict.js';
import { DnsLookupError, type DnsResolver, type MxRecord } from './resolver.js';

export type AddressFamily = 'ipv4' | 'ipv6';

export interface MailHost {
  host: string;
  preference: number;
  /** Addresses in the order they should be tried. */
  addresses: string[];
}

export interface MailHostOptions {
  /** Most MX hosts with an address to return; names without one are not counted. */
  maxMxHosts: number;
  /** Families to use, in order of preference. */
  addressFamilies: readonly AddressFamily[];
  /** Source of randomness for shuffling equal preferences; injectable for tests. */
  random: () => number;
}

export type MailRoute =
  | { kind: 'hosts'; hosts: MailHost[]; implicit: boolean; notes: string[] }
  | {
      kind: 'verdict';
      reason: Extract<EngineReason, 'no_such_domain' | 'no_mail_host' | 'null_mx' | 'dns_error' | 'timeout'>;
      rule: string;
      message: string;
    };

function isNullMx(record: MxRecord): boolean {
  return record.exchange === '' || record.exchange === '.';
}

export function orderMx(records: readonly MxRecord[], random: () => number): MxRecord[] {
  // Shuffle first, then a stable sort by preference: equal preferences stay shuffled (RFC 5321 5.1).
  const shuffled = [...records];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j] as MxRecord, shuffled[i] as MxRecord];
  }
  return shuffled.sort((a, b) => a.priority - b.priority);
}

type AddressLookup = { addresses: string[]; temporary: boolean; detail: string };

async function resolveAddresses(
  resolver: DnsResolver,
  name: string,
  families: readonly AddressFamily[],
): Promise<AddressLookup> {
  const results = await Promise.allSettled(
    families.map((f) => (f === 'ipv4' ? resolver.resolve4(name) : resolver.resolve6(name))),
  );
  const addresses: string[] = [];
  let temporary = false;
  const details: string[] = [];
  for (const r of results) {
    if (r.status === 'fulfilled') addresses.push(...r.value);
    else if (r.reason instanceof DnsLookupError) {
      if (r.reason.kind === 'temporary') temporary = true;
      details.push(r.reason.message);
    } else throw r.reason;
  }
  return { addresses, temporary, detail: details.join('; ') };
}

export async function findMailHosts(
  resolver: DnsResolver,
  domain: string,
  options: MailHostOptions,
): Promise<MailRoute> {
  let records: MxRecord[];
  try {
    records = await resolver.resolveMx(domain);
  } catch (error) {
    if (!(error instanceof DnsLookupError)) throw error;
    if (error.kind === 'nxdomain')
      return { kind: 'verdict', reason: 'no_such_domain', rule: 'dns.nxdomain', message: error.message };
    if (error.kind === 'temporary')
      return { kind: 'verdict', reason: 'dns_error', rule: 'dns.mx-lookup-failed', message: error.message };
    return implicitMx(resolver, domain, options);
  }
  if (records.length === 0) return implicitMx(resolver, domain, options);
  const real = records.filter((r) => !isNullMx(r));
  if (real.length === 0) {
    return {
      kind: 'verdict',
      reason: 'null_mx',
      rule: 'dns.null-mx',
      message: `${domain} publishes a Null MX (RFC 7505): it accepts no mail`,
    };
  }
  const notes =
    real.length < records.length
      ? [`ignored a Null MX published beside ${real.length} real MX record(s)`]
      : [];
  const ordered = orderMx(real, options.random).slice(0, MAX_MX_NAMES_LOOKED_UP);
  const { hosts, temporary } = await resolveHosts(resolver, ordered, options, notes);
  if (hosts.length > 0) return { kind: 'hosts', hosts, implicit: false, notes };
  const names = ordered.map((r) => r.exchange).join(', ');
  // no_mail_host is a fact only when every name was answered and none has an
  // address; a lookup that failed for now may hide the one that works.
  if (temporary) {
    return {
      kind: 'verdict',
      reason: 'dns_error',
      rule: 'dns.mx-target-lookup-failed',
      message: `could not resolve the MX hosts of ${domain} (${names}) just now`,
    };
  }
  return {
    kind: 'verdict',
    reason: 'no_mail_host',
    rule: 'dns.mx-target-unresolvable',
    message: `none of the MX hosts of ${domain} (${names}) has an address`,
  };
}

/**
 * Most MX names looked up for one domain. The host limit (maxMxHosts) counts
 * hosts that can be tried, so names that do not resolve are looked past; this
 * bounds the lookups a domain publishing hundreds of dead names can cause.
 */
export const MAX_MX_NAMES_LOOKED_UP = 32;

/**
 * The first maxMxHosts names (in preference order) that have an address.
 * Names are resolved a window of maxMxHosts at a time, in parallel, until
 * enough hosts are found or the names run out.
 */
async function resolveHosts(
  resolver: DnsResolver,
  ordered: readonly MxRecord[],
  options: MailHostOptions,
  notes: string[],
): Promise<{ hosts: MailHost[]; temporary: boolean }> {
  const hosts: MailHost[] = [];
  let temporary = false;
  for (let start = 0; start < ordered.length && hosts.length < options.maxMxHosts;) {
    const window = ordered.slice(start, start + options.maxMxHosts);
    start += window.length;
    const lookups = await Promise.all(
      window.map((r) => resolveAddresses(resolver, r.exchange, options.addressFamilies)),
    );
    window.forEach((r, i) => {
      const found = lookups[i];
      if (!found) return;
      if (found.temporary) temporary = true;
      if (found.addresses.length > 0 && hosts.length < options.maxMxHosts)
        hosts.push({ host: r.exchange.toLowerCase(), preference: r.priority, addresses: found.addresses });
      else if (found.addresses.length === 0)
        notes.push(`MX ${r.exchange} has no usable address: ${found.detail}`);
    });
  }
  return { hosts, temporary };
}

async function implicitMx(
  resolver: DnsResolver,
  domain: string,
  options: MailHostOptions,
): Promise<MailRoute> {
  const found = await resolveAddresses(resolver, domain, options.addressFamilies);
  if (found.addresses.length > 0) {
    return {
      kind: 'hosts',
      hosts: [{ host: domain, preference: 0, addresses: found.addresses }],
      implicit: true,
      notes: [`${domain} has no MX; using its address as implicit MX (RFC 5321 5.1)`],
    };
  }
  if (found.temporary)
    return {
      kind: 'verdict',
      reason: 'dns_error',
      rule: 'dns.address-lookup-failed',
      message: `${domain} has no MX and its address lookup failed: ${found.detail}`,
    };
  return {
    kind: 'verdict',
    reason: 'no_mail_host',
    rule: 'dns.no-mx-no-address',
    message: `${domain} has neither MX nor A/AAAA records`,
  };
}
