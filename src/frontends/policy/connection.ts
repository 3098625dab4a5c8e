/**
 * One policy client connection: reads requests, answers them strictly in
 * order, and bounds what it holds for the client.
 *
 * - Back-pressure both ways. At most `maxPipelined` requests are read ahead
 *   of their answers; beyond that the socket is paused and the unread bytes
 *   stay in the kernel, so a client that pipelines without reading blocks in
 *   TCP instead of filling the daemon's memory. An answer is written only
 *   when the previous ones have left (no `write()` past a full buffer).
 * - A request must arrive whole within `requestTimeoutMs` of its first byte
 *   (Postfix writes one in a single write): a client trickling a byte at a
 *   time (slow-loris) is closed, although each byte would reset an idle timer.
 * - A connection with nothing in flight closes after `idleTimeoutMs`.
 * - Answers known at once (a cache hit) are written at once, without a trip
 *   through the promise queue, and the answers to requests that arrived
 *   together (a client that pipelines) leave in one write.
 */
import type { Socket } from 'node:net';
import { PolicyLimitError, PolicyRequestReader, type ReadResult } from './request-reader.js';

export interface ConnectionLimits {
  maxLineLength: number;
  maxRequestBytes: number;
  /** Requests read but not yet answered, at most. */
  maxPipelined: number;
  /** From the first byte of a request to its empty line. */
  requestTimeoutMs: number;
  idleTimeoutMs: number;
}

export interface ConnectionHooks {
  /**
   * The action for one request: the action itself when it is known at once, a promise when it
   * needs time (never throws or rejects: faults are the caller's fail-safe).
   */
  answer(result: ReadResult): string | Promise<string>;
  /** The client broke a limit; the connection is being closed. */
  limitExceeded(problem: string): void;
  /** Reading stopped because the client does not read its answers (once per connection). */
  backpressure(waiting: number): void;
  closed(): void;
}

/** Most replies are this one: made once (a flat string that the socket's write needs no copy to flatten). */
const DUNNO_REPLY = 'action=DUNNO\n\n';

/** One reply: the action line and the empty line that ends it. */
function reply(action: string): string {
  return action === 'DUNNO' ? DUNNO_REPLY : `action=${action}\n\n`;
}

export class PolicyConnection {
  readonly openedAt = Date.now();
  /** When the last whole request arrived; null while the client has sent none. */
  lastRequestAt: number | null = null;
  private readonly reader: PolicyRequestReader;
  private readonly pending: ReadResult[] = [];
  private answering = false;
  private ended = false;
  private requestTimer: NodeJS.Timeout | null = null;
  /** Reading stopped because `maxPipelined` requests wait for answers. */
  private full = false;
  private reportedBackpressure = false;
  /** A malformed request was read: nothing more is read or decided on this connection. */
  private untrusted = false;

  constructor(
    readonly socket: Socket,
    /** Who is connected: the client IP, or 'unix'. */
    readonly client: string,
    private readonly limits: ConnectionLimits,
    private readonly hooks: ConnectionHooks,
  ) {
    this.reader = new PolicyRequestReader({
      maxLineLength: limits.maxLineLength,
      maxRequestBytes: limits.maxRequestBytes,
    });
    socket.setNoDelay(true);
    // Nothing from the client and nothing it would take from us for that long: unless we are still
    // deciding its request, it is gone (or will not read its answers).
    socket.setTimeout(limits.idleTimeoutMs, () => {
      if (!this.answering) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    // A client that half-closes after its request (Exim's readsocket) gets its answers, then EOF.
    socket.on('end', () => {
      this.ended = true;
      this.disarm();
      this.pump();
    });
    socket.on('drain', () => this.pump());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.disarm();
      hooks.closed();
    });
  }

  /** A request is being decided for this client: the one state never cut short to make room. */
  get busy(): boolean {
    return this.answering;
  }

  /** Part of a request has arrived, the rest not yet. */
  get midRequest(): boolean {
    return this.reader.pendingBytes > 0;
  }

  /** Nothing received that awaits an answer, nothing being answered. */
  get idle(): boolean {
    return !this.answering && this.pending.length === 0 && !this.midRequest;
  }

  /** The socket is closed (a method, so that a check after an await reads it anew). */
  private isGone(): boolean {
    return this.socket.destroyed;
  }

  /** Close now (limits, eviction, shutdown). */
  destroy(): void {
    this.socket.destroy();
  }

  /** Close once what was received is answered (shutdown); with nothing to answer, at once. */
  end(): void {
    this.ended = true;
    this.finishIfDone();
  }

  /** After the client's FIN (or at shutdown): end our side once every whole request has its answer. */
  private finishIfDone(): void {
    if (this.ended && !this.answering && this.pending.length === 0 && !this.socket.destroyed)
      this.socket.end();
  }

  private receive(chunk: Buffer): void {
    if (this.untrusted) return;
    let read: ReturnType<PolicyRequestReader['read']>;
    try {
      read = this.reader.read(chunk, this.limits.maxPipelined - this.pending.length);
    } catch (error) {
      if (!(error instanceof PolicyLimitError)) throw error;
      this.refuse(error.message);
      return;
    }
    if (read.results.length > 0) {
      this.lastRequestAt = Date.now();
      this.pending.push(...read.results);
      this.disarm();
    }
    if (read.consumed < chunk.length || this.pending.length >= this.limits.maxPipelined) {
      // Enough read ahead: the rest waits, unread, until answers make room.
      this.full = true;
      this.socket.pause();
      if (read.consumed < chunk.length) this.socket.unshift(chunk.subarray(read.consumed));
      if (this.socket.writableNeedDrain && !this.reportedBackpressure) {
        this.reportedBackpressure = true;
        this.hooks.backpressure(this.pending.length);
      }
    }
    this.arm();
    this.pump();
  }

  /** The request deadline runs while a request is partly here and we are reading. */
  private arm(): void {
    if (this.requestTimer || this.full || !this.midRequest) return;
    this.requestTimer = setTimeout(
      () => this.refuse(`request not complete ${this.limits.requestTimeoutMs / 1000} s after its first byte`),
      this.limits.requestTimeoutMs,
    );
  }

  private disarm(): void {
    if (this.requestTimer) clearTimeout(this.requestTimer);
    this.requestTimer = null;
  }

  private refuse(problem: string): void {
    if (this.socket.destroyed) return;
    this.hooks.limitExceeded(problem);
    this.socket.destroy();
  }

  /**
   * Answer waiting requests in order, one at a time, while the client takes the answers.
   * Answers known at once are gathered and written together; an answer that needs time
   * first lets those go, then holds the rest until it is written.
   */
  private pump(): void {
    if (this.answering) return;
    let replies = '';
    while (this.pending.length > 0 && !this.isGone() && !this.socket.writableNeedDrain) {
      const next = this.pending.shift();
      if (!next) break;
      const action = this.hooks.answer(next);
      if (typeof action === 'string') {
        replies += reply(action);
        if (next.kind === 'malformed') {
          this.distrust();
          break;
        }
        continue;
      }
      if (replies !== '') this.send(replies);
      this.answering = true;
      action.then(
        (later) => this.answered(later, next.kind === 'malformed'),
        // Not expected (answer() never rejects); should it happen, the client gets no reply it could
        // take for another request's: the connection closes and Postfix applies its own default.
        () => {
          this.answering = false;
          this.socket.destroy();
        },
      );
      return;
    }
    if (replies !== '') this.send(replies);
    this.finishIfDone();
  }

  /** An answer that took time: written (unless the socket closed meanwhile), then the queue goes on. */
  private answered(action: string, malformed: boolean): void {
    this.answering = false;
    if (this.isGone()) return; // closed while deciding (limits, shutdown): the answer has nowhere to go
    this.send(reply(action));
    if (malformed) this.distrust();
    this.pump();
  }

  /**
   * Postfix never sends a malformed request: what does is broken or another protocol aimed at
   * this port (a browser's request whose body is a policy request, a TURN username holding
   * newlines). Nothing after it is trusted: it gets its DUNNO, and the connection ends without
   * deciding anything that followed it.
   */
  private distrust(): void {
    this.untrusted = true;
    this.pending.length = 0;
    this.ended = true;
  }

  /** Write replies; reading resumes once fewer than `maxPipelined` requests wait. */
  private send(replies: string): void {
    this.socket.write(replies);
    if (this.full && this.pending.length < this.limits.maxPipelined) {
      this.full = false;
      this.socket.resume();
      this.arm();
    }
  }
}
