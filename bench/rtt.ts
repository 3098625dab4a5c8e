/**
 * Measurement 2: how many round trips a fresh verification takes.
 *
 *   bash bench/run.sh rtt [--pcap] [-- --runs 30]
 *
 * run.sh makes a network namespace whose loopback holds every packet 25 ms (NFQUEUE, see
 * rtt/nfq-delay.c), so a round trip is ~50 ms. Here, inside it: ping measures the RTT, a real
 * Postfix offers three listeners (with PIPELINING, without it, and with PIPELINING and STARTTLS),
 * and the engine verifies addresses there with DNS answered from memory, so only SMTP round
 * trips count. The floor is 4 RTT with PIPELINING (connect, greeting, EHLO, MAIL+RCPT+RCPT), 6
 * without, and 7 over STARTTLS (connect, greeting, EHLO, STARTTLS, TLS 1.3 handshake, EHLO,
 * MAIL+RCPT+RCPT); target: median within 1.05x.
 *
 * Each mode is measured twice: first from a fresh process (the code V8 has not compiled yet, as
 * after a restart), then after --warmup verifications against an undelayed listener on port 2525
 * (run.sh exempts that port from the delay), as in a service that is busy.
 */
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Socket } from 'node:net';
import {
  TcpConnector,
  TicketStalls,
  VerificationEngine,
  type Connector,
  type TranscriptLine,
} from '../src/core/index.js';
import { engineOptions } from '../src/config/engine-options.js';
import { parseConfig } from '../src/config/load.js';
import { StaticResolver } from '../test/support/engine.js';
import { startPostfix, type PostfixInstance } from '../test/support/testbed/index.js';
import { startExim } from '../test/support/testbed/exim.js';
import { selfSignedCert, type CertPem } from '../test/support/testbed/tls.js';
import { eximVerify, startEximVerifier } from './rtt/exim-peer.js';
import { assertInBenchNamespace, round, table, writeResult } from './lib/report.js';
import { machine, median } from './lib/stats.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '2000' },
    // Comma-separated subset of the modes' keys (pipe, nopipe, tls, tls-at-once, exim) and exim-peer; default: all.
    only: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const WARMUP = Number(values.warmup);
const WARMUP_PORT = 2525;

interface Mode {
  key: string;
  name: string;
  domain: string;
  ip: string;
  floorRtt: number;
  /** The listener offers STARTTLS: a run counts as right only if the session used TLS 1.3. */
  tls: boolean;
  /**
   * Always send the EHLO after STARTTLS at once, never after the session ticket (a memory of
   * ticket stalls that keeps nothing): cbv as it was before src/core/smtp/ticket-stall.ts.
   */
  ehloAtOnce?: boolean;
}
const MODES: Mode[] = [
  {
    key: 'pipe',
    name: 'PIPELINING offered',
    domain: 'pipe.rtt.test',
    ip: '127.0.1.1',
    floorRtt: 4,
    tls: false,
  },
  {
    key: 'nopipe',
    name: 'no PIPELINING',
    domain: 'nopipe.rtt.test',
    ip: '127.0.1.2',
    floorRtt: 6,
    tls: false,
  },
  {
    key: 'tls',
    name: 'STARTTLS (TLS 1.3) + PIPELINING',
    domain: 'tls.rtt.test',
    ip: '127.0.1.3',
    floorRtt: 7,
    tls: true,
  },
  {
    key: 'tls-at-once',
    name: 'STARTTLS (TLS 1.3) + PIPELINING, EHLO at once (no ticket wait: before the fix)',
    domain: 'tls.rtt.test',
    ip: '127.0.1.3',
    floorRtt: 7,
    tls: true,
    ehloAtOnce: true,
  },
  // The same over Exim's STARTTLS (GnuTLS; no session ticket unless tls_resumption_hosts says so).
  {
    key: 'exim',
    name: 'Exim MX: STARTTLS (TLS 1.3) + PIPELINING',
    domain: 'exim.rtt.test',
    ip: '127.0.1.4',
    floorRtt: 7,
    tls: true,
  },
];
const TLS_MODE = MODES[2] as Mode;
const only = values.only?.split(',');
const MEASURED = MODES.filter((m) => !only || only.includes(m.key));

/** Median ping round trip to 127.0.0.1, in ms (it crosses the delayed loopback as TCP does). */
async function pingRtt(count = 40): Promise<number> {
  const { stdout } = await run('ping', ['-n', '-c', String(count), '-i', '0.05', '127.0.0.1']);
  const times = [...stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (times.length < count / 2) throw new Error(`ping: too few replies\n${stdout}`);
  return median(times);
}

const EXIM_MODE = MODES[4] as Mode;
/** Exim verifying by callout (the peer), on an undelayed port; its callouts go to the TLS Postfix. */
const EXIM_VERIFIER_IP = '127.0.1.5';

async function startMx(pem: CertPem): Promise<PostfixInstance> {
  return startPostfix({
    name: 'postfix-rtt',
    mainCf: (dirs) => `
myhostname = mx.rtt.test
mydestination = static:all
local_recipient_maps = texthash:${dirs.configDir}/local_users
smtpd_relay_restrictions = reject_unauth_destination
smtpd_tls_security_level = none
smtpd_tls_chain_files = ${dirs.configDir}/key.pem, ${dirs.configDir}/cert.pem
# Every probe ends in RSET, so no message ever reaches qmgr to hand back flow-control tokens:
# after ~100 accepted recipients cleanup would then sleep in_flow_delay (1 s) before each new one.
in_flow_delay = 0
`,
    masterCf: [
      '127.0.1.1:25 inet n - n - - smtpd',
      '127.0.1.2:25 inet n - n - - smtpd',
      '  -o { smtpd_discard_ehlo_keywords = pipelining }',
      // STARTTLS offered, not required (what most MXs do); TLS 1.3 is OpenSSL's default.
      `${TLS_MODE.ip}:25 inet n - n - - smtpd`,
      '  -o { smtpd_tls_security_level = may }',
      `127.0.1.1:${WARMUP_PORT} inet n - n - - smtpd`,
      `${TLS_MODE.ip}:${WARMUP_PORT} inet n - n - - smtpd`,
      '  -o { smtpd_tls_security_level = may }',
    ].join('\n'),
    files: { local_users: 'alice alice\n', 'key.pem': pem.key, 'cert.pem': pem.cert },
    readyTimeoutMs: 20_000,
  });
}

/** Records when the engine asked for a connection and when it had it (performance.now()). */
class TimingConnector implements Connector {
  readonly inner = new TcpConnector();
  asked = 0;
  connected = 0;
  async connect(request: Parameters<Connector['connect']>[0]): Promise<Socket> {
    this.asked = performance.now();
    const socket = await this.inner.connect(request);
    this.connected = performance.now();
    return socket;
  }
}

function makeEngine(
  connector: Connector,
  port: number,
  ticketStalls = new TicketStalls(),
): VerificationEngine {
  const config = parseConfig(
    { verify: { helo_name: 'verifier.test', allow_targets: ['127.0.0.0/8'], port } },
    'bench/rtt.ts',
  );
  const zone = Object.fromEntries(
    MODES.map((m) => [m.domain, { mx: [{ exchange: `mx.${m.domain}`, priority: 10 }] }]),
  );
  for (const m of MODES) Object.assign(zone, { [`mx.${m.domain}`]: { a: [m.ip] } });
  return new VerificationEngine(engineOptions(config), {
    resolver: new StaticResolver(zone),
    connector,
    ticketStalls,
  });
}

interface Sample {
  ms: number;
  /** verify() called -> the engine asks the connector for a socket (DNS from memory, checks). */
  preConnectMs: number;
  /** connect() -> connected: one RTT plus the kernel's share. */
  connectMs: number;
  /** Wall-clock start, to line the run up with a packet capture (tcpdump -tt). */
  startEpochMs: number;
  right: boolean;
  transcript: TranscriptLine[];
}

async function measure(
  engine: VerificationEngine,
  timing: TimingConnector,
  mode: Mode,
  runs: number,
): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let i = -2; i < runs; i++) {
    const known = i % 2 === 0;
    const address = known ? `alice@${mode.domain}` : `nobody${i + 2}@${mode.domain}`;
    const t0 = performance.now();
    const verdict = await engine.verify(address, { transcript: true });
    const ms = performance.now() - t0;
    await engine.idle(); // RSET/QUIT of this session are done before the next one starts
    await sleep(20);
    if (i < 0) {
      // Postfix forks its smtpd and cleanup on first use: not counted (but shown).
      firstSessions.push({ mode: mode.name, ms: round(ms, 1) });
      continue;
    }
    samples.push({
      ms,
      preConnectMs: timing.asked - t0,
      connectMs: timing.connected - timing.asked,
      startEpochMs: performance.timeOrigin + t0,
      right:
        verdict.result === (known ? 'deliverable' : 'undeliverable') &&
        (!mode.tls || (verdict.transcript ?? []).some((l) => l.line.startsWith('TLS established (TLSv1.3'))),
      transcript: verdict.transcript ?? [],
    });
  }
  return samples;
}

/**
 * Verifications at loopback speed (port 2525 is not delayed), so V8 has compiled the engine's
 * code: one in four over STARTTLS, so the TLS path is warm too.
 */
async function warmUp(count: number): Promise<number> {
  const engine = makeEngine(new TcpConnector(), WARMUP_PORT);
  let done = 0;
  const worker = async (): Promise<void> => {
    while (done < count) {
      done++;
      const domain = done % 4 === 0 ? TLS_MODE.domain : 'pipe.rtt.test';
      await engine.verify(done % 2 ? `alice@${domain}` : `nobody${done}@${domain}`);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 4 }, worker));
  await engine.idle();
  return (performance.now() - t0) / 1000;
}

type Row = (string | number)[];

/** The two uncounted sessions that open each mode (the first contact with the host), for the record. */
const firstSessions: { mode: string; ms: number }[] = [];

/**
 * The peer: Exim's own callout for the same addresses against the same STARTTLS Postfix, from
 * RCPT written to Exim's answer (its callout is the only delayed part).
 */
async function measureEximPeer(runs: number, rtt: number): Promise<{ row: Row; json: object }> {
  const exim = await startEximVerifier(EXIM_VERIFIER_IP, WARMUP_PORT, TLS_MODE.domain, TLS_MODE.ip);
  const times: number[] = [];
  let wrong = 0;
  try {
    for (let i = -2; i < runs; i++) {
      const known = i % 2 === 0;
      const { ms, reply } = await eximVerify(
        exim,
        known ? `alice@${TLS_MODE.domain}` : `nobody${i + 2}@${TLS_MODE.domain}`,
      );
      await sleep(20);
      if (i < 0) continue;
      times.push(ms);
      if (!reply.startsWith(known ? '250' : '550')) {
        wrong++;
        console.log(`Exim: ${known ? 'alice' : 'nobody'}: ${reply}`);
      }
    }
  } finally {
    await exim.stop();
  }
  const ms = median(times);
  const ratio = ms / rtt / TLS_MODE.floorRtt;
  const phase = 'Exim 4.96 callout (peer), its own process';
  const row = [
    phase,
    TLS_MODE.name,
    times.length,
    round(ms, 1),
    round(ms / rtt, 2),
    TLS_MODE.floorRtt,
    round(ratio, 3),
    ratio <= 1.05 ? 'met' : 'MISSED',
    '-',
    wrong,
  ];
  return {
    row,
    json: {
      phase,
      mode: TLS_MODE.name,
      runs: times.length,
      medianMs: round(ms, 2),
      medianRtts: round(ms / rtt, 3),
      ratioToFloor: round(ratio, 3),
      wrongAnswers: wrong,
      samplesMs: times.map((t) => round(t, 2)),
    },
  };
}

function summarise(phase: string, mode: Mode, samples: Sample[], rtt: number): { row: Row; json: object } {
  const ms = median(samples.map((s) => s.ms));
  const rtts = ms / rtt;
  const ratio = rtts / mode.floorRtt;
  const wrong = samples.filter((s) => !s.right).length;
  const typical = samples.reduce((a, b) => (Math.abs(b.ms - ms) < Math.abs(a.ms - ms) ? b : a));
  console.log(`\n${phase}, ${mode.name}: transcript of a typical run (t = ms since verify() began)`);
  for (const line of typical.transcript)
    console.log(`  ${String(line.t).padStart(4)} ${line.dir} ${line.line}`);
  const row = [
    phase,
    mode.name,
    samples.length,
    round(ms, 1),
    round(rtts, 2),
    mode.floorRtt,
    round(ratio, 3),
    ratio <= 1.05 ? 'met' : 'MISSED',
    round(median(samples.map((s) => s.preConnectMs)), 2),
    wrong,
  ];
  const json = {
    phase,
    mode: mode.name,
    runs: samples.length,
    medianMs: round(ms, 2),
    minMs: round(Math.min(...samples.map((s) => s.ms)), 2),
    maxMs: round(Math.max(...samples.map((s) => s.ms)), 2),
    medianRtts: round(rtts, 3),
    floorRtts: mode.floorRtt,
    ratioToFloor: round(ratio, 3),
    targetMet: ratio <= 1.05,
    wrongAnswers: wrong,
    medianPreConnectMs: round(median(samples.map((x) => x.preConnectMs)), 2),
    medianConnectMs: round(median(samples.map((x) => x.connectMs)), 2),
    samples: samples.map((x) => ({
      ms: round(x.ms, 2),
      preConnectMs: round(x.preConnectMs, 2),
      connectMs: round(x.connectMs, 2),
      startEpochMs: round(x.startEpochMs, 2),
    })),
    typicalTranscript: typical.transcript,
  };
  return { row, json };
}

async function main(): Promise<void> {
  const netns = assertInBenchNamespace();
  console.log(`machine: ${machine()}\nnetwork namespace: ${netns}`);
  const pem = await selfSignedCert(`mx.${TLS_MODE.domain}`);
  const postfix = await startMx(pem);
  const eximMx = await startExim({ ip: EXIM_MODE.ip, port: 25, users: ['alice'], tls: pem });
  const rttBefore = await pingRtt();
  console.log(`ping RTT (median of 40): ${rttBefore} ms`);
  const rows: Row[] = [];
  const results: object[] = [];
  let warmupSeconds = 0;
  const peers: object[] = [];
  try {
    const timing = new TimingConnector();
    const engine = makeEngine(timing, 25);
    // maxHosts 0: remembers no host, so every EHLO after STARTTLS goes out at once.
    const atOnce = makeEngine(timing, 25, new TicketStalls(0));
    for (const phase of ['fresh process', `after ${WARMUP} warm-up verifications`]) {
      if (results.length > 0) warmupSeconds = await warmUp(WARMUP);
      for (const mode of MEASURED) {
        const { row, json } = summarise(
          phase,
          mode,
          await measure(mode.ehloAtOnce ? atOnce : engine, timing, mode, RUNS),
          rttBefore,
        );
        rows.push(row);
        results.push(json);
      }
    }
    if (!only || only.includes('exim-peer')) {
      const { row, json } = await measureEximPeer(RUNS, rttBefore);
      rows.push(row);
      peers.push(json);
    }
  } finally {
    await eximMx.stop();
    await postfix.stop();
  }
  const rttAfter = await pingRtt();
  const headers = [
    'phase',
    'mode',
    'runs',
    'median ms',
    'median / RTT',
    'floor (RTT)',
    'x floor',
    'target <= 1.05x',
    'engine ms before connect',
    'wrong answers',
  ];
  console.log(`\nping RTT ${rttBefore} ms before, ${rttAfter} ms after (the ratios use the one before)`);
  console.log(table(headers, rows));
  console.log(
    `first two (uncounted) sessions of each mode, ms: ${firstSessions.map((f) => `${f.mode} ${f.ms}`).join('; ')}`,
  );
  const path = writeResult('rtt', {
    delay: 'NFQUEUE, 25 ms each way on lo (bench/rtt/nfq-delay.c)',
    pingRttMs: { before: rttBefore, after: rttAfter },
    warmup: { verifications: WARMUP, seconds: round(warmupSeconds, 1) },
    results,
    firstSessions,
    peers,
  });
  console.log(`results: ${path}`);
}

await main();
