/**
 * A receiving Postfix: the MTA under test rather than a remote. One master with one smtpd
 * listener per loopback address, each with the recipient (and sender, data) restrictions the caller names (the
 * first listener's go in main.cf, the others' in main.cf parameters that master.cf -o points at).
 * It delivers for real: virtual mailboxes in maildirs under its temp directory, owned by
 * `nobody`; it relays one domain to a fixed next hop over SMTP; and it offers SASL AUTH PLAIN
 * (Cyrus, with users in a sasldb of its own, written by saslpasswd2).
 */
import { execFile } from 'node:child_process';
import { chown, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './net.js';
import { startPostfix, type PostfixDirs, type PostfixInstance } from './postfix.js';
import { sleep, systemUser } from './process.js';

export interface ReceiverListener {
  /** Label: syslog_name postfix/<name>, and the key of `at()`. */
  name: string;
  ip: string;
  /** The value of smtpd_recipient_restrictions for this listener. */
  recipientRestrictions: string;
  /** The value of smtpd_sender_restrictions, if any. */
  senderRestrictions?: string;
  /** The value of smtpd_data_restrictions (also applied at the first BDAT), if any. */
  dataRestrictions?: string;
}

export interface ReceivingPostfixOptions {
  listeners: readonly ReceiverListener[];
  /** The virtual mailbox domain, and its mailboxes (local parts). */
  mailDomain: string;
  mailboxes: readonly string[];
  /** Relayed to nexthop ("127.0.1.1:2525") by smtp; anything is accepted for it (no relay_recipient_maps). */
  relay?: { domain: string; nexthop: string };
  /** SASL users (user@mailDomain); none means no AUTH. */
  saslUsers?: readonly { user: string; password: string }[];
  /** Clients trusted by permit_mynetworks. */
  mynetworks: string;
}

export interface ReceivingPostfix {
  postfix: PostfixInstance;
  port: number;
  /** "ip:port" of a listener by name. */
  at(name: string): string;
  /** The first delivered message containing `needle`, waiting up to timeoutMs for it. */
  delivered(mailbox: string, needle: string, timeoutMs?: number): Promise<string | undefined>;
  /** Files in the queue (incoming, active, deferred, hold, ...): empty once nothing is in flight. */
  queued(): Promise<string[]>;
  log(): Promise<string>;
  stop(): Promise<void>;
}

const QUEUES = ['maildrop', 'incoming', 'active', 'deferred', 'hold', 'corrupt', 'bounce', 'defer', 'trace'];
/** The uid and gid mail is delivered as (virtual_minimum_uid is 100, and it is not mail_owner). */
const MAIL_USER = 'nobody';

function mainCf(options: ReceivingPostfixOptions, dirs: PostfixDirs, uid: number, gid: number): string {
  const [first, ...others] = options.listeners;
  if (first === undefined) throw new Error('startReceivingPostfix: no listener');
  const table = (file: string): string => `texthash:${dirs.configDir}/${file}`;
  const lines = [
    `myhostname = mx.${options.mailDomain}`,
    `mynetworks = ${options.mynetworks}`,
    // Clients have no reverse DNS here, and the host's resolver is not the bed's.
    'smtpd_peername_lookup = no',
    `virtual_mailbox_domains = ${options.mailDomain}`,
    `virtual_mailbox_base = ${dirs.dir}/mail`,
    `virtual_mailbox_maps = ${table('vmailbox')}`,
    `virtual_uid_maps = static:${uid}`,
    `virtual_gid_maps = static:${gid}`,
    'virtual_transport = virtual',
  ];
  if (options.relay) {
    lines.push(`relay_domains = ${options.relay.domain}`, `transport_maps = ${table('transport')}`);
  }
  if (options.saslUsers?.length) {
    lines.push(
      'smtpd_sasl_auth_enable = yes',
      `smtpd_sasl_local_domain = ${options.mailDomain}`,
      // sasl/smtpd.conf (Cyrus: pwcheck_method, sasldb_path) is read below here, not /etc/postfix.
      `cyrus_sasl_config_path = ${dirs.configDir}`,
    );
  }
  lines.push(`smtpd_recipient_restrictions = ${first.recipientRestrictions}`);
  if (first.senderRestrictions) lines.push(`smtpd_sender_restrictions = ${first.senderRestrictions}`);
  if (first.dataRestrictions) lines.push(`smtpd_data_restrictions = ${first.dataRestrictions}`);
  for (const listener of others) {
    lines.push(`${listener.name}_recipient_restrictions = ${listener.recipientRestrictions}`);
    // Always set, even empty: otherwise the first listener's sender and data restrictions would apply here.
    lines.push(`${listener.name}_sender_restrictions = ${listener.senderRestrictions ?? ''}`);
    lines.push(`${listener.name}_data_restrictions = ${listener.dataRestrictions ?? ''}`);
  }
  return lines.join('\n');
}

function masterCf(options: ReceivingPostfixOptions, port: number): string {
  const smtpd = options.listeners.flatMap((listener, index) => [
    `${listener.ip}:${port} inet n - n - - smtpd`,
    `  -o syslog_name=postfix/${listener.name}`,
    ...(index === 0 ? [] : [`  -o smtpd_recipient_restrictions=$${listener.name}_recipient_restrictions`]),
    ...(index === 0 ? [] : [`  -o smtpd_sender_restrictions=$${listener.name}_sender_restrictions`]),
    ...(index === 0 ? [] : [`  -o smtpd_data_restrictions=$${listener.name}_data_restrictions`]),
  ]);
  // The delivery agents the internal services leave out on purpose.
  return [...smtpd, 'virtual unix - n n - - virtual', 'smtp unix - - n - - smtp'].join('\n');
}

function files(options: ReceivingPostfixOptions, dirs: PostfixDirs): Record<string, string> {
  const out: Record<string, string> = {
    // "user/" is a maildir below virtual_mailbox_base.
    vmailbox: options.mailboxes.map((box) => `${box}@${options.mailDomain} ${box}/\n`).join(''),
  };
  if (options.relay)
    out.transport = `${options.relay.domain} smtp:[${options.relay.nexthop.replace(/:(\d+)$/, ']:$1')}\n`;
  if (options.saslUsers?.length) {
    // Debian's Postfix looks for <cyrus_sasl_config_path>/sasl/smtpd.conf (strace shows it).
    out['sasl/smtpd.conf'] = [
      'pwcheck_method: auxprop',
      'auxprop_plugin: sasldb',
      'mech_list: PLAIN LOGIN',
      `sasldb_path: ${dirs.configDir}/sasldb2`,
      '',
    ].join('\n');
  }
  return out;
}

/** Adds users to a sasldb with saslpasswd2 (password on stdin), readable by smtpd (mail_owner). */
async function writeSasldb(
  path: string,
  realm: string,
  users: ReceivingPostfixOptions['saslUsers'],
): Promise<void> {
  for (const { user, password } of users ?? []) {
    await new Promise<void>((resolve, reject) => {
      const child = execFile('saslpasswd2', ['-f', path, '-c', '-p', '-u', realm, user], (error) => {
        if (error) reject(new Error(`saslpasswd2 ${user}: ${error.message}`, { cause: error }));
        else resolve();
      });
      child.stdin?.end(password);
    });
  }
  await chown(path, (await systemUser('postfix')).uid, -1);
}

export async function startReceivingPostfix(options: ReceivingPostfixOptions): Promise<ReceivingPostfix> {
  const { uid, gid } = await systemUser(MAIL_USER);
  const port = await freePort(options.listeners.map((listener) => listener.ip));
  const postfix = await startPostfix({
    name: 'postfix-receiver',
    mainCf: (dirs) => mainCf(options, dirs, uid, gid),
    masterCf: masterCf(options, port),
    files: (dirs) => files(options, dirs),
  });
  try {
    // Nothing has connected yet: the mailbox base and the sasldb are in place before anyone can.
    const base = join(postfix.dir, 'mail');
    await mkdir(base, { mode: 0o755 });
    await chown(base, uid, gid);
    if (options.saslUsers?.length) {
      await writeSasldb(join(postfix.configDir, 'sasldb2'), options.mailDomain, options.saslUsers);
    }
  } catch (error) {
    await postfix.stop();
    throw error;
  }
  const byName = new Map(options.listeners.map((listener) => [listener.name, listener.ip]));
  return {
    postfix,
    port,
    at: (name) => {
      const ip = byName.get(name);
      if (ip === undefined) throw new Error(`no listener named ${name}`);
      return `${ip}:${port}`;
    },
    delivered: (mailbox, needle, timeoutMs = 10_000) =>
      findDelivered(join(postfix.dir, 'mail', mailbox, 'new'), needle, timeoutMs),
    queued: () => queuedFiles(postfix.queueDir),
    log: () => readFile(postfix.logFile, 'utf8').catch(() => ''),
    stop: () => postfix.stop(),
  };
}

async function findDelivered(dir: string, needle: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const names = await readdir(dir).catch(() => []);
    for (const name of names) {
      const text = await readFile(join(dir, name), 'utf8');
      if (text.includes(needle)) return text;
    }
    if (Date.now() > deadline) return undefined;
    await sleep(50);
  }
}

async function queuedFiles(queueDir: string): Promise<string[]> {
  const found: string[] = [];
  for (const queue of QUEUES) {
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        if (entry.isDirectory()) await walk(join(dir, entry.name));
        else found.push(join(dir, entry.name).slice(queueDir.length + 1));
      }
    };
    await walk(join(queueDir, queue));
  }
  return found;
}
