/**
 * Which addresses the verifier may connect to. The sender's domain is chosen by
 * whoever sent the mail, so its MX can point anywhere: at loopback, at the
 * operator's private network, at link-local metadata services. Only global
 * unicast addresses are safe; anything else needs an explicit allow-list entry.
 * The check is made on the exact IP about to be connected to.
 */
import ipaddr from 'ipaddr.js';

export type SafetyDecision = { safe: true } | { safe: false; range: string };

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Ranges ipaddr.js calls unicast that we still refuse: IPv4-compatible IPv6 (::/96, deprecated by RFC 4291). */
/**
 * A list of CIDRs an address can be tested against; IPv4-mapped IPv6 counts as its
 * IPv4 address. Used for target safety and by front-ends for client lists.
 */
export class CidrList {
  private readonly cidrs: readonly Cidr[];

  /** Throws (naming the text) for anything that is not an address or CIDR. */
  constructor(cidrs: readonly string[]) {
    this.cidrs = cidrs.map((cidr) => parseCidr(cidr));
  }

  contains(ip: string | ipaddr.IPv4 | ipaddr.IPv6): boolean {
    if (this.cidrs.length === 0) return false;
    if (typeof ip === 'string' && !ipaddr.isValid(ip)) return false;
    const addr = normalise(typeof ip === 'string' ? ipaddr.parse(ip) : ip);
    return this.cidrs.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
  }
}

const EXTRA_BLOCKED = new CidrList(['::/96']);

export class TargetPolicy {
  private readonly allowed: CidrList;

  /** @param allowCidrs CIDRs to allow despite being special-purpose, e.g. `127.0.0.0/8` for tests. */
  constructor(allowCidrs: readonly string[] = []) {
    this.allowed = new CidrList(allowCidrs);
  }

  check(ip: string): SafetyDecision {
    if (!ipaddr.isValid(ip)) return { safe: false, range: 'not an IP address' };
    const parsed = normalise(ipaddr.parse(ip));
    if (this.allowed.contains(parsed)) return { safe: true };
    const range = parsed.range();
    if (range !== 'unicast') return { safe: false, range };
    if (EXTRA_BLOCKED.contains(parsed)) return { safe: false, range: 'ipv4Compatible' };
    return { safe: true };
  }
}

/** IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it is. */
function normalise(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()
    ? (addr as ipaddr.IPv6).toIPv4Address()
    : addr;
}

/** Parse a CIDR (or a bare address, meaning a single host); throws with the offending text. */
export function parseCidr(text: string): Cidr {
  try {
    if (!text.includes('/')) {
      const addr = ipaddr.parse(text);
      return [addr, addr.kind() === 'ipv4' ? 32 : 128];
    }
    const [addr, bits] = ipaddr.parseCIDR(text);
    return [normalise(addr), addr.kind() === 'ipv6' && normalise(addr).kind() === 'ipv4' ? bits - 96 : bits];
  } catch {
    throw new Error(`'${text}' is not an IP address or CIDR`);
  }
}

export function isValidCidr(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch {
    return false;
  }
}
