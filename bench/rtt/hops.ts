/**
 * Where the time of a fresh verification goes, from a packet capture: each turn of the session
 * (a packet from one side answered by the other) minus the one-way delay is the time that side
 * took to answer. Run by `bash bench/run.sh rtt --pcap` after bench/rtt.ts:
 *
 *   node --import tsx bench/rtt/hops.ts bench/results/tmp/rtt.pcap bench/results/rtt.json
 *
 * tcpdump on lo sees a packet when it leaves the NFQUEUE hold, that is when it reaches the other
 * side; so capture(answer) - capture(question) = one-way delay + the answering side's time. The
 * one-way delay is taken as half the ping RTT (ping crosses the same hold twice).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { round, table, writeResult } from '../lib/report.js';
import { median } from '../lib/stats.js';

interface Packet {
  t: number; // ms since the epoch
  fromClient: boolean;
  clientPort: string;
  flags: string;
  length: number;
  text: string;
}

interface RttResults {
  pingRttMs: { before: number };
  results: { phase: string; mode: string; samples: { ms: number; startEpochMs: number }[] }[];
}

function readCapture(file: string): Packet[] {
  const out = execFileSync('tcpdump', ['-r', file, '-n', '-tt'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 64 << 20,
  });
  const packets: Packet[] = [];
  const re =
    /^(\d+\.\d+) IP (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+): Flags \[([^\]]+)\].*?length (\d+)(?:: SMTP(?:: (.*))?)?$/;
  for (const line of out.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const fromClient = m[5] === '25';
    packets.push({
      t: Number(m[1]) * 1000,
      fromClient,
      clientPort: fromClient ? (m[3] ?? '') : (m[5] ?? ''),
      flags: m[6] ?? '',
      length: Number(m[7]),
      text: (m[8] ?? '').split(/[\s-]/)[0] ?? '',
    });
  }
  return packets;
}

/**
 * The packets that carry the session forward: SYN, SYN-ACK, the handshake ACK, then data up to
 * RSET/QUIT (or, over TLS where commands cannot be read, up to the verdict). A bare ACK is on the
 * path when the side that sent the last data waited for it before sending more (Nagle holding a
 * small write until its previous small segment is acknowledged): that wait is then a step.
 */
function criticalPath(flow: Packet[], endMs: number): Packet[] {
  const path: Packet[] = [];
  for (let i = 0; i < flow.length; i++) {
    const p = flow[i] as Packet;
    if (p.t > endMs) break;
    const handshake = p.flags === 'S' || p.flags === 'S.' || (path.length === 2 && p.fromClient);
    if (handshake && path.length < 3) {
      path.push(p);
      continue;
    }
    const last = path.at(-1);
    if (p.length === 0) {
      const nextData = flow.slice(i + 1).find((q) => q.length > 0 && q.t <= endMs);
      const waitedFor =
        last &&
        last.length > 0 &&
        last.fromClient !== p.fromClient &&
        nextData?.fromClient === last.fromClient;
      if (waitedFor) path.push(p);
      continue;
    }
    if (p.fromClient && /^(RSET|QUIT)/.test(p.text)) break;
    if (last && last.fromClient === p.fromClient && last.length > 0) continue; // same turn, later segment
    path.push(p);
  }
  return path;
}

/**
 * Names for the packets of a path. After STARTTLS tcpdump cannot read the commands, so TLS
 * segments are named by side and order (c1 = the client's first TLS segment, its ClientHello;
 * s1 = the server's first flight, ServerHello to Finished; ...), the same in every session.
 */
function labels(path: Packet[]): string[] {
  const count = { c: 0, s: 0 };
  return path.map((p) => {
    if (p.flags === 'S') return 'SYN';
    if (p.flags === 'S.') return 'SYN-ACK';
    if (p.length === 0) return 'ACK';
    if (p.text) return p.text;
    const side = p.fromClient ? 'c' : 's';
    count[side]++;
    return `TLS ${side}${count[side]}`;
  });
}

function main(): void {
  const [captureFile, resultsFile] = process.argv.slice(2);
  if (!captureFile || !resultsFile) throw new Error('usage: hops.ts CAPTURE.pcap rtt.json');
  const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as RttResults;
  const oneWay = results.pingRttMs.before / 2;
  const packets = readCapture(captureFile);
  const report: Record<string, unknown>[] = [];
  for (const mode of results.results) {
    const rows = new Map<string, number[]>();
    const add = (key: string, value: number): void => {
      rows.set(key, [...(rows.get(key) ?? []), value]);
    };
    // The packets of the session closest to the median, as tcpdump saw them (sizes included).
    const mid = median(mode.samples.map((x) => x.ms));
    const typical = mode.samples.reduce((a, b) => (Math.abs(b.ms - mid) < Math.abs(a.ms - mid) ? b : a));
    let timeline: { p: Packet; name: string }[] = [];
    for (const sample of mode.samples) {
      const syn = packets.find((p) => p.flags === 'S' && p.t >= sample.startEpochMs);
      if (!syn) continue;
      const path = criticalPath(
        packets.filter((p) => p.clientPort === syn.clientPort && p.t >= syn.t),
        sample.startEpochMs + sample.ms,
      );
      const names = labels(path);
      add('client: verify() -> SYN sent', syn.t - oneWay - sample.startEpochMs);
      for (let i = 1; i < path.length; i++) {
        const [prev, cur] = [path[i - 1], path[i]];
        if (!prev || !cur) continue;
        const who = cur.fromClient ? 'client' : 'server';
        add(`${String(i).padStart(2)}. ${who}: ${names[i - 1]} -> ${names[i]}`, cur.t - prev.t - oneWay);
      }
      const last = path.at(-1);
      if (last) add(`client: ${names.at(-1)} -> verdict`, sample.startEpochMs + sample.ms - last.t);
      if (sample === typical) timeline = path.map((p, i) => ({ p, name: names[i] ?? '' }));
      add('one-way delays on the path', path.length * oneWay);
      add('total (verify() wall time)', sample.ms);
    }
    const table_ = [...rows].map(([what, v]) => [what, round(median(v), 2), round(Math.max(...v), 2)]);
    console.log(
      `\n${mode.phase}, ${mode.mode}: median time per step, ms (one-way delay ${round(oneWay, 2)} ms taken out)`,
    );
    console.log(table(['step', 'median ms', 'max ms'], table_));
    const t0 = timeline[0]?.p.t ?? 0;
    console.log(`path of the session closest to the median (${round(typical.ms, 1)} ms), t since SYN:`);
    for (const { p, name } of timeline)
      console.log(
        `  ${round(p.t - t0, 1)
          .toFixed(1)
          .padStart(6)} ms  ${p.fromClient ? 'C ->' : '<- S'}  ${name} [${p.flags}] ${p.length} B`,
      );
    report.push({
      mode: mode.mode,
      oneWayMs: oneWay,
      steps: Object.fromEntries(table_.map((r) => [r[0], r[1]])),
    });
  }
  console.log(`results: ${writeResult('rtt-hops', { source: captureFile, report })}`);
}

main();
