/** The telemetry member that writes log lines: one per verification, one per callout, one per policy reply. */
import type { LimitRefusal } from '../limits/callout-limits.js';
import type { TrickleReport } from '../service/flood-trickle.js';
import type { CalloutVerdict } from '../service/verifier.js';
import type { ServiceVerdict } from '../service/verdict.js';
import { EVENTS } from './events.js';
import { FlatEvent, logEvent, type FlatValue, type Logger } from './logger.js';
import { NullTelemetry, type PolicyOutcome } from './telemetry.js';

/** The fields of `verify.result`, in the order they are written (docs/events.md). */
const VERIFY_RESULT_FIELDS = [
  'address',
  'result',
  'reason',
  'rule',
  'temporary',
  'durationMs',
  'cached',
  'fact',
  'joined',
  'mx',
  'code',
] as const;

export class LogTelemetry extends NullTelemetry {
  private readonly verifyResult: FlatEvent;
  /** The values of one verify.result line, reused line after line (the line is written at once). */
  private readonly values: FlatValue[] = new Array<FlatValue>(VERIFY_RESULT_FIELDS.length).fill(null);

  constructor(private readonly logger: Logger) {
    super();
    this.verifyResult = new FlatEvent(logger, 'info', EVENTS.verifyResult, VERIFY_RESULT_FIELDS);
  }

  override verdict(v: ServiceVerdict, context: { joined: boolean }): void {
    // One line per request answered: the hot path's line, its constant parts serialised once.
    const values = this.values;
    values[0] = v.address;
    values[1] = v.result;
    values[2] = v.reason;
    values[3] = v.rule;
    values[4] = v.temporary;
    values[5] = v.durationMs;
    values[6] = v.cache.hit;
    values[7] = v.cache.fact;
    values[8] = context.joined;
    values[9] = v.mx?.host ?? null;
    values[10] = v.smtp?.code ?? null;
    this.verifyResult.log(values);
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
    const level = outcome === 'fail_safe' ? 'warn' : 'debug';
    // Once per policy reply: at the default level (info) the line is not written, so its fields are not made.
    if (!this.logger.isLevelEnabled(level)) return;
    logEvent(this.logger, level, EVENTS.policyRequest, {
      action,
      outcome,
      address: verdict?.address ?? null,
      reason: verdict?.reason ?? null,
    });
  }
}
