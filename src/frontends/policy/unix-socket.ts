/**
 * Claiming a unix socket path for the policy server without ever taking it from a live
 * daemon. Postfix finds its policy server by this path alone: if a second `cbv serve` (started
 * by mistake, or while the first still runs) removed the file, Postfix would get "No such file"
 * and fall back to its default action, and mail would flow unverified.
 *
 *   probe:   a file at the path that answers a connect belongs to a live daemon: refuse to start;
 *            one that refuses (ECONNREFUSED) is a stale socket from a dead process: remove it.
 *   bind:    listen on a private path beside it, then hard-link that socket to the path, which
 *            fails (EEXIST) rather than replace a socket someone bound in the meantime.
 *   release: remove the path only while it is still our socket (same inode).
 *
 * libuv removes the path it bound when the server closes, whatever is there by then; binding
 * the private path keeps that from ever touching the shared one.
 */
import { connect, type Server } from 'node:net';
import { linkSync, lstatSync, unlinkSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { StartupError } from '../../app/startup-error.js';
import { MAX_SOCKET_PATH_BYTES } from '../../config/schema.js';

/** How long a connect to an existing socket may take before it counts as live but busy. */
const PROBE_TIMEOUT_MS = 1000;

/** The socket file this process owns, to release on stop. */
export interface ClaimedSocket {
  path: string;
  release(): void;
}

/** What is at `path` now: nothing, a socket someone listens on, a stale socket, or another kind of file. */
export async function probeSocketPath(path: string): Promise<'absent' | 'live' | 'stale' | 'not-a-socket'> {
  let stats: Stats;
  try {
    stats = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw error;
  }
  if (!stats.isSocket()) return 'not-a-socket';
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (state: 'live' | 'stale'): void => {
      socket.destroy();
      resolve(state);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done('live'));
    socket.once('connect', () => done('live'));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      // ECONNREFUSED: nobody listens. ENOENT: it vanished meanwhile. Anything else (EACCES,
      // EAGAIN: a full backlog) may be a live daemon: never treat it as stale.
      done(error.code === 'ECONNREFUSED' || error.code === 'ENOENT' ? 'stale' : 'live'),
    );
  });
}

function refuse(path: string, why: string, error?: unknown): StartupError {
  const detail = error instanceof Error && 'code' in error ? ` (${String(error.code)})` : '';
  return new StartupError(`policy.unix_socket ${path}: ${why}${detail}`);
}

/**
 * Takes `path` for `server`, or throws a StartupError naming the path when a live process holds
 * it, it is not a socket, or it cannot be created. `server` must not be listening yet.
 */
export async function claimSocketPath(
  server: Server,
  path: string,
  listen: (server: Server, path: string) => Promise<void>,
): Promise<ClaimedSocket> {
  const state = await probeSocketPath(path);
  if (state === 'live')
    throw refuse(path, 'another process is listening on it (is cbv serve already running?); left as it is');
  if (state === 'not-a-socket') throw refuse(path, 'exists and is not a socket; left as it is');
  if (state === 'stale') removeIfSame(path, null);
  const privatePath = privatePathFor(path);
  removeIfSame(privatePath, null);
  try {
    await listen(server, privatePath);
  } catch (error) {
    throw refuse(path, 'cannot create the socket', error);
  }
  try {
    linkSync(privatePath, path);
  } catch (error) {
    server.close();
    const taken = (error as NodeJS.ErrnoException).code === 'EEXIST';
    throw refuse(
      path,
      taken ? 'another process took the path while cbv started' : 'cannot create the socket',
      error,
    );
  } finally {
    removeIfSame(privatePath, null);
  }
  const ours = lstatSync(path);
  return { path, release: () => removeIfSame(path, ours) };
}

/**
 * The name beside `path` that the socket is bound at first (then hard-linked into place): the
 * path's own name with the pid, or, when that would pass what the kernel binds (the schema lets
 * `path` itself reach MAX_SOCKET_PATH_BYTES), the pid cut to the length of the name it stands for.
 */
function privatePathFor(path: string): string {
  const full = join(dirname(path), `.${basename(path)}.${process.pid}`);
  if (Buffer.byteLength(full) <= MAX_SOCKET_PATH_BYTES) return full;
  const room = Math.max(1, Buffer.byteLength(basename(path)) - 1);
  return join(dirname(path), `.${String(process.pid).slice(-room)}`);
}

/** Removes `path` if it is a socket (and, when `ours` is given, that very socket). */
function removeIfSame(path: string, ours: Stats | null): void {
  let now: Stats;
  try {
    now = lstatSync(path);
  } catch {
    return;
  }
  if (!now.isSocket()) return;
  if (ours && (now.ino !== ours.ino || now.dev !== ours.dev)) return;
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
