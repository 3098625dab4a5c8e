/**
 * The forged-flood rig (seed 001, issue 10): a real inbound Postfix that asks cbv at RCPT
 * (check_policy_service with policy_context=sender, as docs/postfix.md shows), and a real Postfix
 * as the MX of the sender domains, whose log counts the SMTP connections each domain's MX gets.
 *
 *   SMTP clients (127.0.7.100, outside mynetworks) -> inbound Postfix (127.0.7.10) -> cbv policy
 *   cbv callouts -> Unbound (the rig's zone) -> victim Postfix, one listener per domain (127.0.7.1..)
 *
 * Every listener of the victim knows the same users (VICTIM_USERS plus what the caller adds);
 * anything else is "550 5.1.1 User unknown". The caller brings cbv: in-process for the interop
 * test, a child process for the benchmark.
 */
import { readFile } from 'node:fs/promises';
import { startDns, type DnsServer } from './dns.js';
import { freePort } from './net.js';
import { startPostfix, type PostfixInstance } from './postfix.js';
import { startReceivingPostfix, type ReceivingPostfix } from './receiving-postfix.js';
import { sendAll, type Envelope, type EnvelopeResult } from './smtp-sender.js';

export const RIG_CLIENT = '127.0.7.100';
const INBOUND_IP = '127.0.7.10';
const RECIPIENT = 'rcpt@inbox.test';

export interface CbvUnderTest {
  /** "127.0.0.1:PORT" of its policy server. */
  policy: string;
  stop(): Promise<void>;
}

export interface FloodRigOptions {
  /** label -> sender domain; each gets its own listener (and syslog name postfix/<label>) at the victim. */
  domains: Record<string, string>;
  /** Local parts that exist at every domain. */
  users: readonly string[];
  /**
   * label -> how many subdomains (s0000.<domain> ...) have the same MX as the domain, as a
   * wildcard MX gives them; the victim answers for them on the domain's listener.
   */
  subdomains?: Record<string, number>;
  /** Starts cbv against the rig's DNS and the victim's SMTP port. */
  cbv(dns: DnsServer, smtpPort: number): Promise<CbvUnderTest>;
}

export interface FloodRig {
  dns: DnsServer;
  victim: PostfixInstance;
  inbound: ReceivingPostfix;
  cbv: CbvUnderTest;
  /** SMTP connections the MX of this domain label has logged so far. */
  connections(label: string): Promise<number>;
  /** Envelopes from senders to the inbound Postfix's mailbox, `clients` sessions in parallel. */
  send(froms: readonly string[], clients: number, paceMs?: number): Promise<EnvelopeResult[]>;
  stop(): Promise<void>;
}

function victimMainCf(configDir: string): string {
  return [
    'myhostname = mx.victim.test',
    'mydestination = static:all',
    `local_recipient_maps = texthash:${configDir}/users`,
    'smtpd_relay_restrictions = reject_unauth_destination',
    'smtpd_recipient_restrictions =',
  ].join('\n');
}

function victimMasterCf(labels: readonly string[], port: number): string {
  return labels
    .flatMap((label, i) => [
      `127.0.7.${i + 1}:${port} inet n - n - - smtpd`,
      `  -o syslog_name=postfix/${label}`,
    ])
    .join('\n');
}

/** The subdomains the rig gives `domain`: s0000.<domain>, s0001.<domain>, ... */
export function rigSubdomains(domain: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `s${String(i).padStart(4, '0')}.${domain}`);
}

export async function startFloodRig(options: FloodRigOptions): Promise<FloodRig> {
  const labels = Object.keys(options.domains);
  const ips = labels.map((_, i) => `127.0.7.${i + 1}`);
  const stops: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const dns = await startDns({
      records: labels.flatMap((label, i) => {
        const domain = options.domains[label] ?? '';
        return [
          { name: domain, type: 'MX' as const, value: `10 mx.${domain}` },
          { name: `mx.${domain}`, type: 'A' as const, value: ips[i] ?? '' },
          ...rigSubdomains(domain, options.subdomains?.[label] ?? 0).map((name) => ({
            name,
            type: 'MX' as const,
            value: `10 mx.${domain}`,
          })),
        ];
      }),
    });
    stops.push(() => dns.stop());
    const port = await freePort(ips);
    const victim = await startPostfix({
      name: 'postfix-victim',
      mainCf: (dirs) => victimMainCf(dirs.configDir),
      masterCf: victimMasterCf(labels, port),
      files: { users: options.users.map((u) => `${u} ${u}\n`).join('') },
    });
    stops.push(() => victim.stop());
    const cbv = await options.cbv(dns, port);
    stops.push(() => cbv.stop());
    const policy = `check_policy_service { inet:${cbv.policy}, timeout=30s, default_action=DUNNO, policy_context=sender }`;
    const inbound = await startReceivingPostfix({
      listeners: [
        {
          name: 'inbound',
          ip: INBOUND_IP,
          senderRestrictions: ['permit_mynetworks', 'reject_unauth_destination', policy].join(', '),
          recipientRestrictions: ['permit_mynetworks', 'reject_unauth_destination'].join(', '),
        },
      ],
      mailDomain: 'inbox.test',
      mailboxes: ['rcpt'],
      mynetworks: '127.0.0.1/32',
    });
    stops.push(() => inbound.stop());
    const connect = (label: string) => new RegExp(`postfix/${label}/smtpd\\[\\d+\\]: connect from `, 'g');
    return {
      dns,
      victim,
      inbound,
      cbv,
      connections: async (label) =>
        ((await readFile(victim.logFile, 'utf8').catch(() => '')).match(connect(label)) ?? []).length,
      send: (froms, clients, paceMs) =>
        sendAll(
          froms.map((from): Envelope => ({ from, to: RECIPIENT })),
          { server: inbound.at('inbound'), localAddress: RIG_CLIENT, clients, ...(paceMs ? { paceMs } : {}) },
        ),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
