/**
 * Benchmark 1: policy decisions per second on cache hits, cbv against postgrey,
 * driven by the same closed-loop load generator over persistent connections.
 * Both servers are pinned to CPU 0 (taskset), the generator runs on CPU 1.
 *
 *   npm run build && taskset -c 1 node --import tsx bench/policy-throughput.ts [--runs 5] [--seconds 3]
 *
 * Every figure is the median of the runs. First the generator's ceiling is
 * measured against a trivial server that answers DUNNO at once.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startPostgrey } from '../test/support/testbed/index.js';
import { startScriptedServer } from '../test/support/scripted-smtp.js';
import { selfTimes } from './lib/cpuprofile.js';
import { runLoad, sendAll, type LoadResult } from './lib/policy-load.js';
import { policyRequests, SENDERS } from './lib/policy-requests.js';
import { machine, median, percentiles, processCpuUs } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    json: { type: 'string' },
    // Profile mode: only cbv, 8 connections for this many seconds, under --cpu-prof into DIR.
    'cpu-prof': { type: 'string' },
    // Profile mode with perf(1) instead: `perf record -g` of the daemon (run with --perf-basic-prof) into FILE.
    perf: { type: 'string' },
    'prof-seconds': { type: 'string', default: '15' },
    // Which cbv the profile modes run: with the HTTP front-end (the default config) or without.
    http: { type: 'string', default: 'on' },
  },
});
const PROFILE_DIR = values['cpu-prof'];
const PERF_FILE = values.perf;
const PROFILING = PROFILE_DIR !== undefined || PERF_FILE !== undefined;
const RUNS = Number(values.runs);
const DURATION_MS = Number(values.seconds) * 1000;
const CONNECTIONS = [1, 8, 64];

function pin(pid: number): void {
  spawnSync('taskset', ['-a', '-p', '-c', '0', String(pid)], { stdio: 'ignore' });
}

/** The first match of `pattern` in the child's stdout; then stdout is drained without being kept or searched. */
function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    let buffer = '';
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString();
      const m = pattern.exec(buffer);
      if (!m) return;
      clearTimeout(timer);
      // The load generator runs in this process: it must not spend its time on the daemon's logs.
      child.stdout?.off('data', onData);
      child.stdout?.resume();
      resolve(m[1] ?? m[0]);
    };
    child.stdout?.on('data', onData);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const done = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)),
  ]);
  if (!done) child.kill('SIGKILL');
}

interface Row {
  server: string;
  connections: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  /** The server's own CPU time per request (us, user + system), median of the runs. */
  cpuUs: number | null;
  actions: Record<string, number>;
}

async function measure(server: string, port: number, all: Buffer[], pid: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const connections of CONNECTIONS) {
    const runs: LoadResult[] = [];
    for (let i = 0; i < RUNS; i++)
      runs.push(
        await runLoad({
          host: '127.0.0.1',
          port,
          connections,
          durationMs: DURATION_MS,
          requests: all,
          serverCpuUs: () => processCpuUs(pid),
        }),
      );
    const p = runs.map((r) => percentiles(Array.from(r.latenciesUs)));
    rows.push({
      server,
      connections,
      perSecond: Math.round(median(runs.map((r) => r.perSecond))),
      p50: median(p.map((x) => x.p50)),
      p99: median(p.map((x) => x.p99)),
      max: median(p.map((x) => x.max)),
      errors: runs.reduce((n, r) => n + r.errors, 0),
      cpuUs: Math.round(median(runs.map((r) => r.serverCpuPerRequestUs ?? 0)) * 10) / 10,
      actions: runs[0]?.actions ?? {},
    });
    console.error(
      `  ${server} x${connections}: ${rows.at(-1)?.perSecond} req/s, ${rows.at(-1)?.cpuUs} us CPU/request`,
    );
  }
  return rows;
}

/** Send every request once (and again after postgrey's delay) so the measured runs are cache hits. */
async function warm(
  port: number,
  all: Buffer[],
  passes: number,
  pauseMs: number,
): Promise<Record<string, number>> {
  let actions: Record<string, number> = {};
  for (let pass = 0; pass < passes; pass++) {
    if (pass > 0) await new Promise((r) => setTimeout(r, pauseMs));
    actions = await sendAll('127.0.0.1', port, all, 16);
  }
  return actions;
}

/**
 * Where a request's time went while the load ran (start-up and warm-up left out): the profile's
 * self time in that window, by function and by file, as microseconds per request and shares.
 */
function profileReport(r: LoadResult): void {
  const file = readdirSync(PROFILE_DIR ?? '')
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(PROFILE_DIR ?? '', f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!file) return;
  const perRequest = (ms: number): string => ((ms * 1000) / r.requests).toFixed(2);
  for (const byFile of [false, true]) {
    console.log(
      `\n| us/request | share | ${byFile ? 'file' : 'function'} (self time) |\n| --- | --- | --- |`,
    );
    for (const t of selfTimes(file, byFile ? 20 : 30, byFile, r.window))
      console.log(`| ${perRequest(t.ms)} | ${t.share}% | ${t.name.replace(/\/.*\/dist\//, 'dist/')} |`);
  }
  console.log(
    `\n${r.requests} requests in ${r.seconds.toFixed(1)} s, ${r.serverCpuPerRequestUs?.toFixed(1)} us CPU/request`,
  );
}

/**
 * The built daemon (`dist/main.js serve`) pinned to CPU 0, with its own data directory; `http`
 * turns the HTTP front-end (API, /metrics, dashboard) on, as the embedded defaults do, or off.
 */
async function startCbv(
  base: string,
  mxPort: number,
  http: boolean,
): Promise<{ child: ChildProcess; port: number }> {
  const dir = mkdtempSync(join(base, 'cbv-'));
  const config = join(dir, 'cbv.yaml');
  writeFileSync(
    config,
    [
      'verify:',
      `  port: ${mxPort}`,
      "  allow_targets: ['127.0.0.0/8']",
      '  helo_name: bench.example',
      'service:',
      `  data_dir: ${join(dir, 'data')}`,
      'limits:',
      // The warm-up verifies 2,000 senders at one address literal: not a flood.
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
      `  enabled: ${http}`,
      "  listen: ['127.0.0.1:0']",
    ].join('\n'),
  );
  const profiling = PROFILE_DIR
    ? ['--cpu-prof', '--cpu-prof-interval', '100', `--cpu-prof-dir=${PROFILE_DIR}`]
    : PERF_FILE
      ? ['--perf-basic-prof']
      : [];
  const child = spawn(
    'taskset',
    ['-c', '0', process.execPath, ...profiling, 'dist/main.js', 'serve', '--config', config],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = Number(await waitForLine(child, /"policy":\["127\.0\.0\.1:(\d+)"\]/, 20_000));
  return { child, port };
}

/** Ends the profile mode early, through the same clean-up as a full run. */
class ProfileDone extends Error {}

const dir = mkdtempSync(join(tmpdir(), 'cbv-bench-policy-'));
const all = policyRequests();
const rows: Row[] = [];
const cleanups: (() => Promise<void>)[] = [];
try {
  console.error(`machine: ${machine()}`);
  if (!PROFILING) {
    // The ceiling of the generator itself (profile mode measures cbv only).
    const trivial = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/trivial-policy-server.ts', '0'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(() => stopChild(trivial));
    const trivialPort = Number(await waitForLine(trivial, /^(\d+)$/m, 10_000));
    pin(trivial.pid ?? 0);
    rows.push(...(await measure('trivial (ceiling)', trivialPort, all, trivial.pid ?? 0)));
    await stopChild(trivial);
  }

  // cbv: the built daemon, senders verified once against a loopback MX. The config is the
  // embedded defaults (SQLite cache with the memory tier in front, logs at info, SPF on, the
  // HTTP front-end with /metrics and the dashboard on) except for the addresses, the MX port and
  // limits that let the warm-up verify 2,000 senders at one address literal. Measured twice: as
  // configured by default (http on), and with the HTTP front-end off (no Prometheus counters).
  const mx = await startScriptedServer({
    replies: { RCPT: (line) => [/<user\d+@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 unknown\r\n'] },
  });
  cleanups.push(() => mx.close());
  const variants: { name: string; http: boolean }[] = PROFILING
    ? [{ name: 'cbv', http: values.http !== 'off' }]
    : [
        { name: 'cbv', http: true },
        { name: 'cbv (http off)', http: false },
      ];
  for (const variant of variants) {
    const { child: cbv, port: cbvPort } = await startCbv(dir, mx.port, variant.http);
    cleanups.push(() => stopChild(cbv));
    // Verified senders: the warm-up itself may see DEFER_IF_PERMIT (pending) while callouts finish.
    await warm(cbvPort, all.slice(0, SENDERS), 1, 0);
    await new Promise((r) => setTimeout(r, 2000));
    console.error(
      `  ${variant.name} warm: ${JSON.stringify(await warm(cbvPort, all.slice(0, SENDERS), 1, 0))}`,
    );
    if (PROFILING) {
      const seconds = Number(values['prof-seconds']);
      const perf = PERF_FILE
        ? spawn('perf', ['record', '-g', '-F', '1999', '-p', String(cbv.pid), '-o', PERF_FILE], {
            stdio: ['ignore', 'ignore', 'inherit'],
          })
        : null;
      if (perf) await new Promise((r) => setTimeout(r, 500)); // perf attached
      const r = await runLoad({
        host: '127.0.0.1',
        port: cbvPort,
        connections: 8,
        durationMs: seconds * 1000,
        requests: all,
        serverCpuUs: () => processCpuUs(cbv.pid ?? 0),
      });
      if (perf) {
        const done = new Promise((resolve) => perf.once('exit', resolve));
        perf.kill('SIGINT');
        await done;
      }
      console.error(
        `  profiled ${variant.name} (http ${variant.http ? 'on' : 'off'}) x8: ${Math.round(r.perSecond)} req/s, ${r.serverCpuPerRequestUs?.toFixed(1)} us CPU/request; profile written to ${PROFILE_DIR ?? PERF_FILE}`,
      );
      await stopChild(cbv);
      if (PROFILE_DIR) profileReport(r);
      else console.log(`perf report -i ${PERF_FILE} --no-children --sort sym`);
      process.exitCode = 0;
      throw new ProfileDone();
    }
    rows.push(...(await measure(variant.name, cbvPort, all, cbv.pid ?? 0)));
    await stopChild(cbv);
  }

  // postgrey: each triplet seen, then seen again after its delay, so it answers from its database.
  const postgrey = await startPostgrey({ delaySeconds: 1 });
  cleanups.push(() => postgrey.stop());
  pin(postgrey.pid);
  console.error(`  postgrey warm: ${JSON.stringify(await warm(postgrey.port, all, 2, 1500))}`);
  rows.push(...(await measure('postgrey', postgrey.port, all, postgrey.pid)));
} catch (error) {
  if (!(error instanceof ProfileDone)) throw error;
} finally {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
}
if (PROFILING) process.exit(0);

const result = { machine: machine(), runs: RUNS, seconds: DURATION_MS / 1000, rows };
if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
console.log(
  `| server | connections | requests/s | p50 us | p99 us | max us | server CPU us/request | errors |`,
);
console.log(`| --- | --- | --- | --- | --- | --- | --- | --- |`);
for (const r of rows)
  console.log(
    `| ${r.server} | ${r.connections} | ${r.perSecond.toLocaleString('en')} | ${r.p50} | ${r.p99} | ${r.max} | ${r.cpuUs} | ${r.errors} |`,
  );
const at8 = (s: string): number => rows.find((r) => r.server === s && r.connections === 8)?.perSecond ?? 0;
console.log(`\ncbv / postgrey at 8 connections: ${(at8('cbv') / Math.max(1, at8('postgrey'))).toFixed(1)}x`);
console.log(
  `cbv / trivial (ceiling) at 8 connections: ${((at8('cbv') / Math.max(1, at8('trivial (ceiling)'))) * 100).toFixed(1)}%`,
);
console.log(
  `load average at the end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')}`,
);
