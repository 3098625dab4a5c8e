/** Applies the rule table (rules.ts) to one reply. */
import type { SmtpReply } from '../smtp/reply-parser.js';
import type { Stage } from '../verdict.js';
import { FALLBACK_RULE_ID, RULES, type ReplyRule, type RuleOutcome, type RuleSubject } from './rules.js';

export interface Classification {
  outcome: RuleOutcome;
  rule: string;
  /** Set when the rule knows the refusal is about us: our client host (`client`) or our HELO name (`helo`). */
  about?: RuleSubject;
}

export interface ClassifyContext {
  /** We sent MAIL FROM:<> rather than a real sender. */
  nullSender: boolean;
}

/**
 * The reply text as text rules see it: every line joined by a space, with mailbox addresses masked.
 * Servers echo the address they refuse (`<helo@example.org>: Recipient address rejected`), and a
 * local part must never read as a statement about the client, quota or rate. `<>` stays, since it
 * names the null sender.
 */
export function textForRules(reply: SmtpReply): string {
  return reply.lines
    .join(' ')
    .replace(/<[^<>\s]+>/g, '<address>')
    .replace(/[^\s<>()[\]"',;:]+@[^\s<>()[\]"',;:]+/g, 'address');
}

export function ruleMatches(
  rule: ReplyRule,
  stage: Stage,
  reply: SmtpReply,
  ctx: ClassifyContext,
  text: string = textForRules(reply),
): boolean {
  if (!rule.stages.includes(stage)) return false;
  if (!rule.code.test(String(reply.code))) return false;
  if (rule.enhanced === null && reply.enhancedCode !== null) return false;
  if (rule.enhanced && (reply.enhancedCode === null || !rule.enhanced.test(reply.enhancedCode))) return false;
  if (rule.nullSender !== undefined && rule.nullSender !== ctx.nullSender) return false;
  if (rule.text && !rule.text.test(text)) return false;
  return true;
}

export function classifyReply(
  stage: Stage,
  reply: SmtpReply,
  ctx: ClassifyContext,
  rules: readonly ReplyRule[] = RULES,
): Classification {
  const text = textForRules(reply);
  const rule = rules.find((r) => ruleMatches(r, stage, reply, ctx, text));
  if (rule)
    return rule.about
      ? { outcome: rule.outcome, rule: rule.id, about: rule.about }
      : { outcome: rule.outcome, rule: rule.id };
  // Every stage's rules end in a catch-all, so this is reached only for replies
  // classified at a stage that has none (e.g. a 2xx greeting): never undeliverable.
  return {
    outcome: reply.code >= 400 && reply.code < 500 ? 'temporary_failure' : 'protocol_error',
    rule: FALLBACK_RULE_ID,
  };
}
