/**
 * What the service answers a front-end: a decision (reject, defer, or no
 * opinion), the SMTP reply that goes with it, and the verdict behind it. Every
 * front-end renders the same Answer in its own protocol: the policy server as
 * `550 ...`/`DEFER_IF_PERMIT ...`/`DUNNO`, the HTTP API as JSON, the CLI as text.
 */
import type { ServiceReason, ServiceVerdict } from './verdict.js';

/** reject: a 5xx now; defer: a 4xx now (the client retries); dunno: no opinion, other checks decide. */
export type Decision = 'reject' | 'defer' | 'dunno';

export const DECISIONS = ['reject', 'defer', 'dunno'] as const satisfies readonly Decision[];

/** What to do for each verdict reason of a sender (configured as policy.decisions). */
export type DecisionTable = Readonly<Record<ServiceReason, Decision>>;

/** Whose address the answer is about: the sender's (MAIL FROM) or a recipient's (call-forward). */
export type Role = 'sender' | 'recipient';

/** An SMTP reply (RFC 5321 code, RFC 3463 enhanced status code) without the address prefix a front-end adds. */
export interface Reply {
  code: number;
  enhanced: string;
  text: string;
}

export interface Answer {
  decision: Decision;
  role: Role;
  /** The reply for reject and defer; null for dunno. */
  reply: Reply | null;
  /** The verdict that decided; null only for the fail-safe. */
  verdict: ServiceVerdict | null;
  /** True when the service chose not to call out (skip rules, SPF). */
  skipped: boolean;
  /** Header fields (name: value) to add to the message, e.g. Received-SPF (RFC 7208 9.1). */
  headers: string[];
}

/** What a mail server should do, as every front-end reports it beside the verdict. */
export interface DecisionView {
  action: Decision;
  reply: Reply | null;
  skipped: boolean;
  headers: string[];
}

/**
 * An answer as the HTTP API and `cbv verify --json` print it: the verdict, with the decision
 * beside it. One shape for both, so the same request reads the same from either front-end.
 * Throws for the fail-safe answer (it has no verdict): front-ends render that one themselves.
 */
export function answerRecord(a: Answer): ServiceVerdict & { decision: DecisionView } {
  if (!a.verdict) throw new Error('an answer without a verdict (the fail-safe) has no record');
  return {
    ...a.verdict,
    decision: { action: a.decision, reply: a.reply, skipped: a.skipped, headers: a.headers },
  };
}
