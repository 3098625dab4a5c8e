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

/** Ranges ipaddr.js calls unicast that we still refuse: IPv4-compatible IPv6 (::/96, deprecated by RFC 4291). */
const EXTRA_BLOCKED = new CidrList(['::/96']);

export class TargetPolicy {
  private readonly allowed: CidrList;

  /** @param allowCidrs CIDRs to allow despite being special-purpose, e.g. `127.0.0.0/8` for tests. */
  constructor(allowCidrs: readonly string[] = []) {
    this.allowed = new CidrList(allowCidrs);
  }

  check(ip: string): SafetyDecision {
    let address: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      // One parse (isValid() then parse() would read the text twice, on every connection).
      address = ipaddr.parse(ip);
    } catch {
      return { safe: false, range: 'not an IP address' };
    }
    const parsed = normalise(address);
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

/**
 * Parse a CIDR (or a bare address, meaning a single host); throws with the offending text.
 *
 * An entry written in IPv4-mapped form (`::ffff:10.0.0.1`, `::ffff:10.0.0.0/104`) is the
 * IPv4 network it maps, so it matches the address in both of its forms; a mapped entry with
 * a prefix shorter than /96 would reach past the mapped range and is refused. IPv4 must be
 * four dotted decimal parts: inet_aton's forms (`010.0.0.1` is octal 8.0.0.1, `10.1` is
 * 10.0.0.1) read differently from what the administrator meant.
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const invalid = new Error(`'${text}' is not an IP address or CIDR`);
  if (!addressText.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(addressText)) throw invalid;
  let parsed: Cidr;
  try {
    if (slash < 0) {
      const addr = ipaddr.parse(text);
      parsed = [addr, addr.kind() === 'ipv4' ? 32 : 128];
    } else {
      if (!/^\d{1,3}$/.test(text.slice(slash + 1))) throw invalid;
      parsed = ipaddr.parseCIDR(text);
    }
  } catch {
    throw invalid;
  }
  const [addr, bits] = parsed;
  if (addr.kind() === 'ipv4' || !(addr as ipaddr.IPv6).isIPv4MappedAddress()) return parsed;
  if (bits < 96) throw new Error(`'${text}': an IPv4-mapped CIDR needs a prefix of /96 or longer`);
  return [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96];
}

export function isValidCidr(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch {
    return false;
  }
}
