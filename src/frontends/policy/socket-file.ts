/**
 * Who may connect to the policy server's unix socket. Connecting to a unix
 * socket needs write permission on it, so its mode, owner and group are the
 * access control: 0660 with the group postfix, as Postfix's own private/
 * sockets are, lets Postfix in and nobody else (no local user can make cbv
 * call out, or read verdicts, through it).
 */
import { chmodSync, chownSync } from 'node:fs';
import { StartupError } from '../../app/startup-error.js';
import { resolveId } from '../../config/system-ids.js';

export { resolveId };

export interface SocketAccess {
  /** Octal text, e.g. '0660'. */
  mode: string;
  /** User name or numeric uid; null keeps the process's own. */
  owner: string | null;
  /** Group name or numeric gid; null keeps the process's own. */
  group: string | null;
}

/** The umask under which the socket is created: nothing for group or others until chmod decides. */
export const SOCKET_UMASK = 0o177;

/**
 * Give the socket its configured owner, group and mode (in that order, so it
 * is never more open than configured). A name that does not exist or a change
 * the process may not make is a start-up failure naming the key.
 */
export function applySocketAccess(path: string, access: SocketAccess): void {
  const uid = access.owner === null ? -1 : resolveId(access.owner, '/etc/passwd');
  if (uid === null)
    throw new StartupError(`policy.unix_socket_owner: no user '${access.owner ?? ''}' in /etc/passwd`, 78);
  const gid = access.group === null ? -1 : resolveId(access.group, '/etc/group');
  if (gid === null)
    throw new StartupError(`policy.unix_socket_group: no group '${access.group ?? ''}' in /etc/group`, 78);
  try {
    if (uid !== -1 || gid !== -1) chownSync(path, uid, gid);
  } catch (error) {
    const key = uid !== -1 ? 'policy.unix_socket_owner' : 'policy.unix_socket_group';
    throw new StartupError(
      `${key}: cannot give ${path} to ${access.owner ?? ''}${access.group ? `:${access.group}` : ''} ` +
        `(${(error as NodeJS.ErrnoException).code ?? String(error)}; cbv must run as root, or be a member of the group)`,
    );
  }
  chmodSync(path, parseInt(access.mode, 8));
}
