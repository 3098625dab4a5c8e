/**
 * A real Debian `redis-server` for a test: loopback only, its own directory
 * and a free port, stopped (or SIGKILLed, for outage tests) by PID, and
 * restartable on the same port with the same directory.
 */
import { createServer, connect } from 'node:net';
import { makeTempDir, removeTempDir, sleep, spawnDaemon, type Daemon } from './testbed/process.js';

export interface TestRedis {
  port: number;
  url: string;
  dir: string;
  pid(): number;
  /** SIGKILL, as a crash: no save, no goodbye to clients. Resolves when the process is gone. */
  kill(): Promise<void>;
  /** Start again on the same port and directory (after kill or stop). */
  restart(): Promise<void>;
  /** Stop for good and remove the directory. */
  stop(): Promise<void>;
}

/** A port nobody listens on now (the kernel's choice for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** PING until +PONG, or throw after `ms`. */
async function waitForPong(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let data = '';
      socket.setTimeout(500, () => socket.destroy());
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (d) => {
        data += d.toString();
        if (data.includes('\r\n')) {
          socket.destroy();
          resolve(data.startsWith('+PONG'));
        }
      });
      socket.on('error', () => resolve(false));
      socket.on('close', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`redis-server on 127.0.0.1:${port} did not answer PING within ${ms} ms`);
}

export interface RedisStartOptions {
  /** Append-only file on (persistence across a restart). Off by default. */
  appendonly?: boolean;
  /** maxmemory in bytes (0 = none) and the policy (docs/fleet.md recommends volatile-lru). */
  maxmemory?: number;
}

export async function startRedis(options: RedisStartOptions = {}): Promise<TestRedis> {
  const dir = await makeTempDir('redis');
  const port = await freePort();
  let daemon: Daemon | null = null;
  const launch = async (): Promise<void> => {
    daemon = spawnDaemon({
      name: 'redis',
      command: 'redis-server',
      args: [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        options.appendonly ? 'yes' : 'no',
        '--maxmemory',
        String(options.maxmemory ?? 0),
        '--maxmemory-policy',
        'volatile-lru',
        '--daemonize',
        'no',
        '--protected-mode',
        'yes',
        '--logfile',
        '',
      ],
      dir,
    });
    try {
      await waitForPong(port, 10_000);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${daemon.logTail(20)}`, { cause: error });
    }
  };
  await launch();
  const current = (): Daemon => {
    if (!daemon) throw new Error('redis-server is not running');
    return daemon;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    pid: () => current().pid,
    async kill() {
      const d = current();
      process.kill(d.pid, 'SIGKILL');
      await d.stop();
      daemon = null;
    },
    async restart() {
      if (daemon) await daemon.stop();
      await launch();
    },
    async stop() {
      if (daemon) await daemon.stop();
      daemon = null;
      await removeTempDir(dir);
    },
  };
}
