/**
 * A row of remote "mail exchangers" with different, real Postfix behaviours: ONE Postfix master
 * with one smtpd listener per 127.0.1.x address, each listener tuned by `-o` overrides in
 * master.cf. All share one port (the caller's SMTP port), so addresses tell them apart, as MX
 * hosts on port 25 would be told apart in the wild.
 *
 * Common to all listeners: every domain is local (mydestination = static:all, so relay control
 * never gets in the way), recipients are checked against a table of known users, and two
 * mailboxes answer with exact replies of their own.
 */
import { selfSignedCert } from './tls.js';
import { startPostfix, type PostfixDirs, type PostfixInstance } from './postfix.js';
import { freePort } from './net.js';

export const REMOTE_KINDS = [
  'rejecting', // unknown users: 550 5.1.1 User unknown; STARTTLS offered
  'catchall', // accepts every recipient
  'greylisting', // RCPT goes through postgrey: 450 4.2.0 Greylisted (known users)
  'nonull', // refuses MAIL FROM:<>, which shows at RCPT (smtpd_delay_reject = yes)
  'nonullmail', // refuses MAIL FROM:<> at MAIL itself (smtpd_delay_reject = no)
  'tlsrequired', // 530 5.7.0 until STARTTLS, then like rejecting
  'nopipelining', // like rejecting, without PIPELINING in the EHLO reply
  'blocklist', // every RCPT: 554 5.7.1 ... blocked using zen.spamhaus.org
] as const;
export type RemoteKind = (typeof REMOTE_KINDS)[number];
/** Which listeners to run, and on which loopback address each. */
export type RemoteSpec = Partial<Record<RemoteKind, string>>;

export const DEFAULT_REMOTE_IPS: Record<RemoteKind, string> = {
  rejecting: '127.0.1.1',
  catchall: '127.0.1.2',
  greylisting: '127.0.1.3',
  nonull: '127.0.1.4',
  nonullmail: '127.0.1.5',
  tlsrequired: '127.0.1.6',
  nopipelining: '127.0.1.7',
  blocklist: '127.0.1.8',
};

/** Mailboxes that exist on every listener except catchall (which accepts anything). */
export const KNOWN_USERS = ['alice', 'bob', 'postmaster'] as const;
/**
 * A forwarder's SRS address (RFC 5321 allows 64 octets of local part; this has 68), which every
 * listener but catchall also knows: mail systems accept such senders, and their MX takes bounces.
 */
export const SRS_USER = 'SRS0=HHH=TT=mail.some-long-sender-domain.example=firstname.lastname1';
/** Local parts with an exact reply of their own, on every listener except catchall. */
export const SPECIAL_USERS = {
  full: '552 5.2.2 Mailbox full',
  disabled: '550 5.2.1 Mailbox disabled',
} as const;
export const BLOCKLIST_REPLY =
  '554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org';
export const POSTFIX_HOSTNAME = 'mx.test';

export interface RemotesOptions {
  /** The port every listener uses; default: one that is free on all the addresses. */
  port?: number;
  /** "127.0.0.1:PORT" of a policy server (postgrey); required for the greylisting listener. */
  policyService?: string;
}

export interface PostfixRemotes {
  port: number;
  ip: RemoteSpec;
  postfix: PostfixInstance;
  pid: number;
  stop(): Promise<void>;
}

function mainCf(dirs: PostfixDirs): string {
  const table = (file: string): string => `texthash:${dirs.configDir}/${file}`;
  return `
myhostname = ${POSTFIX_HOSTNAME}
mydestination = static:all
local_recipient_maps = ${table('local_users')}
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access ${table('recipient_access')}
smtpd_delay_reject = yes
smtpd_tls_security_level = may
smtpd_tls_chain_files = ${dirs.configDir}/key.pem, ${dirs.configDir}/cert.pem
`;
}

/** The -o overrides that make each listener what it is. */
function overrides(kind: RemoteKind, dirs: PostfixDirs, policyService: string | undefined): string[] {
  const table = (file: string): string => `texthash:${dirs.configDir}/${file}`;
  const refuseNull = `smtpd_sender_restrictions = check_sender_access ${table('null_sender')}`;
  switch (kind) {
    case 'rejecting':
      return [];
    case 'catchall':
      return ['local_recipient_maps =', 'smtpd_recipient_restrictions ='];
    case 'greylisting':
      if (policyService === undefined) throw new Error('the greylisting listener needs policyService');
      return [
        `smtpd_recipient_restrictions = check_recipient_access ${table('recipient_access')}, check_policy_service inet:${policyService}`,
      ];
    case 'nonull':
      return [refuseNull];
    case 'nonullmail':
      return [refuseNull, 'smtpd_delay_reject = no'];
    case 'tlsrequired':
      return ['smtpd_tls_security_level = encrypt'];
    case 'nopipelining':
      return ['smtpd_discard_ehlo_keywords = pipelining'];
    case 'blocklist':
      return [`smtpd_client_restrictions = check_client_access ${table('blocked_clients')}`];
  }
}

export function remotesMasterCf(
  spec: RemoteSpec,
  port: number,
  dirs: PostfixDirs,
  policyService?: string,
): string {
  return REMOTE_KINDS.flatMap((kind) => {
    const ip = spec[kind];
    if (ip === undefined) return [];
    const settings = [
      `smtpd_banner = $myhostname ESMTP Postfix (cbv-${kind})`,
      `syslog_name = postfix/${kind}`,
      ...overrides(kind, dirs, policyService),
    ];
    // "-o { name = value }" (Postfix >= 3.0) allows spaces and commas inside the value.
    return [`${ip}:${port} inet n - n - - smtpd`, ...settings.map((s) => `  -o { ${s} }`)];
  }).join('\n');
}

export async function startPostfixRemotes(
  spec: RemoteSpec = DEFAULT_REMOTE_IPS,
  options: RemotesOptions = {},
): Promise<PostfixRemotes> {
  const ips = Object.values(spec);
  if (ips.length === 0) throw new Error('startPostfixRemotes: no listener requested');
  if (new Set(ips).size !== ips.length)
    throw new Error('startPostfixRemotes: two listeners share an address');
  const port = options.port ?? (await freePort(ips));
  const pem = await selfSignedCert(POSTFIX_HOSTNAME);
  // full@ and disabled@ must exist too, or "User unknown" would win over their own replies.
  const users: string[] = [...KNOWN_USERS, SRS_USER, ...Object.keys(SPECIAL_USERS)];
  const postfix = await startPostfix({
    name: 'postfix-remotes',
    mainCf,
    masterCf: (dirs) => remotesMasterCf(spec, port, dirs, options.policyService),
    files: {
      'key.pem': pem.key,
      'cert.pem': pem.cert,
      // Lower case: Postfix folds the local part to lower case before it looks it up.
      local_users: users.map((user) => `${user.toLowerCase()} ${user}`).join('\n') + '\n',
      // "user@" matches that local part in any domain.
      recipient_access: Object.entries(SPECIAL_USERS)
        .map(([user, reply]) => `${user}@ ${reply}\n`)
        .join(''),
      null_sender: '<> REJECT Null sender not accepted\n',
      // "127" matches every client in 127.0.0.0/8 (the table is searched by address prefix).
      blocked_clients: `127 ${BLOCKLIST_REPLY}\n`,
    },
  });
  return { port, ip: { ...spec }, postfix, pid: postfix.pid, stop: () => postfix.stop() };
}
