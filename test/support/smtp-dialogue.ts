/**
 * A plain SMTP client for what swaks cannot say: a MAIL FROM with the SMTPUTF8 parameter and a
 * UTF-8 address, or several recipients whose replies the test reads one by one. One command at
 * a time, each reply read whole (multiline replies included) before the next command.
 */
import { connect } from 'node:net';

export interface DialogueReply {
  /** The command this reply answers ('' for the greeting). */
  command: string;
  code: number;
  /** The reply's lines without their "250-" / "250 " prefixes. */
  lines: string[];
}

/**
 * Connects to `server` ("ip:port") from `localAddress`, sends `commands` in order (a message's
 * content is one command: its lines and the final "."), and resolves with every reply once the
 * last has been answered. It stops early, after QUIT, if the server closes.
 */
export function smtpDialogue(
  server: string,
  commands: readonly string[],
  options: { localAddress?: string; timeoutMs?: number } = {},
): Promise<DialogueReply[]> {
  const colon = server.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: server.slice(0, colon),
      port: Number(server.slice(colon + 1)),
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    socket.setTimeout(options.timeoutMs ?? 15_000, () => socket.destroy(new Error(`${server}: no reply`)));
    const replies: DialogueReply[] = [];
    let buffer = '';
    let lines: string[] = [];
    let next = 0;
    const sent = [''];
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\r\n'); nl >= 0; nl = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        lines.push(line.slice(4));
        if (line[3] === '-') continue;
        replies.push({ command: sent[replies.length] ?? '', code: Number(line.slice(0, 3)), lines });
        lines = [];
        const command = commands[next++];
        if (command === undefined) {
          socket.end();
          continue;
        }
        // A message's content is labelled by its last line, as swaks labels it.
        sent.push(command.includes('\r\n') ? '.' : (command.split(/[ :]/)[0]?.toUpperCase() ?? ''));
        socket.write(`${command}\r\n`);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(replies));
  });
}
