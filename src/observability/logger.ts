/** Structured JSON logs (pino) on stdout; every line has an `event` code from events.ts. */
import { pino, type Logger } from 'pino';
import type { EventCode } from './events.js';

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'cbv' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
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
