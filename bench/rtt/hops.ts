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
    /^(\d+\.\d+) IP (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+): Flags \[([^\]]+)\].*?length (\d+)(?:: SMTP: (.*))?$/;
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

/** The packets that carry the session forward: SYN, SYN-ACK, the handshake ACK, then data up to RSET/QUIT. */
function criticalPath(flow: Packet[]): Packet[] {
  const path: Packet[] = [];
  for (const p of flow) {
    const handshake = p.flags === 'S' || p.flags === 'S.' || (path.length === 2 && p.fromClient);
    if (handshake && path.length < 3) {
      path.push(p);
      continue;
    }
    if (p.length === 0) continue;
    if (p.fromClient && /^(RSET|QUIT)/.test(p.text)) break;
    const last = path.at(-1);
    if (last && last.fromClient === p.fromClient && last.length > 0) continue; // same turn, later segment
    path.push(p);
  }
  return path;
}

function label(p: Packet): string {
  if (p.flags === 'S') return 'SYN';
  if (p.flags === 'S.') return 'SYN-ACK';
  if (p.length === 0) return 'ACK';
  return p.text || `${p.length} bytes`;
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
    for (const sample of mode.samples) {
      const syn = packets.find((p) => p.flags === 'S' && p.t >= sample.startEpochMs);
      if (!syn) continue;
      const path = criticalPath(packets.filter((p) => p.clientPort === syn.clientPort && p.t >= syn.t));
      add('client: verify() -> SYN sent', syn.t - oneWay - sample.startEpochMs);
      for (let i = 1; i < path.length; i++) {
        const [prev, cur] = [path[i - 1], path[i]];
        if (!prev || !cur) continue;
        const who = cur.fromClient ? 'client' : 'server';
        add(`${String(i).padStart(2)}. ${who}: ${label(prev)} -> ${label(cur)}`, cur.t - prev.t - oneWay);
      }
      const last = path.at(-1);
      if (last) add(`client: ${label(last)} -> verdict`, sample.startEpochMs + sample.ms - last.t);
      add('one-way delays on the path', path.length * oneWay);
      add('total (verify() wall time)', sample.ms);
    }
    const table_ = [...rows].map(([what, v]) => [what, round(median(v), 2), round(Math.max(...v), 2)]);
    console.log(
      `\n${mode.phase}, ${mode.mode}: median time per step, ms (one-way delay ${round(oneWay, 2)} ms taken out)`,
    );
    console.log(table(['step', 'median ms', 'max ms'], table_));
    report.push({
      mode: mode.mode,
      oneWayMs: oneWay,
      steps: Object.fromEntries(table_.map((r) => [r[0], r[1]])),
    });
  }
  console.log(`results: ${writeResult('rtt-hops', { source: captureFile, report })}`);
}

main();
