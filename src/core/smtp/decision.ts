/**
 * How a session with one host ends for an address: a Decision (authoritative
 * for the address, or "try the next host"), built from a reply's
 * classification or from the error that ended the dialogue.
 */
import type { Classification } from '../classify/classify.js';
import {
  AbortedError,
  BudgetExceededError,
  ConnectError,
  ConnectionClosedError,
  LocalFaultError,
  OutcomeError,
  PhaseTimeoutError,
  ProbeError,
  TlsError,
} from '../errors.js';
import type { DecidingReply, EngineReason, Stage } from '../verdict.js';
import type { SmtpReply } from './reply-parser.js';

/**
 * final: authoritative for the address, stop. next: nothing learnt about the
 * address here, try the next host. retry_plain: reconnect to the same host without TLS.
 */
export interface Decision {
  kind: 'final' | 'next' | 'retry_plain';
  reason: EngineReason;
  rule: string;
  message: string;
  reply: DecidingReply | null;
  catchAllProbe: boolean | null;
  /** The stage the decision was made at, when no deciding reply says it. */
  stage?: Stage;
}

/** Thrown inside the dialogue to end it with a decision; caught by the probe (no stack: OutcomeError). */
export class Decided extends OutcomeError {
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

/**
 * Errors -> decisions. A budget or cancellation stops everything; the rest
 * moves on to the next host. A server that breaks the protocol told us nothing
 * and is treated like an unreachable one: temporary. An error that is not a
 * ProbeError is a fault in cbv itself: also temporary, never a verdict about
 * the address (and the caller still releases the session).
 */
export function decisionForError(error: unknown, fallbackStage: Stage | null): Decision {
  if (!(error instanceof ProbeError)) {
    const detail = error instanceof Error ? error.message : String(error);
    return {
      ...next('temporary_failure', 'local.internal-error', `internal error in the verifier: ${detail}`, null),
      stage: fallbackStage ?? 'connect',
    };
  }
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
  return next('temporary_failure', 'local.protocol-error', `${error.message} during ${stage}`, null);
}

/** The session's replies could not be proven in step with its commands (RFC 2920 pipelining). */
export function outOfStep(detail: string): Decision {
  return {
    ...next(
      'temporary_failure',
      'local.out-of-step',
      `the server's replies are out of step with our commands (${detail}): none of them is trusted`,
      null,
    ),
    stage: 'rcpt',
  };
}
