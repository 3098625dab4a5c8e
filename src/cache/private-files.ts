/**
 * The cache database says who mailed whom: only the user cbv runs as may read
 * it, whatever the umask of the shell that started it (outside the systemd
 * unit it is often 022, which would make new files world-readable).
 */
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';

/** mkdir -p, every directory it creates 0700 (an existing directory is left as its owner made it). */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * Create the file 0600 if it does not exist yet (SQLite then gives its -wal
 * and -shm files the same mode); if it exists, is ours and is open to group
 * or others (made under a loose umask by an older cbv), close it to 0600.
 */
export function makePrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    tighten(path);
  }
}

/** chmod 0600 a file of ours that group or others may read; a file of another user is left alone. */
export function tighten(path: string): void {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return; // not there (yet): nothing to tighten
  }
  const ours = process.getuid === undefined || stat.uid === process.getuid();
  if (ours && stat.isFile() && (stat.mode & 0o077) !== 0) chmodSync(path, 0o600);
}
