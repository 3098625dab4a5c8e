/**
 * Measurement 3: cold verifications per second, cbv against the npm tools users would pick.
 *
 *   bash bench/run.sh cold [-- --addresses 3000 --domains 200 --concurrency 50 --warmup 3000]
 *
 * Inside the namespace run.sh makes: Unbound on 127.0.0.1:53 serves DOMAINS domains, each with its
 * own MX host on its own 127.1.x.y address; one scripted SMTP process (cold/mx-server.ts) listens
 * on port 25 of all of them and rejects unknown users as Postfix does. Each tool then verifies the
 * same ADDRESSES distinct addresses (half known users, half unknown) in a process of its own, at
 * the same concurrency. Servers on core 1, the tool on core 0 (taskset). Reported: verifications
 * per second, the tool's CPU seconds per verification, and how many answers were right.
 *
 * Each tool's process first verifies WARMUP other addresses, untimed (its JIT warm-up: a daemon
 * pays it once, not per verification; `--warmup 0` measures a fresh process). Every tool runs in
 * the same worker, compiled with esbuild as `npm run build` compiles cbv (buildWorker). A tool
 * written `cbv@/path/to/worker.mjs` runs cbv in another compiled worker, e.g. one built from an
 * older commit, to compare two builds in one run.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { build } from 'esbuild';
import { unboundConfig, type DnsRecord } from '../test/support/testbed/dns.js';
import { dnsAnswers, smtpGreeting } from '../test/support/testbed/net.js';
import {
  makeTempDir,
  removeTempDir,
  spawnDaemon,
  waitUntilReady,
  type Daemon,
} from '../test/support/testbed/process.js';
import { selfTimes, type SelfTime, type Window } from './lib/cpuprofile.js';
import { assertInBenchNamespace, round, table, writeResult } from './lib/report.js';
import { machine, median } from './lib/stats.js';

const run = promisify(execFile);
const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
/** Children run in their own directories: give them tsx and their script by absolute location. */
const TSX = import.meta.resolve('tsx');
const { values } = parseArgs({
  options: {
    addresses: { type: 'string', default: '3000' },
    domains: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '50' },
    tools: { type: 'string', default: 'cbv,deep-email-validator,email-existence' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3000' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const ADDRESSES = Number(values.addresses);
const DOMAINS = Number(values.domains);
const CONCURRENCY = Number(values.concurrency);
const TOOLS = values.tools.split(',');
const ROUNDS = Number(values.rounds);
/** Addresses each tool's process verifies before its clock starts (its JIT warm-up), not counted. */
const WARMUP = Number(values.warmup);
const TOOL_TIMEOUT_MS = 600_000;
/** With --cpu-prof, each tool runs under node --cpu-prof and its profile is summarised. */
const PROFILE_DIR = values['cpu-prof'] ? here('results/tmp') : undefined;

/**
 * The worker (and through it cbv's engine) compiled as `npm run build` compiles cbv: esbuild, ESM
 * for node20, no tsx. Under `--import tsx` every module would go through tsx's loader hooks and
 * every closure cbv makes per session would be wrapped in tsx's keepNames helper (a
 * `defineProperty` per closure), costs the daemon does not pay, nor the competitors, whose code
 * is plain JavaScript. Every tool runs in this same compiled worker under plain `node`. Inside
 * the checkout (bench/results/tmp/, ignored by git), so that packages resolve from node_modules
 * and the competitors from bench/node_modules.
 */
async function buildWorker(): Promise<{ file: string; remove: () => void }> {
  const scratch = here('results/tmp/');
  mkdirSync(scratch, { recursive: true });
  const dir = mkdtempSync(join(scratch, 'cold-worker-'));
  await build({
    entryPoints: [here('cold/worker.ts')],
    outfile: join(dir, 'worker.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  return { file: join(dir, 'worker.mjs'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

interface WorkerResult {
  tool: string;
  verifications: number;
  concurrency: number;
  seconds: number;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  answers: Record<string, number>;
  right: number;
  details: Record<string, number>;
  wrongExamples: string[];
  /** CPU seconds the MX and DNS servers used while the clock ran (from /proc). */
  serverCpuSeconds: number;
  warmup: { verifications: number; right: number };
  /** The timed stretch, monotonic microseconds (the clock of a .cpuprofile). */
  window: Window;
}

const mxIp = (d: number): string => `127.1.${Math.floor(d / 250)}.${(d % 250) + 1}`;
const domain = (d: number): string => `d${d}.cold.test`;

/**
 * The address lists: distinct addresses spread over the domains, half of them known users; the
 * warm-up list (`warmN@...`) is distinct from the measured one (`userN@`, `nobodyN@`), so that no
 * measured address was seen before.
 */
function addressLists(): { lines: string[]; warmup: string[]; known: string[] } {
  const lines: string[] = [];
  const warmup: string[] = [];
  const known: string[] = [];
  for (let i = 0; i < ADDRESSES; i++) {
    const isKnown = i % 2 === 0;
    const address = `${isKnown ? 'user' : 'nobody'}${i}@${domain(i % DOMAINS)}`;
    lines.push(`${address} ${isKnown ? 'known' : 'unknown'}`);
    if (isKnown) known.push(address);
  }
  for (let i = 0; i < WARMUP; i++) {
    const isKnown = i % 2 === 0;
    const address = `warm${i}@${domain(i % DOMAINS)}`;
    warmup.push(`${address} ${isKnown ? 'known' : 'unknown'}`);
    if (isKnown) known.push(address);
  }
  return { lines, warmup, known };
}

function zone(): DnsRecord[] {
  return Array.from({ length: DOMAINS }, (_, d) => [
    { name: domain(d), type: 'MX' as const, value: `10 mx.${domain(d)}` },
    { name: `mx.${domain(d)}`, type: 'A' as const, value: mxIp(d) },
  ]).flat();
}

async function startServers(dir: string, knownFile: string): Promise<Daemon[]> {
  const config = join(dir, 'unbound.conf');
  // Port 53: the competitors only know the system resolver, and resolv.conf cannot name a port.
  await writeFile(config, unboundConfig({ records: zone() }, dir, 53, 0));
  const unbound = spawnDaemon({
    name: 'unbound',
    command: 'taskset',
    args: ['-c', '1', '/usr/sbin/unbound', '-d', '-c', config],
    dir,
  });
  await waitUntilReady(unbound, 'DNS on 127.0.0.1:53', () => dnsAnswers('127.0.0.1', 53));
  const ips = Array.from({ length: DOMAINS }, (_, d) => mxIp(d));
  const mx = spawnDaemon({
    name: 'mx-server',
    command: 'taskset',
    args: ['-c', '1', process.execPath, '--import', TSX, here('cold/mx-server.ts'), knownFile, ...ips],
    dir,
  });
  const last = ips.at(-1) ?? '127.1.0.1';
  await waitUntilReady(mx, `SMTP on ${last}:25`, async () => (await smtpGreeting(last, 25)) !== undefined, {
    timeoutMs: 30_000,
  }).catch(async (error: unknown) => {
    await unbound.stop();
    throw error;
  });
  return [unbound, mx];
}

async function runTool(
  tool: string,
  worker: string,
  lists: { measured: string; warmup: string },
  servers: Daemon[],
): Promise<WorkerResult> {
  const { stdout } = await run(
    'taskset',
    [
      '-c',
      '0',
      process.execPath,
      ...(PROFILE_DIR
        ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR, '--cpu-prof-name', `cold-${tool}.cpuprofile`]
        : []),
      tool.includes('@') ? tool.slice(tool.indexOf('@') + 1) : worker,
      tool.includes('@') ? tool.slice(0, tool.indexOf('@')) : tool,
      lists.measured,
      String(CONCURRENCY),
      lists.warmup,
      servers.map((s) => s.pid).join(','),
    ],
    { timeout: TOOL_TIMEOUT_MS, maxBuffer: 16 << 20 },
  );
  return { ...(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as WorkerResult), tool };
}

async function main(): Promise<void> {
  const netns = assertInBenchNamespace();
  console.log(`machine: ${machine()}\nnetwork namespace: ${netns}`);
  console.log(
    `${ADDRESSES} addresses over ${DOMAINS} domains/MX hosts, concurrency ${CONCURRENCY} for every tool;` +
      ` each process first verifies ${WARMUP} other addresses (warm-up, not timed)`,
  );
  const dir = await makeTempDir('cold');
  const { lines, warmup, known } = addressLists();
  const listFile = join(dir, 'addresses.txt');
  const warmupFile = join(dir, 'warmup.txt');
  writeFileSync(warmupFile, warmup.length > 0 ? `${warmup.join('\n')}\n` : '');
  const knownFile = join(dir, 'known.txt');
  writeFileSync(listFile, `${lines.join('\n')}\n`);
  writeFileSync(knownFile, `${known.join('\n')}\n`);
  const worker = await buildWorker();
  const servers = await startServers(dir, knownFile);
  const results: WorkerResult[] = [];
  try {
    // Rounds take the tools in turn, so a slow moment of the machine does not fall on one tool.
    for (let round_ = 1; round_ <= ROUNDS; round_++) {
      for (const tool of TOOLS) {
        console.log(`round ${round_}: running ${tool} ...`);
        results.push(await runTool(tool, worker.file, { measured: listFile, warmup: warmupFile }, servers));
      }
    }
  } finally {
    for (const server of servers) await server.stop();
    await removeTempDir(dir);
    worker.remove();
  }
  // Per tool: the median round by rate (its CPU from the same round); answers over all rounds.
  const rows = TOOLS.map((tool) => {
    const runs = results.filter((r) => r.tool === tool);
    const rates = runs.map((r) => r.verifications / r.seconds);
    const mid = runs[rates.indexOf(median(rates))] ?? runs[0];
    if (!mid) return [tool];
    const cpu = mid.cpuUserSeconds + mid.cpuSystemSeconds;
    const total = runs.reduce((n, r) => n + r.verifications, 0);
    const right = runs.reduce((n, r) => n + r.right, 0);
    return [
      tool,
      mid.verifications,
      runs.length,
      round(median(rates), 0),
      `${round(Math.min(...rates), 0)}-${round(Math.max(...rates), 0)}`,
      round((cpu / mid.verifications) * 1e3, 3),
      round((mid.serverCpuSeconds / mid.verifications) * 1e3, 3),
      `${right} / ${total}`,
    ];
  });
  const headers = [
    'tool',
    'addresses',
    'rounds',
    'verifications/s (median)',
    'range',
    'tool CPU ms / verification',
    'MX+DNS CPU ms / verification',
    'right answers (all rounds)',
  ];
  console.log(`\n${table(headers, rows)}`);
  for (const tool of TOOLS) {
    const runs = results.filter((r) => r.tool === tool);
    const details: Record<string, number> = {};
    for (const r of runs) for (const [k, v] of Object.entries(r.details)) details[k] = (details[k] ?? 0) + v;
    console.log(`\n${tool}: answers by detail, all rounds: ${JSON.stringify(details)}`);
    const wrong = runs.flatMap((r) => r.wrongExamples).slice(0, 5);
    if (wrong.length > 0) console.log(`  wrong, e.g.: ${wrong.join('; ')}`);
    const warm = runs.reduce((n, r) => n + r.warmup.verifications, 0);
    const warmRight = runs.reduce((n, r) => n + r.warmup.right, 0);
    if (warm > 0) console.log(`  warm-up (not timed): ${warmRight} / ${warm} right`);
  }

  const profiles: Record<string, SelfTime[]> = {};
  for (const r of PROFILE_DIR ? results.slice(-TOOLS.length) : []) {
    const file = join(PROFILE_DIR ?? '', `cold-${r.tool}.cpuprofile`);
    const byFunction = selfTimes(file, 12, false, r.window);
    profiles[r.tool] = byFunction;
    console.log(`\n${r.tool}: CPU profile (${file}), self time by function, timed stretch only`);
    console.log(
      table(
        ['function', 'ms', '%'],
        byFunction.map((e) => [e.name, e.ms, e.share]),
      ),
    );
    console.log(
      table(
        ['file', 'ms', '%'],
        selfTimes(file, 8, true, r.window).map((e) => [e.name, e.ms, e.share]),
      ),
    );
  }
  const path = writeResult(PROFILE_DIR ? 'cold-profile' : 'cold', {
    addresses: ADDRESSES,
    domains: DOMAINS,
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    warmup: WARMUP,
    mx: 'bench/cold/mx-server.ts (scripted, one process, core 1); Unbound on core 1; tools on core 0',
    results,
    ...(PROFILE_DIR ? { profiles } : {}),
  });
  console.log(`results: ${path}`);
}

await main();
