/**
 * One SMTP client connection: a socket, a reply parser, and deadlines.
 *
 * It knows nothing of the dialogue's meaning; probe.ts drives it. What it
 * guarantees: every wait has a named deadline, every byte received is counted
 * against a cap, nothing but validated command lines is ever written, and a
 * misbehaving server ends in a ProbeError rather than a hang or a crash.
 */
import type { Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import {
  AbortedError,
  BudgetExceededError,
  ConnectionClosedError,
  PhaseTimeoutError,
  ProbeError,
  ProtocolError,
  TlsError,
} from '../errors.js';
import type { Stage, TranscriptLine } from '../verdict.js';
import { ReplyParser, type ReplyLimits, type SmtpReply } from './reply-parser.js';

export interface ConnectionLimits extends ReplyLimits {
  /** Most octets accepted from one server over the whole session, so a flood ends the session. */
  maxSessionBytes: number;
}

interface Waiter {
  resolve: (reply: SmtpReply) => void;
  reject: (error: Error) => void;
}

export class SmtpConnection {
  private socket: Socket | TLSSocket;
  /** Every socket of the session (the plain one and, after STARTTLS, the TLS one), all destroyed at the end. */
  private readonly sockets: (Socket | TLSSocket)[] = [];
  private parser: ReplyParser;
  private readonly replies: SmtpReply[] = [];
  private waiter: Waiter | null = null;
  private failure: ProbeError | null = null;
  /**
   * destroy() ended the session before anything failed: how most sessions end. The error that
   * says so is made only if something asks afterwards (over), not for every session.
   */
  private closedByUs = false;
  private received = 0;
  /**
   * Replies owed to us, in order: the greeting, plus one per command sent, each
   * marked truncatable or not. A reply beyond them is unsolicited.
   */
  private readonly owed: boolean[] = [false];
  private stray = false;
  /** A 421 the server sent unasked before closing (RFC 5321 3.8), if it did. */
  closingReply: SmtpReply | null = null;
  /** After STARTTLS: how long the handshake took and when the first session ticket came (ticket-stall.ts). */
  private handshakeMs: number | null = null;
  private ticketAt: number | null = null;
  /** Waiting for the first session ticket (awaitTicket): called with true when it came, false when not. */
  private ticketWaiters: ((arrived: boolean) => void)[] = [];
  readonly transcript: TranscriptLine[] = [];

  constructor(
    socket: Socket,
    private readonly limits: ConnectionLimits,
    private readonly signal: AbortSignal,
    private readonly startedAt: number,
    private readonly budgetMs: number,
    /** Keep a transcript (false: `transcript` stays empty and `note` does nothing). */
    readonly recording = true,
  ) {
    this.socket = socket;
    this.sockets.push(socket);
    this.parser = this.newParser();
    this.attach(socket);
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  private newParser(): ReplyParser {
    return new ReplyParser(this.limits, () => this.owed[0] ?? false);
  }

  private readonly onAbort = (): void => {
    const reason: unknown = this.signal.reason;
    const isBudget = reason instanceof DOMException && reason.name === 'TimeoutError';
    this.fail(isBudget ? new BudgetExceededError(this.budgetMs) : new AbortedError('verification cancelled'));
  };

  private attach(socket: Socket | TLSSocket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private detach(socket: Socket | TLSSocket): void {
    socket.off('data', this.onData);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.ended) return;
    this.received += chunk.length;
    if (this.received > this.limits.maxSessionBytes) {
      this.fail(
        new ProtocolError(`server sent more than ${this.limits.maxSessionBytes} octets in one session`),
      );
      return;
    }
    try {
      for (const reply of this.parser.push(chunk)) this.deliver(reply);
    } catch (error) {
      this.fail(error instanceof ProbeError ? error : new ProtocolError(String(error)));
    }
  };

  private readonly onError = (error: Error): void => {
    // After the end (our destroy() brings a 'close'), nothing is left to fail: no error to make.
    if (this.ended) return;
    this.fail(new ConnectionClosedError(`connection error: ${error.message}`, { cause: error }));
  };

  private readonly onClose = (): void => {
    if (this.ended) return;
    this.fail(new ConnectionClosedError('server closed the connection'));
  };

  private deliver(reply: SmtpReply): void {
    if (this.owed.length === 0) {
      this.noteReply(reply);
      if (reply.code === 421) {
        // RFC 5321 3.8: a server shutting down may say 421 unasked, then close. Not a stray.
        this.closingReply = reply;
        this.fail(new ConnectionClosedError(`server closed the session: 421 ${reply.lines[0] ?? ''}`));
        return;
      }
      // A server that talks before being asked (or says two replies to one command)
      // cannot be kept in step with our commands: nothing it said can be trusted.
      this.stray = true;
      this.fail(new ProtocolError(`unsolicited reply ${reply.code} ${reply.lines[0]?.slice(0, 60) ?? ''}`));
      return;
    }
    this.owed.shift();
    this.noteReply(reply);
    if (this.waiter) {
      const { resolve } = this.waiter;
      this.waiter = null;
      resolve(reply);
    } else {
      this.replies.push(reply);
    }
  }

  private noteReply(reply: SmtpReply): void {
    if (!this.recording) return;
    reply.lines.forEach((text, i) => {
      const sep = i < reply.lines.length - 1 ? '-' : ' ';
      this.note('S', `${reply.code}${sep}${text}`);
    });
    if (reply.droppedLines) this.note('*', `${reply.droppedLines} more reply lines read and not kept`);
  }

  /**
   * True once the server sent a reply nobody asked for: the stream of replies is
   * out of step with our commands (an injected CR LF in a reply makes two), so
   * no reply of this session proves anything.
   */
  get outOfStep(): boolean {
    return this.stray;
  }

  /** True once the session is over (failed, closed by either side). */
  get ended(): boolean {
    return this.failure !== null || this.closedByUs;
  }

  /** Why the session is over, or null while it is not. */
  private get over(): ProbeError | null {
    if (this.failure === null && this.closedByUs)
      this.failure = new ConnectionClosedError('connection closed by us');
    return this.failure;
  }

  private fail(error: ProbeError): void {
    if (this.ended) return;
    this.failure = error;
    this.note('*', error.message);
    this.signal.removeEventListener('abort', this.onAbort);
    for (const socket of this.sockets) socket.destroy();
    if (this.waiter) {
      const { reject } = this.waiter;
      this.waiter = null;
      reject(error);
    }
    this.wakeTicketWaiters(false);
  }

  /** Add a line to the transcript, when it is kept. */
  note(dir: TranscriptLine['dir'], line: string): void {
    if (this.recording) this.transcript.push({ t: Date.now() - this.startedAt, dir, line });
  }

  /**
   * Write one or more commands in a single segment (several only when pipelining).
   * `truncatable`: the reply to these commands may be cut to the reply limits
   * rather than end the session (EHLO's list of extensions).
   */
  send(commands: readonly string[], truncatable = false): void {
    const over = this.over;
    if (over) throw over;
    for (const command of commands) {
      // Defence in depth: the address parser already refuses controls, but nothing
      // that could split a command may ever be written, whatever its origin.
      if (/[\x00-\x1f\x7f]/.test(command))
        throw new ProtocolError('refusing to send a command containing control characters');
      this.note('C', command);
    }
    for (let i = 0; i < commands.length; i++) this.owed.push(truncatable);
    this.socket.write(commands.map((c) => `${c}\r\n`).join(''));
  }

  /** The next reply, within the phase's deadline. */
  readReply(phase: Stage, deadlineMs: number): Promise<SmtpReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    const over = this.over;
    if (over) return Promise.reject(this.withStage(over, phase));
    return new Promise<SmtpReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new PhaseTimeoutError(phase, deadlineMs));
      }, deadlineMs);
      timer.unref();
      this.waiter = {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(this.withStage(error, phase));
        },
      };
    });
  }

  private withStage(error: Error, phase: Stage): Error {
    if (error instanceof ProbeError && error.stage === null) error.stage = phase;
    return error;
  }

  /**
   * Switch to TLS after the server's 220 to STARTTLS. Anything the server sent
   * after that 220 and before the handshake would be plaintext injected into the
   * encrypted session (CVE-2011-0411 style), so it is a protocol error.
   */
  async startTls(servername: string | undefined, deadlineMs: number, verify: boolean): Promise<void> {
    const over = this.over;
    if (over) throw over;
    if (this.replies.length > 0 || this.parser.midReply) {
      const error = new ProtocolError('server sent data after its STARTTLS reply, before the TLS handshake');
      this.fail(error);
      throw error;
    }
    try {
      await this.handshake(servername, deadlineMs, verify);
    } catch (error) {
      // The plain socket is gone with the failed handshake: the session is over,
      // and every later send or read must fail at once rather than wait on a dead socket.
      const failure = error instanceof ProbeError ? error : new TlsError(String(error));
      if (failure.stage === null) failure.stage = 'starttls';
      this.fail(failure);
      throw failure;
    }
  }

  private async handshake(
    servername: string | undefined,
    deadlineMs: number,
    verify: boolean,
  ): Promise<void> {
    const plain = this.socket;
    const helloAt = performance.now();
    this.detach(plain);
    // The plain socket now belongs to TLS; a late error on it must not become an uncaught exception.
    plain.on('error', () => undefined);
    const secure = tlsConnect({
      socket: plain,
      servername,
      rejectUnauthorized: verify,
      ...(verify ? {} : { checkServerIdentity: () => undefined }),
    });
    this.socket = secure;
    this.sockets.push(secure);
    secure.on('error', () => undefined);
    // TLS 1.3 tickets come after the handshake (RFC 8446 4.6.1); listening also makes Node report them.
    secure.on('session', this.onTicket);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        secure.destroy();
        reject(new PhaseTimeoutError('starttls', deadlineMs));
      }, deadlineMs);
      timer.unref();
      const onAbort = (): void => {
        cleanup();
        secure.destroy();
        reject(new AbortedError('verification cancelled'));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        secure.off('secureConnect', onSecure);
        secure.off('error', onError);
        secure.off('close', onClose);
        this.signal.removeEventListener('abort', onAbort);
      };
      const onSecure = (): void => {
        cleanup();
        resolve();
      };
      const onError = (error: Error): void => {
        cleanup();
        secure.destroy();
        const failure = new TlsError(`TLS handshake failed: ${error.message}`, { cause: error });
        failure.stage = 'starttls';
        reject(failure);
      };
      // A server that says 220 and then hangs up may end the socket without an error event.
      const onClose = (): void => onError(new Error('the server closed the connection'));
      secure.once('secureConnect', onSecure);
      secure.once('error', onError);
      secure.once('close', onClose);
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
    this.handshakeMs = performance.now() - helloAt;
    this.parser = this.newParser();
    this.attach(secure);
    this.note(
      '*',
      `TLS established (${secure.getProtocol() ?? 'unknown protocol'}, ${secure.getCipher().name})`,
    );
    if (secure.destroyed) this.onClose();
  }

  private readonly onTicket = (): void => {
    if (this.ticketAt !== null) return;
    this.ticketAt = performance.now();
    // Resume the waiters on the next turn of the event loop, not inside this event: Node 20 emits
    // it from within the TLS read that carried the ticket, and a write made there (the EHLO, from
    // a resolved promise) was seen never to leave the socket.
    setImmediate(() => this.wakeTicketWaiters(true));
  };

  private wakeTicketWaiters(arrived: boolean): void {
    const waiters = this.ticketWaiters;
    this.ticketWaiters = [];
    for (const wake of waiters) wake(arrived);
  }

  /** After STARTTLS: the handshake's duration and the first ticket's arrival (performance.now() ms). */
  get tlsTiming(): { handshakeMs: number; ticketAt: number | null } | null {
    return this.handshakeMs === null ? null : { handshakeMs: this.handshakeMs, ticketAt: this.ticketAt };
  }

  /** The negotiated TLS version ('TLSv1.3', ...), or null before STARTTLS. */
  get tlsProtocol(): string | null {
    return 'getProtocol' in this.socket ? this.socket.getProtocol() : null;
  }

  /**
   * Resolves true once the server's first TLS session ticket has arrived, false if it has not
   * within `maxMs` or the session ended first. Never rejects; the session's own deadlines and
   * byte caps still apply to everything the server sends meanwhile.
   */
  awaitTicket(maxMs: number): Promise<boolean> {
    if (this.ticketAt !== null) return Promise.resolve(true);
    if (this.ended || this.handshakeMs === null) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.ticketWaiters = this.ticketWaiters.filter((w) => w !== wake);
        resolve(false);
      }, maxMs);
      timer.unref();
      const wake = (arrived: boolean): void => {
        clearTimeout(timer);
        resolve(arrived);
      };
      this.ticketWaiters.push(wake);
    });
  }

  get encrypted(): boolean {
    return 'encrypted' in this.socket && this.socket.encrypted;
  }

  /** Close without ceremony. Safe to call more than once. */
  destroy(): void {
    this.signal.removeEventListener('abort', this.onAbort);
    if (!this.failure) this.closedByUs = true;
    for (const socket of this.sockets) socket.destroy();
  }

  /** True when the socket is gone and the abort listener released (for tests of every path's cleanup). */
  get released(): boolean {
    return this.ended && this.sockets.every((s) => s.destroyed);
  }
}
