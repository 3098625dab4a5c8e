/**
 * One tool of bench/cold.ts over the whole address list, at a fixed concurrency, in a process of
 * its own (so its CPU time is its own). Prints one JSON line: time, CPU, and how many answers
 * were right.
 *
 *   node worker.mjs cbv|deep-email-validator|email-existence LIST CONCURRENCY [WARMUP_LIST [PIDS]]
 *
 * (bench/cold.ts compiles this file to worker.mjs with esbuild, as `npm run build` compiles cbv.)
 * LIST and WARMUP_LIST have one "address known|unknown" per line. The warm-up list is verified
 * first, at the same concurrency, and not timed: a daemon's JIT warm-up happens once, not per
 * verification. PIDS (comma-separated: the MX and DNS servers) have their CPU read from /proc
 * while the clock runs. The competitors come from bench/node_modules
 * (bench/package.json); they use the system resolver and port 25, as they always do.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { NodeDnsResolver, TcpConnector, VerificationEngine } from '../../src/core/index.js';
import { engineOptions } from '../../src/config/engine-options.js';
import { parseConfig } from '../../src/config/load.js';

export type Answer = 'valid' | 'invalid' | 'unknown';
interface Outcome {
  answer: Answer;
  detail: string;
}
type Checker = (address: string) => Promise<Outcome>;

// The competitors' own shapes, declared here so type-checking does not need bench/node_modules.
interface DeepOutput {
  valid: boolean;
  reason?: string;
  validators: Record<string, { valid: boolean; reason?: string }>;
}
type DeepValidate = (options: { email: string; additionalTopLevelDomains?: string[] }) => Promise<DeepOutput>;
type EmailExistence = (
  email: string,
  callback: (error: unknown, valid: boolean, undetermined?: boolean) => void,
  timeoutMs?: number,
) => void;

const require = createRequire(import.meta.url);

function cbv(): { check: Checker; settle: () => Promise<void> } {
  const config = parseConfig(
    { verify: { helo_name: 'verifier.test', allow_targets: ['127.0.0.0/8'] } },
    'bench/cold',
  );
  const engine = new VerificationEngine(engineOptions(config), {
    // servers: [] is the system's resolv.conf, which in the bench namespace names its Unbound.
    resolver: new NodeDnsResolver({ servers: [], queryTimeoutMs: 3000, tries: 2 }),
    connector: new TcpConnector(),
  });
  const check: Checker = async (address) => {
    const verdict = await engine.verify(address);
    const answer: Answer =
      verdict.result === 'deliverable' ? 'valid' : verdict.result === 'undeliverable' ? 'invalid' : 'unknown';
    return { answer, detail: verdict.reason };
  };
  // RSET/QUIT go on after each verdict; the clock stops only when they are done too.
  return { check, settle: () => engine.idle() };
}

function deep(): Checker {
  const { validate } = require('deep-email-validator') as { validate: DeepValidate };
  return async (address) => {
    // .test is not in mailcheck's list of top-level domains; without this, every address would
    // be refused as a "likely typo" before any DNS or SMTP.
    const out = await validate({ email: address, additionalTopLevelDomains: ['test'] });
    const failed = out.reason ? out.validators[out.reason]?.reason : undefined;
    return {
      answer: out.valid ? 'valid' : 'invalid',
      detail: out.valid ? 'valid' : `${out.reason}: ${failed}`,
    };
  };
}

function existence(): Checker {
  const check = require('email-existence') as EmailExistence;
  return (address) =>
    new Promise((resolve) => {
      check(address, (error, valid, undetermined) => {
        if (undetermined) resolve({ answer: 'unknown', detail: 'undetermined' });
        else
          resolve({
            answer: valid ? 'valid' : 'invalid',
            detail: error instanceof Error ? `error: ${error.message}` : String(valid),
          });
      });
    });
}

interface Item {
  address: string;
  known: boolean;
}

function readList(file: string | undefined): Item[] {
  if (!file) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [address = '', kind] = line.split(' ');
      return { address, known: kind === 'known' };
    });
}

/** CPU seconds (user + system) a process has used so far, from /proc (clock ticks of 10 ms). */
function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  const [tool, listFile, concurrencyArg, warmupFile, pidsArg] = process.argv.slice(2);
  if (!tool || !listFile) throw new Error('usage: worker.mjs TOOL LIST CONCURRENCY [WARMUP_LIST [PIDS]]');
  const concurrency = Number(concurrencyArg ?? 50);
  const list = readList(listFile);
  const warmupList = readList(warmupFile);
  const pids = (pidsArg ?? '').split(',').filter(Boolean).map(Number);
  let check: Checker;
  let settle = (): Promise<void> => Promise.resolve();
  if (tool === 'cbv') ({ check, settle } = cbv());
  else if (tool === 'deep-email-validator') check = deep();
  else if (tool === 'email-existence') check = existence();
  else throw new Error(`unknown tool ${tool}`);

  /** Verifies every item of `items` at the concurrency; tallies into the given counters. */
  const runList = async (items: readonly Item[], tally: (item: Item, o: Outcome) => void): Promise<void> => {
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let item = items[next++]; item; item = items[next++]) tally(item, await check(item.address));
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await settle();
  };
  let warmRight = 0;
  await runList(warmupList, (item, { answer }) => {
    if (answer === (item.known ? 'valid' : 'invalid')) warmRight++;
  });

  const answers: Record<Answer, number> = { valid: 0, invalid: 0, unknown: 0 };
  const details: Record<string, number> = {};
  const wrong: string[] = [];
  let right = 0;
  const servers0 = pids.map(procCpuSeconds);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  await runList(list, (item, { answer, detail }) => {
    answers[answer]++;
    details[detail] = (details[detail] ?? 0) + 1;
    if (answer === (item.known ? 'valid' : 'invalid')) right++;
    else if (wrong.length < 5)
      wrong.push(`${item.address} (${item.known ? 'known' : 'unknown'}): ${answer}, ${detail}`);
  });
  const seconds = (performance.now() - t0) / 1000;
  const toUs = Number(process.hrtime.bigint() / 1000n);
  const cpu = process.cpuUsage(cpu0);
  const serverCpuSeconds = pids.reduce((sum, pid, i) => sum + procCpuSeconds(pid) - (servers0[i] ?? 0), 0);
  console.log(
    JSON.stringify({
      tool,
      verifications: list.length,
      concurrency,
      seconds,
      cpuUserSeconds: cpu.user / 1e6,
      cpuSystemSeconds: cpu.system / 1e6,
      answers,
      right,
      details,
      wrongExamples: wrong,
      serverCpuSeconds,
      warmup: { verifications: warmupList.length, right: warmRight },
      // The timed stretch on the monotonic clock of --cpu-prof's profile, to summarise only it.
      window: { fromUs, toUs },
    }),
  );
}

await main();
