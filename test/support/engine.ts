/** Engines for tests: loopback allowed explicitly, short deadlines, injectable DNS. */
import { TcpConnector, VerificationEngine, type DnsResolver } from '../../src/core/index.js';
import type { EngineOptions } from '../../src/core/verify.js';
import type { MxRecord } from '../../src/core/dns/resolver.js';
import { DnsLookupError } from '../../src/core/dns/resolver.js';

export function testEngineOptions(
  port: number,
  overrides: Partial<EngineOptions> = {},
  probe: Partial<EngineOptions['probe']> = {},
): EngineOptions {
  return {
    probe: {
      port,
      heloName: 'verifier.test',
      recheckSender: 'postmaster@verifier.test',
      sender: '',
      starttls: 'opportunistic',
      tlsVerify: false,
      catchAllTest: true,
      useVrfy: false,
      timeouts: {
        connect: 2000,
        greeting: 2000,
        ehlo: 2000,
        starttls: 2000,
        mail: 2000,
        rcpt: 2000,
        quit: 1000,
      },
      limits: { maxLineLength: 2048, maxLines: 100, maxReplyBytes: 32 * 1024, maxSessionBytes: 256 * 1024 },
      ...probe,
    },
    dnsTimeoutMs: 2000,
    maxMxHosts: 5,
    maxAddresses: 5,
    maxSessions: 2,
    maxRcptPerSession: 8,
    addressFamilies: ['ipv4', 'ipv6'],
    budgetMs: 10_000,
    allowTargets: ['127.0.0.0/8', '::1/128'],
    ...overrides,
  };
}

export interface ZoneRecords {
  mx?: MxRecord[];
  a?: string[];
  aaaa?: string[];
  /** Simulate a failing lookup of this kind for every type. */
  fail?: 'nxdomain' | 'temporary';
}

/**
 * An in-memory resolver for unit tests of DNS edge cases. (Interop tests use a
 * real Unbound instead.) Names not in the zone are NXDOMAIN.
 */
export class StaticResolver implements DnsResolver {
  queries: string[] = [];
  constructor(private readonly zone: Record<string, ZoneRecords>) {}

  private answer<T>(name: string, rrtype: string, pick: (r: ZoneRecords) => T[] | undefined): Promise<T[]> {
    this.queries.push(`${rrtype} ${name}`);
    const records = this.zone[name];
    if (!records || records.fail === 'nxdomain')
      return Promise.reject(new DnsLookupError('nxdomain', name, rrtype, 'no such domain (NXDOMAIN)'));
    if (records.fail === 'temporary')
      return Promise.reject(new DnsLookupError('temporary', name, rrtype, 'server failure (SERVFAIL)'));
    const found = pick(records);
    if (!found || found.length === 0)
      return Promise.reject(new DnsLookupError('nodata', name, rrtype, 'no records of this type'));
    return Promise.resolve(found);
  }

  resolveMx(name: string): Promise<MxRecord[]> {
    return this.answer(name, 'MX', (r) => r.mx);
  }
  resolve4(name: string): Promise<string[]> {
    return this.answer(name, 'A', (r) => r.a);
  }
  resolve6(name: string): Promise<string[]> {
    return this.answer(name, 'AAAA', (r) => r.aaaa);
  }
}

export function testEngine(
  port: number,
  options: {
    resolver?: DnsResolver;
    overrides?: Partial<EngineOptions>;
    probe?: Partial<EngineOptions['probe']>;
    randomLocalPart?: () => string;
  } = {},
): VerificationEngine {
  return new VerificationEngine(testEngineOptions(port, options.overrides, options.probe), {
    resolver: options.resolver ?? new StaticResolver({}),
    connector: new TcpConnector(),
    ...(options.randomLocalPart ? { randomLocalPart: options.randomLocalPart } : {}),
  });
}
