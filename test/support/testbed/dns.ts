/**
 * A real recursive resolver (Debian's Unbound) on 127.0.0.1:<free port>, serving a test zone.
 *
 * Why Unbound and not a toy server: SERVFAIL and timeouts are what a *resolver* produces when a
 * delegation is broken or its servers stay silent, so the bed reproduces them the same way:
 *   - every name is under `local-zone: "." static`, so nothing is ever asked of the internet and
 *     any undefined name is NXDOMAIN;
 *   - a "servfail" name is delegated (stub-zone) to a name server whose own name does not
 *     resolve, a broken delegation that Unbound answers with SERVFAIL within milliseconds;
 *   - a "timeout" name is delegated to a UDP socket in this process that reads and never replies,
 *     so Unbound never answers and the client's query times out.
 */
import { createSocket, type Socket } from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dnsAnswers, freePort } from './net.js';
import { inTempDir, once, removeTempDir, spawnDaemon, waitUntilReady } from './process.js';

export type RecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'CNAME' | 'NS' | 'PTR';

export interface DnsRecord {
  /** Owner name, ASCII (IDNs as A-labels, e.g. xn--bcher-kva.test); trailing dot optional. */
  name: string;
  type: RecordType;
  /** Presentation form: "10 mx.ok.test", "0 .", "127.0.1.1", or plain text for TXT. */
  value: string;
  ttl?: number;
}

export interface DnsZone {
  records: readonly DnsRecord[];
  /** Names (and everything below them) whose lookups end in SERVFAIL. */
  servfail?: readonly string[];
  /** Names (and everything below them) whose lookups are never answered. */
  timeout?: readonly string[];
  /** Names (and everything below them) the resolver answers with REFUSED. */
  refused?: readonly string[];
}

export interface DnsServer {
  /** "127.0.0.1:PORT", for dns.Resolver#setServers and the like. */
  server: string;
  host: string;
  port: number;
  pid: number;
  dir: string;
  logTail(): string;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const UNBOUND = '/usr/sbin/unbound';

export function fqdn(name: string): string {
  const lower = name.toLowerCase();
  if (!/^[a-z0-9._-]*$/.test(lower)) throw new Error(`DNS name must be ASCII (use the A-label): ${name}`);
  return lower.endsWith('.') ? lower : `${lower}.`;
}

function rdata(record: DnsRecord): string {
  switch (record.type) {
    case 'TXT':
      if (/['"\\]/.test(record.value)) throw new Error(`TXT text may not contain quotes: ${record.value}`);
      return `"${record.value}"`;
    case 'MX': {
      const [preference, exchange] = record.value.trim().split(/\s+/);
      if (preference === undefined || exchange === undefined) throw new Error(`bad MX: ${record.value}`);
      return `${preference} ${exchange === '.' ? '.' : fqdn(exchange)}`;
    }
    case 'CNAME':
    case 'NS':
    case 'PTR':
      return fqdn(record.value);
    default:
      return record.value.trim();
  }
}

export function unboundConfig(zone: DnsZone, dir: string, port: number, silentPort: number): string {
  const lines = [
    'server:',
    `  interface: ${HOST}@${port}`,
    `  port: ${port}`,
    '  do-ip4: yes',
    '  do-ip6: no',
    '  do-udp: yes',
    '  do-tcp: yes',
    // Foreground, as root, no chroot, stderr logging: it is a child of the test, nothing more.
    '  do-daemonize: no',
    '  username: ""',
    '  chroot: ""',
    `  directory: "${dir}"`,
    '  pidfile: ""',
    '  use-syslog: no',
    '  logfile: ""',
    '  verbosity: 1',
    '  num-threads: 1',
    // Without SO_REUSEPORT a port clash fails loudly instead of two servers sharing the port.
    '  so-reuseport: no',
    // No DNSSEC validation (no trust anchors exist for .test), just iteration to our stubs.
    '  module-config: "iterator"',
    '  qname-minimisation: no',
    // Our stub targets live on 127.0.0.1.
    '  do-not-query-localhost: no',
    `  access-control: 127.0.0.0/8 allow`,
    // Isolation: every name not defined below is answered locally, never looked up upstream.
    '  local-zone: "." static',
    '  local-zone: "test." static',
    `  local-data: 'test. 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60'`,
  ];
  for (const record of zone.records) {
    lines.push(
      `  local-data: '${fqdn(record.name)} ${record.ttl ?? 300} IN ${record.type} ${rdata(record)}'`,
    );
  }
  for (const name of zone.refused ?? []) lines.push(`  local-zone: "${fqdn(name)}" refuse`);
  const stubs: string[] = [];
  // A stub-zone is only consulted if no local-zone claims the name, hence "transparent".
  for (const name of zone.servfail ?? []) {
    lines.push(`  local-zone: "${fqdn(name)}" transparent`);
    stubs.push('stub-zone:', `  name: "${fqdn(name)}"`, '  stub-host: "ns.broken-delegation.invalid."');
  }
  for (const name of zone.timeout ?? []) {
    lines.push(`  local-zone: "${fqdn(name)}" transparent`);
    stubs.push('stub-zone:', `  name: "${fqdn(name)}"`, `  stub-addr: ${HOST}@${silentPort}`);
  }
  return [...lines, ...stubs, 'remote-control:', '  control-enable: no', ''].join('\n');
}

/** A UDP socket that reads DNS queries and never replies (and so sends no ICMP unreachable). */
async function silentUdpListener(): Promise<{ socket: Socket; port: number }> {
  const socket = createSocket('udp4');
  socket.on('message', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: HOST, port: 0 }, () => resolve());
  });
  socket.unref();
  return { socket, port: socket.address().port };
}

export async function startDns(zone: DnsZone): Promise<DnsServer> {
  return inTempDir('unbound', async (dir) => {
    const silent = await silentUdpListener();
    const closeSilent = (): Promise<void> => new Promise((resolve) => silent.socket.close(() => resolve()));
    try {
      const port = await freePort([HOST], true);
      const config = join(dir, 'unbound.conf');
      await writeFile(config, unboundConfig(zone, dir, port, silent.port));
      const daemon = spawnDaemon({ name: 'unbound', command: UNBOUND, args: ['-d', '-c', config], dir });
      await waitUntilReady(daemon, `DNS on ${HOST}:${port}`, () => dnsAnswers(HOST, port));
      return {
        server: `${HOST}:${port}`,
        host: HOST,
        port,
        pid: daemon.pid,
        dir,
        logTail: () => daemon.logTail(),
        stop: once(async () => {
          await daemon.stop();
          await closeSilent();
          await removeTempDir(dir);
        }),
      };
    } catch (err) {
      await closeSilent();
      throw err;
    }
  });
}
