/**
 * The forged-flood rig (seed 001, issue 10): a real inbound Postfix that asks cbv at RCPT
 * (check_policy_service with policy_context=sender, as docs/postfix.md shows), and a real Postfix
 * as the MX of the sender domains, whose log counts the SMTP connections each domain's MX gets.
 *
 *   SMTP clients (127.0.7.100, outside mynetworks) -> inbound Postfix (127.0.7.10) -> cbv policy
 *   cbv callouts -> Unbound (the rig's zone) -> victim Postfix, one listener per domain (127.0.7.1..)
 *
 * Every listener of the victim knows the same users (what the caller gives); anything else is
 * "550 5.1.1 User unknown", unless the label's VictimBehaviour makes that listener an MX that
 * gives no information (4xx to every unknown RCPT, greylisting, 421 at connect, 4xx to MAIL
 * FROM, a tarpit). A label may also host other registrable domains on the same listener
 * (`hosted`: one provider's MX for many small domains). The caller brings cbv: in-process for the
 * interop test, a child process for the benchmark.
 */
import { readFile } from 'node:fs/promises';
import { startDns, type DnsServer } from './dns.js';
import { freePort } from './net.js';
import { startPostfix, type PostfixInstance } from './postfix.js';
import { startPostgrey } from './postgrey.js';
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

/**
 * How one label's listener answers, each a real Postfix setting (master.cf -o):
 * - user_unknown: 550 5.1.1 for an unknown RCPT (the default);
 * - tempfail: `unknown_local_recipient_reject_code = 450`, 450 4.1.1 for every unknown RCPT;
 * - soft_bounce: `soft_bounce = yes`, every 5xx reply of smtpd becomes a 4xx;
 * - greylist: postgrey on every RCPT (real greylisting: the same triplet passes after
 *   `greylistDelaySeconds`, and is then 550 if unknown);
 * - greeting_421: `421 4.3.2` at connect (smtpd_delay_reject = no, a client access map), then
 *   the connection closes;
 * - mail_4xx: `451 4.3.0` to every MAIL FROM;
 * - tarpit: each RCPT waits `tarpitSeconds` (a `sleep` restriction) before its answer.
 */
export type VictimBehaviour =
  'user_unknown' | 'tempfail' | 'soft_bounce' | 'greylist' | 'greeting_421' | 'mail_4xx' | 'tarpit';

export const VICTIM_BEHAVIOURS: readonly VictimBehaviour[] = [
  'user_unknown',
  'tempfail',
  'soft_bounce',
  'greylist',
  'greeting_421',
  'mail_4xx',
  'tarpit',
];

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
  /**
   * label -> how many other registrable domains (rigHosted(label, n): h0000-<label>.test ...) the
   * label's listener is the MX of, as one provider hosts many small domains on one MX host.
   */
  hosted?: Record<string, number>;
  /** label -> how its listener answers (default user_unknown). */
  behaviour?: Record<string, VictimBehaviour>;
  /** postgrey's delay for 'greylist' listeners (default 60 s). */
  greylistDelaySeconds?: number;
  /** How long a 'tarpit' listener stalls each RCPT (default 10 s). */
  tarpitSeconds?: number;
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

/** The master.cf -o overrides that make a listener behave as `behaviour` says. */
function behaviourOverrides(
  behaviour: VictimBehaviour,
  options: { postgrey: string | null; tarpitSeconds: number },
): string[] {
  switch (behaviour) {
    case 'user_unknown':
      return [];
    case 'tempfail':
      return ['-o unknown_local_recipient_reject_code=450'];
    case 'soft_bounce':
      return ['-o soft_bounce=yes'];
    case 'greylist':
      return [`-o { smtpd_recipient_restrictions = check_policy_service inet:${options.postgrey ?? ''} }`];
    case 'greeting_421':
      return [
        '-o smtpd_delay_reject=no',
        '-o { smtpd_client_restrictions = check_client_access static:{421 4.3.2 Service shutting down} }',
      ];
    case 'mail_4xx':
      return [
        '-o smtpd_delay_reject=no',
        '-o { smtpd_sender_restrictions = check_sender_access static:{451 4.3.0 Try again later} }',
      ];
    case 'tarpit':
      return [`-o { smtpd_recipient_restrictions = sleep ${options.tarpitSeconds} }`];
  }
}

function victimMasterCf(
  labels: readonly string[],
  port: number,
  overrides: (label: string) => string[],
): string {
  return labels
    .flatMap((label, i) => [
      `127.0.7.${i + 1}:${port} inet n - n - - smtpd`,
      `  -o syslog_name=postfix/${label}`,
      ...overrides(label).map((o) => `  ${o}`),
    ])
    .join('\n');
}

/** The subdomains the rig gives `domain`: s0000.<domain>, s0001.<domain>, ... */
export function rigSubdomains(domain: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `s${String(i).padStart(4, '0')}.${domain}`);
}

/**
 * The other registrable domains the rig hosts on `label`'s listener: h0000-<label>.test,
 * h0001-<label>.test, ... (each its own site: nothing but their MX host ties them together).
 */
export function rigHosted(label: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `h${String(i).padStart(4, '0')}-${label}.test`);
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
          ...[
            ...rigSubdomains(domain, options.subdomains?.[label] ?? 0),
            ...rigHosted(label, options.hosted?.[label] ?? 0),
          ].map((name) => ({ name, type: 'MX' as const, value: `10 mx.${domain}` })),
        ];
      }),
    });
    stops.push(() => dns.stop());
    const behaviour = (label: string): VictimBehaviour => options.behaviour?.[label] ?? 'user_unknown';
    let postgrey: string | null = null;
    if (labels.some((label) => behaviour(label) === 'greylist')) {
      // Auto-whitelisting off: every new triplet of the verifier's one address stays greylisted.
      const grey = await startPostgrey({
        delaySeconds: options.greylistDelaySeconds ?? 60,
        autoWhitelistClients: 0,
      });
      stops.push(() => grey.stop());
      postgrey = grey.server;
    }
    const tarpitSeconds = options.tarpitSeconds ?? 10;
    const port = await freePort(ips);
    const victim = await startPostfix({
      name: 'postfix-victim',
      mainCf: (dirs) => victimMainCf(dirs.configDir),
      masterCf: victimMasterCf(labels, port, (label) =>
        behaviourOverrides(behaviour(label), { postgrey, tarpitSeconds }),
      ),
      // A greeting_421 listener is up when it turns a client away.
      readyGreeting: /^(220|421) /,
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
