/**
 * Whether a file is there, told apart from whether this user may look: existsSync() answers
 * false for both, so a command run as another user than the daemon's (a 0700 data directory,
 * a 0750 /etc/cbv) would report "no such file" and look elsewhere, where the truth is
 * "permission denied".
 */
import { statSync } from 'node:fs';

/** present; absent (ENOENT, ENOTDIR); or hidden from this user, with the errno code (EACCES...). */
export type Presence = { state: 'present' } | { state: 'absent' } | { state: 'hidden'; code: string };

/** What stat(2) says about `path` (following symbolic links). */
export function presenceOf(path: string): Presence {
  try {
    statSync(path);
    return { state: 'present' };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    return code === 'ENOENT' || code === 'ENOTDIR' ? { state: 'absent' } : { state: 'hidden', code };
  }
}

/** "permission denied (EACCES)" and the like, with what to do about it, for one-line messages. */
export function hiddenBecause(code: string): string {
  const what = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : 'cannot look at it';
  return `${what} (${code}): run the command as the daemon's user, or as root`;
}
