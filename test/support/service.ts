/** Verifiers for tests: a real engine on loopback, memory stores, chosen limits. */
import { MemoryCache } from '../../src/cache/memory-cache.js';
import type { VerdictCache } from '../../src/cache/verdict-cache.js';
import { TcpConnector, VerificationEngine, type DnsResolver } from '../../src/core/index.js';
import type { EngineOptions } from '../../src/core/verify.js';
import { CalloutLimits, type LimitOptions } from '../../src/limits/callout-limits.js';
import type { CacheTtls } from '../../src/service/cache-policy.js';
import { Verifier, type CalloutVerdict, type VerifierObserver } from '../../src/service/verifier.js';
import type { ServiceVerdict } from '../../src/service/verdict.js';
import { MemoryStatsStore, StatsRecorder } from '../../src/stats/stats-store.js';
import { testEngineOptions } from './engine.js';

export const TEST_TTLS: CacheTtls = {
  deliverable: 7 * 86_400_000,
  deliverableRefresh: 86_400_000,
  undeliverable: 4 * 3_600_000,
  risky: 3_600_000,
  noInformation: 3_600_000,
  temporary: 300_000,
  greylisted: 120_000,
  facts: {
    catch_all: 86_400_000,
    null_sender_rejected: 86_400_000,
    refuses_us: 21_600_000,
    unreachable: 300_000,
  },
};

export const OPEN_LIMITS: LimitOptions = {
  globalConcurrency: 1000,
  domainConcurrency: 1000,
  domainRate: 100_000,
  domainBurst: 100_000,
  mxConcurrency: 1000,
  mxRate: 100_000,
  mxBurst: 100_000,
  // The breaker as shipped (limits.flood_*): it never trips for senders that exist, so tests of
  // other things need no way round it.
  flood: { threshold: 5, windowMs: 60_000, cooldownMs: 300_000 },
  mxTrickleMs: 30_000,
};

export class RecordingObserver implements VerifierObserver {
  verdicts: ServiceVerdict[] = [];
  callouts: CalloutVerdict[] = [];
  tripped: string[] = [];
  verdict(v: ServiceVerdict): void {
    this.verdicts.push(v);
  }
  callout(v: CalloutVerdict): void {
    this.callouts.push(v);
  }
  floodTripped(domain: string): void {
    this.tripped.push(domain);
  }
  backgroundError(error: unknown): void {
    throw error;
  }
}

export interface TestService {
  verifier: Verifier;
  observer: RecordingObserver;
  stats: StatsRecorder;
  cache: VerdictCache;
  limits: CalloutLimits;
}

export function testService(
  port: number,
  resolver: DnsResolver,
  options: {
    limits?: Partial<LimitOptions>;
    inlineBudgetMs?: number;
    engine?: Partial<EngineOptions>;
    skipDomains?: string[];
    cache?: VerdictCache;
    now?: () => number;
    /** While a domain is tripped, one trickle session this often (ms). */
    trickleIntervalMs?: number;
    /** Local address to connect from (TcpConnector's localAddress). */
    localAddress?: string;
  } = {},
): TestService {
  const limits = new CalloutLimits({ ...OPEN_LIMITS, ...options.limits });
  const engine = new VerificationEngine(testEngineOptions(port, options.engine), {
    resolver,
    connector: new TcpConnector({ localAddress: options.localAddress }),
    gate: limits.gate,
  });
  const cache = options.cache ?? new MemoryCache(10_000);
  const stats = new StatsRecorder(new MemoryStatsStore());
  const observer = new RecordingObserver();
  const verifier = new Verifier(
    {
      inlineBudgetMs: options.inlineBudgetMs ?? 10_000,
      trickleIntervalMs: options.trickleIntervalMs ?? 30_000,
      ttl: TEST_TTLS,
      skipDomains: options.skipDomains ?? [],
      skipAddresses: [],
    },
    { engine, cache, limits, stats, observer, ...(options.now ? { now: options.now } : {}) },
  );
  return { verifier, observer, stats, cache, limits };
}
