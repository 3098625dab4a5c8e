/**
 * Cache benchmark: SQLite write rate, hit latency (raw cache and through the
 * Verifier, as every front-end sees it), and start-up time with N entries.
 *
 *   node --import tsx bench/cache-bench.ts [--entries N] [--lookups N] [--json]
 *
 * Writes go through SqliteCache.putAddress exactly as the service does (one
 * committed transaction each). A second phase fills the rest of N in large
 * transactions (the bench's own shortcut, so 10 million entries take minutes,
 * not hours), then reopens the file cold to time start-up and hits.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MemoryCache } from '../src/cache/memory-cache.js';
import { SqliteCache } from '../src/cache/sqlite-cache.js';
import { TieredCache } from '../src/cache/tiered-cache.js';
import { CalloutLimits } from '../src/limits/callout-limits.js';
import { Verifier, type CalloutEngine } from '../src/service/verifier.js';
import { MemoryStatsStore, StatsRecorder } from '../src/stats/stats-store.js';
import { entry } from '../test/contract/verdict-cache.contract.js';
import { OPEN_LIMITS, TEST_TTLS } from '../test/support/service.js';
import { percentiles, machine } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '1000000' },
    lookups: { type: 'string', default: '200000' },
    json: { type: 'boolean' },
  },
});
const N = Number(values.entries);
const LOOKUPS = Number(values.lookups);
const now = Date.now();
const address = (i: number): string => `user${i}@domain${i % 5000}.example`;

const dir = mkdtempSync(join(tmpdir(), 'cbv-bench-cache-'));
const path = join(dir, 'cbv.sqlite');
try {
  // 1. Individually committed writes, as the service makes them.
  const writer = SqliteCache.open(path);
  const individual = Math.min(N, 50_000);
  let t = performance.now();
  for (let i = 0; i < individual; i++) await writer.putAddress(entry(address(i), now, 86_400_000));
  const writeSeconds = (performance.now() - t) / 1000;
  // 2. Fill the rest in big transactions.
  t = performance.now();
  const put = writer.db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) void writer.putAddress(entry(address(i), now, 86_400_000));
  });
  for (let i = individual; i < N; i += 100_000) put(i, Math.min(N, i + 100_000));
  const bulkSeconds = (performance.now() - t) / 1000;
  await writer.close();
  const bytes = statSync(path).size;

  // 3. Cold start: open the file and answer a first lookup.
  t = performance.now();
  const sqlite = SqliteCache.open(path);
  await sqlite.getAddress(address(N - 1), now);
  const startupMs = performance.now() - t;

  // 4. Hits: raw SQLite, memory tier in front (after warm-up), and a Verifier answer from cache.
  const pick = (i: number): string => address((i * 7919) % N);
  const time = async (fn: (i: number) => Promise<unknown>): Promise<number[]> => {
    const samples: number[] = [];
    for (let i = 0; i < LOOKUPS; i++) {
      const s = performance.now();
      await fn(i);
      samples.push((performance.now() - s) * 1000);
    }
    return samples;
  };
  const raw = await time((i) => sqlite.getAddress(pick(i), now));
  const tiered = new TieredCache(new MemoryCache(100_000), sqlite);
  for (let i = 0; i < 50_000; i++) await tiered.getAddress(pick(i), now);
  const hot = await time((i) => tiered.getAddress(pick(i % 50_000), now));
  const engine: CalloutEngine = {
    verify: () => Promise.reject(new Error('no callout expected in a cache benchmark')),
    verifyBatch: () => Promise.reject(new Error('no callout expected in a cache benchmark')),
    addressesPerSession: 1,
    idle: () => Promise.resolve(),
  };
  const verifier = new Verifier(
    { trickleIntervalMs: 30_000, inlineBudgetMs: 1000, ttl: TEST_TTLS, skipDomains: [], skipAddresses: [] },
    {
      engine,
      cache: tiered,
      limits: new CalloutLimits(OPEN_LIMITS),
      stats: new StatsRecorder(new MemoryStatsStore()),
      observer: {
        verdict: () => undefined,
        callout: () => undefined,
        floodTripped: () => undefined,
        backgroundError: () => undefined,
      },
    },
  );
  const service = await time((i) => verifier.verify(pick(i % 50_000)));
  await verifier.close(0);
  await tiered.close();

  const result = {
    machine: machine(),
    entries: N,
    fileBytes: bytes,
    sqliteWritesPerSecond: Math.round(individual / writeSeconds),
    bulkWritesPerSecond: Math.round((N - individual) / Math.max(bulkSeconds, 1e-9)),
    startupMs: Math.round(startupMs * 10) / 10,
    hitMicroseconds: {
      sqlite: percentiles(raw),
      memoryTier: percentiles(hot),
      verifier: percentiles(service),
    },
  };
  if (values.json) console.log(JSON.stringify(result));
  else {
    console.log(`machine: ${result.machine}`);
    console.log(`entries: ${N.toLocaleString('en')} in ${(bytes / 1e6).toFixed(0)} MB`);
    console.log(
      `SQLite writes, one committed transaction each: ${result.sqliteWritesPerSecond.toLocaleString('en')}/s`,
    );
    console.log(`start-up (open + first lookup): ${result.startupMs} ms`);
    for (const [name, p] of Object.entries(result.hitMicroseconds))
      console.log(`hit ${name.padEnd(10)} p50 ${p.p50} us  p99 ${p.p99} us  max ${p.max} us`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
