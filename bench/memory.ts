/**
 * Measurement 4: memory per in-flight callout.
 *
 *   bash bench/run.sh memory [-- --callouts 10000]
 *
 * A separate process (memory/slow-server.ts) accepts connections and never greets. The engine
 * starts CALLOUTS verifications against it, all at once; once every socket is connected and
 * waiting for the greeting, RSS after a full GC, minus RSS at idle (after a warm-up, same GC),
 * divided by CALLOUTS is the memory per in-flight callout. Target: at most 20 KiB. Then a heap
 * snapshot is summarised by constructor (what the remaining bytes are), and every callout is
 * cancelled and must end in a verdict.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getHeapSnapshot } from 'node:v8';
import { TcpConnector, VerificationEngine, type Connector, type EngineVerdict } from '../src/core/index.js';
import { engineOptions } from '../src/config/engine-options.js';
import { parseConfig } from '../src/config/load.js';
import { StaticResolver } from '../test/support/engine.js';
import { assertInBenchNamespace, round, table, writeResult } from './lib/report.js';
import { machine } from './lib/stats.js';

const { values } = parseArgs({ options: { callouts: { type: 'string', default: '10000' } } });
const CALLOUTS = Number(values.callouts);
const TARGET_KIB = 20;
const SERVER_IP = '127.0.3.1';
const KiB = 1024;

/** Counts sockets the engine has been handed, so we know when all are connected. */
class CountingConnector implements Connector {
  private readonly inner = new TcpConnector();
  connected = 0;
  async connect(request: Parameters<Connector['connect']>[0]): Promise<Socket> {
    const socket = await this.inner.connect(request);
    this.connected++;
    return socket;
  }
}

interface SlowServer {
  port: number;
  count(): Promise<{ accepted: number; open: number }>;
  stop(): Promise<void>;
}

async function startSlowServer(): Promise<SlowServer> {
  const child: ChildProcess = fork(
    fileURLToPath(new URL('memory/slow-server.ts', import.meta.url)),
    [SERVER_IP],
    {
      execArgv: ['--import', import.meta.resolve('tsx')],
    },
  );
  const next = <T>(): Promise<T> => new Promise((resolve) => child.once('message', (m) => resolve(m as T)));
  const { port } = await next<{ port: number }>();
  return {
    port,
    count: () => {
      const reply = next<{ accepted: number; open: number }>();
      child.send('count');
      return reply;
    },
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('stop');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function fullGc(): Promise<void> {
  if (!global.gc) throw new Error('run with node --expose-gc (bench/run.sh does)');
  for (let i = 0; i < 3; i++) global.gc();
  return sleep(200);
}

function makeEngine(port: number, connector: Connector): VerificationEngine {
  const long = 600;
  const config = parseConfig(
    {
      verify: {
        helo_name: 'verifier.test',
        allow_targets: ['127.0.0.0/8'],
        port,
        budget: long,
        timeouts: { connect: 60, greeting: long },
      },
    },
    'bench/memory.ts',
  );
  const resolver = new StaticResolver({
    'slow.test': { mx: [{ exchange: 'mx.slow.test', priority: 10 }] },
    'mx.slow.test': { a: [SERVER_IP] },
  });
  return new VerificationEngine(engineOptions(config), { resolver, connector });
}

/** Starts n callouts, waits until all are connected and held by the server. */
async function hold(
  engine: VerificationEngine,
  connector: CountingConnector,
  server: SlowServer,
  n: number,
  signal: AbortSignal,
): Promise<Promise<EngineVerdict>[]> {
  const target = connector.connected + n;
  const accepted = (await server.count()).accepted + n;
  const verdicts = Array.from({ length: n }, (_, i) => engine.verify(`user${i}@slow.test`, { signal }));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const held = await server.count();
    if (connector.connected >= target && held.accepted >= accepted) break;
    if (Date.now() > deadline)
      throw new Error(`only ${connector.connected}/${target} connected, ${held.accepted} accepted, in 120 s`);
    await sleep(200);
  }
  return verdicts;
}

/** Self size and count per constructor (objects, closures, native) from a heap snapshot. */
async function heapByConstructor(): Promise<{ name: string; count: number; bytes: number }[]> {
  let text = '';
  for await (const chunk of getHeapSnapshot()) text += String(chunk);
  const snapshot = JSON.parse(text) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const stride = fields.length;
  const totals = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snapshot.nodes.length; i += stride) {
    const type = types[snapshot.nodes[i + (typeAt ?? 0)] ?? 0] ?? '?';
    const name = snapshot.strings[snapshot.nodes[i + (nameAt ?? 1)] ?? 0] ?? '?';
    const key = ['object', 'closure', 'native'].includes(type) ? `${name} (${type})` : `(${type})`;
    const entry = totals.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[i + (sizeAt ?? 3)] ?? 0;
    totals.set(key, entry);
  }
  return [...totals].map(([name, t]) => ({ name, ...t })).sort((a, b) => b.bytes - a.bytes);
}

async function main(): Promise<void> {
  const netns = assertInBenchNamespace();
  console.log(`machine: ${machine()}\nnetwork namespace: ${netns}`);
  const server = await startSlowServer();
  const connector = new CountingConnector();
  const engine = makeEngine(server.port, connector);
  try {
    // Warm-up: the same path for 500 callouts, so code, pools and caches exist before idle.
    const warm = new AbortController();
    const warmVerdicts = await hold(engine, connector, server, 500, warm.signal);
    warm.abort();
    await Promise.all(warmVerdicts);
    await engine.idle();
    await sleep(500);
    await fullGc();
    const idle = process.memoryUsage();

    const cancel = new AbortController();
    const t0 = performance.now();
    const verdicts = await hold(engine, connector, server, CALLOUTS, cancel.signal);
    const connectSeconds = (performance.now() - t0) / 1000;
    await sleep(1000);
    await fullGc();
    const loaded = process.memoryUsage();
    const held = await server.count();

    const per = (key: keyof NodeJS.MemoryUsage): number => (loaded[key] - idle[key]) / CALLOUTS / KiB;
    const rssKiB = per('rss');
    console.log(`${CALLOUTS} callouts connected in ${round(connectSeconds, 1)} s; server holds ${held.open}`);
    const rows = [
      ['RSS', round(idle.rss / KiB / KiB, 1), round(loaded.rss / KiB / KiB, 1), round(rssKiB, 2)],
      [
        'V8 heap used',
        round(idle.heapUsed / KiB / KiB, 1),
        round(loaded.heapUsed / KiB / KiB, 1),
        round(per('heapUsed'), 2),
      ],
      [
        'external (buffers)',
        round(idle.external / KiB / KiB, 1),
        round(loaded.external / KiB / KiB, 1),
        round(per('external'), 2),
      ],
    ];
    console.log(table(['memory', 'idle MiB', `${CALLOUTS} in flight MiB`, 'KiB per callout'], rows));
    const met = rssKiB <= TARGET_KIB;
    console.log(`target: at most ${TARGET_KIB} KiB of RSS per in-flight callout: ${met ? 'met' : 'MISSED'}`);

    const heap = (await heapByConstructor()).slice(0, 15);
    const heapRows = heap.map((h) => [
      h.name,
      h.count,
      round(h.count / CALLOUTS, 2),
      round(h.bytes / KiB / KiB, 2),
      round(h.bytes / CALLOUTS, 0),
    ]);
    console.log(`\nheap snapshot with ${CALLOUTS} in flight, largest by self size:`);
    console.log(table(['constructor (type)', 'count', 'per callout', 'MiB', 'bytes per callout'], heapRows));

    cancel.abort();
    const ended = await Promise.all(verdicts);
    await engine.idle();
    const reasons: Record<string, number> = {};
    for (const v of ended) reasons[v.reason] = (reasons[v.reason] ?? 0) + 1;
    console.log(`after cancelling: verdicts ${JSON.stringify(reasons)}`);
    const path = writeResult('memory', {
      callouts: CALLOUTS,
      connectSeconds: round(connectSeconds, 2),
      serverHeld: held,
      idle,
      loaded,
      kibPerCallout: {
        rss: round(rssKiB, 2),
        heapUsed: round(per('heapUsed'), 2),
        external: round(per('external'), 2),
      },
      targetKib: TARGET_KIB,
      targetMet: met,
      heapTop: heap,
      verdictsAfterCancel: reasons,
    });
    console.log(`results: ${path}`);
  } finally {
    await server.stop();
  }
}

await main();
