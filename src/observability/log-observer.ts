/** The Verifier's observer that writes the log lines: one per verification, one per callout. */
import type { CalloutVerdict, VerifierObserver } from '../service/verifier.js';
import type { ServiceVerdict } from '../service/verdict.js';
import { EVENTS } from './events.js';
import { logEvent, type Logger } from './logger.js';

export class LogObserver implements VerifierObserver {
  constructor(private readonly logger: Logger) {}

  verdict(v: ServiceVerdict, context: { joined: boolean }): void {
    logEvent(this.logger, 'info', EVENTS.verifyResult, {
      address: v.address,
      result: v.result,
      reason: v.reason,
      rule: v.rule,
      temporary: v.temporary,
      durationMs: v.durationMs,
      cached: v.cache.hit,
      fact: v.cache.fact,
      joined: context.joined,
      mx: v.mx?.host ?? null,
      code: v.smtp?.code ?? null,
    });
  }

  callout(v: CalloutVerdict): void {
    logEvent(this.logger, 'debug', EVENTS.calloutDone, {
      address: v.address,
      reason: v.reason,
      rule: v.rule,
      durationMs: v.durationMs,
      attempts: v.attempts,
    });
  }

  floodTripped(domain: string): void {
    logEvent(this.logger, 'warn', EVENTS.floodTripped, { domain }, `flood breaker tripped for ${domain}`);
  }

  backgroundError(error: unknown): void {
    logEvent(this.logger, 'error', EVENTS.backgroundError, { err: error });
  }
}

/** Fans one observer call out to several (logs, metrics). */
export class ObserverSet implements VerifierObserver {
  constructor(private readonly observers: VerifierObserver[]) {}
  verdict(v: ServiceVerdict, context: { joined: boolean }): void {
    for (const o of this.observers) o.verdict(v, context);
  }
  callout(v: CalloutVerdict): void {
    for (const o of this.observers) o.callout(v);
  }
  floodTripped(domain: string): void {
    for (const o of this.observers) o.floodTripped(domain);
  }
  backgroundError(error: unknown): void {
    for (const o of this.observers) o.backgroundError(error);
  }
}
