/**
 * Everything the running daemon reports about itself, in one interface so
 * that logs, metrics and the dashboard's recent-activity list each implement
 * the parts they care about and the daemon fans calls out to all of them.
 */
import type { LimitRefusal } from '../limits/callout-limits.js';
import type { CalloutJob } from '../service/callout-scheduler.js';
import type { TrickleReport } from '../service/flood-trickle.js';
import type { CalloutVerdict, VerifierObserver } from '../service/verifier.js';
import type { ServiceVerdict } from '../service/verdict.js';

/** Why a policy request got the action it got. */
export type PolicyOutcome = 'sender' | 'recipient' | 'skip' | 'malformed' | 'fail_safe';

export interface Telemetry extends VerifierObserver {
  limitRefused(what: LimitRefusal, key: string): void;
  /** One call per policy reply; `verdict` is the one that decided it, when there was one. */
  policyDecision(action: string, outcome: PolicyOutcome, verdict: ServiceVerdict | null): void;
}

/** The no-op base: implementations override what they need. */
export class NullTelemetry implements Telemetry {
  verdict(_v: ServiceVerdict, _context: { joined: boolean }): void {}
  callout(_v: CalloutVerdict): void {}
  floodTripped(_domain: string): void {}
  floodDeferred(_domain: string): void {}
  floodTrickle(_report: TrickleReport): void {}
  floodEnded(_domain: string): void {}
  calloutSession(_kind: CalloutJob['kind'], _addresses: number): void {}
  backgroundError(_error: unknown): void {}
  limitRefused(_what: LimitRefusal, _key: string): void {}
  policyDecision(_action: string, _outcome: PolicyOutcome, _verdict: ServiceVerdict | null): void {}
}

export class TelemetrySet implements Telemetry {
  constructor(private readonly members: Telemetry[]) {}
  verdict(v: ServiceVerdict, context: { joined: boolean }): void {
    for (const m of this.members) m.verdict(v, context);
  }
  callout(v: CalloutVerdict): void {
    for (const m of this.members) m.callout(v);
  }
  floodTripped(domain: string): void {
    for (const m of this.members) m.floodTripped(domain);
  }
  floodDeferred(domain: string): void {
    for (const m of this.members) m.floodDeferred?.(domain);
  }
  floodTrickle(report: TrickleReport): void {
    for (const m of this.members) m.floodTrickle?.(report);
  }
  floodEnded(domain: string): void {
    for (const m of this.members) m.floodEnded?.(domain);
  }
  calloutSession(kind: CalloutJob['kind'], addresses: number): void {
    for (const m of this.members) m.calloutSession?.(kind, addresses);
  }
  backgroundError(error: unknown): void {
    for (const m of this.members) m.backgroundError(error);
  }
  limitRefused(what: LimitRefusal, key: string): void {
    for (const m of this.members) m.limitRefused(what, key);
  }
  policyDecision(action: string, outcome: PolicyOutcome, verdict: ServiceVerdict | null): void {
    for (const m of this.members) m.policyDecision(action, outcome, verdict);
  }
}
