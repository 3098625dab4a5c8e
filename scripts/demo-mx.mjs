#!/usr/bin/env node
// A demonstration mail server on loopback, for trying `cbv verify` without a mail server of your
// own (README, "Using it"): `npm run demo-mx`, then the command it prints, in another terminal.
// It speaks just enough ESMTP for a callout and never takes a message:
//   alice, postmaster  -> 250 (the mailbox exists)
//   grey               -> 450 (greylisting: try again later)
//   full               -> 552 5.2.2 (mailbox full)
//   anything else      -> 550 5.1.1 (no such user), which is also what the random catch-all probe gets
// It listens on 127.0.0.1, port 2525 (DEMO_MX_PORT to change it), and stops on Ctrl-C or SIGTERM.
import { createServer } from 'node:net';

const port = Number(process.env.DEMO_MX_PORT ?? 2525);
const host = '127.0.0.1';

/** The reply to one command line. */
function reply(line) {
  const verb = line.split(' ')[0].toUpperCase();
  switch (verb) {
    case 'EHLO':
      return '250-demo-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n';
    case 'HELO':
      return '250 demo-mx.test\r\n';
    case 'MAIL':
      return '250 2.1.0 Ok\r\n';
    case 'RCPT': {
      const address = /<([^>]*)>/.exec(line)?.[1] ?? '';
      const local = address.slice(0, address.lastIndexOf('@')).toLowerCase();
      if (local === 'alice' || local === 'postmaster') return '250 2.1.5 Ok\r\n';
      if (local === 'grey')
        return `450 4.2.0 <${address}>: Recipient address rejected: Greylisted, try again later\r\n`;
      if (local === 'full') return '552 5.2.2 Mailbox full\r\n';
      return `550 5.1.1 <${address}>: Recipient address rejected: User unknown\r\n`;
    }
    case 'RSET':
    case 'NOOP':
      return '250 2.0.0 Ok\r\n';
    case 'QUIT':
      return null;
    default:
      return '502 5.5.2 Command not recognized\r\n';
  }
}

const sockets = new Set();
const server = createServer((socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => undefined);
  socket.setTimeout(30_000, () => socket.destroy());
  socket.write('220 demo-mx.test ESMTP (cbv demo; takes no mail)\r\n');
  let buffer = '';
  socket.on('data', (chunk) => {
    buffer += chunk.toString('latin1');
    let end;
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end).replace(/\r$/, '');
      buffer = buffer.slice(end + 1);
      const text = reply(line);
      if (text === null) {
        socket.end('221 2.0.0 Bye\r\n');
        return;
      }
      socket.write(text);
    }
    if (buffer.length > 4096) socket.destroy();
  });
});

server.on('error', (error) => {
  console.error(
    `demo-mx: cannot listen on ${host}:${port}: ${error.code ?? error.message} (set DEMO_MX_PORT to another port)`,
  );
  process.exit(73);
});

server.listen(port, host, () => {
  const { port: bound } = server.address();
  const portFlag = `--port ${bound}`;
  console.log(`demo-mx: a demonstration mail server on ${host}:${bound}; Ctrl-C stops it.`);
  console.log(
    'It knows alice, greylists grey, says "mailbox full" for full, and "user unknown" for anyone else.',
  );
  console.log('Try, in another terminal in this folder:');
  console.log(
    `  npm run cbv -- verify ${portFlag} --allow-target 127.0.0.1/32 'alice@[127.0.0.1]' 'nobody@[127.0.0.1]' 'grey@[127.0.0.1]' 'full@[127.0.0.1]'`,
  );
});

// `exec` in the npm script makes this process npm's child, so npm's forwarded signal reaches it;
// Ctrl-C then arrives twice (from the terminal and from npm), and the second must not kill it
// before it has closed.
let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`demo-mx: ${signal}, stopping`);
  for (const socket of sockets) socket.destroy();
  server.close(() => process.exit(0));
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
