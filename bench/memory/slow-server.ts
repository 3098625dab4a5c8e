/**
 * The slow mail exchanger of bench/memory.ts: accepts every connection and never says a word, so
 * each callout stays open, waiting for the greeting. A separate process (its memory is not the
 * engine's), started with fork(); it reports its port, then answers "count" with how many
 * connections it holds. On "stop" (or a lost parent) it closes everything and exits.
 *
 *   fork('bench/memory/slow-server.ts', ['127.0.3.1'])
 */
import { createServer, type Socket } from 'node:net';

const host = process.argv[2] ?? '127.0.3.1';
const sockets = new Set<Socket>();
let accepted = 0;
const server = createServer((socket) => {
  accepted++;
  sockets.add(socket);
  socket.on('error', () => undefined);
  socket.on('close', () => sockets.delete(socket));
});

function stop(): void {
  server.close();
  for (const socket of sockets) socket.destroy();
  process.exit(0);
}

server.listen({ host, port: 0, backlog: 4096 }, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.send?.({ port });
});
process.on('message', (message) => {
  if (message === 'count') process.send?.({ accepted, open: sockets.size });
  else if (message === 'stop') stop();
});
process.on('disconnect', stop);
