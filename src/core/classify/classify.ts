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

/** The rule's stage and basic-code conditions (`code`: the reply's three digits as text). */
function headMatches(rule: ReplyRule, stage: Stage, code: string): boolean {
  return rule.stages.includes(stage) && rule.code.test(code);
}

/** The rule's other conditions; `text` makes textForRules() when a text pattern needs it. */
function bodyMatches(rule: ReplyRule, reply: SmtpReply, ctx: ClassifyContext, text: () => string): boolean {
  if (rule.enhanced === null && reply.enhancedCode !== null) return false;
  if (rule.enhanced && (reply.enhancedCode === null || !rule.enhanced.test(reply.enhancedCode))) return false;
  if (rule.nullSender !== undefined && rule.nullSender !== ctx.nullSender) return false;
  if (rule.text && !rule.text.test(text())) return false;
  return true;
}

export function ruleMatches(
  rule: ReplyRule,
  stage: Stage,
  reply: SmtpReply,
  ctx: ClassifyContext,
  text: string = textForRules(reply),
): boolean {
  return headMatches(rule, stage, String(reply.code)) && bodyMatches(rule, reply, ctx, () => text);
}

/** Most (stage, code) pairs remembered per table: 11 stages x 400 codes fit. */
const MAX_CANDIDATE_LISTS = 8192;
const candidateLists = new WeakMap<readonly ReplyRule[], Map<string, readonly ReplyRule[]>>();

/**
 * The rules of `rules` whose stage and code conditions hold for (stage, code), in table order,
 * worked out once per pair: every reply used to test the codes of the whole table (some fifty
 * regular expressions) before the rule for a plain 250 was reached.
 */
function candidates(rules: readonly ReplyRule[], stage: Stage, code: string): readonly ReplyRule[] {
  let lists = candidateLists.get(rules);
  if (!lists) {
    lists = new Map();
    candidateLists.set(rules, lists);
  }
  const key = `${stage} ${code}`;
  let list = lists.get(key);
  if (!list) {
    list = rules.filter((rule) => headMatches(rule, stage, code));
    if (lists.size < MAX_CANDIDATE_LISTS) lists.set(key, list);
  }
  return list;
}

export function classifyReply(
  stage: Stage,
  reply: SmtpReply,
  ctx: ClassifyContext,
  rules: readonly ReplyRule[] = RULES,
): Classification {
  let text: string | null = null;
  // Made once, and only when a rule that reads the text is reached.
  const textOnce = (): string => (text ??= textForRules(reply));
  const rule = candidates(rules, stage, String(reply.code)).find((r) => bodyMatches(r, reply, ctx, textOnce));
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
