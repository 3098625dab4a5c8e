/**
 * The verdict: what cbv concluded about one address, as a plain value.
 *
 * A verdict is never thrown. Every path through the engine (bad syntax, DNS
 * failure, a server that stalls, a server that says "550 5.1.1") ends in one
 * of these, naming the rule that produced it so an administrator can see why.
 */

/** Every reason the engine can give. The service layer adds its own (see ServiceReason). */
export const ENGINE_REASONS = [
  'accepted',
  'user_unknown',
  'mailbox_disabled',
  'mailbox_full',
  'catch_all',
  'null_sender_rejected',
  'no_such_domain',
  'no_mail_host',
  'null_mx',
  'policy_rejected',
  'greylisted',
  'temporary_failure',
  'timeout',
  'connection_failed',
  'dns_error',
  'unsafe_target',
  'invalid_syntax',
  // An address mail systems may accept that cbv cannot put on the wire (docs/verdicts.md).
  'unverifiable',
  'protocol_error',
  // Only when a connect gate (the service's per-MX politeness limits) refused every host.
  'rate_limited',
] as const;
export type EngineReason = (typeof ENGINE_REASONS)[number];

export type Result = 'deliverable' | 'undeliverable' | 'risky' | 'unknown';

/**
 * reason -> (result, temporary). Fixed here rather than per rule so that a
 * reason always means the same thing to a front-end's decision table.
 * docs/verdicts.md documents this table; a unit test keeps the two in step.
 */
export const REASON_MEANING: Readonly<Record<EngineReason, { result: Result; temporary: boolean }>> = {
  accepted: { result: 'deliverable', temporary: false },
  user_unknown: { result: 'undeliverable', temporary: false },
  mailbox_disabled: { result: 'undeliverable', temporary: false },
  mailbox_full: { result: 'risky', temporary: false },
  catch_all: { result: 'risky', temporary: false },
  null_sender_rejected: { result: 'undeliverable', temporary: false },
  no_such_domain: { result: 'undeliverable', temporary: false },
  no_mail_host: { result: 'undeliverable', temporary: false },
  null_mx: { result: 'undeliverable', temporary: false },
  invalid_syntax: { result: 'undeliverable', temporary: false },
  policy_rejected: { result: 'unknown', temporary: false },
  unverifiable: { result: 'unknown', temporary: false },
  unsafe_target: { result: 'unknown', temporary: false },
  protocol_error: { result: 'unknown', temporary: false },
  greylisted: { result: 'unknown', temporary: true },
  temporary_failure: { result: 'unknown', temporary: true },
  timeout: { result: 'unknown', temporary: true },
  connection_failed: { result: 'unknown', temporary: true },
  dns_error: { result: 'unknown', temporary: true },
  rate_limited: { result: 'unknown', temporary: true },
};

/** SMTP stages, in dialogue order. `dns` and `connect` precede any reply. */
export type Stage =
  | 'dns'
  | 'connect'
  | 'greeting'
  | 'ehlo'
  | 'helo'
  | 'starttls'
  | 'mail'
  | 'rcpt_random'
  | 'rcpt'
  | 'vrfy'
  | 'quit';

export interface MxTarget {
  host: string;
  ip: string;
  preference: number;
}

/** The reply that decided the verdict, when one did. */
export interface DecidingReply {
  stage: Stage;
  code: number;
  enhancedCode: string | null;
  text: string;
}

export interface TranscriptLine {
  /** Milliseconds since the verification started. */
  t: number;
  dir: 'C' | 'S' | '*';
  line: string;
}

export interface Verdict<R extends string = EngineReason> {
  address: string;
  domain: string;
  result: Result;
  reason: R;
  temporary: boolean;
  /** Rule id from the classification table, or a `local.*` id for decisions made without a reply. */
  rule: string;
  /** Human-readable detail: what went wrong and where. Never contains the transcript. */
  message: string;
  mx: MxTarget | null;
  smtp: DecidingReply | null;
  /** Outcome of the random-recipient probe: true = accepted (catch-all), false = rejected, null = not run or inconclusive. */
  catchAllProbe: boolean | null;
  durationMs: number;
  transcript?: TranscriptLine[];
}
