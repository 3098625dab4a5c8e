/** Structured JSON logs (pino) on stdout; every line has an `event` code from events.ts. */
import { pino, type Logger } from 'pino';
import { escapeJsonText } from '../core/index.js';
import type { EventCode } from './events.js';

export type { Logger };

/**
 * How much log output is gathered before one write, and how long it may wait at most. Each batch
 * is one trip through libuv's thread pool (a worker woken, a write, the main thread woken again):
 * at 50,000 cache hits/s, `verify.result` lines make ~15 MB/s, 1,900 trips/s in 8 KiB batches,
 * 240 in 64 KiB ones.
 */
const BUFFER_CHARS = 64 * 1024;
const FLUSH_MS = 250;

/** Fields every line carries (pino's `base`). */
const BASE = { service: 'cbv' };

/**
 * Where a logger made by createLogger writes its lines, for logFlat and FlatEvent (the same
 * stream; the caller applies pino's streamWrite hook, escapeJsonText, itself).
 */
const sinks = new WeakMap<Logger, (line: string) => void>();

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: BASE,
    timestamp: isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    // pino escapes C0 controls as JSON does; C1, DEL and bidirectional formatting from remote replies and
    // sender addresses would reach whoever reads the log raw, so every line is escaped once more (losslessly).
    hooks: { streamWrite: escapeJsonText },
  };
  if (destination) {
    const logger = pino(options, destination);
    sinks.set(logger, (line) => destination.write(line));
    return logger;
  }
  // One line per verification: written one by one, each line would be a write(2) (and a wake-up of
  // libuv's thread pool) per request. Gathered, they go out in batches, at most FLUSH_MS late.
  // sonic-boom takes the batches as bytes (encoded once here): given a string, it measures its UTF-8
  // length on write and encodes it twice more, for fs.write and again once it is written.
  const boom = pino.destination({ fd: 1, sync: false, contentMode: 'buffer' });
  // Typed for strings, but in contentMode 'buffer' sonic-boom's write() takes Buffers (and only those).
  const stdout = new LineBatch(boom as unknown as LineSink, BUFFER_CHARS);
  setInterval(() => stdout.flush(), FLUSH_MS).unref();
  process.once('exit', () => stdout.flushSync());
  const logger = pino(options, stdout);
  sinks.set(logger, (line) => stdout.write(line));
  return logger;
}

/** What LineBatch writes to: sonic-boom (pino.destination, contentMode 'buffer'), which owns the descriptor. */
interface LineSink {
  write(bytes: Buffer): boolean;
  flush(cb: (error?: Error) => void): void;
  flushSync(): void;
}

/**
 * Log lines gathered into one string per batch before they reach sonic-boom. sonic-boom can
 * batch by itself (minLength), but it then measures the UTF-8 length of everything pending on
 * every line (Buffer.byteLength of a growing concatenation), which costs more than the line:
 * here a line costs an array push, and sonic-boom sees one string per batch.
 */
export class LineBatch {
  private lines: string[] = [];
  private chars = 0;

  constructor(
    private readonly sink: LineSink,
    private readonly minChars: number,
  ) {}

  write(line: string): boolean {
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars >= this.minChars) this.flush();
    return true;
  }

  /** Hand what is gathered to sonic-boom, which writes it asynchronously; `done` once written (logger.flush). */
  flush(done?: (error?: Error) => void): void {
    if (this.chars > 0) {
      const text = this.lines.join('');
      this.lines = [];
      this.chars = 0;
      this.sink.write(Buffer.from(text));
    }
    if (done) this.sink.flush(done);
  }

  /** Everything written before this returns (at exit). */
  flushSync(): void {
    this.flush();
    this.sink.flushSync();
  }
}

/**
 * pino's isoTime (`,"time":"<ISO 8601 UTC>"`), formatting the date once per second rather than
 * once per line: Date#toISOString costs about as much as the rest of a line.
 */
let second = NaN;
let secondPrefix = '';
function isoTime(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== second) {
    second = s;
    // Everything up to the milliseconds: 'YYYY-MM-DDTHH:MM:SS.'
    secondPrefix = new Date(s * 1000).toISOString().slice(0, -4);
  }
  const ms = now - s * 1000;
  return `,"time":"${secondPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
}

/** Log with an event code; keeps call sites short and the code mandatory. */
export function logEvent(
  logger: Logger,
  level: 'info' | 'warn' | 'error' | 'debug',
  event: EventCode,
  fields: Record<string, unknown> = {},
  msg?: string,
): void {
  // Debug lines on the hot path cost nothing when debug is off: not even the copy of their fields.
  if (logger.isLevelEnabled(level)) logger[level]({ event, ...fields }, msg ?? event);
}

/** A field value logFlat writes: what JSON has without nesting. */
export type FlatValue = string | number | boolean | null;

/**
 * logEvent for a line written on every request (`verify.result`): the line pino would write
 * (test/unit/observability/logger.test.ts compares them), its fields serialised by one
 * JSON.stringify rather than by pino's key-by-key escaping, which costs several times more.
 * A logger not made by createLogger gets logEvent.
 */
export function logFlat(
  logger: Logger,
  level: 'info' | 'warn' | 'error' | 'debug',
  event: EventCode,
  fields: Record<string, FlatValue>,
): void {
  const write = sinks.get(logger);
  if (!write) return logEvent(logger, level, event, fields);
  if (!logger.isLevelEnabled(level)) return;
  const json = JSON.stringify(fields);
  const rest = json.length > 2 ? `,${json.slice(1, -1)}` : '';
  const name = JSON.stringify(event);
  write(escapeJsonText(`{"level":"${level}"${isoTime()}${BINDINGS},"event":${name}${rest},"msg":${name}}\n`));
}

/** A character escapeJsonText may replace: all of them are beyond printable ASCII (DEL and up). */
const BEYOND_ASCII = /[^\x00-\x7e]/;

/** A value as JSON.stringify writes it, then escaped as escapeJsonText would (which only touches non-ASCII). */
function flatJson(value: FlatValue): string {
  if (typeof value === 'string') {
    const json = JSON.stringify(value);
    return BEYOND_ASCII.test(value) ? escapeJsonText(json) : json;
  }
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  return value === null ? 'null' : value ? 'true' : 'false';
}

/**
 * logFlat for a line with the same fields every time, written on every request (`verify.result`):
 * the constant parts (level, bindings, event, field names, msg) are serialised once, and each
 * value as logFlat serialises it (JSON, then escapeJsonText, which only non-ASCII text needs), so
 * the line is the one logFlat writes (test/unit/observability/logger.test.ts), without an object
 * of fields per line. A logger not made by createLogger gets logEvent.
 */
export class FlatEvent {
  private readonly write: ((line: string) => void) | undefined;
  private readonly head: string;
  private readonly bindings: string;
  private readonly keys: string[];
  private readonly tail: string;

  constructor(
    private readonly logger: Logger,
    private readonly level: 'info' | 'warn' | 'error' | 'debug',
    private readonly event: EventCode,
    private readonly names: readonly string[],
  ) {
    this.write = sinks.get(logger);
    const name = flatJson(event);
    this.head = `{"level":"${level}"`;
    this.bindings = `${BINDINGS},"event":${name}`;
    this.keys = names.map((n) => `,${flatJson(n)}:`);
    this.tail = `,"msg":${name}}\n`;
  }

  /** One line; `values` in the order of the names given to the constructor (the caller may reuse the array). */
  log(values: readonly FlatValue[]): void {
    if (!this.write) {
      const fields: Record<string, FlatValue> = {};
      this.names.forEach((n, i) => (fields[n] = values[i] ?? null));
      return logEvent(this.logger, this.level, this.event, fields);
    }
    if (!this.logger.isLevelEnabled(this.level)) return;
    let line = this.head + isoTime() + this.bindings;
    for (let i = 0; i < this.keys.length; i++) line += (this.keys[i] as string) + flatJson(values[i] ?? null);
    this.write(line + this.tail);
  }
}

/** BASE as pino writes it after the time: `,"service":"cbv"`. */
const BINDINGS = `,${JSON.stringify(BASE).slice(1, -1)}`;
