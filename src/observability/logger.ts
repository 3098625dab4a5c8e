/** Structured JSON logs (pino) on stdout; every line has an `event` code from events.ts. */
import { pino, type Logger } from 'pino';
import { escapeJsonText } from '../core/index.js';
import type { EventCode } from './events.js';

export type { Logger };

/** How much log output is gathered before one write, and how long it may wait at most. */
const BUFFER_BYTES = 8 * 1024;
const FLUSH_MS = 250;

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'cbv' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    // pino escapes C0 controls as JSON does; C1, DEL and bidirectional formatting from remote replies and
    // sender addresses would reach whoever reads the log raw, so every line is escaped once more (losslessly).
    hooks: { streamWrite: escapeJsonText },
  };
  if (destination) return pino(options, destination);
  // One line per verification: written one by one, each line would be a write(2) (and a wake-up of
  // libuv's thread pool) per request. Buffered, they go out in batches, at most FLUSH_MS late.
  const stdout = pino.destination({ fd: 1, sync: false, minLength: BUFFER_BYTES });
  setInterval(() => stdout.flush(), FLUSH_MS).unref();
  process.once('exit', () => stdout.flushSync());
  return pino(options, stdout);
}

/** Log with an event code; keeps call sites short and the code mandatory. */
export function logEvent(
  logger: Logger,
  level: 'info' | 'warn' | 'error' | 'debug',
  event: EventCode,
  fields: Record<string, unknown> = {},
  msg?: string,
): void {
  logger[level]({ event, ...fields }, msg ?? event);
}
