/**
 * The composition of concrete backends from a validated config: the only
 * place (with main.ts) that chooses implementations. Front-ends receive what
 * is built here and never build backends themselves.
 */
import { dirname } from 'node:path';
import {
  FixedMxResolver,
  NodeDnsResolver,
  TcpConnector,
  VerificationEngine,
  type ConnectGate,
} from '../core/index.js';
import { MemoryCache } from '../cache/memory-cache.js';
import { makePrivateDir } from '../cache/private-files.js';
import { RedisCache } from '../cache/redis-cache.js';
import { SqliteCache, openDatabase, type DatabaseAccess } from '../cache/sqlite-cache.js';
import { TieredCache } from '../cache/tiered-cache.js';
import { CacheOpenError, type VerdictCache } from '../cache/verdict-cache.js';
import { dnsOptions, engineOptions } from '../config/engine-options.js';
import { parseEndpoint } from '../config/endpoints.js';
import { heloIdentity } from '../config/helo-name.js';
import type { Config } from '../config/schema.js';
import { CalloutLimits, type LimitOptions } from '../limits/callout-limits.js';
import { FleetLimits } from '../limits/fleet-limits.js';
import { FleetCoordinator, LocalCoordinator, type CalloutCoordinator } from '../limits/fleet-coalescer.js';
import { RedisLink, defaultNodeName, parseNodes, type RedisLinkOptions } from '../redis/link.js';
import type { CacheTtls } from '../service/cache-policy.js';
import { Decider } from '../service/decider.js';
import { SpfDnsClient } from '../service/spf/dns-client.js';
import { SpfChecker } from '../service/spf/spf-checker.js';
import type { SpfPolicy } from '../service/spf/spf-stage.js';
import { RoutedEngine } from '../service/routed-engine.js';
import { Verifier, type CalloutEngine, type VerifierObserver } from '../service/verifier.js';
import { buildEngine } from './engine.js';
import { FleetMirrorStats, RedisStatsStore } from '../stats/redis-stats.js';
import { cachePath } from './cache-path.js';
import { SqliteStatsStore } from '../stats/sqlite-stats.js';
import { MemoryStatsStore, StatsRecorder, type StatsStore } from '../stats/stats-store.js';

export { buildEngine } from './engine.js';
export { cachePath } from './cache-path.js';

const ms = (s: number): number => Math.round(s * 1000);

/**
 * The default engine, plus one engine per route (service.routes) that always
 * calls the configured host:port. The administrator named those hosts, so
 * they may be private addresses, unlike anything learnt from DNS.
 */
export function buildRoutedEngine(config: Readonly<Config>, gate?: ConnectGate): CalloutEngine {
  const fallback = buildEngine(config, gate);
  const routes = Object.entries(config.service.routes);
  if (routes.length === 0) return fallback;
  const resolver = new NodeDnsResolver(dnsOptions(config));
  const connector = new TcpConnector({ localAddress: config.verify.bind_address ?? undefined });
  const engines = new Map<string, CalloutEngine>();
  for (const [domain, target] of routes) {
    // The schema has checked the target with this same grammar (host:port, port 1..65535).
    const { host, port } = parseEndpoint(target, true) ?? { host: target, port: null };
    const base = engineOptions(config);
    const options = {
      ...base,
      allowTargets: ['0.0.0.0/0', '::/0'],
      probe: { ...base.probe, port: port ?? base.probe.port },
    };
    const deps = { resolver: new FixedMxResolver(host, resolver), connector, ...(gate ? { gate } : {}) };
    engines.set(domain.toLowerCase(), new VerificationEngine(options, deps));
  }
  return new RoutedEngine(fallback, engines);
}

/** The cache's directory, created 0700 if missing; a failure names it (exit 69, not an internal error). */
function makeDataDir(dir: string): void {
  try {
    makePrivateDir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new CacheOpenError(`cache directory ${dir}: cannot create it (${code})`, { cause: error });
  }
}

/** Fleet mode: what a node shares with the others through Redis. */
export interface Fleet {
  link: RedisLink;
  /** The fleet's statistics (every node's counters summed). */
  stats: RedisStatsStore;
}

export interface Stores {
  cache: VerdictCache;
  stats: StatsStore;
  /** The SQLite cache, when there is one (for sweeping and `cbv cache` commands). */
  sqlite: SqliteCache | null;
  /** Set when cache.backend is redis. */
  fleet: Fleet | null;
  close(): Promise<void>;
}

/** The redis section, normalised: milliseconds, parsed node lists, the node's name. */
export function redisLinkOptions(config: Readonly<Config>): RedisLinkOptions {
  const r = config.redis;
  return {
    url: r.url,
    sentinels: parseNodes(r.sentinels),
    sentinelName: r.sentinel_name,
    cluster: parseNodes(r.cluster),
    password: r.password,
    tls: r.tls,
    prefix: r.prefix,
    nodeName: r.node_name ?? defaultNodeName(),
    commandTimeoutMs: ms(r.command_timeout),
    connectTimeoutMs: ms(r.connect_timeout),
    retryAfterMs: ms(r.retry_after),
  };
}

/**
 * Fleet mode: the memory tier in front of Redis for verdicts; the node's own
 * counters in its SQLite file (data_dir) and, mirrored, in Redis for the fleet.
 */
function openFleetStores(config: Readonly<Config>, access: DatabaseAccess): Stores {
  const path = cachePath(config);
  if (access === 'create') makeDataDir(dirname(path));
  const node = openNodeCounters(path, access);
  const link = new RedisLink(redisLinkOptions(config));
  const fleetStats = new RedisStatsStore(link);
  const cache = new TieredCache(new MemoryCache(config.cache.memory_entries), new RedisCache(link));
  return {
    cache,
    stats: new FleetMirrorStats(node.stats, fleetStats),
    sqlite: null,
    fleet: { link, stats: fleetStats },
    close: async () => {
      await cache.close();
      await link.close();
      node.close();
    },
  };
}

/**
 * The node's own counters (fleet mode). A command on a node whose daemon never counted anything
 * still reaches the fleet's cache and statistics in Redis; only reading this node's counters
 * fails, with the error that names the missing file.
 */
function openNodeCounters(path: string, access: DatabaseAccess): { stats: StatsStore; close(): void } {
  try {
    const db = openDatabase(path, access);
    return { stats: new SqliteStatsStore(db), close: () => db.close() };
  } catch (error) {
    if (access === 'create' || !(error instanceof CacheOpenError)) throw error;
    const fail = (): Promise<never> => Promise.reject(error);
    return {
      stats: { add: fail, sum: fail, perDay: fail, addHourly: fail, perHour: fail },
      close: () => undefined,
    };
  }
}

/**
 * Open the cache and statistics store named by the config (throws CacheOpenError naming the file).
 * `access`: the daemon creates its SQLite database; commands open an existing one, or read only
 * (see openDaemonStores in command-stores.ts).
 */
export function openStores(config: Readonly<Config>, access: DatabaseAccess = 'create'): Stores {
  if (config.cache.backend === 'memory') {
    const cache = new MemoryCache(config.cache.memory_entries);
    return { cache, stats: new MemoryStatsStore(), sqlite: null, fleet: null, close: () => cache.close() };
  }
  if (config.cache.backend === 'redis') return openFleetStores(config, access);
  const path = cachePath(config);
  if (access === 'create') makeDataDir(dirname(path));
  const sqlite = SqliteCache.open(path, access);
  const cache = new TieredCache(new MemoryCache(config.cache.memory_entries), sqlite);
  return {
    cache,
    stats: new SqliteStatsStore(sqlite.db),
    sqlite,
    fleet: null,
    close: () => cache.close(),
  };
}

export function cacheTtls(config: Readonly<Config>): CacheTtls {
  const t = config.cache.ttl;
  const d = config.cache.domain_ttl;
  return {
    deliverable: ms(t.deliverable),
    deliverableRefresh: ms(t.deliverable_refresh),
    undeliverable: ms(t.undeliverable),
    risky: ms(t.risky),
    noInformation: ms(t.no_information),
    temporary: ms(t.temporary),
    greylisted: ms(t.greylisted),
    facts: {
      catch_all: ms(d.catch_all),
      null_sender_rejected: ms(d.null_sender_rejected),
      refuses_us: ms(d.refuses_us),
      unreachable: ms(d.unreachable),
    },
  };
}

/** The limits; in fleet mode (a Redis link given) counted across the fleet as well. */
export function buildLimits(config: Readonly<Config>, link: RedisLink | null = null): CalloutLimits {
  const options = limitOptions(config);
  const fleet = link
    ? new FleetLimits(link, {
        ...options,
        leaseMs: ms(config.redis.lock_ttl),
        pollMs: ms(config.redis.lock_poll),
      })
    : null;
  return new CalloutLimits(options, fleet);
}

/** The limits section as CalloutLimits takes it (durations in milliseconds). */
export function limitOptions(config: Readonly<Config>): LimitOptions {
  const l = config.limits;
  return {
    globalConcurrency: l.global_concurrency,
    domainConcurrency: l.domain_concurrency,
    domainRate: l.domain_rate,
    domainBurst: l.domain_burst,
    mxConcurrency: l.mx_concurrency,
    mxRate: l.mx_rate,
    mxBurst: l.mx_burst,
    mxSiteShare: l.mx_site_share,
    flood: { threshold: l.flood_threshold, windowMs: ms(l.flood_window), cooldownMs: ms(l.flood_cooldown) },
    mxTrickleMs: ms(l.flood_trickle_interval),
  };
}

/** Who makes a callout several nodes need at once: in fleet mode one node, through a Redis lock. */
function coordinator(config: Readonly<Config>, stores: Stores): CalloutCoordinator {
  if (!stores.fleet) return new LocalCoordinator();
  return new FleetCoordinator(stores.fleet.link, {
    lockTtlMs: ms(config.redis.lock_ttl),
    pollMs: ms(config.redis.lock_poll),
  });
}

export interface Service {
  verifier: Verifier;
  /** The decision path every front-end shares: request -> answer. */
  decider: Decider;
  stores: Stores;
  limits: CalloutLimits;
  engine: CalloutEngine;
}

export function buildService(
  config: Readonly<Config>,
  stores: Stores,
  observer: VerifierObserver,
  inlineBudgetMs?: number,
): Service {
  const limits = buildLimits(config, stores.fleet?.link ?? null);
  const engine = buildRoutedEngine(config, limits.gate);
  const stats = new StatsRecorder(stores.stats);
  stats.start();
  const verifier = new Verifier(
    {
      inlineBudgetMs: inlineBudgetMs ?? ms(config.service.inline_budget),
      trickleIntervalMs: ms(config.limits.flood_trickle_interval),
      ttl: cacheTtls(config),
      skipDomains: config.service.skip_domains,
      skipAddresses: config.service.skip_addresses,
      singleLabelDomains: config.verify.allow_single_label_domains,
    },
    {
      engine,
      cache: stores.cache,
      limits,
      stats,
      observer,
      spf: buildSpfPolicy(config, stores.cache),
      coordinator: coordinator(config, stores),
    },
  );
  return { verifier, decider: buildDecider(config, verifier), stores, limits, engine };
}

export function buildDecider(config: Readonly<Config>, verifier: Verifier): Decider {
  const p = config.policy;
  return new Decider(
    {
      decisions: p.decisions,
      skipClientCidrs: p.skip_client_cidrs,
      allowSenders: p.allow_senders,
      localDomains: p.local_domains,
      routedDomains: Object.keys(config.service.routes),
      verifyRecipients: p.verify_recipients,
      failSafe: p.fail_safe === 'DUNNO' ? 'dunno' : 'defer',
      spfTemperrorDefers: config.spf.enabled && config.spf.temperror === 'callout_or_defer',
      receivedSpf:
        config.spf.enabled && config.spf.received_spf_header ? { receiver: receiverName(config) } : null,
    },
    verifier,
  );
}

/** Our name in Received-SPF and SPF explanations: the name we give in HELO. */
function receiverName(config: Readonly<Config>): string {
  return heloIdentity(config).name;
}

/** SPF before the callout (section `spf:`), on the resolvers of section `dns:`; null when off. */
export function buildSpfPolicy(config: Readonly<Config>, cache: VerdictCache): SpfPolicy | null {
  const s = config.spf;
  if (!s.enabled) return null;
  const dns = new SpfDnsClient(dnsOptions(config));
  const checker = new SpfChecker(
    {
      timeoutMs: ms(s.timeout),
      maxLookups: s.max_lookups,
      maxVoidLookups: s.max_void_lookups,
      cacheMaxTtlMs: ms(s.cache_max_ttl),
      receiver: receiverName(config),
    },
    { dns, cache },
  );
  const actions = {
    pass: s.pass,
    fail: s.fail,
    softfail: s.softfail,
    neutral: s.neutral,
    none: s.none,
    permerror: s.permerror,
    temperror: s.temperror,
  };
  return { checker, actions, alwaysCallout: s.always_callout };
}
