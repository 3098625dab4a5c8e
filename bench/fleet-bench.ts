/**
 * Fleet mode benchmarks, in one run:
 *
 *   1. policy decisions per second on cache hits, one node: SQLite (the default), Redis with the
 *      memory tier answering (hits from memory), and Redis alone answering (memory tier of one
 *      entry: every hit is a Redis GET);
 *   2. callouts made for the same address list by a 3-node fleet sharing Redis, against 3
 *      independent nodes (each with its own SQLite), every address asked of every node as the
 *      three MX hosts of one site would each see the same senders.
 *
 *   npm run build && taskset -c 1 node --import tsx bench/fleet-bench.ts [--runs 3] [--seconds 3] [--json FILE]
 *
 * The daemons run pinned to CPU 0, the load generator and redis-server to CPU 1. Everything is on
 * loopback: a scripted MX that accepts every user, a real redis-server of the test support.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startScriptedServer } from '../test/support/scripted-smtp.js';
import { startRedis } from '../test/support/redis-server.js';
import { runLoad, sendAll, type LoadResult } from './lib/policy-load.js';
import { machine, median, percentiles } from './lib/stats.js';
import { REQUESTS, SENDERS, policyRequest } from './lib/policy-requests.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    addresses: { type: 'string', default: '300' },
    json: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const DURATION_MS = Number(values.seconds) * 1000;
const CONNECTIONS = [1, 8];

const request = (i: number, sender: string): Buffer => policyRequest(i, sender, 'fleetbench');

function waitForPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('cbv did not start')), timeoutMs);
    let buffer = '';
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString();
      const m = /"policy":\["127\.0\.0\.1:(\d+)"\]/.exec(buffer);
      if (!m) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stdout?.resume(); // drained, never parsed: the generator runs in this process
      resolve(Number(m[1]));
    };
    child.stdout?.on('data', onData);
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r)).then(() => true);
  child.kill('SIGTERM');
  const done = await Promise.race([exited, new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
  if (!done) child.kill('SIGKILL');
}

const dir = mkdtempSync(join(tmpdir(), 'cbv-bench-fleet-'));
const cleanups: (() => Promise<void>)[] = [];
let serial = 0;

/** A built `cbv serve` on CPU 0 with this cache section; resolves with its policy port. */
async function daemon(mxPort: number, cache: string[]): Promise<{ port: number; child: ChildProcess }> {
  const name = `node${++serial}`;
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    [
      'verify:',
      `  port: ${mxPort}`,
      "  allow_targets: ['127.0.0.0/8']",
      '  helo_name: bench.example',
      'service:',
      `  data_dir: ${join(dir, name)}`,
      'limits:',
      '  flood_threshold: 1000000',
      '  domain_rate: 100000',
      '  domain_burst: 100000',
      '  domain_concurrency: 50',
      '  mx_rate: 100000',
      '  mx_burst: 100000',
      '  mx_concurrency: 50',
      'policy:',
      "  listen: ['127.0.0.1:0']",
      'http:',
      '  enabled: false',
      ...cache,
    ].join('\n'),
  );
  const child = spawn('taskset', ['-c', '0', process.execPath, 'dist/main.js', 'serve', '--config', config], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => stop(child));
  return { port: await waitForPort(child, 30_000), child };
}

interface Row {
  backend: string;
  connections: number;
  perSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

async function measure(backend: string, port: number, all: Buffer[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const connections of CONNECTIONS) {
    const runs: LoadResult[] = [];
    for (let i = 0; i < RUNS; i++)
      runs.push(
        await runLoad({ host: '127.0.0.1', port, connections, durationMs: DURATION_MS, requests: all }),
      );
    const p = runs.map((r) => percentiles(Array.from(r.latenciesUs)));
    rows.push({
      backend,
      connections,
      perSecond: Math.round(median(runs.map((r) => r.perSecond))),
      p50: median(p.map((x) => x.p50)),
      p99: median(p.map((x) => x.p99)),
      errors: runs.reduce((n, r) => n + r.errors, 0),
    });
    console.error(
      `  ${backend} x${connections}: ${rows.at(-1)?.perSecond} req/s (${JSON.stringify(runs[0]?.actions)})`,
    );
  }
  return rows;
}

const result: Record<string, unknown> = { machine: machine(), runs: RUNS, seconds: DURATION_MS / 1000 };
try {
  console.error(`machine: ${machine()}`);
  // Known users only: the random probe is refused, so no catch-all fact answers for the domain and
  // every address is an entry (and a callout) of its own.
  const mx = await startScriptedServer({
    replies: {
      RCPT: (line) => [/<(user|f|i)\d+@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 unknown\r\n'],
    },
  });
  cleanups.push(() => mx.close());
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  spawnSync('taskset', ['-a', '-p', '-c', '1', String(redis.pid())], { stdio: 'ignore' });
  const redisCache = (memoryEntries: number, prefix: string): string[] => [
    'cache:',
    '  backend: redis',
    `  memory_entries: ${memoryEntries}`,
    'redis:',
    `  url: ${redis.url}`,
    `  prefix: '${prefix}'`,
  ];

  // 1. Throughput on cache hits.
  const all = Array.from({ length: REQUESTS }, (_, i) => request(i, `user${i % SENDERS}@[127.0.0.1]`));
  const rows: Row[] = [];
  for (const [backend, cache] of [
    ['sqlite (memory tier hits)', []],
    ['redis (memory tier hits)', redisCache(100_000, 'tp1:')],
    ['redis (Redis hits, memory tier of 1)', redisCache(1, 'tp2:')],
  ] as const) {
    const { port, child } = await daemon(mx.port, [...cache]);
    await sendAll('127.0.0.1', port, all.slice(0, SENDERS), 16);
    await new Promise((r) => setTimeout(r, 2000));
    console.error(
      `  ${backend} warm: ${JSON.stringify(await sendAll('127.0.0.1', port, all.slice(0, SENDERS), 16))}`,
    );
    rows.push(...(await measure(backend, port, all)));
    await stop(child);
  }
  result.throughput = rows;

  // 2. Callouts: the same address list asked of three nodes, fleet or independent.
  const n = Number(values.addresses);
  const list = (tag: string): Buffer[] =>
    Array.from({ length: n }, (_, i) => request(i, `${tag}${i}@[127.0.0.1]`));
  const callouts: Record<string, number> = {};
  for (const [kind, cache] of [
    ['3-node fleet (one Redis)', redisCache(100_000, 'fleet:')],
    ['3 independent nodes (SQLite each)', []],
  ] as const) {
    const nodes = await Promise.all([0, 1, 2].map(() => daemon(mx.port, [...cache])));
    const before = mx.sessions.length;
    const requests = list(kind.startsWith('3-node') ? 'f' : 'i');
    // Every node sees every sender, at about the same time, as a site's MX hosts do.
    await Promise.all(nodes.map((node) => sendAll('127.0.0.1', node.port, requests, 8)));
    await new Promise((r) => setTimeout(r, 1000));
    callouts[kind] = mx.sessions.length - before;
    console.error(`  ${kind}: ${callouts[kind]} SMTP sessions for ${n} addresses asked of 3 nodes`);
    for (const node of nodes) await stop(node.child);
  }
  result.callouts = { addresses: n, ...callouts };
} finally {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
}

if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
console.log('| backend | connections | requests/s | p50 us | p99 us | errors |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of result.throughput as Row[])
  console.log(
    `| ${r.backend} | ${r.connections} | ${r.perSecond.toLocaleString('en')} | ${r.p50} | ${r.p99} | ${r.errors} |`,
  );
console.log('');
console.log(JSON.stringify(result.callouts));
