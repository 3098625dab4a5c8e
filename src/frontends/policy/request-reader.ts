/**
 * The Postfix policy delegation protocol, reading side (SMTPD_POLICY_README):
 * a request is `name=value` lines ending in an empty line. Bytes arrive in
 * any segmentation; several requests may arrive in one segment. Limits on
 * line length and request size end the connection (the caller closes it);
 * a request that is merely malformed is reported so that it still gets an answer.
 */
import { isAscii } from 'node:buffer';
import { PolicyAttributes, postfixName } from './attributes.js';

/** A request's attributes by name (PolicyAttributes: Postfix's names held without a Map entry each). */
export type PolicyRequest = ReadonlyMap<string, string>;

export type ReadResult = { kind: 'request'; attrs: PolicyRequest } | { kind: 'malformed'; problem: string };

export interface ReaderLimits {
  maxLineLength: number;
  maxRequestBytes: number;
}

/** Abuse beyond the limits, or another protocol: the connection must be closed. */
export class PolicyLimitError extends Error {
  readonly code = 'CBV_ERR_POLICY_LIMIT';
}

const NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * An HTTP request line (RFC 9112 3). A web page can make a browser send an HTTP request to any
 * port it does not block, the policy port included: its headers would read as one malformed
 * request, and a text/plain body as a well-formed one, so any page the host's browser shows could
 * make cbv call out. No policy client sends such a line; the connection is closed at once.
 */
const HTTP_REQUEST_LINE = /^[A-Z]+ \S+ HTTP\/\d(?:\.\d)?$/;

export class PolicyRequestReader {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private attrs = new PolicyAttributes();
  private problem: string | null = null;
  private requestBytes = 0;

  constructor(private readonly limits: ReaderLimits) {}

  push(chunk: Buffer): ReadResult[] {
    return this.read(chunk).results;
  }

  /**
   * Read requests from a chunk, at most `limit` of them: the bytes after the
   * last request read are not consumed (`consumed` says how many were), so the
   * caller can hand them back to the socket and read them when it has room.
   */
  read(chunk: Buffer, limit = Infinity): { results: ReadResult[]; consumed: number } {
    // Postfix writes a request in one write: a chunk that begins at a line start and is ASCII
    // (octets are characters) is decoded once, not line by line.
    if (this.partialBytes === 0 && isAscii(chunk)) return this.readAscii(chunk, limit);
    const results: ReadResult[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      if (results.length >= limit) return { results, consumed: start };
      const piece = chunk.subarray(start, nl);
      const line = this.partialBytes > 0 ? Buffer.concat([...this.partial, piece]) : piece;
      this.partial = [];
      this.partialBytes = 0;
      start = nl + 1;
      this.account(line.length + 1);
      const result = this.line(line.toString('utf8'));
      if (result) results.push(result);
    }
    return this.keepRest(chunk, start, results, limit);
  }

  /** read() for an ASCII chunk with no partial line before it: one string, offsets are octets. */
  private readAscii(chunk: Buffer, limit: number): { results: ReadResult[]; consumed: number } {
    const text = chunk.toString('latin1');
    const results: ReadResult[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl >= 0; nl = text.indexOf('\n', start)) {
      if (results.length >= limit) return { results, consumed: start };
      this.account(nl - start + 1);
      const end = nl > start && text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
      const eq = end > start ? text.indexOf('=', start) : -1;
      // The common line, name=value, read in place; anything else as read() reads it.
      const result =
        eq > start && eq < end && this.attribute(text, start, eq, end)
          ? null
          : this.line(text.slice(start, nl));
      start = nl + 1;
      if (result) results.push(result);
    }
    return this.keepRest(chunk, start, results, limit);
  }

  /** The bytes after the last newline: kept as the start of the next line, unless the limit stops reading. */
  private keepRest(
    chunk: Buffer,
    start: number,
    results: ReadResult[],
    limit: number,
  ): { results: ReadResult[]; consumed: number } {
    if (results.length >= limit && start < chunk.length) return { results, consumed: start };
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.partialBytes += rest.length;
      if (this.partialBytes > this.limits.maxLineLength) {
        throw new PolicyLimitError(`attribute line longer than ${this.limits.maxLineLength} octets`);
      }
      this.partial.push(Buffer.from(rest));
    }
    return { results, consumed: chunk.length };
  }

  private account(bytes: number): void {
    if (bytes - 1 > this.limits.maxLineLength)
      throw new PolicyLimitError(`attribute line longer than ${this.limits.maxLineLength} octets`);
    this.requestBytes += bytes;
    if (this.requestBytes > this.limits.maxRequestBytes)
      throw new PolicyLimitError(`request larger than ${this.limits.maxRequestBytes} octets`);
  }

  /**
   * The attribute `text[start, eq)` = `text(eq, end)`, kept when its name is valid; false when it
   * is not one (line() then reports it). Postfix's own names are recognised without a copy.
   */
  private attribute(text: string, start: number, eq: number, end: number): boolean {
    const known = postfixName(text, start, eq);
    if (known >= 0) this.attrs.setKnown(known, text.slice(eq + 1, end));
    else {
      const name = text.slice(start, eq);
      if (!NAME.test(name)) return false;
      this.attrs.set(name, text.slice(eq + 1, end));
    }
    return true;
  }

  /** One line, without its LF (a CR before it is dropped). */
  private line(raw: string): ReadResult | null {
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text === '') return this.finish();
    const eq = text.indexOf('=');
    if (eq > 0 && this.attribute(text, 0, eq, text.length)) return null;
    if (HTTP_REQUEST_LINE.test(text))
      throw new PolicyLimitError(`an HTTP request (${text.split(' ')[0] ?? ''}), not the policy protocol`);
    this.problem ??= `line without a name=value attribute: ${JSON.stringify(text.slice(0, 60))}`;
    return null;
  }

  private finish(): ReadResult {
    const result: ReadResult =
      this.problem !== null
        ? { kind: 'malformed', problem: this.problem }
        : this.attrs.size === 0
          ? { kind: 'malformed', problem: 'empty request' }
          : { kind: 'request', attrs: this.attrs };
    this.attrs = new PolicyAttributes();
    this.problem = null;
    this.requestBytes = 0;
    return result;
  }

  /** Bytes of a request begun but not finished (to tell a clean close from a truncated one). */
  get pendingBytes(): number {
    return this.requestBytes + this.partialBytes;
  }
}
