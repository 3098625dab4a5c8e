/**
 * A fast scripted SMTP server for bench/cold.ts: one process listening on port 25 of many 127.x
 * addresses (one "mail exchanger" each). It answers like a Postfix that rejects unknown users:
 * 220 greeting, EHLO with PIPELINING, HELO, MAIL 250, RCPT 250 for a known address and
 * 550 5.1.1 for any other, RSET 250, QUIT 221; DATA is refused (no probe may send it).
 *
 *   node --import tsx bench/cold/mx-server.ts KNOWN_FILE IP [IP ...]
 *
 * KNOWN_FILE holds the known addresses, one per line. Prints "ready" once every address listens.
 * Sessions are counted; SIGTERM closes and exits.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';

const [knownFile, ...ips] = process.argv.slice(2);
if (!knownFile || ips.length === 0) throw new Error('usage: mx-server.ts KNOWN_FILE IP [IP ...]');
const known = new Set(
  readFileSync(knownFile, 'utf8')
    .split('\n')
    .filter((line) => line !== ''),
);

const EHLO = '250-mx.cold.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n';
let sessions = 0;

function reply(line: string): string {
  const verb = line.slice(0, 4).toUpperCase();
  switch (verb) {
    case 'EHLO':
      return EHLO;
    case 'HELO':
      return '250 mx.cold.test\r\n';
    case 'MAIL':
      return '250 2.1.0 Ok\r\n';
    case 'RCPT': {
      const address = /<([^>]*)>/.exec(line)?.[1]?.toLowerCase() ?? '';
      return known.has(address)
        ? '250 2.1.5 Ok\r\n'
        : `550 5.1.1 <${address}>: Recipient address rejected: User unknown\r\n`;
    }
    case 'RSET':
    case 'NOOP':
      return '250 2.0.0 Ok\r\n';
    case 'QUIT':
      return '221 2.0.0 Bye\r\n';
    case 'DATA':
      return '554 5.5.1 no DATA here\r\n';
    default:
      return '502 5.5.2 Error: command not recognized\r\n';
  }
}

function session(socket: Socket): void {
  sessions++;
  let buffer = '';
  socket.setNoDelay(true);
  socket.setEncoding('latin1');
  socket.on('error', () => undefined);
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let out = '';
    let end: number;
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end).replace(/\r$/, '');
      buffer = buffer.slice(end + 1);
      out += reply(line);
      // QUIT ends the session after the replies to everything pipelined before it (cbv sends
      // MAIL, RCPT..., RSET and QUIT in one group): they go in the same write, then the close.
      if (/^QUIT\b/i.test(line)) {
        socket.end(out);
        return;
      }
    }
    // Pipelined commands get their replies in one write, as Postfix does.
    if (out !== '') socket.write(out);
  });
  socket.write('220 mx.cold.test ESMTP bench\r\n');
}

const servers: Server[] = [];
await Promise.all(
  ips.map(
    (ip) =>
      new Promise<void>((resolve, reject) => {
        const server = createServer(session);
        server.once('error', reject);
        server.listen({ host: ip, port: 25, backlog: 1024 }, () => resolve());
        servers.push(server);
      }),
  ),
);
process.on('SIGTERM', () => {
  for (const server of servers) server.close();
  process.stderr.write(`mx-server: ${sessions} sessions\n`);
  process.exit(0);
});
console.log('ready');
