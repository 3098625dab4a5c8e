/**
 * The files of a private Postfix instance: main.cf (caller's settings over safe defaults),
 * master.cf (caller's services plus the internal ones), and the queue tree with the owners and
 * modes of Debian's postfix-files (mail_owner postfix, setgid_group postdrop), which master and
 * qmgr expect.
 */
import { chmod, chown, mkdir, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { assertLoopback } from './net.js';
import { systemGroup, systemUser } from './process.js';

export interface PostfixDirs {
  /** The temp directory that holds everything below. */
  dir: string;
  configDir: string;
  queueDir: string;
  dataDir: string;
  /** maillog_file: Postfix's own log. */
  logFile: string;
}

export interface PostfixListener {
  host: string;
  port: number;
  /** The command of the service (smtpd, ...). */
  service: string;
  /** The SMTP greeting seen at start-up, for smtpd listeners. */
  greeting?: string;
}

/** Defaults that keep a private instance quiet, local and unable to deliver anywhere. */
const DEFAULT_MAIN: Record<string, string> = {
  compatibility_level: '3.6', // the current level of Postfix 3.7: no compatibility warnings
  myhostname: 'mx.test',
  mydomain: 'test',
  myorigin: '$myhostname',
  mydestination: '',
  inet_protocols: 'ipv4',
  inet_interfaces: 'loopback-only',
  mynetworks: '127.0.0.0/8',
  relayhost: '',
  default_transport: 'discard:',
  local_transport: 'discard:',
  relay_transport: 'discard:',
  virtual_transport: 'discard:',
  // Debian's default alias_maps names /etc/aliases, which belongs to the system instance.
  alias_maps: '',
  alias_database: '',
  local_recipient_maps: '',
  biff: 'no',
  append_dot_mydomain: 'no',
  readme_directory: 'no',
  // After ~100 transactions ending in RSET, cleanup would sleep 1 s per message (mail_flow_get):
  // a test bed that takes many callouts must not slow down on its own.
  in_flow_delay: '0',
};

/**
 * What master needs to run smtpd and take mail in. Nothing here can deliver: no smtp, lmtp,
 * local, virtual or pipe, so even a mistaken transport setting cannot send mail anywhere.
 */
export const POSTFIX_INTERNAL_SERVICES = `
cleanup    unix  n - n -     0 cleanup
qmgr       unix  n - n 300   1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n -     - trivial-rewrite
bounce     unix  - - n -     0 bounce
defer      unix  - - n -     0 bounce
trace      unix  - - n -     0 bounce
verify     unix  - - n -     1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -     - proxymap
proxywrite unix  - - n -     1 proxymap
error      unix  - - n -     - error
retry      unix  - - n -     - error
discard    unix  - - n -     - discard
anvil      unix  - - n -     1 anvil
scache     unix  - - n -     1 scache
postlog    unix-dgram n - n - 1 postlogd
`;

/** Merges defaults with the caller's main.cf: a parameter the caller sets wins. */
export function composeMainCf(dirs: PostfixDirs, callerText: string): string {
  const callerKeys = new Set(
    callerText.split('\n').flatMap((line) => /^([A-Za-z0-9_]+)\s*=/.exec(line)?.slice(1, 2) ?? []),
  );
  const defaults = Object.entries(DEFAULT_MAIN)
    .filter(([key]) => !callerKeys.has(key))
    .map(([key, value]) => `${key} = ${value}`);
  return [
    '# private test instance: written by test/support/testbed/postfix-config.ts',
    `queue_directory = ${dirs.queueDir}`,
    `data_directory = ${dirs.dataDir}`,
    // No syslog here: postlogd writes the log, and only below maillog_file_prefixes.
    `maillog_file = ${dirs.logFile}`,
    `maillog_file_prefixes = ${dirs.dir}`,
    ...defaults,
    callerText.trim(),
    '',
  ].join('\n');
}

/** The inet services of a master.cf; each must name a loopback address. */
export function inetServices(masterCf: string): PostfixListener[] {
  return masterCf.split('\n').flatMap((line) => {
    const fields = line.trim() === '' || /^[#\s]/.test(line) ? [] : line.split(/\s+/);
    if (fields[1] !== 'inet') return [];
    const match = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(fields[0] ?? '');
    if (!match?.[1] || !match[2]) throw new Error(`inet service must be 127.x.y.z:PORT, got: ${line}`);
    assertLoopback(match[1]);
    return [{ host: match[1], port: Number(match[2]), service: fields[7] ?? '' }];
  });
}

/** Writes the config files. */
export async function writeConfig(dirs: PostfixDirs, files: Record<string, string>): Promise<void> {
  await mkdir(dirs.configDir, { mode: 0o755 });
  // Postfix re-reads main.cf and texthash tables, sleeping 300 ms each time, until their mtime is
  // over a second old (a guard against half-written files): back-date them to skip that wait.
  const past = new Date(Date.now() - 60_000);
  for (const [file, contents] of Object.entries(files)) {
    // A name may have a directory part (Debian's smtpd reads sasl/smtpd.conf there).
    await mkdir(dirname(join(dirs.configDir, file)), { recursive: true, mode: 0o755 });
    await writeFile(join(dirs.configDir, file), contents);
    await utimes(join(dirs.configDir, file), past, past);
  }
}

/** The queue tree as Debian's postfix-files lays it out, and the data directory. */
export async function makeQueue(dirs: PostfixDirs): Promise<void> {
  const owner = (await systemUser('postfix')).uid;
  const postdrop = await systemGroup('postdrop');
  await mkdir(dirs.queueDir, { mode: 0o755 });
  const queues = ['active', 'bounce', 'corrupt', 'defer', 'deferred', 'flush', 'hold', 'incoming'];
  for (const name of [...queues, 'private', 'saved', 'trace']) {
    await mkdir(join(dirs.queueDir, name), { mode: 0o700 });
    await chown(join(dirs.queueDir, name), owner, -1);
  }
  for (const [name, mode] of [
    ['maildrop', 0o730],
    ['public', 0o710],
  ] as const) {
    await mkdir(join(dirs.queueDir, name));
    await chown(join(dirs.queueDir, name), owner, postdrop);
    await chmod(join(dirs.queueDir, name), mode); // after chown, and unaffected by the umask
  }
  await mkdir(join(dirs.queueDir, 'pid'), { mode: 0o755 });
  await mkdir(dirs.dataDir, { mode: 0o700 });
  await chown(dirs.dataDir, owner, -1);
}
