/**
 * Where the HTTP front-end listens, and the start-up rule that keeps it from
 * becoming an anonymous address-harvesting tool: beyond loopback, only with
 * bearer tokens.
 */
import { ConfigError } from '../../config/load.js';
import { DEFAULT_HTTP_PORT } from '../../config/schema.js';
import { isLoopbackHost, parseEndpoint } from '../../config/endpoints.js';

export { DEFAULT_HTTP_PORT };

export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * host:port as http.listen allows it: 127.0.0.1:8040, [::1]:8040, or an IP alone (default port),
 * by the configuration's own grammar (src/config/endpoints.ts), which has already refused
 * anything else; port 0 asks the kernel for a free port (the log says which one).
 */
export function parseListen(text: string): ListenAddress {
  const e = parseEndpoint(text);
  if (!e || (e.port !== null && e.port > 65535))
    throw new ConfigError(
      `http.listen: '${text}' is not an IP address with a port from 0 to 65535`,
      'http.listen',
    );
  return { host: e.host, port: e.port ?? DEFAULT_HTTP_PORT };
}

/** Loopback, IPv4-mapped forms included; the same test the configuration schema applies. */
export const isLoopback = isLoopbackHost;

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
