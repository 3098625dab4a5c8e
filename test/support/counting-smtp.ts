/**
 * A loopback SMTP server that counts what a fleet of verifiers does to it:
 * sessions, sessions open at once (and the most ever), and RCPT TO addresses.
 * It speaks an ordinary ESMTP dialogue (PIPELINING) and answers RCPT from a
 * function, after an optional hold, so a test can keep sessions open long
 * enough to see whether concurrency limits hold across nodes. A real MTA can
 * count sessions in its log, but not the peak of simultaneous ones.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';

export interface CountingServer {
  host: string;
  port: number;
  /** Sessions opened so far. */
  sessions(): number;
  /** Sessions open now, and the most ever open at once. */
  open(): number;
  peakOpen(): number;
  /**
   * The most sessions at once between connect and the reply to the real RCPT:
   * the part of a session a verifier's concurrency limit covers (RSET and QUIT
   * follow after the verifier has its answer and released its slot).
   */
  peakActive(): number;
  /** Real (non-probe) RCPT TO addresses seen, in order. */
  rcpts: string[];
  reset(): void;
  /** Change how long RCPT replies are held (ms). */
  setHoldMs(ms: number): void;
  close(): Promise<void>;
}

export interface CountingOptions {
  /** Reply to RCPT TO:<address>; default 250 for everyone except local parts starting with "nobody". */
  rcpt?: (address: string) => string;
  /** Hold every RCPT reply this long (ms), to keep sessions open. */
  holdMs?: number;
}

const defaultRcpt = (address: string): string =>
  address.startsWith('nobody') || /^[a-z0-9]{16}@/.test(address) /* the verifier's random probe: not a user */
    ? '550 5.1.1 <' + address + '>: Recipient address rejected: User unknown in local recipient table'
    : '250 2.1.5 Ok';

export async function startCountingServer(options: CountingOptions = {}): Promise<CountingServer> {
  const rcptReply = options.rcpt ?? defaultRcpt;
  let holdMs = options.holdMs ?? 0;
  let sessions = 0;
  let open = 0;
  let peak = 0;
  let active = 0;
  let peakActive = 0;
  const rcpts: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sessions++;
    open++;
    peak = Math.max(peak, open);
    sockets.add(socket);
    socket.setNoDelay(true);
    let inTransaction = true;
    active++;
    peakActive = Math.max(peakActive, active);
    const done = (): void => {
      if (inTransaction) active--;
      inTransaction = false;
    };
    socket.on('close', () => {
      open--;
      done();
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);
    let buffer = '';
    let queue = Promise.resolve();
    const answer = async (line: string): Promise<void> => {
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') socket.write('250-counting.test\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n');
      else if (verb === 'HELO') socket.write('250 counting.test\r\n');
      else if (verb === 'MAIL') socket.write('250 2.1.0 Ok\r\n');
      else if (verb === 'RCPT') {
        const address = /<([^>]*)>/.exec(line)?.[1] ?? '';
        if (!/^[a-z0-9]{16}@/.test(address)) rcpts.push(address);
        if (holdMs > 0) await new Promise((r) => setTimeout(r, holdMs));
        if (!/^[a-z0-9]{16}@/.test(address)) done();
        if (!socket.destroyed) socket.write(`${rcptReply(address)}\r\n`);
      } else if (verb === 'RSET' || verb === 'NOOP') socket.write('250 2.0.0 Ok\r\n');
      else if (verb === 'QUIT') socket.end('221 2.0.0 Bye\r\n');
      else socket.write('502 5.5.2 Error: command not recognized\r\n');
    };
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      let end: number;
      while ((end = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        // Replies in command order, as RFC 2920 requires of a pipelining server.
        queue = queue.then(() => answer(line));
      }
    });
    socket.write('220 counting.test ESMTP\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    sessions: () => sessions,
    open: () => open,
    peakOpen: () => peak,
    peakActive: () => peakActive,
    rcpts,
    reset() {
      sessions = 0;
      peak = open;
      peakActive = active;
      rcpts.length = 0;
    },
    setHoldMs(ms: number) {
      holdMs = ms;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
