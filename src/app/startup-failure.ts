/**
 * Turns an operating-system failure while a front-end starts (bind, listen, chmod, chown...) into
 * a StartupError: one line naming the front-end, its address or file, and the cause, with exit
 * status 73, which the systemd unit does not restart in a loop. The front-ends name the key
 * themselves for the failures they expect (src/frontends/listen-failure.ts); this is the net for
 * every other system error, so none of them reads `internal error`. A bug is left as it is.
 */
import { getSystemErrorMap } from 'node:util';
import { StartupError } from './startup-error.js';

interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
  path?: string;
}

function isSystemError(error: unknown): error is SystemError {
  if (!(error instanceof Error)) return false;
  const e = error as Partial<SystemError>;
  return typeof e.code === 'string' && typeof e.errno === 'number' && typeof e.syscall === 'string';
}

/** "address already in use", from the C library's own wording for the errno. */
function describe(error: SystemError): string {
  return getSystemErrorMap().get(error.errno)?.[1] ?? error.code;
}

/** The address (IPv6 in brackets) or file the failed call was about. */
function where(error: SystemError): string {
  // A unix socket's error carries its path as the address, and port -1.
  if (error.address !== undefined && error.port !== undefined && error.port >= 0)
    return `${error.address.includes(':') ? `[${error.address}]` : error.address}:${error.port}`;
  return error.address ?? error.path ?? '';
}

/** The StartupError for `error` raised while front-end `frontend` started, or `error` itself. */
export function startupFailure(frontend: string, error: unknown): unknown {
  if (error instanceof StartupError || !isSystemError(error)) return error;
  const subject = ['listen', 'bind'].includes(error.syscall)
    ? `${frontend} listener ${where(error)}`
    : `${frontend}: ${error.syscall} ${where(error)}`;
  return new StartupError(`${subject}: ${describe(error)} (${error.code})`, 73);
}
