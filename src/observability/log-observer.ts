/** The telemetry member that writes log lines: one per verification, one per callout, one per policy reply. */
import type { LimitRefusal } from '../limits/callout-limits.js';
import type { TrickleReport } from '../service/flood-trickle.js';
import type { CalloutVerdict } from '../service/verifier.js';
import type { ServiceVerdict } from '../service/verdict.js';
import { EVENTS } from './events.js';
import { logEvent, logFlat, type Logger } from './logger.js';
import { NullTelemetry, type PolicyOutcome } from './telemetry.js';

export class LogTelemetry extends NullTelemetry {
  constructor(private readonly logger: Logger) {
    super();
  }

  override verdict(v: ServiceVerdict, context: { joined: boolean }): void {
    // One line per request answered: the hot path's line, without pino's key-by-key serialisation.
    logFlat(this.logger, 'info', EVENTS.verifyResult, {
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

  override callout(v: CalloutVerdict): void {
    logEvent(this.logger, 'debug', EVENTS.calloutDone, {
      address: v.address,
      reason: v.reason,
      rule: v.rule,
      durationMs: v.durationMs,
      attempts: v.attempts,
    });
  }

  override floodTripped(domain: string): void {
    logEvent(
      this.logger,
      'warn',
      EVENTS.floodTripped,
      { domain },
      `flood breaker tripped for ${domain}: its mail server does not know many never-seen senders; new senders are deferred and verified as a trickle`,
    );
  }

  override floodDeferred(domain: string): void {
    logEvent(this.logger, 'debug', EVENTS.floodDeferred, { domain });
  }

  override floodTrickle(report: TrickleReport): void {
    if (report.sent === 0 && report.deferred === 0) return;
    logEvent(this.logger, 'info', EVENTS.floodTrickle, { ...report });
  }

  override floodEnded(domain: string): void {
    logEvent(this.logger, 'info', EVENTS.floodEnded, { domain }, `flood breaker reset for ${domain}`);
  }

  override backgroundError(error: unknown): void {
    logEvent(this.logger, 'error', EVENTS.backgroundError, { err: error });
  }

  override limitRefused(what: LimitRefusal, key: string): void {
    logEvent(this.logger, 'info', EVENTS.limitRefused, { limit: what, key });
  }

  override policyDecision(action: string, outcome: PolicyOutcome, verdict: ServiceVerdict | null): void {
    logEvent(this.logger, outcome === 'fail_safe' ? 'warn' : 'debug', EVENTS.policyRequest, {
      action,
      outcome,
      address: verdict?.address ?? null,
      reason: verdict?.reason ?? null,
    });
  }
}
