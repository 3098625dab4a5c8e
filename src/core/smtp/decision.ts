/**
 * How a session with one host ends: a Decision (authoritative for the address,
 * or "try the next host"), built from a reply's classification or from the
 * error that ended the dialogue. Kept apart from the dialogue itself (probe.ts).
 */
import type { Classification } from '../classify/classify.js';
import {
  AbortedError,
  BudgetExceededError,
  ConnectError,
  ConnectionClosedError,
  LocalFaultError,
  PhaseTimeoutError,
  ProbeError,
  TlsError,
} from '../errors.js';
import type { DecidingReply, EngineReason, Stage } from '../verdict.js';
import type { HostOutcome } from './probe.js';
import type { SmtpReply } from './reply-parser.js';

export type Decision = Omit<HostOutcome, 'closed' | 'transcript' | 'stage'> & { stage?: Stage };

/** Thrown inside the dialogue to end it with a decision; caught in probeHost. */
export class Decided extends Error {
  constructor(readonly decision: Decision) {
    super(`decided: ${decision.reason}`);
  }
}

export function deciding(stage: Stage, reply: SmtpReply): DecidingReply {
  return { stage, code: reply.code, enhancedCode: reply.enhancedCode, text: reply.lines.join('\n') };
}

export function asReason(outcome: Classification['outcome']): EngineReason {
  if (outcome === 'retry_alone' || outcome === 'inconclusive') return 'temporary_failure';
  // An ambiguous refusal of MAIL FROM:<> that was not re-checked is never a refusal of bounces.
  if (outcome === 'recheck_sender') return 'policy_rejected';
  return outcome;
}

export function final(
  reason: EngineReason,
  rule: string,
  message: string,
  reply: DecidingReply | null,
  catchAllProbe: boolean | null,
): Decision {
  return { kind: 'final', reason, rule, message, reply, catchAllProbe };
}

export function next(
  reason: EngineReason,
  rule: string,
  message: string,
  reply: DecidingReply | null,
): Decision {
  return { kind: 'next', reason, rule, message, reply, catchAllProbe: null };
}

export function nextFromReply(stage: Stage, reply: SmtpReply, c: Classification): Decision {
  return next(
    asReason(c.outcome),
    c.rule,
    `${stage} refused: ${reply.code} ${reply.lines.join(' ')}`,
    deciding(stage, reply),
  );
}

/** Errors -> decisions. A budget or cancellation stops everything; the rest moves on to the next host. */
export function decisionForError(error: unknown, fallbackStage: Stage | null): Decision {
  if (!(error instanceof ProbeError)) throw error;
  const stage = error.stage ?? fallbackStage ?? 'connect';
  return { ...errorDecision(error, stage), stage };
}

function errorDecision(error: ProbeError, stage: Stage): Decision {
  if (error instanceof BudgetExceededError)
    return final('timeout', 'local.budget-exhausted', `${error.message} during ${stage}`, null, null);
  if (error instanceof AbortedError) return final('timeout', 'local.aborted', error.message, null, null);
  if (error instanceof PhaseTimeoutError)
    return next('timeout', `local.timeout.${stage}`, error.message, null);
  if (error instanceof LocalFaultError)
    return next('temporary_failure', 'local.own-fault', error.message, null);
  if (error instanceof ConnectError)
    return next('connection_failed', 'local.connect-failed', error.message, null);
  if (error instanceof ConnectionClosedError)
    return next('connection_failed', 'local.connection-lost', `${error.message} during ${stage}`, null);
  if (error instanceof TlsError)
    return next('temporary_failure', 'local.tls-handshake-failed', error.message, null);
  return next('protocol_error', 'local.protocol-error', `${error.message} during ${stage}`, null);
}
