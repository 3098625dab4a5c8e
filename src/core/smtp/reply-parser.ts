/**
 * Incremental SMTP reply parser (RFC 5321 4.2). Feed it bytes as they arrive,
 * in segments split anywhere; it yields complete replies. Every dimension of
 * a reply is bounded, because the remote server is chosen by whoever forged
 * the sender address and may send anything, forever.
 */
import { ProtocolError } from '../errors.js';
import { replyTextFromBytes } from './reply-text.js';
import { printable } from '../printable.js';

export interface SmtpReply {
  code: number;
  /** RFC 3463 enhanced status code from the first line (`5.1.1`), when present and consistent with the code. */
  enhancedCode: string | null;
  /** Text of every line kept, without code and separator (reply-text.ts: invalid UTF-8 as \xHH). */
  lines: string[];
  /** Lines read but not kept, when a truncatable reply (EHLO) was longer than the limits. */
  droppedLines?: number;
}

export interface ReplyLimits {
  /** Longest line accepted, in octets, excluding CRLF. RFC 5321 says 512; real servers exceed it a little. */
  maxLineLength: number;
  /** Most lines in one multiline reply (an EHLO reply is the longest legitimate one). */
  maxLines: number;
  /** Most octets in one reply. */
  maxReplyBytes: number;
}

export const DEFAULT_REPLY_LIMITS: ReplyLimits = {
  maxLineLength: 2048,
  maxLines: 100,
  maxReplyBytes: 32 * 1024,
};

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)/;

/**
 * Asked when a reply begins: may its lines beyond maxLines / maxReplyBytes be
 * dropped (true: an EHLO reply, whose tail of extension keywords cbv can do
 * without) rather than end the session? The caller still bounds the session's bytes.
 */
export type TruncationPolicy = () => boolean;

export class ReplyParser {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private current: {
    code: number;
    lines: string[];
    bytes: number;
    dropped: number;
    truncatable: boolean;
  } | null = null;

  constructor(
    private readonly limits: ReplyLimits = DEFAULT_REPLY_LIMITS,
    private readonly truncatable: TruncationPolicy = () => false,
  ) {}

  /** Feed bytes; returns every reply completed by them. Throws ProtocolError on malformed or oversized input. */
  push(chunk: Buffer): SmtpReply[] {
    const replies: SmtpReply[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      this.checkLineLength(this.pendingBytes + nl - start);
      let reply: SmtpReply | null;
      if (this.pendingBytes > 0) {
        const line = Buffer.concat([...this.pending, chunk.subarray(start, nl)]);
        this.pending = [];
        this.pendingBytes = 0;
        reply = this.acceptLine(line, 0, line.length);
      } else {
        // The line read where it lies in the chunk, by offsets: no Buffer view made per line.
        reply = this.acceptLine(chunk, start, nl);
      }
      if (reply) replies.push(reply);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.checkLineLength(this.pendingBytes + rest.length);
      this.pending.push(Buffer.from(rest));
      this.pendingBytes += rest.length;
    }
    return replies;
  }

  /** True when a reply has started but not finished (or a line is half-received). */
  get midReply(): boolean {
    return this.current !== null || this.pendingBytes > 0;
  }

  private checkLineLength(length: number): void {
    // +1 allows the CR that precedes LF.
    if (length > this.limits.maxLineLength + 1) {
      throw new ProtocolError(`reply line longer than ${this.limits.maxLineLength} octets`);
    }
  }

  /** The line is `buf[from, to)`, without its LF. */
  private acceptLine(buf: Buffer, from: number, to: number): SmtpReply | null {
    const end = to > from && buf[to - 1] === 0x0d ? to - 1 : to;
    // The code and separator must be clean ASCII. The text may hold anything (invalid UTF-8,
    // escape sequences): it is kept as text (reply-text.ts), so a clean code is still read by its
    // code; whatever prints it escapes it (printable.ts).
    const code = codeOf(buf, from, end);
    if (code === null) {
      throw new ProtocolError(
        `malformed reply line: "${printable(replyTextFromBytes(buf.subarray(from, Math.min(end, from + 80))))}"`,
      );
    }
    const more = end - from > 3 && buf[from + 3] === HYPHEN;
    const body = textOf(buf, from + 4, end);
    const current = this.current ?? {
      code,
      lines: [],
      bytes: 0,
      dropped: 0,
      truncatable: this.truncatable(),
    };
    if (current.code !== code) {
      throw new ProtocolError(`multiline reply changed code from ${current.code} to ${code}`);
    }
    current.bytes += to - from + 1;
    const overLines = current.lines.length + 1 > this.limits.maxLines;
    const overBytes = current.bytes > this.limits.maxReplyBytes;
    if (overLines || overBytes) {
      if (!current.truncatable) {
        throw new ProtocolError(
          overLines
            ? `reply has more than ${this.limits.maxLines} lines`
            : `reply is longer than ${this.limits.maxReplyBytes} octets`,
        );
      }
      current.dropped++;
    } else current.lines.push(body);
    if (more) {
      this.current = current;
      return null;
    }
    this.current = null;
    const reply: SmtpReply = {
      code,
      lines: current.lines,
      enhancedCode: enhancedCodeOf(code, current.lines[0] ?? ''),
    };
    if (current.dropped > 0) reply.droppedLines = current.dropped;
    return reply;
  }
}

const DIGIT_0 = 0x30;
const SPACE = 0x20;
const HYPHEN = 0x2d;

/**
 * The reply code of a line (RFC 5321 4.2: three digits, the first 2-5), read from its octets:
 * null unless the line is the code alone or the code then a space or a hyphen.
 */
function codeOf(buf: Uint8Array, from: number, end: number): number | null {
  if (end - from < 3) return null;
  const a = (buf[from] ?? 0) - DIGIT_0;
  const b = (buf[from + 1] ?? 0) - DIGIT_0;
  const c = (buf[from + 2] ?? 0) - DIGIT_0;
  if (a < 2 || a > 5 || b < 0 || b > 9 || c < 0 || c > 9) return null;
  if (end - from > 3 && buf[from + 3] !== SPACE && buf[from + 3] !== HYPHEN) return null;
  return a * 100 + b * 10 + c;
}

/**
 * The text of `buf[from, end)` (reply-text.ts): ASCII, as nearly every reply is, read as it is
 * (the same string the UTF-8 decoder makes of it, without its call); anything else decoded there.
 */
function textOf(buf: Buffer, from: number, end: number): string {
  if (from >= end) return '';
  for (let i = from; i < end; i++) {
    if ((buf[i] ?? 0) >= 0x80) return replyTextFromBytes(buf.subarray(from, end));
  }
  return buf.toString('latin1', from, end);
}

/** The enhanced status code, only when its class agrees with the basic code (RFC 3463 section 2). */
export function enhancedCodeOf(code: number, firstLine: string): string | null {
  const m = ENHANCED.exec(firstLine);
  if (!m) return null;
  if (Number(m[1]) !== Math.floor(code / 100)) return null;
  return `${m[1]}.${Number(m[2])}.${Number(m[3])}`;
}

/** The reply as one line for messages and logs: `550 5.1.1 <x>: Recipient address rejected`. */
export function replyText(reply: SmtpReply): string {
  return reply.lines.join(' / ');
}
