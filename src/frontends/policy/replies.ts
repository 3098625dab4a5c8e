/**
 * The service's Answer in the Postfix policy protocol (SMTPD_POLICY_README).
 *
 * Postfix puts "<address>: Sender address rejected: " (or "Recipient ...",
 * by the restriction list the check sits in) before a policy server's text.
 * When the request says where it comes from (policy_context=sender or
 * recipient, as docs/postfix.md configures it) the text is only the reason,
 * so the reply reads once; without it (Exim, older setups) the text carries
 * its own "<address>: Sender address rejected:" so it is clear on its own.
 */
import { printable } from '../../core/index.js';
import type { Answer, Decision } from '../../service/answer.js';
import type { ServiceVerdict } from '../../service/verdict.js';

export interface ReplyContext {
  /** Postfix will put "<address>: ... address rejected: " before the text (policy_context is set). */
  wrapped: boolean;
}

/** The address could not be parsed: it is the raw input, which may hold control characters. */
function unparsed(v: ServiceVerdict): boolean {
  return v.reason === 'invalid_syntax' || v.reason === 'unverifiable';
}

/**
 * "<address>: " before the text, or nothing when the address could not be parsed: the raw input
 * may hold control characters, and a stand-in word would read as the address itself.
 * A UTF-8 local part may hold bidirectional overrides, which would reorder the reply or header a
 * person reads: escaped, as everywhere cbv prints text from outside.
 */
function shown(v: ServiceVerdict | null): string {
  return !v || unparsed(v) ? '' : `<${printable(v.address)}>: `;
}

/** The enforced action for a reject or defer answer: `550 5.1.7 ...` or `DEFER_IF_PERMIT 4.1.7 ...`. */
export function enforcedAction(answer: Answer, ctx: ReplyContext): string {
  const reply = answer.reply;
  if (answer.decision === 'dunno' || !reply) return 'DUNNO';
  const Role = answer.role === 'sender' ? 'Sender' : 'Recipient';
  if (answer.decision === 'reject') {
    const prefix = ctx.wrapped ? '' : `${shown(answer.verdict)}${Role} address rejected: `;
    return `${reply.code} ${reply.enhanced} ${prefix}${reply.text}`;
  }
  const prefix = ctx.wrapped ? `${answer.role} ` : `${shown(answer.verdict)}${Role} `;
  return `DEFER_IF_PERMIT ${reply.enhanced} ${prefix}${reply.text}`;
}

/** The header recorded on accepted mail (prepend_header), or in warn mode instead of a rejection. */
export function verdictHeader(
  name: string,
  v: ServiceVerdict,
  wouldBe: Exclude<Decision, 'dunno'> | null,
): string {
  const verdict = `${v.result}; reason=${v.reason}; rule=${v.rule}; sender=<${unparsed(v) ? '' : printable(v.address)}>`;
  return `PREPEND ${name}: ${wouldBe ? `would ${wouldBe}; ` : ''}${verdict}`;
}

/** warn mode: Postfix logs the text and goes on (the action says what enforce mode would have done). */
export function warnInstead(action: string): string {
  return `WARN cbv would have replied: ${action}`;
}
