/**
 * Who may drive the HTTP API from a web browser. Without a token (the
 * loopback default) the API trusts whoever can connect, and a browser on the
 * same machine can connect for any web page it shows. Two rules close that:
 *
 * - DNS rebinding: a page on attacker.example whose name is made to resolve to
 *   127.0.0.1 is, to the browser, the same origin as the daemon, so it could
 *   read /v1/recent. Its requests still say `Host: attacker.example`, so only
 *   the daemon's own names are served: the listen addresses (any IP literal
 *   when listening on 0.0.0.0 or ::, since an IP literal cannot be rebound),
 *   `localhost` for a loopback listener, and `http.allowed_hosts`.
 * - Cross-site requests: any page can make the browser send a GET (an image)
 *   or a simple POST to the daemon. Requests that verify or change something
 *   are refused when the browser says they come from another site
 *   (`Sec-Fetch-Site`, Fetch Metadata) or, from browsers that do not send it,
 *   when `Origin` is not the daemon itself. Reads need no such rule: without
 *   CORS headers a cross-site page cannot read the answer.
 *
 * Clients that are not browsers (curl, Prometheus, scripts) send neither
 * header and are unaffected.
 */
import ipaddr from 'ipaddr.js';
import { isLoopback, type ListenAddress } from './listen.js';

/** A Host header's name part: lower case, port and IPv6 brackets and a final dot removed. */
export function hostName(header: string): string {
  const text = header.trim().toLowerCase();
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(text);
  if (bracketed) return bracketed[1] ?? '';
  const colon = text.indexOf(':');
  // Two colons or more without brackets is not a valid Host; keep it whole so it matches nothing.
  const name = colon >= 0 && text.indexOf(':', colon + 1) < 0 ? text.slice(0, colon) : text;
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/** An IP literal in its canonical form (IPv4-mapped IPv6 unwrapped), or null for a name. */
function canonicalIp(text: string): string | null {
  if (!ipaddr.isValid(text)) return null;
  // ipaddr accepts shorthand IPv4 such as "127.1"; a Host header with it is no listen address of ours.
  if (ipaddr.IPv4.isValid(text) && !ipaddr.IPv4.isValidFourPartDecimal(text)) return null;
  return ipaddr.process(text).toString();
}

const WILDCARDS = new Set(['0.0.0.0', '::']);

export class HostAllowList {
  private readonly names = new Set<string>();
  private readonly ips = new Set<string>();
  private readonly anyIp: boolean;

  constructor(listen: readonly ListenAddress[], allowedHosts: readonly string[]) {
    this.anyIp = listen.some((l) => WILDCARDS.has(canonicalIp(l.host) ?? ''));
    for (const l of listen) {
      const ip = canonicalIp(l.host);
      if (ip) this.ips.add(ip);
      if (isLoopback(l.host)) this.names.add('localhost');
    }
    for (const h of allowedHosts) {
      const name = hostName(h);
      const ip = canonicalIp(name);
      if (ip) this.ips.add(ip);
      else this.names.add(name);
    }
  }

  /** Whether a request with this Host header is for this daemon. */
  allows(header: string | undefined): boolean {
    if (header === undefined) return true; // HTTP/1.0 without Host: not a browser (Node refuses it in 1.1)
    const name = hostName(header);
    const ip = canonicalIp(name);
    if (ip) return this.anyIp || this.ips.has(ip);
    return this.names.has(name);
  }
}

/**
 * The authority a request is for, as RFC 9112 3.2 reads it: the target's own
 * authority when the request line holds an absolute URI (3.2.2: the Host field
 * is then ignored), else the one Host field; undefined for HTTP/1.0 without
 * one. A problem (answered 400, as 3.2 requires) when there is more than one
 * Host field, its value is not `host[:port]`, or an HTTP/1.1 request has none
 * (Node's parser answered that one itself, with an empty body outside cbv's shape). Reading only `headers.host`
 * let `GET http://rebound.example/v1/recent` with `Host: 127.0.0.1` through,
 * and served the first of two Host fields where a proxy in front may use the other.
 */
export function requestAuthority(
  target: string,
  rawHeaders: readonly string[],
  httpVersion: string,
): { ok: true; authority: string | undefined } | { ok: false; problem: string } {
  const hosts: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2)
    if (rawHeaders[i]?.toLowerCase() === 'host') hosts.push(rawHeaders[i + 1] ?? '');
  if (hosts.length > 1) return { ok: false, problem: `${hosts.length} Host fields; a request has one` };
  const host = hosts[0];
  if (host === undefined && httpVersion !== '1.0')
    return { ok: false, problem: `an HTTP/${httpVersion} request needs a Host field` };
  if (host !== undefined && !HOST_VALUE.test(host))
    return { ok: false, problem: `Host '${host}' is not host[:port]` };
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) return { ok: true, authority: host };
  try {
    return { ok: true, authority: new URL(target).host };
  } catch {
    return { ok: false, problem: 'the request target is not a valid absolute URI' };
  }
}

/** RFC 9110 7.2's Host value: uri-host [ ":" port ] (RFC 3986 3.2.2: IP-literal, IPv4 or reg-name). */
const HOST_VALUE = /^(?:\[[0-9A-Za-z:.%_~-]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::[0-9]*)?$/;

/**
 * Why a browser request comes from another site, or null when it does not
 * (same origin, typed into the address bar, or not from a browser at all).
 */
export function crossSite(headers: {
  host?: string | undefined;
  origin?: string | undefined;
  'sec-fetch-site'?: string | string[] | undefined;
}): string | null {
  const site = headers['sec-fetch-site'];
  if (site !== undefined) {
    const value = Array.isArray(site) ? site.join(',') : site;
    return value === 'same-origin' || value === 'none' ? null : `Sec-Fetch-Site: ${value}`;
  }
  const origin = headers.origin;
  if (origin === undefined) return null;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return `Origin: ${origin}`; // "null" (sandboxed frames, file: pages) or garbage
  }
  return host === (headers.host ?? '').toLowerCase() ? null : `Origin: ${origin}`;
}
