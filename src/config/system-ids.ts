/**
 * User and group ids from the local databases (/etc/passwd, /etc/group), for
 * the unix socket's owner and group: the configuration check and the daemon
 * that gives the socket away look names up the same way.
 */
import { readFileSync } from 'node:fs';

/**
 * The numeric id of a user or group, from /etc/passwd or /etc/group (the
 * local databases; Postfix's own users are always there). A number is taken
 * as it is; null when the name is not there (or the database is unreadable).
 */
export function resolveId(name: string, database: '/etc/passwd' | '/etc/group'): number | null {
  if (/^\d+$/.test(name)) return Number(name);
  let text: string;
  try {
    text = readFileSync(database, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields[2] !== undefined && /^\d+$/.test(fields[2])) return Number(fields[2]);
  }
  return null;
}
