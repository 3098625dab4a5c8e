/**
 * The whole mail test bed in one call: Unbound serving the default zone, postgrey, the Postfix
 * remotes and Exim, all on loopback, all on one SMTP port (told apart by address).
 */
import type { DnsRecord, DnsServer, DnsZone } from './dns.js';
import { startDns } from './dns.js';
import { startExim, type Exim } from './exim.js';
import { assertLoopback, freePort } from './net.js';
import { startPostfixRemotes, type PostfixRemotes } from './postfix-remotes.js';
import { startPostgrey, type Postgrey } from './postgrey.js';
import { once } from './process.js';
import { DEFAULT_IPS, defaultZone, type TestbedIps } from './zone.js';

export interface MailTestbedOptions {
  /** Override some listener addresses (all must be in 127.0.0.0/8). */
  ips?: Partial<TestbedIps>;
  /** Records added to the default zone. */
  extraRecords?: readonly DnsRecord[];
  /** postgrey --delay; default 60 s, so a retry within a test stays greylisted. */
  greylistDelaySeconds?: number;
}

export interface MailTestbed {
  dns: DnsServer;
  /** The port every remote SMTP server listens on (on its own address). */
  smtpPort: number;
  ip: TestbedIps;
  zone: DnsZone;
  postgrey: Postgrey;
  postfix: PostfixRemotes;
  exim: Exim;
  /** PIDs of every server process started (each leads its own process group). */
  pids: number[];
  stop(): Promise<void>;
}

export async function startMailTestbed(options: MailTestbedOptions = {}): Promise<MailTestbed> {
  const ip: TestbedIps = { ...DEFAULT_IPS, ...options.ips };
  Object.values(ip).forEach(assertLoopback);
  const zone = defaultZone(ip, options.extraRecords);
  const smtpPort = await freePort(Object.values(ip));
  const { exim: eximIp, dead: _dead, ...remoteIps } = ip;

  // postgrey must be up before the Postfix remotes (they point at it); the rest start meanwhile.
  const remotes = async (): Promise<{
    postgrey: Postgrey;
    postfix: PostfixRemotes;
    stop(): Promise<void>;
  }> => {
    const postgrey = await startPostgrey({ delaySeconds: options.greylistDelaySeconds ?? 60 });
    try {
      const postfix = await startPostfixRemotes(remoteIps, {
        port: smtpPort,
        policyService: postgrey.server,
      });
      const stop = async (): Promise<void> => {
        await Promise.all([postfix.stop(), postgrey.stop()]);
      };
      return { postgrey, postfix, stop };
    } catch (err) {
      await postgrey.stop();
      throw err;
    }
  };
  const settled = await Promise.allSettled([
    startDns(zone),
    startExim({ ip: eximIp, port: smtpPort }),
    remotes(),
  ] as const);
  const [dnsStart, eximStart, remotesStart] = settled;
  if (
    dnsStart.status !== 'fulfilled' ||
    eximStart.status !== 'fulfilled' ||
    remotesStart.status !== 'fulfilled'
  ) {
    // Whatever did come up is stopped before the first error is reported.
    await Promise.all(
      settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value.stop()] : [])),
    );
    const reason: unknown = settled.find((result) => result.status === 'rejected')?.reason;
    throw reason instanceof Error ? reason : new Error(String(reason));
  }
  const dns = dnsStart.value;
  const exim = eximStart.value;
  const { postgrey, postfix } = remotesStart.value;

  return {
    dns,
    smtpPort,
    ip,
    zone,
    postgrey,
    postfix,
    exim,
    pids: [dns.pid, postgrey.pid, postfix.pid, exim.pid],
    stop: once(async () => {
      await Promise.all([dns.stop(), postgrey.stop(), postfix.stop(), exim.stop()]);
    }),
  };
}
