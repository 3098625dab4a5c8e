/**
 * The bare verification engine for a config: the resolver, the connector and the engine, and
 * nothing of the service (no cache, no limits, no SQLite). `cbv verify` without a cache loads only
 * this, so a one-off check starts fast; build.ts composes the service on top of it.
 */
import { NodeDnsResolver, TcpConnector, VerificationEngine, type ConnectGate } from '../core/index.js';
import { dnsOptions, engineOptions } from '../config/engine-options.js';
import type { Config } from '../config/schema.js';

/** The engine with the config's DNS, bind address and probe options; `gate` paces connections. */
export function buildEngine(config: Readonly<Config>, gate?: ConnectGate): VerificationEngine {
  const resolver = new NodeDnsResolver(dnsOptions(config));
  const connector = new TcpConnector({ localAddress: config.verify.bind_address ?? undefined });
  return new VerificationEngine(engineOptions(config), { resolver, connector, ...(gate ? { gate } : {}) });
}
