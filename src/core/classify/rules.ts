/**
 * The reply classification table: data, not branching code.
 *
 * Each rule matches a reply at one or more dialogue stages by basic code,
 * RFC 3463 enhanced status code and, optionally, text. The first matching
 * rule wins. Every verdict names the rule id that produced it, so an
 * administrator can trace any rejection to one line here. Bump RULES_VERSION
 * whenever a rule's meaning changes.
 *
 * The principles, in order:
 *  1. 4xx is never undeliverable.
 *  2. A 5xx about *us* (our HELO name, IP, network, reputation, TLS or auth,
 *     policy) says nothing about the mailbox: policy_rejected. Throttling and
 *     texts that call themselves temporary are temporary, whatever the code.
 *  3. A 5xx is null_sender_rejected only on evidence about the null sender
 *     itself: a text that names it, RFC 3463 5.1.7/5.1.8, or a re-check in the
 *     same session that accepted another sender (sender-recheck.ts).
 *  4. Only replies that speak about the mailbox make it undeliverable. Rules
 *     that read what a reply says come before generic code classes (5.5.x,
 *     plain 550), so a class can never shadow a meaning.
 * Every rule carries example replies; a test requires that each example is
 * won by its own rule when run through the whole table.
 */
import { RCPT_RULES } from './rcpt-rules.js';
import type { ReplyRule, RuleSubject, SessionRule } from './rule-types.js';
import { ANY_STAGE_RULES, GREETING_HELO_RULES, MAIL_RULES, VRFY_RULES } from './session-rules.js';

export type { ReplyRule, RuleExample, RuleOutcome, RuleSubject, SessionRule } from './rule-types.js';

export const RULES_VERSION = '2026-12-01.2';

export const RULES: readonly ReplyRule[] = [
  ...ANY_STAGE_RULES,
  ...GREETING_HELO_RULES,
  ...MAIL_RULES,
  ...VRFY_RULES,
  ...RCPT_RULES,
];

/**
 * Decisions the probe draws from more than one reply. Their ids appear in
 * verdicts like the table's, and docs/classification.md lists them.
 */
export const SESSION_RULES = {
  nullSenderOnly: {
    id: 'recheck.null-sender-only',
    outcome: 'null_sender_rejected',
    why: 'MAIL FROM:<> was refused without a reason, and MAIL FROM:<postmaster@HELO name> was accepted after RSET in the same session: the server refuses the null sender itself.',
  },
  anySenderRefused: {
    id: 'recheck.any-sender-refused',
    outcome: 'policy_rejected',
    about: 'client',
    why: 'MAIL FROM:<> and MAIL FROM:<postmaster@HELO name> were both refused: the refusal is about us, not about bounces.',
  },
  inconclusive: {
    id: 'recheck.inconclusive',
    outcome: 'temporary_failure',
    why: 'The re-check got a 4xx (to RSET or to the second MAIL): nothing learnt; try the next MX.',
  },
  randomAccepted: {
    id: 'rcpt.random-accepted',
    outcome: 'catch_all',
    why: 'The random local part was accepted as well as the address: the server accepts anything.',
  },
  vrfyRandomAccepted: {
    id: 'vrfy.random-accepted',
    outcome: 'catch_all',
    why: 'VRFY confirmed a random local part as well as the address.',
  },
} as const satisfies Record<string, SessionRule>;

/** The rule id used when a stage has a reply that matches nothing (every stage ends in a catch-all rule, so only bugs get here). */
export const FALLBACK_RULE_ID = 'fallback.unclassified';

function subjectOf(id: string): RuleSubject | undefined {
  return (
    RULES.find((r) => r.id === id)?.about ??
    Object.values(SESSION_RULES as Record<string, SessionRule>).find((r) => r.id === id)?.about
  );
}

/**
 * Rule ids whose verdict says the refusal is about us (our IP, network, or HELO name), at any
 * stage: the service learns the domain fact refuses_us from them.
 */
export function isAboutUs(ruleId: string): boolean {
  return subjectOf(ruleId) !== undefined;
}

/** Rule ids whose verdict says our HELO name was refused. */
export function isAboutHelo(ruleId: string): boolean {
  return subjectOf(ruleId) === 'helo';
}

/**
 * Rule ids that give null_sender_rejected on unambiguous evidence about the null sender (a text
 * naming it, 5.1.7/5.1.8, or a re-check). Only these may become the domain fact
 * null_sender_rejected, which rejects every address of the domain.
 */
export const NULL_SENDER_EVIDENCE: ReadonlySet<string> = new Set([
  ...RULES.filter((r) => r.outcome === 'null_sender_rejected').map((r) => r.id),
  SESSION_RULES.nullSenderOnly.id,
]);
