/**
 * Exim as a peer in bench 2: the same verification done by Exim's own callout
 * (`verify = recipient/callout=...,random,no_cache`: a random local part first, then the address,
 * as cbv does), against the same STARTTLS Postfix. Exim (Debian's exim4-daemon-light, unpacked by
 * .ci/install-system-deps) listens on an undelayed port (2525, exempt from the bench's delay); a
 * client there sends RCPT, and the time to Exim's answer is its callout over the delayed path.
 */
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { EXIM_BINARY } from '../../test/support/testbed/exim.js';
import { smtpGreeting } from '../../test/support/testbed/index.js';
import {
  inTempDir,
  once,
  removeTempDir,
  spawnDaemon,
  systemUser,
  waitUntilReady,
} from '../../test/support/testbed/process.js';

export interface EximVerifier {
  ip: string;
  port: number;
  stop(): Promise<void>;
}

/** An Exim whose RCPT ACL verifies every recipient of `domain` by callout to `mx`:25. */
export function startEximVerifier(
  ip: string,
  port: number,
  domain: string,
  mx: string,
): Promise<EximVerifier> {
  return inTempDir('exim-verifier', async (dir) => {
    const { uid, gid } = await systemUser('Debian-exim');
    for (const sub of ['spool', 'log']) {
      await mkdir(join(dir, sub));
      await chown(join(dir, sub), uid, gid);
    }
    const config = join(dir, 'exim.conf');
    await writeFile(
      config,
      `# bench/rtt/exim-peer.ts: Exim verifying recipients by callout
primary_hostname = verifier.rtt.test
exim_path = ${EXIM_BINARY}
spool_directory = ${dir}/spool
log_file_path = ${dir}/log/%slog
pid_file_path = ${dir}/exim.pid
local_interfaces = <; [${ip}]:${port}
keep_environment =
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
tls_advertise_hosts =
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  require verify = recipient/callout=30s,random,no_cache
  accept

begin routers
to_mx:
  driver = manualroute
  domains = ${domain}
  route_list = * ${mx}
  transport = remote_smtp
  self = send

begin transports
remote_smtp:
  driver = smtp
  port = 25
  allow_localhost
`,
    );
    const daemon = spawnDaemon({
      name: 'exim-verifier',
      command: EXIM_BINARY,
      args: ['-C', config, '-bdf', '-odf'],
      dir,
      extraLogs: [join(dir, 'log', 'mainlog'), join(dir, 'log', 'paniclog')],
    });
    await waitUntilReady(
      daemon,
      `SMTP on ${ip}:${port}`,
      async () => (await smtpGreeting(ip, port)) !== undefined,
    );
    return {
      ip,
      port,
      stop: once(async () => {
        await daemon.stop();
        await removeTempDir(dir);
      }),
    };
  });
}

/** Reads CRLF-terminated SMTP replies from a socket, one complete (last-line) reply at a time. */
function replyReader(socket: Socket): () => Promise<string> {
  let buffer = '';
  const replies: string[] = [];
  let wake: (() => void) | null = null;
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (/^\d{3} /.test(line)) replies.push(line);
    }
    wake?.();
  });
  return async () => {
    while (replies.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return replies.shift() ?? '';
  };
}

/** Asks Exim about `address`; returns the time from RCPT written to its reply (ms) and that reply. */
export async function eximVerify(v: EximVerifier, address: string): Promise<{ ms: number; reply: string }> {
  const socket = connect({ host: v.ip, port: v.port });
  socket.setNoDelay(true);
  try {
    const next = replyReader(socket);
    await next(); // greeting
    socket.write('EHLO bench.rtt.test\r\n');
    await next();
    socket.write('MAIL FROM:<bench@rtt.test>\r\n');
    await next();
    const t0 = performance.now();
    socket.write(`RCPT TO:<${address}>\r\n`);
    const reply = await next();
    const ms = performance.now() - t0;
    socket.write('QUIT\r\n');
    await next();
    return { ms, reply };
  } finally {
    socket.destroy();
  }
}
