/**
 * Benchmark: how long a one-off `cbv verify --json` takes, process start to exit, for an address
 * literal (no DNS) against a scripted SMTP server on loopback that answers at once. What is left
 * is cbv's own start-up (loading modules, parsing the config) plus a few loopback round trips.
 * Node's own start-up (`node -e 0`) is measured in the same run for reference.
 *
 *   npm run build && node --import tsx bench/cli-startup.ts [--runs 30] [--json FILE]
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startScriptedServer } from '../test/support/scripted-smtp.js';
import { machine, median, percentiles } from './lib/stats.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '30' }, json: { type: 'string' } },
});
const RUNS = Number(values.runs);

/** Wall time (ms) from spawn to exit, with the exit code and stdout. */
function timed(args: readonly string[]): Promise<{ ms: number; code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (stdout += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, code, stdout });
    });
  });
}

async function series(
  name: string,
  args: readonly string[],
  check: (stdout: string, code: number | null) => void,
) {
  await timed(args); // one unmeasured run: the page cache holds the modules, as on a used machine
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const run = await timed(args);
    check(run.stdout, run.code);
    samples.push(run.ms);
  }
  const p = percentiles(samples);
  return { name, runs: RUNS, median_ms: Math.round(median(samples) * 10) / 10, p99_ms: p.p99, max_ms: p.max };
}

// A server that knows alice only, so the catch-all probe is refused and the answer is `accepted`.
const mx = await startScriptedServer({
  replies: { RCPT: (line) => [/<alice@/i.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 unknown\r\n'] },
});
try {
  const verify = [
    'dist/main.js',
    'verify',
    '--json',
    '--port',
    String(mx.port),
    '--allow-target',
    '127.0.0.0/8',
    '--helo',
    'bench.example',
    'alice@[127.0.0.1]',
  ];
  const rows = [
    await series('node -e 0 (Node itself)', ['-e', '0'], () => undefined),
    await series('cbv --help', ['dist/main.js', '--help'], (_out, code) => {
      if (code !== 0) throw new Error(`cbv --help exited ${code}`);
    }),
    await series('cbv verify --json alice@[127.0.0.1]', verify, (out, code) => {
      const verdict = JSON.parse(out) as { reason?: string };
      if (code !== 0 || verdict.reason !== 'accepted') throw new Error(`unexpected: exit ${code}, ${out}`);
    }),
  ];
  console.log(`# cbv CLI start-up, ${RUNS} runs each (${machine()})\n`);
  console.log('| command | median ms | p99 ms | max ms |');
  console.log('| --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.name} | ${r.median_ms} | ${r.p99_ms} | ${r.max_ms} |`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ machine: machine(), rows }, null, 2)}\n`);
} finally {
  await mx.close();
}
