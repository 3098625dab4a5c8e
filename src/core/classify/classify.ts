/** Applies the rule table (rules.ts) to one reply. */
import type { SmtpReply } from '../smtp/reply-parser.js';
import type { Stage } from '../verdict.js';
import { FALLBACK_RULE_ID, RULES, type ReplyRule, type RuleOutcome } from './rules.js';

export interface Classification {
  outcome: RuleOutcome;
  rule: string;
}

export interface ClassifyContext {
  /** We sent MAIL FROM:<> rather than a real sender. */
  nullSender: boolean;
}

export function ruleMatches(rule: ReplyRule, stage: Stage, reply: SmtpReply, ctx: ClassifyContext): boolean {
  if (!rule.stages.includes(stage)) return false;
  if (!rule.code.test(String(reply.code))) return false;
  if (rule.enhanced === null && reply.enhancedCode !== null) return false;
  if (rule.enhanced && (reply.enhancedCode === null || !rule.enhanced.test(reply.enhancedCode))) return false;
  if (rule.nullSender !== undefined && rule.nullSender !== ctx.nullSender) return false;
  if (rule.text && !rule.text.test(reply.lines.join(' '))) return false;
  return true;
}

export function classifyReply(
  stage: Stage,
  reply: SmtpReply,
  ctx: ClassifyContext,
  rules: readonly ReplyRule[] = RULES,
): Classification {
  const rule = rules.find((r) => ruleMatches(r, stage, reply, ctx));
  if (rule) return { outcome: rule.outcome, rule: rule.id };
  // Every stage's rules end in a catch-all, so this is reached only for replies
  // classified at a stage that has none (e.g. a 2xx greeting): never undeliverable.
  return {
    outcome: reply.code >= 400 && reply.code < 500 ? 'temporary_failure' : 'protocol_error',
    rule: FALLBACK_RULE_ID,
  };
}
