/**
 * Debian's postgrey, the greylisting policy server, on 127.0.0.1:<free port>, with its database
 * in a temp directory. It stays in the foreground (no --daemonize), so the PID we spawned is the
 * server itself; it drops to the postgrey user after binding.
 */
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, tcpAnswers } from './net.js';
import { inTempDir, once, removeTempDir, spawnDaemon, systemUser, waitUntilReady } from './process.js';

const HOST = '127.0.0.1';

export interface PostgreyOptions {
  /** How long a new (client, sender, recipient) triplet is refused; postgrey's --delay. */
  delaySeconds?: number;
  /**
   * postgrey's --auto-whitelist-clients: after this many triplets of one client passed, the client
   * is never greylisted again (postgrey's default 5; 0 turns it off, so that every new triplet of
   * a verifier's one address stays greylisted).
   */
  autoWhitelistClients?: number;
}

export interface Postgrey {
  /** "127.0.0.1:PORT", ready for check_policy_service inet:... */
  server: string;
  host: string;
  port: number;
  pid: number;
  delaySeconds: number;
  logTail(): string;
  stop(): Promise<void>;
}

export async function startPostgrey(options: PostgreyOptions = {}): Promise<Postgrey> {
  const delaySeconds = options.delaySeconds ?? 60;
  return inTempDir('postgrey', async (dir) => {
    const dbdir = join(dir, 'db');
    await mkdir(dbdir);
    const { uid, gid } = await systemUser('postgrey');
    await chown(dbdir, uid, gid); // postgrey opens its Berkeley DB after dropping privileges
    const port = await freePort([HOST]);
    const daemon = spawnDaemon({
      name: 'postgrey',
      command: '/usr/sbin/postgrey',
      args: [
        `--inet=${HOST}:${port}`,
        `--dbdir=${dbdir}`,
        `--delay=${delaySeconds}`,
        '--user=postgrey',
        '--group=postgrey',
        ...(options.autoWhitelistClients === undefined
          ? []
          : [`--auto-whitelist-clients=${options.autoWhitelistClients}`]),
      ],
      dir,
    });
    await waitUntilReady(daemon, `policy service on ${HOST}:${port}`, () => tcpAnswers(HOST, port));
    return {
      server: `${HOST}:${port}`,
      host: HOST,
      port,
      pid: daemon.pid,
      delaySeconds,
      logTail: () => daemon.logTail(),
      stop: once(async () => {
        await daemon.stop();
        await removeTempDir(dir);
      }),
    };
  });
}
