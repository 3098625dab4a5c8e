/**
 * A real Exim 4 (Debian's exim4-daemon-light, unpacked by .ci/install-system-deps because apt
 * will not install it beside Postfix) as one more remote mail exchanger. It runs in the
 * foreground (-bdf) with a minimal configuration of its own: a few known local users, stock
 * "550 Unrouteable address" for anyone else, nothing ever delivered (:blackhole:), and no DNS
 * or ident lookups for its own operation.
 *
 * Because the -C configuration is not in Exim's trusted list, Exim gives up root privilege
 * ("exim user lost privilege for using -C option"); it still binds its port and answers SMTP,
 * which is all a remote in this bed has to do.
 */
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertLoopback, freePort, smtpGreeting } from './net.js';
import { inTempDir, once, removeTempDir, spawnDaemon, systemUser, waitUntilReady } from './process.js';

export const EXIM_BINARY = '/opt/cbv-testbed/exim/usr/sbin/exim4';
export const EXIM_USERS = ['carol', 'dave', 'postmaster'] as const;
export const EXIM_HOSTNAME = 'mx.exim.test';

export interface EximOptions {
  /** Loopback address to listen on. */
  ip: string;
  port?: number;
  /** Local parts that exist. Default: carol, dave, postmaster. */
  users?: readonly string[];
  /** Domains treated as local; others get "550 relay not permitted". Default: every domain. */
  domains?: readonly string[];
  /** Statements appended to the RCPT ACL after the recipient is verified (before its final accept). */
  rcptAcl?: string;
  /** Statements of a MAIL FROM ACL (before its final accept); none: MAIL is not checked. */
  mailAcl?: string;
  /** Macros defined at the top of the configuration: NAME -> value. */
  macros?: Record<string, string>;
  /** Offer STARTTLS with this key and certificate (PEM); default: no STARTTLS. */
  tls?: { key: string; cert: string };
}

export interface Exim {
  ip: string;
  port: number;
  pid: number;
  greeting: string;
  /** mainlog and (only if something went badly wrong) paniclog live here. */
  logDir: string;
  logTail(): string;
  stop(): Promise<void>;
}

export function eximConfig(
  dir: string,
  ip: string,
  port: number,
  users: readonly string[],
  domains: readonly string[],
  extra: Pick<EximOptions, 'rcptAcl' | 'mailAcl' | 'macros'> & {
    tlsFiles?: { key: string; cert: string };
  } = {},
): string {
  const tls = extra.tlsFiles
    ? `tls_advertise_hosts = *\ntls_certificate = ${extra.tlsFiles.cert}\ntls_privatekey = ${extra.tlsFiles.key}\n`
    : 'tls_advertise_hosts =\n';
  const macros = Object.entries(extra.macros ?? {}).map(([name, value]) => `${name} = ${value}\n`);
  return `# private test instance: written by test/support/testbed/exim.ts
${macros.join('')}primary_hostname = ${EXIM_HOSTNAME}
exim_path = ${EXIM_BINARY}
spool_directory = ${dir}/spool
log_file_path = ${dir}/log/%slog
pid_file_path = ${dir}/exim.pid
local_interfaces = <; [${ip}]:${port}
keep_environment =
domainlist local_domains = ${domains.join(' : ')}

# No lookups of the client's name or ident: the bed has no DNS of its own for Exim to use.
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
${tls}smtp_banner = $primary_hostname ESMTP Exim $version_number (cbv-exim) $tod_full
acl_smtp_rcpt = acl_check_rcpt
${extra.mailAcl === undefined ? '' : 'acl_smtp_mail = acl_check_mail\n'}
begin acl
${extra.mailAcl === undefined ? '' : `acl_check_mail:\n${extra.mailAcl.trimEnd()}\n  accept\n\n`}acl_check_rcpt:
  deny    message = relay not permitted
          !domains = +local_domains
  require verify = recipient
${(extra.rcptAcl ?? '').trimEnd()}
  accept

begin routers
known_users:
  driver = redirect
  domains = +local_domains
  local_parts = ${users.join(' : ')}
  data = :blackhole:

begin transports
`;
}

export async function startExim(options: EximOptions): Promise<Exim> {
  assertLoopback(options.ip);
  const port = options.port ?? (await freePort([options.ip]));
  return inTempDir('exim', async (dir) => {
    // Exim writes its spool and logs as Debian-exim once it has dropped privilege.
    const { uid, gid } = await systemUser('Debian-exim');
    for (const sub of ['spool', 'log']) {
      await mkdir(join(dir, sub));
      await chown(join(dir, sub), uid, gid);
    }
    const config = join(dir, 'exim.conf');
    const users = options.users ?? EXIM_USERS;
    const domains = options.domains ?? ['*'];
    let tlsFiles: { key: string; cert: string } | undefined;
    if (options.tls) {
      // Read after Exim has dropped root for Debian-exim (the -C configuration is not trusted).
      tlsFiles = { key: join(dir, 'tls-key.pem'), cert: join(dir, 'tls-cert.pem') };
      await writeFile(tlsFiles.key, options.tls.key, { mode: 0o600 });
      await writeFile(tlsFiles.cert, options.tls.cert);
      await chown(tlsFiles.key, uid, gid);
    }
    await writeFile(config, eximConfig(dir, options.ip, port, users, domains, { ...options, tlsFiles }));
    const daemon = spawnDaemon({
      name: 'exim',
      command: EXIM_BINARY,
      args: ['-C', config, '-bdf', '-odf'],
      dir,
      extraLogs: [join(dir, 'log', 'mainlog'), join(dir, 'log', 'paniclog')],
    });
    let greeting = '';
    await waitUntilReady(daemon, `SMTP on ${options.ip}:${port}`, async () => {
      greeting = (await smtpGreeting(options.ip, port)) ?? '';
      return greeting !== '';
    });
    return {
      ip: options.ip,
      port,
      pid: daemon.pid,
      greeting,
      logDir: join(dir, 'log'),
      logTail: () => daemon.logTail(),
      stop: once(async () => {
        await daemon.stop();
        await removeTempDir(dir);
      }),
    };
  });
}
