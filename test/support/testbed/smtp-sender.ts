/**
 * Many SMTP clients at once, for load through a real MTA: each message is its own connection
 * (banner, EHLO, MAIL FROM, RCPT TO, QUIT), as one message from each of many senders would be.
 * swaks is the tool for a single, inspectable session; a run of hundreds of sessions with 20 in
 * parallel would mostly measure Perl's start-up, so this speaks SMTP itself, over real TCP.
 */
import { connect, type Socket } from 'node:net';

export interface Envelope {
  from: string;
  to: string;
}

export interface EnvelopeResult extends Envelope {
  /** The reply to RCPT TO (where the MTA applies its sender restrictions), or null if never sent. */
  rcpt: { code: number; text: string } | null;
  /** What went wrong before RCPT got a reply (refused connection, 4xx banner...). */
  problem: string | null;
}

export interface SendOptions {
  /** "host:port" of the MTA. */
  server: string;
  /** Connect from this loopback address (outside the MTA's mynetworks). */
  localAddress: string;
  helo?: string;
  timeoutMs?: number;
}

/** One session: reads replies line by line, a reply ends at "ddd " (RFC 5321 4.2.1). */
class Session {
  private buffer = '';
  private waiting: ((reply: { code: number; text: string }) => void) | null = null;
  private lines: string[] = [];
  private failure: Error | null = null;

  constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.feed(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\r\n')) >= 0) {
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      this.lines.push(line);
      if (/^\d{3}( |$)/.test(line)) {
        const reply = { code: Number(line.slice(0, 3)), text: this.lines.map((l) => l.slice(4)).join('\n') };
        this.lines = [];
        const waiter = this.waiting;
        this.waiting = null;
        waiter?.(reply);
      }
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
  }

  reply(timeoutMs: number): Promise<{ code: number; text: string }> {
    return new Promise((resolve, reject) => {
      if (this.failure && this.socket.destroyed) return reject(this.failure);
      const timer = setTimeout(() => reject(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
      this.waiting = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.socket.once('close', () => {
        clearTimeout(timer);
        reject(this.failure ?? new Error('connection closed'));
      });
    });
  }

  async command(line: string, timeoutMs: number): Promise<{ code: number; text: string }> {
    this.socket.write(`${line}\r\n`);
    return this.reply(timeoutMs);
  }
}

/** One message's envelope through the MTA; never throws (a failure is in `problem`). */
export async function sendEnvelope(envelope: Envelope, options: SendOptions): Promise<EnvelopeResult> {
  const colon = options.server.lastIndexOf(':');
  const timeoutMs = options.timeoutMs ?? 60_000;
  const socket = connect({
    host: options.server.slice(0, colon),
    port: Number(options.server.slice(colon + 1)),
    localAddress: options.localAddress,
  });
  const session = new Session(socket);
  try {
    const banner = await session.reply(timeoutMs);
    if (banner.code !== 220) return { ...envelope, rcpt: null, problem: `banner ${banner.code}` };
    const ehlo = await session.command(`EHLO ${options.helo ?? 'client.test'}`, timeoutMs);
    if (ehlo.code !== 250) return { ...envelope, rcpt: null, problem: `EHLO ${ehlo.code}` };
    const mail = await session.command(`MAIL FROM:<${envelope.from}>`, timeoutMs);
    if (mail.code !== 250) return { ...envelope, rcpt: null, problem: `MAIL ${mail.code} ${mail.text}` };
    const rcpt = await session.command(`RCPT TO:<${envelope.to}>`, timeoutMs);
    await session.command('QUIT', timeoutMs).catch(() => undefined);
    return { ...envelope, rcpt, problem: null };
  } catch (error) {
    return { ...envelope, rcpt: null, problem: error instanceof Error ? error.message : String(error) };
  } finally {
    socket.destroy();
  }
}

/**
 * Every envelope through `clients` sessions in parallel, in order of the list; results in the
 * same order. `paceMs` spaces each client's messages (0: as fast as the MTA answers).
 */
export async function sendAll(
  envelopes: readonly Envelope[],
  options: SendOptions & { clients: number; paceMs?: number },
): Promise<EnvelopeResult[]> {
  const results = new Array<EnvelopeResult>(envelopes.length);
  let next = 0;
  const client = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      const envelope = envelopes[i];
      if (envelope === undefined) return;
      const started = Date.now();
      results[i] = await sendEnvelope(envelope, options);
      const wait = (options.paceMs ?? 0) - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  };
  await Promise.all(Array.from({ length: options.clients }, client));
  return results;
}
