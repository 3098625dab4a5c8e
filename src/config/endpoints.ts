/**
 * The grammar of every `host:port` in the configuration (listeners, resolvers, routes, Redis
 * nodes), parsed once here, so that `cbv config check` refuses exactly what `cbv serve` could not
 * use: an address Node cannot bind or connect to, a port outside 0..65535, a loopback-only rule.
 */
import ipaddr from 'ipaddr.js';

/** A parsed endpoint: `host` without brackets; `port` null when the text gave none. */
export interface Endpoint {
  host: string;
  port: number | null;
}

/**
 * `IP`, `IP:port`, `[IPv6]`, `[IPv6]:port` (and `name:port` when names are allowed). An
 * unbracketed IPv6 address has no port: "::1:8040" is the address ::1:8040, as in resolv.conf
 * lists. Returns null when the text is none of these; the port is not range-checked here.
 */
export function parseEndpoint(text: string, names = false): Endpoint | null {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) {
    const host = bracketed[1] ?? '';
    return ipaddr.IPv6.isValid(host)
      ? { host, port: bracketed[2] === undefined ? null : Number(bracketed[2]) }
      : null;
  }
  if (text.includes(':') && text.indexOf(':') !== text.lastIndexOf(':'))
    return ipaddr.IPv6.isValid(text) ? { host: text, port: null } : null;
  const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) return null;
  const host = m[1] ?? '';
  const port = m[2] === undefined ? null : Number(m[2]);
  if (isIPv4(host)) return { host, port };
  if (names && isHostName(host)) return { host, port };
  return null;
}

/** Dotted-quad IPv4 only: Node's socket calls refuse the short and octal forms ipaddr.js accepts. */
export function isIPv4(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text);
}

/** An IP address Node can bind or connect to (dotted-quad IPv4, or IPv6 without brackets). */
export function isIP(text: string): boolean {
  return isIPv4(text) || ipaddr.IPv6.isValid(text);
}

/** A DNS host name; one whose last label is all digits is a mistyped IP address, not a name. */
function isHostName(text: string): boolean {
  return (
    text.length <= 253 &&
    !/(^|\.)\d+$/.test(text) &&
    /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(text)
  );
}

/** Loopback, IPv4-mapped forms included (::ffff:127.0.0.1); 0.0.0.0 and :: are not. */
export function isLoopbackHost(host: string): boolean {
  if (!isIP(host)) return false;
  return ipaddr.process(host).range() === 'loopback';
}

/** The wildcard address of a family (0.0.0.0, ::): listening there takes the port on every address. */
export function isWildcardHost(host: string): boolean {
  return isIP(host) && ipaddr.process(host).range() === 'unspecified';
}

/**
 * Whether two listeners would collide at bind() (EADDRINUSE): the same port (not 0, which the
 * kernel picks) on the same address, or on a wildcard that covers the other one. An IPv6
 * wildcard also takes the IPv4 addresses (Node listens dual-stack on ::).
 */
export function listenersCollide(a: Endpoint, b: Endpoint): boolean {
  if (a.port === null || b.port === null || a.port === 0 || a.port !== b.port) return false;
  const family = (h: string): string => (isIPv4(h) ? 'ipv4' : 'ipv6');
  const same = ipaddr.process(a.host).toString() === ipaddr.process(b.host).toString();
  const covers = (w: string, other: string): boolean =>
    isWildcardHost(w) && (family(w) === 'ipv6' || family(other) === 'ipv4');
  return same || covers(a.host, b.host) || covers(b.host, a.host);
}
