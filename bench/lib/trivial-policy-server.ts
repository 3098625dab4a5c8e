/**
 * The cheapest possible policy server: answers every request `action=DUNNO`.
 * It measures the load generator's ceiling; a generator that cannot outrun
 * this cannot measure anything faster than it.
 *   node --import tsx bench/lib/trivial-policy-server.ts PORT
 */
import { createServer } from 'node:net';

const port = Number(process.argv[2] ?? 0);
const server = createServer((socket) => {
  socket.setNoDelay(true);
  let pending = '';
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    let replies = '';
    let end: number;
    while ((end = pending.indexOf('\n\n')) >= 0) {
      pending = pending.slice(end + 2);
      replies += 'action=DUNNO\n\n';
    }
    if (replies) socket.write(replies);
  });
  socket.on('error', () => socket.destroy());
});
server.listen(port, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${a && typeof a === 'object' ? a.port : port}\n`);
});
