/** The shape of a classification rule (rules.ts holds the table). */
import type { EngineReason, Stage } from '../verdict.js';

/**
 * A reason, or an instruction to the probe for replies that are about the transaction rather
 * than the address: `retry_alone` (one recipient per transaction), `inconclusive` (VRFY: ask
 * RCPT instead), `recheck_sender` (MAIL FROM:<> refused without saying why: find out whether
 * the refusal is about the null sender or about us, see sender-recheck.ts).
 */
export type RuleOutcome = EngineReason | 'retry_alone' | 'inconclusive' | 'recheck_sender';

/**
 * Who a refusal is about, when the rule can tell: `client` (our IP, host or network: teaches the
 * domain fact refuses_us at any stage) or `helo` (our HELO name: the same, and the verdict says
 * the HELO name was the reason).
 */
export type RuleSubject = 'client' | 'helo';

/** A reply a rule was written for: the reply as sent (lines joined by CRLF), at a stage, for a sender. */
export interface RuleExample {
  reply: string;
  /** Defaults to the rule's first stage. */
  stage?: Stage;
  /** We sent MAIL FROM:<> (true, the default unless the rule says otherwise) or a real sender. */
  nullSender?: boolean;
}

export interface ReplyRule {
  id: string;
  stages: readonly Stage[];
  /** Regex over the three-digit code, e.g. /^5/ or /^55[03]$/. */
  code: RegExp;
  /** Regex over the enhanced code; `null` means "the reply has no enhanced code"; absent means any. */
  enhanced?: RegExp | null;
  /** Regex over the reply text (all lines, addresses masked). */
  text?: RegExp;
  /** Only when we sent MAIL FROM:<> (true) or a real sender (false). */
  nullSender?: boolean;
  outcome: RuleOutcome;
  about?: RuleSubject;
  /** Why this rule exists, for docs/classification.md. */
  why: string;
  /**
   * Replies this rule was written for. A test runs each through the whole table and requires
   * that this rule wins, so no earlier rule can shadow it.
   */
  examples: readonly (string | RuleExample)[];
}

/** A decision drawn from more than one reply (the probe makes it, not the table); documented beside the table. */
export interface SessionRule {
  id: string;
  outcome: EngineReason;
  about?: RuleSubject;
  why: string;
}
