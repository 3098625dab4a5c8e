/**
 * The words cbv says to a sender's MTA. They explain what happened in terms
 * of the sender's own domain, never naming hosts or addresses of ours or of
 * the MX we called (RFC 3463: X.1.7 for the sender's mailbox, X.1.8 for the
 * sender's domain, X.1.1 for a recipient).
 *
 * Postfix puts "<address>: Sender address rejected: " (or "Recipient ...",
 * by the restriction list the check sits in) before a policy server's text.
 * When the request says where it comes from (policy_context=sender or
 * recipient, as docs/postfix.md configures it) the text is only the reason,
 * so the reply reads once; without it (Exim, older setups) the text carries
 * its own "<address>: Sender address rejected:" so it is clear on its own.
 */
import type { ServiceReason, ServiceVerdict } from '../../service/verdict.js';

const DOMAIN_LEVEL = new Set<ServiceReason>(['no_such_domain', 'no_mail_host', 'null_mx', 'dns_error']);

function why(reason: ServiceReason, domain: string): string {
  switch (reason) {
    case 'user_unknown':
      return `the mail server for ${domain} says this mailbox does not exist`;
    case 'mailbox_disabled':
      return `the mail server for ${domain} says this mailbox is disabled`;
    case 'mailbox_full':
      return `the mail server for ${domain} says this mailbox is full`;
    case 'null_sender_rejected':
      return `${domain} refuses bounces (MAIL FROM:<>), so this address cannot receive replies`;
    case 'no_such_domain':
      return `the domain ${domain} does not exist`;
    case 'no_mail_host':
      return `the domain ${domain} has no mail server`;
    case 'null_mx':
      return `the domain ${domain} accepts no mail (null MX)`;
    case 'invalid_syntax':
      return 'this is not a valid mail address';
    case 'greylisted':
      return `the mail server for ${domain} is greylisting our verification`;
    case 'temporary_failure':
      return `the mail server for ${domain} reported a temporary failure`;
    case 'timeout':
    case 'connection_failed':
      return `the mail server for ${domain} did not answer our verification`;
    case 'dns_error':
      return `the DNS lookup for ${domain} failed`;
    case 'rate_limited':
      return `too many verifications for ${domain} just now`;
    case 'pending':
      return 'verification in progress';
    default:
      return `verification was inconclusive (${reason})`;
  }
}

/** Printable in a reply: the address as verified, or a neutral word when it could not be parsed. */
function shown(v: ServiceVerdict): string {
  return v.reason === 'invalid_syntax' ? 'this sender' : `<${v.address}>`;
}

export interface ReplyContext {
  /** Postfix will put "<address>: ... address rejected: " before the text (policy_context is set). */
  wrapped: boolean;
}

export function senderReject(v: ServiceVerdict, ctx: ReplyContext): string {
  const dsn = DOMAIN_LEVEL.has(v.reason) ? '5.1.8' : '5.1.7';
  const text = why(v.reason, v.domain);
  return `550 ${dsn} ${ctx.wrapped ? text : `${shown(v)}: Sender address rejected: ${text}`}`;
}

export function senderDefer(v: ServiceVerdict, ctx: ReplyContext): string {
  const dsn = DOMAIN_LEVEL.has(v.reason) ? '4.1.8' : '4.1.7';
  const text = `address verification: ${why(v.reason, v.domain)}; please try again later`;
  return `DEFER_IF_PERMIT ${dsn} ${ctx.wrapped ? `sender ${text}` : `${shown(v)}: Sender ${text}`}`;
}

export function recipientReject(v: ServiceVerdict, ctx: ReplyContext): string {
  const text = why(v.reason, v.domain);
  return `550 5.1.1 ${ctx.wrapped ? text : `<${v.address}>: Recipient address rejected: ${text}`}`;
}

export function recipientDefer(v: ServiceVerdict, ctx: ReplyContext): string {
  const text = `address verification: ${why(v.reason, v.domain)}; please try again later`;
  return `DEFER_IF_PERMIT 4.1.1 ${ctx.wrapped ? `recipient ${text}` : `<${v.address}>: Recipient ${text}`}`;
}

/** The header recorded on accepted mail (prepend_header), or in warn mode instead of a rejection. */
export function verdictHeader(name: string, v: ServiceVerdict, wouldBe: 'reject' | 'defer' | null): string {
  const verdict = `${v.result}; reason=${v.reason}; rule=${v.rule}; sender=<${v.reason === 'invalid_syntax' ? '' : v.address}>`;
  return `PREPEND ${name}: ${wouldBe ? `would ${wouldBe}; ` : ''}${verdict}`;
}

/** warn mode: Postfix logs the text and goes on (the action says what enforce mode would have done). */
export function warnInstead(action: string): string {
  return `WARN cbv would have replied: ${action}`;
}
