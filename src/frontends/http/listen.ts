/**
 * Where the HTTP front-end listens, and the start-up rule that keeps it from
 * becoming an anonymous address-harvesting tool: beyond loopback, only with
 * bearer tokens.
 */
import ipaddr from 'ipaddr.js';
import { ConfigError } from '../../config/load.js';

export const DEFAULT_HTTP_PORT = 8040;

export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * host:port as http.listen allows it: 127.0.0.1:8040, [::1]:8040, or an IP
 * alone (default port). An unbracketed IPv6 address has no port: "::1:8040"
 * is the address ::1:8040, as in the resolver lists.
 */
export function parseListen(text: string): ListenAddress {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) return { host: bracketed[1] ?? '', port: portOf(bracketed[2], text) };
  if (text.split(':').length > 2) return { host: text, port: DEFAULT_HTTP_PORT };
  const [host = '', port] = text.split(':');
  return { host, port: portOf(port, text) };
}

function portOf(text: string | undefined, whole: string): number {
  if (text === undefined) return DEFAULT_HTTP_PORT;
  const port = Number(text);
  // Port 0 asks the kernel for a free port (tests; the log says which one).
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`http.listen: '${whole}' has no valid port (0-65535)`, 'http.listen');
  return port;
}

export function isLoopback(host: string): boolean {
  if (!ipaddr.isValid(host)) return false;
  const ip = ipaddr.process(host); // unwraps ::ffff:127.0.0.1
  return ip.range() === 'loopback';
}

/**
 * Throws (one line, naming both keys) when an address beyond loopback would
 * be served without a token: 0.0.0.0 and :: count as beyond loopback.
 */
export function assertSafeListen(addresses: readonly ListenAddress[], tokenCount: number): void {
  if (tokenCount > 0) return;
  const open = addresses.find((a) => !isLoopback(a.host));
  if (!open) return;
  throw new ConfigError(
    `http.listen: refusing to serve ${open.host} (not loopback) with no bearer token in http.tokens; ` +
      'add a token to http.tokens or listen on 127.0.0.1 / ::1 only',
    'http.listen',
  );
}
