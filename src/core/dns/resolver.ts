/**
 * The DNS seam. The engine asks a DnsResolver three questions and gets either
 * records or a DnsLookupError that says which of three things happened: the
 * name does not exist, it exists without records of that type, or the answer
 * is unavailable right now. Only the first two are facts about the domain.
 */
import { Resolver } from 'node:dns/promises';
import { OutcomeError } from '../errors.js';

export type DnsFailureKind = 'nxdomain' | 'nodata' | 'temporary';

/** What a lookup found out (an outcome, so no stack trace: errors.ts OutcomeError). */
export class DnsLookupError extends OutcomeError {
  constructor(
    readonly kind: DnsFailureKind,
    readonly domain: string,
    readonly rrtype: string,
    readonly detail: string,
  ) {
    super(`${rrtype} ${domain}: ${detail}`);
  }
}

export interface MxRecord {
  exchange: string;
  priority: number;
}

export interface DnsResolver {
  resolveMx(name: string): Promise<MxRecord[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
}

export interface NodeDnsOptions {
  /** `host` or `host:port` or `[v6]:port`; empty means the system's resolv.conf. */
  servers: readonly string[];
  /** Per-query timeout in ms, before c-ares retries. */
  queryTimeoutMs: number;
  /** Attempts per query and server. */
  tries: number;
}

/** c-ares error codes (node:dns) -> what they say about the name. */
function kindOf(code: string | undefined): { kind: DnsFailureKind; detail: string } {
  switch (code) {
    case 'ENOTFOUND':
      return { kind: 'nxdomain', detail: 'no such domain (NXDOMAIN)' };
    case 'ENODATA':
      return { kind: 'nodata', detail: 'no records of this type' };
    case 'ESERVFAIL':
      return { kind: 'temporary', detail: 'server failure (SERVFAIL)' };
    case 'ETIMEOUT':
      return { kind: 'temporary', detail: 'query timed out' };
    case 'EREFUSED':
      return { kind: 'temporary', detail: 'query refused by the resolver' };
    case 'ECONNREFUSED':
      return { kind: 'temporary', detail: 'resolver not reachable (connection refused)' };
    default:
      return { kind: 'temporary', detail: `lookup failed (${code ?? 'unknown error'})` };
  }
}

export class NodeDnsResolver implements DnsResolver {
  private readonly resolver: Resolver;

  constructor(options: NodeDnsOptions) {
    this.resolver = new Resolver({ timeout: options.queryTimeoutMs, tries: options.tries });
    if (options.servers.length > 0) this.resolver.setServers([...options.servers]);
  }

  private ask<T>(rrtype: string, name: string, query: () => Promise<T>): Promise<T> {
    return query().catch((error: unknown) => {
      const { kind, detail } = kindOf((error as NodeJS.ErrnoException).code);
      throw new DnsLookupError(kind, name, rrtype, detail);
    });
  }

  resolveMx(name: string): Promise<MxRecord[]> {
    return this.ask('MX', name, () => this.resolver.resolveMx(name));
  }

  resolve4(name: string): Promise<string[]> {
    return this.ask('A', name, () => this.resolver.resolve4(name));
  }

  resolve6(name: string): Promise<string[]> {
    return this.ask('AAAA', name, () => this.resolver.resolve6(name));
  }

  /** Stop outstanding queries (they fail with ECANCELLED). */
  cancel(): void {
    this.resolver.cancel();
  }
}
