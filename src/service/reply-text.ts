/**
 * The words cbv says to a sender's MTA. They explain what happened in terms
 * of the sender's own domain, never naming hosts or addresses of ours or of
 * the MX we called (RFC 3463: X.1.7 for the sender's mailbox, X.1.8 for the
 * sender's domain, X.1.1 for a recipient).
 *
 * The text here is the reason alone; a front-end adds what its protocol
 * needs around it (the policy server: "<address>: Sender address rejected:"
 * when Postfix does not add it itself).
 */
import type { Decision, Reply, Role } from './answer.js';
import type { SpfOutcome } from './spf/outcome.js';
import type { ServiceReason, ServiceVerdict } from './verdict.js';

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

/** The reply for a decision about a verdict; null for dunno. */
export function replyFor(decision: Decision, v: ServiceVerdict, role: Role): Reply | null {
  if (decision === 'dunno') return null;
  if (v.reason === 'spf_fail' && v.spf) {
    // RFC 7372: X.7.23 "SPF validation failed".
    const text = spfFailText(v.spf);
    return decision === 'reject'
      ? { code: 550, enhanced: '5.7.23', text }
      : { code: 450, enhanced: '4.7.23', text: `${text}; please try again later` };
  }
  if (role === 'recipient') {
    return decision === 'reject'
      ? { code: 550, enhanced: '5.1.1', text: why(v.reason, v.domain) }
      : { code: 450, enhanced: '4.1.1', text: deferText(why(v.reason, v.domain)) };
  }
  const level = DOMAIN_LEVEL.has(v.reason) ? '8' : '7';
  return decision === 'reject'
    ? { code: 550, enhanced: `5.1.${level}`, text: why(v.reason, v.domain) }
    : { code: 450, enhanced: `4.1.${level}`, text: deferText(why(v.reason, v.domain)) };
}

function spfFailText(spf: SpfOutcome): string {
  const who = spf.identity === 'helo' ? `the host name ${spf.domain}` : `the domain ${spf.domain}`;
  return `SPF: ${who} does not designate ${spf.clientIp} as a permitted sender`;
}

/** SPF met a DNS error and the callout proved nothing: a deferral (RFC 7372 X.7.24, RFC 7208 8.6). */
export function spfTemperrorReply(v: ServiceVerdict): Reply {
  const domain = v.spf?.domain ?? v.domain;
  return {
    code: 451,
    enhanced: '4.7.24',
    text: `SPF: the record of ${domain} could not be checked (temporary DNS error); please try again later`,
  };
}

/** A deferral says it is about the verification and that a retry is welcome. */
export function deferText(reason: string): string {
  return `address verification: ${reason}; please try again later`;
}

/** The fail-safe's reply when it defers: something on our side, never the sender's fault (RFC 3463 4.3.0). */
export const FAIL_SAFE_REPLY: Reply = {
  code: 451,
  enhanced: '4.3.0',
  text: 'address verification is temporarily unavailable; please try again later',
};
