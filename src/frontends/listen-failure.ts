/**
 * A front-end's listen error that is about the environment, not a bug: the address is taken
 * (a second `cbv serve` with the same configuration, or another daemon), not ours to bind, or
 * not on this host. It becomes a StartupError naming the configuration key and the address, so
 * `cbv serve` says it in one line and exits 73 (not restarted by the systemd unit) instead of
 * reporting an internal error.
 */
import { StartupError } from '../app/startup-error.js';

const WHY: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use (is cbv serve already running?)',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'no such address on this host',
};

/** `what` names the key and address, e.g. `http.listen 127.0.0.1:8040`; other errors pass through. */
export function listenFailure(what: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const why = code === undefined ? undefined : WHY[code];
  return why === undefined ? error : new StartupError(`${what}: ${why} (${code})`);
}
