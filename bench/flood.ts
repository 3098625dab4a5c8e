/**
 * What a forged-sender flood costs the forged domain (issue 10, seed 001): a real inbound Postfix
 * asks `cbv serve` (as a child process, started from any checkout, so that an older cbv can be
 * measured the same way) about N forged senders at one domain, from C SMTP clients in parallel;
 * a real Postfix is that domain's MX, and its log counts the SMTP connections it got, settled
 * 5 s after the last reply. Also reported: how the forged senders were answered (4xx deferred,
 * 5xx rejected, 2xx accepted) and how long the flood took to get through Postfix.
 *
 *   sudo node --import tsx bench/flood.ts [--cbv-root DIR] [--label NAME] [--senders 500]
 *        [--clients 20] [--runs 3] [--json FILE]
 *
 * cbv runs with its default limits; only its DNS, the MX port and loopback targets are set.
 *
 * `--scenario busy` sends N senders who all exist instead, each client one message a second
 * (20 clients: 300 senders in about 15 s): what a busy real domain costs, and whether any of
 * its senders is deferred.
 *
 * `--scenario hosted` spreads the N forged senders over `--domains` distinct registrable domains
 * (h0000-victim.test ...) whose MX is one host, as one provider hosts many small domains.
 *
 * `--victim` says how the victim's MX answers (flood-rig.ts VictimBehaviour): user_unknown (the
 * default), or one that gives no information: tempfail (450 to every unknown RCPT), soft_bounce,
 * greylist (postgrey, `--greylist-delay` s), greeting_421, mail_4xx, tarpit (each RCPT stalls
 * `--tarpit` s). `--retry S` sends the same senders again S seconds after the flood (as the
 * clients' MTAs retry a 4xx) and counts that round's connections on their own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  rigHosted,
  startFloodRig,
  VICTIM_BEHAVIOURS,
  type CbvUnderTest,
  type VictimBehaviour,
} from '../test/support/testbed/flood-rig.js';
import { freePort, tcpAnswers } from '../test/support/testbed/net.js';
import { sleep } from '../test/support/testbed/process.js';
import type { EnvelopeResult } from '../test/support/testbed/smtp-sender.js';

const { values } = parseArgs({
  options: {
    'cbv-root': { type: 'string', default: resolve(import.meta.dirname, '..') },
    label: { type: 'string', default: 'this tree' },
    scenario: { type: 'string', default: 'forged' },
    victim: { type: 'string', default: 'user_unknown' },
    domains: { type: 'string', default: '100' },
    retry: { type: 'string' },
    'greylist-delay': { type: 'string', default: '60' },
    tarpit: { type: 'string', default: '10' },
    senders: { type: 'string', default: '500' },
    clients: { type: 'string', default: '20' },
    runs: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});
const root = resolve(values['cbv-root']);
const senders = Number(values.senders);
const clients = Number(values.clients);
const runs = Number(values.runs);
const scenario = values.scenario;
if (!['forged', 'busy', 'hosted'].includes(scenario)) throw new Error(`--scenario: forged, busy or hosted`);
const busy = scenario === 'busy';
const victim = values.victim as VictimBehaviour;
if (!VICTIM_BEHAVIOURS.includes(victim)) throw new Error(`--victim: one of ${VICTIM_BEHAVIOURS.join(', ')}`);
const hostedDomains = Number(values.domains);
const retryS = values.retry === undefined ? null : Number(values.retry);

/** `cbv serve` from `root`, with a config of its own, stopped by PID. */
async function startCbv(dns: string, smtpPort: number): Promise<CbvUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'cbv-flood-bench-'));
  const policyPort = await freePort(['127.0.0.1']);
  const config = join(dir, 'cbv.yaml');
  writeFileSync(
    config,
    [
      `dns: { servers: ["${dns}"] }`,
      `verify: { port: ${smtpPort}, allow_targets: ["127.0.0.0/8"], helo_name: verifier.test }`,
      `cache: { backend: memory }`,
      `policy: { listen: ["127.0.0.1:${policyPort}"] }`,
      `http: { enabled: false }`,
      `logging: { level: warn }`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'src/main.ts'), 'serve', '--config', config],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (let i = 0; !(await tcpAnswers('127.0.0.1', policyPort)); i++) {
    if (i > 300 || child.exitCode !== null) throw new Error(`cbv serve from ${root} did not start`);
    await sleep(100);
  }
  return {
    policy: `127.0.0.1:${policyPort}`,
    stop: async () => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Run {
  connections: number;
  /** The --retry round: connections it added, and how its senders were answered. */
  retry?: Omit<Run, 'retry'>;
  deferred: number;
  rejected: number;
  accepted: number;
  unanswered: number;
  seconds: number;
}

/** How a round of senders was answered, and what it cost the victim's MX. */
function tally(results: EnvelopeResult[], connections: number, seconds: number): Omit<Run, 'retry'> {
  const count = (d: number) => results.filter((r) => r.rcpt && Math.floor(r.rcpt.code / 100) === d).length;
  return {
    connections,
    deferred: count(4),
    rejected: count(5),
    accepted: count(2),
    unanswered: results.filter((r) => !r.rcpt).length,
    seconds,
  };
}

/** The senders of one run: existing users, or forged local parts at one domain or at many. */
function sendersOf(domain: string, existing: readonly string[]): string[] {
  if (busy) return existing.map((u) => `${u}@${domain}`);
  const local = (i: number) => `r${String(i + 1).padStart(4, '0')}`;
  if (scenario === 'hosted') {
    const domains = rigHosted('victim', hostedDomains);
    return Array.from({ length: senders }, (_, i) => `${local(i)}@${domains[i % domains.length] ?? ''}`);
  }
  return Array.from({ length: senders }, (_, i) => `${local(i)}@${domain}`);
}

async function oneRun(run: number): Promise<Run> {
  const domain = `${busy ? 'busy' : 'forged'}${run}.test`;
  const existing = Array.from({ length: senders }, (_, i) => `user${i + 1}`);
  const rig = await startFloodRig({
    domains: { victim: domain },
    users: busy ? existing : ['postmaster'],
    behaviour: { victim },
    ...(scenario === 'hosted' ? { hosted: { victim: hostedDomains } } : {}),
    greylistDelaySeconds: Number(values['greylist-delay']),
    tarpitSeconds: Number(values.tarpit),
    cbv: (dns, port) => startCbv(dns.server, port),
  });
  try {
    const startup = await rig.connections('victim');
    const from = sendersOf(domain, existing);
    const started = performance.now();
    const results = await rig.send(from, clients, busy ? 1000 : 0);
    const seconds = (performance.now() - started) / 1000;
    await sleep(5000);
    const connections = (await rig.connections('victim')) - startup;
    const first = tally(results, connections, seconds);
    if (retryS === null) return first;
    await sleep(Math.max(0, retryS * 1000 - 5000));
    const again = performance.now();
    const retried = await rig.send(from, clients, busy ? 1000 : 0);
    const retrySeconds = (performance.now() - again) / 1000;
    await sleep(5000);
    const total = (await rig.connections('victim')) - startup;
    return { ...first, retry: tally(retried, total - connections, retrySeconds) };
  } finally {
    await rig.stop();
  }
}

const results: Run[] = [];
for (let run = 1; run <= runs; run++) {
  const r = await oneRun(run);
  results.push(r);
  const line = (x: Omit<Run, 'retry'>) =>
    `${x.connections} connections; ${x.deferred} deferred, ${x.rejected} rejected, ${x.accepted} accepted, ${x.unanswered} unanswered; ${x.seconds.toFixed(1)} s`;
  console.log(`run ${run}: ${line(r)}`);
  if (r.retry) console.log(`run ${run} retry after ${retryS} s: ${line(r.retry)}`);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const summary = {
  label: values.label,
  scenario,
  victim,
  ...(scenario === 'hosted' ? { domains: hostedDomains } : {}),
  ...(retryS === null ? {} : { retryAfterS: retryS }),
  root,
  senders,
  clients,
  runs: results,
  median: {
    connections: median(results.map((r) => r.connections)),
    deferredShare: median(results.map((r) => r.deferred / senders)),
    rejectedShare: median(results.map((r) => r.rejected / senders)),
    acceptedShare: median(results.map((r) => r.accepted / senders)),
    seconds: median(results.map((r) => r.seconds)),
    ...(retryS === null ? {} : { retryConnections: median(results.map((r) => r.retry?.connections ?? 0)) }),
  },
};
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
console.log(
  `${values.label}: ${senders} ${busy ? 'existing' : 'forged'} senders${scenario === 'hosted' ? ` at ${hostedDomains} domains` : ''}, victim ${victim}, ${clients} clients: median ${summary.median.connections} connections to the MX${retryS === null ? '' : ` (+${summary.median.retryConnections} for the retry)`}; deferred ${pct(summary.median.deferredShare)}, rejected ${pct(summary.median.rejectedShare)}, accepted ${pct(summary.median.acceptedShare)}; ${summary.median.seconds.toFixed(1)} s`,
);
if (values.json) writeFileSync(values.json, `${JSON.stringify(summary, null, 2)}\n`);
