/**
 * The policy server's own CPU per cache-hit decision, without sockets: the daemon's objects
 * (config, stores, telemetry, Decider, PolicyDecider, PolicyServer, request reader) built as
 * `cbv serve` builds them, fed the requests of bench/policy-throughput.ts in-process. What it
 * measures is the JavaScript of a decision (reader, decision, counters, log line, metrics);
 * what it leaves out is the kernel's price of the socket read and write.
 *
 *   taskset -c 1 node --import tsx bench/policy-hotpath.ts [--decisions 1000000] [--http on|off] > /dev/null
 *
 * The log lines go to stdout, as the daemon's do (hence `> /dev/null`); the figures to stderr.
 * Add `--cpu-prof` before `--import` for a profile of the JavaScript alone.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import type { ReadResult } from '../src/frontends/policy/request-reader.js';
import { startScriptedServer } from '../test/support/scripted-smtp.js';
import { policyRequests, SENDERS } from './lib/policy-requests.js';

const { values } = parseArgs({
  options: {
    decisions: { type: 'string', default: '1000000' },
    http: { type: 'string', default: 'on' },
  },
});
const DECISIONS = Number(values.decisions);

/** The daemon's modules this bench builds its objects from (paths under src/, without `.ts`). */
const MODULES = [
  'app/build',
  'app/frontends',
  'config/load',
  'frontends/policy/server',
  'frontends/policy/request-reader',
  'observability/log-observer',
  'observability/logger',
  'observability/telemetry',
  'service/recent-activity',
];

/**
 * The daemon's modules compiled as `npm run build` compiles them (esbuild, ESM for node20: what
 * `cbv serve` runs; tsx would add its own helpers to every closure), typed by their sources.
 * dist/ bundles main.ts's commands into chunks whose modules cannot be imported one by one, so
 * these are bundled on their own, with shared chunks (`splitting`), so that module state such as
 * the logger's sinks is one instance, as in the daemon. Packages stay in node_modules.
 */
// Inside the checkout (bench/results/tmp/, ignored by git), so that the packages resolve from node_modules.
const scratchRoot = fileURLToPath(new URL('./results/tmp/', import.meta.url));
mkdirSync(scratchRoot, { recursive: true });
const compiledDir = mkdtempSync(join(scratchRoot, 'hotpath-build-'));
await build({
  entryPoints: MODULES.map((m) => fileURLToPath(new URL(`../src/${m}.ts`, import.meta.url))),
  outbase: fileURLToPath(new URL('../src', import.meta.url)),
  outdir: compiledDir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
const built = <T>(path: string): Promise<T> =>
  import(pathToFileURL(join(compiledDir, path)).href) as Promise<T>;
const { buildService, openStores } = await built<typeof import('../src/app/build.js')>('app/build.js');
const { buildFrontends, buildTelemetry } =
  await built<typeof import('../src/app/frontends.js')>('app/frontends.js');
const { parseConfig } = await built<typeof import('../src/config/load.js')>('config/load.js');
const { PolicyServer } = await built<typeof import('../src/frontends/policy/server.js')>(
  'frontends/policy/server.js',
);
const { PolicyRequestReader } = await built<typeof import('../src/frontends/policy/request-reader.js')>(
  'frontends/policy/request-reader.js',
);
const { LogTelemetry } = await built<typeof import('../src/observability/log-observer.js')>(
  'observability/log-observer.js',
);
const { createLogger } =
  await built<typeof import('../src/observability/logger.js')>('observability/logger.js');
const { TelemetrySet } = await built<typeof import('../src/observability/telemetry.js')>(
  'observability/telemetry.js',
);
const { RecentActivity } = await built<typeof import('../src/service/recent-activity.js')>(
  'service/recent-activity.js',
);

const dir = mkdtempSync(join(tmpdir(), 'cbv-bench-hotpath-'));
const mx = await startScriptedServer({
  replies: { RCPT: (line) => [/<user\d+@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 unknown\r\n'] },
});
try {
  const config = parseConfig(
    {
      verify: { port: mx.port, allow_targets: ['127.0.0.0/8'], helo_name: 'bench.example' },
      service: { data_dir: join(dir, 'data') },
      limits: { flood_threshold: 1_000_000, domain_concurrency: 50, mx_concurrency: 50 },
      policy: { listen: ['127.0.0.1:0'] },
      http: { enabled: values.http === 'on', listen: ['127.0.0.1:0'] },
    },
    'bench',
  );
  const logger = createLogger(config.logging.level);
  const stores = openStores(config);
  const recent = new RecentActivity();
  const extra = buildTelemetry(config);
  const telemetry = new TelemetrySet([new LogTelemetry(logger), recent, ...extra]);
  const service = buildService(config, stores, telemetry);
  const frontends = buildFrontends({ config, service, logger, telemetry, recent, extra });
  const policy = frontends.find((f): f is InstanceType<typeof PolicyServer> => f instanceof PolicyServer);
  if (!policy) throw new Error('no policy front-end');
  // The server's per-request entry point, as PolicyConnection calls it (private: a bench reaches in).
  const answer = (policy as unknown as { answer(r: ReadResult): string | Promise<string> }).answer.bind(
    policy,
  );

  const all = policyRequests();
  for (let i = 0; i < SENDERS; i += 50)
    await Promise.all(all.slice(i, i + 50).map((r) => service.verifier.verify(senderOf(r))));

  const reader = new PolicyRequestReader({
    maxLineLength: config.policy.max_line_length,
    maxRequestBytes: config.policy.max_request_bytes,
  });
  let replies = 0;
  // In slices of 64 decisions with a turn of the event loop between them, as a daemon serving
  // connections runs: the log batches are written meanwhile, not piled up until the end.
  const run = async (n: number): Promise<{ cpuUs: number; wallUs: number }> => {
    const cpu = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n;) {
      for (const end = Math.min(n, i + 64); i < end; i++) {
        for (const result of reader.read(all[i % all.length] as Buffer).results) {
          const action = answer(result);
          if (typeof action !== 'string') throw new Error('not a cache hit: the bench needs a warm cache');
          replies += `action=${action}\n\n`.length;
        }
      }
      await new Promise((r) => setImmediate(r));
    }
    const used = process.cpuUsage(cpu);
    return { cpuUs: used.user + used.system, wallUs: Number(process.hrtime.bigint() - t0) / 1000 };
  };
  await run(Math.min(DECISIONS, 200_000)); // JIT and caches warm, unmeasured
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const r = await run(DECISIONS);
  const toUs = Number(process.hrtime.bigint() / 1000n);
  process.stderr.write(
    `http ${values.http}: ${DECISIONS} decisions, ${(r.cpuUs / DECISIONS).toFixed(2)} us CPU each ` +
      `(${(r.wallUs / DECISIONS).toFixed(2)} us wall), ${replies} reply bytes; measured window ${fromUs}-${toUs} (monotonic us, for a --cpu-prof)\n`,
  );
  for (const f of frontends) await f.stop(0);
  await service.verifier.close(0);
  await stores.close();
} finally {
  await mx.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(compiledDir, { recursive: true, force: true });
}
process.exit(0);

function senderOf(request: Buffer): string {
  return /\nsender=([^\n]*)/.exec(request.toString('latin1'))?.[1] ?? '';
}
