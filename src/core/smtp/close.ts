/**
 * Ending a session: RSET (when a transaction was opened) then QUIT, RFC 5321
 * 4.1.1.5 and 4.1.1.10, pipelined only when the server offered PIPELINING.
 * Bounded by the quit deadline, never throws, and always releases the socket
 * and the abort listener, whatever the server does.
 */
import type { SmtpConnection } from './connection.js';

export async function closePolitely(
  conn: SmtpConnection,
  opts: { pipelining: boolean; mailSent: boolean; deadlineMs: number },
): Promise<void> {
  const commands = opts.mailSent ? ['RSET', 'QUIT'] : ['QUIT'];
  try {
    if (conn.ended) return;
    if (opts.pipelining) conn.send(commands);
    for (const command of commands) {
      if (!opts.pipelining) conn.send([command]);
      await conn.readReply('quit', opts.deadlineMs);
    }
  } catch {
    // The server may close first or say nothing more; either way we are done.
  } finally {
    conn.destroy();
  }
}
