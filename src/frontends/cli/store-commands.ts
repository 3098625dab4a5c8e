/**
 * `cbv cache get|purge|stats` and `cbv stats`: operate on the persistent
 * store directly. Safe next to a running daemon: SQLite WAL allows it, and the
 * daemon drops its memory tier when another process writes.
 */
import { parseMailbox, printable, safeJson, type Mailbox } from '../../core/index.js';
import type { VerdictCache } from '../../cache/verdict-cache.js';
import type { Config } from '../../config/schema.js';
import { buildReport, formatReport } from '../../stats/report.js';
import type { StatsStore } from '../../stats/stats-store.js';
import { UsageError, parseCommandArgs } from './cli-errors.js';
import { EXIT } from './exit-codes.js';

export interface StoreDeps {
  cache: VerdictCache;
  stats: StatsStore;
  /** Fleet mode: every node's counters summed in Redis, and who counted (null on a single node). */
  fleet?: { stats: StatsStore & { nodes(since: string, until: string): Promise<string[]> } } | null;
  out(text: string): void;
}

export const CACHE_USAGE = `usage: cbv cache get ADDRESS [--json]     show the cached answer for an address (or its domain fact)
       cbv cache purge ADDRESS|DOMAIN        forget an address, or a domain with all its addresses
       cbv cache stats [--json]              entries and file size
  all accept --config FILE; without it, CBV_CONFIG or /etc/cbv/cbv.yaml names the daemon's cache,
  else the built-in defaults (./data/cbv.sqlite). The database is never created here.`;

export const STATS_USAGE = `usage: cbv stats [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--fleet] [--json] [--config FILE]
  default: today (UTC), this node's counters; --fleet: every node's, summed in Redis (cache.backend redis).
  Without --config, CBV_CONFIG or /etc/cbv/cbv.yaml names the daemon's database, else the built-in
  defaults (./data/cbv.sqlite). The database is only read.`;

const OPTIONS = {
  json: { type: 'boolean' },
  config: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  fleet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A lookup rejects nobody: an address at a single-label domain may be in the cache (verify.allow_single_label_domains). */
const LOOKUP = { singleLabelDomains: true } as const;

function args(argv: string[], allowed: readonly (keyof typeof OPTIONS)[]) {
  const parsed = parseCommandArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  const extra = Object.keys(parsed.values).find((k) => !allowed.includes(k as keyof typeof OPTIONS));
  if (extra) throw new UsageError(`unknown option '--${extra}'`);
  return parsed;
}

/**
 * A store command checked before anything is opened: a usage error never waits for (or is
 * hidden by) the database. `access` says whether the store is only read.
 */
export interface StoreCommand {
  help: boolean;
  /** --config FILE, when given. */
  config: string | undefined;
  access: 'read' | 'write';
  /** What the command needs of the configuration, checked before the stores are opened. */
  check?(config: Readonly<Config>): void;
  run(deps: StoreDeps): Promise<number>;
}

/** `cbv cache get|purge|stats ...`, parsed and checked. */
export function parseCacheCommand(argv: string[]): StoreCommand {
  const [sub, ...rest] = argv;
  const { values, positionals } = args(sub === undefined || sub.startsWith('-') ? argv : rest, [
    'json',
    'config',
    'help',
  ]);
  const base = { help: values.help ?? false, config: values.config };
  if (base.help) return { ...base, access: 'read', run: () => Promise.resolve(EXIT.ok) };
  const json = values.json ?? false;
  switch (sub) {
    case 'get': {
      const [input] = positionals;
      if (!input || positionals.length > 1) throw new UsageError('cache get takes one ADDRESS');
      const parsed = parseMailbox(input, LOOKUP);
      if (!parsed.ok) throw new UsageError(`not an address: ${parsed.error}`);
      return { ...base, access: 'read', run: (deps) => cacheGet(parsed.mailbox, json, deps) };
    }
    case 'purge': {
      const [target] = positionals;
      if (!target || positionals.length > 1) throw new UsageError('cache purge takes one ADDRESS or DOMAIN');
      let key: { address: string } | { domain: string };
      if (target.includes('@')) {
        const parsed = parseMailbox(target, LOOKUP);
        if (!parsed.ok) throw new UsageError(`not an address: ${parsed.error}`);
        key = { address: parsed.mailbox.address };
      } else key = { domain: target.toLowerCase() };
      return { ...base, access: 'write', run: (deps) => cachePurge(target, key, deps) };
    }
    case 'stats':
      if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0] ?? ''}'`);
      return { ...base, access: 'read', run: (deps) => cacheStats(json, deps) };
    default:
      throw new UsageError(`expected 'cache get', 'cache purge' or 'cache stats'`);
  }
}

async function cacheGet(mailbox: Mailbox, json: boolean, deps: StoreDeps): Promise<number> {
  const now = Date.now();
  const entry = await deps.cache.getAddress(mailbox.address, now);
  const fact = entry ? null : await deps.cache.getDomainFact(mailbox.domain, now);
  const found = entry ?? fact;
  if (json) deps.out(safeJson(found ? { kind: entry ? 'address' : 'domain_fact', ...found } : null));
  else if (entry)
    deps.out(describe(`address ${entry.address}`, entry.verdict, entry.storedAt, entry.expiresAt, now));
  else if (fact)
    deps.out(
      describe(
        `domain ${fact.domain} (fact: ${fact.kind})`,
        fact.verdict,
        fact.storedAt,
        fact.expiresAt,
        now,
      ),
    );
  else deps.out(`${printable(mailbox.address)}: not in the cache`);
  return found ? EXIT.ok : EXIT.unknown;
}

async function cachePurge(
  target: string,
  key: { address: string } | { domain: string },
  deps: StoreDeps,
): Promise<number> {
  const removed =
    'address' in key ? await deps.cache.purgeAddress(key.address) : await deps.cache.purgeDomain(key.domain);
  deps.out(`${printable(target)}: ${removed} entr${removed === 1 ? 'y' : 'ies'} removed`);
  return EXIT.ok;
}

async function cacheStats(json: boolean, deps: StoreDeps): Promise<number> {
  const stats = await deps.cache.stats(Date.now());
  deps.out(
    json
      ? safeJson(stats)
      : [
          `addresses     ${stats.addresses}`,
          `domain facts  ${stats.domainFacts}`,
          ...Object.entries(stats.detail).map(([k, v]) => `${k.padEnd(13)} ${v}`),
        ].join('\n'),
  );
  return EXIT.ok;
}

function describe(
  what: string,
  v: { result: string; reason: string; rule: string; message: string },
  storedAt: number,
  expiresAt: number,
  now: number,
): string {
  // The address, domain and detail (a remote reply's text) come from outside: one printable line each.
  return [
    printable(what),
    `  result   ${v.result} (${v.reason})`,
    `  rule     ${v.rule}`,
    `  detail   ${printable(v.message)}`,
    `  stored   ${new Date(storedAt).toISOString()} (${Math.round((now - storedAt) / 1000)} s ago)`,
    `  expires  ${new Date(expiresAt).toISOString()}`,
  ].join('\n');
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** `cbv stats [--since D] [--until D] [--fleet] [--json]`, parsed and checked. */
export function parseStatsCommand(argv: string[]): StoreCommand {
  const { values, positionals } = args(argv, ['json', 'config', 'since', 'until', 'fleet', 'help']);
  const base = { help: values.help ?? false, config: values.config, access: 'read' as const };
  if (base.help) return { ...base, run: () => Promise.resolve(EXIT.ok) };
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0] ?? ''}'`);
  const today = new Date().toISOString().slice(0, 10);
  const since = values.since ?? today;
  const until = values.until ?? today;
  for (const [flag, day] of [
    ['--since', since],
    ['--until', until],
  ] as const) {
    if (!DAY.test(day) || Number.isNaN(Date.parse(day)))
      throw new UsageError(`${flag}: expected a date as YYYY-MM-DD, got '${day}'`);
  }
  if (since > until) throw new UsageError(`--since ${since} is after --until ${until}`);
  return {
    ...base,
    check: (config) => {
      if (values.fleet && config.cache.backend !== 'redis')
        throw new UsageError('--fleet needs cache.backend redis (fleet mode) in the configuration');
    },
    run: async (deps) => {
      if (values.fleet) {
        const fleet = deps.fleet;
        if (!fleet)
          throw new UsageError('--fleet needs cache.backend redis (fleet mode) in the configuration');
        const report = buildReport(await fleet.stats.sum(since, until), since, until);
        const nodes = await fleet.stats.nodes(since, until);
        deps.out(
          values.json
            ? safeJson({ ...report, scope: 'fleet', nodes })
            : `Fleet of ${nodes.length} node${nodes.length === 1 ? '' : 's'}: ${nodes.join(', ') || '(none counted)'}\n${formatReport(report)}`,
        );
        return EXIT.ok;
      }
      const report = buildReport(await deps.stats.sum(since, until), since, until);
      deps.out(values.json ? safeJson(report) : formatReport(report));
      return EXIT.ok;
    },
  };
}
