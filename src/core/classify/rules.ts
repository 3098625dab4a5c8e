/**
 * The reply classification table: data, not branching code.
 *
 * Each rule matches a reply at one or more dialogue stages by basic code,
 * RFC 3463 enhanced status code and, optionally, text. The first matching
 * rule wins, so specific rules come before general ones. Every verdict names
 * the rule id that produced it, so an administrator can trace any rejection
 * to one line here. Bump RULES_VERSION whenever a rule's meaning changes.
 *
 * The principles, in order:
 *  1. 4xx is never undeliverable.
 *  2. A 5xx about *us* (blocklists, relay denied, TLS or auth required,
 *     policy) says nothing about the mailbox: policy_rejected.
 *  3. A 5xx about the null sender is null_sender_rejected.
 *  4. Only replies that speak about the mailbox make it undeliverable.
 */
import type { EngineReason, Stage } from '../verdict.js';

export const RULES_VERSION = '2026-11-22.1';

/** A reason, or an instruction to the probe for replies that are about the transaction, not the address. */
export type RuleOutcome = EngineReason | 'retry_alone' | 'inconclusive';

export interface ReplyRule {
  id: string;
  stages: readonly Stage[];
  /** Regex over the three-digit code, e.g. /^5/ or /^55[03]$/. */
  code: RegExp;
  /** Regex over the enhanced code; `null` means "the reply has no enhanced code"; absent means any. */
  enhanced?: RegExp | null;
  text?: RegExp;
  /** Only when we sent MAIL FROM:<> (true) or a real sender (false). */
  nullSender?: boolean;
  outcome: RuleOutcome;
  /** Why this rule exists, for docs/classification.md. */
  why: string;
}

const RCPT: readonly Stage[] = ['rcpt', 'rcpt_random'];

const GREYLIST =
  /gr[ae]y-?list|greylisted|try again later|please retry later|temporarily (deferred|rejected)/i;
const ABOUT_CLIENT =
  /block(ed|list)|black ?list|deny ?list|dnsbl|\brbl\b|spamhaus|spamcop|barracuda|sorbs|listed (at|in|on|by)|client host|reputation|banned|your ip|\bip address\b|reverse (dns|lookup)|\bptr\b|\bhelo\b|too many (connections|errors)|rate limit|administrative prohibition|access denied|prohibited|policy/i;
const RELAY = /relay|rcpthosts|not permitted to send|not our domain|not a local domain/i;
const TLS_OR_AUTH = /starttls|\btls\b|encryption|authenticat|\bauth\b/i;
const ABOUT_NULL_SENDER =
  /<>|null sender|null reverse|empty sender|bounces? (are )?not|sender address rejected|envelope sender|reverse-path|return path/i;
const NO_SUCH_USER =
  /no such (user|mailbox|recipient|address|account)|user unknown|unknown (user|recipient|mailbox|address)|(does not|doesn't|not) exist|unroutea?ble|mailbox (unavailable|not found|does not)|no mailbox|invalid (recipient|mailbox|address|user)|(recipient|user|address|mailbox) not found|not a valid (mailbox|recipient|user)|recipient address rejected|undeliverable address|(doesn't|does not) have an? [\w.-]{0,40} ?account/i;
const TOO_MANY_RECIPIENTS = /too many recipients|only one recipient|one recipient/i;

export const RULES: readonly ReplyRule[] = [
  {
    id: 'any.421',
    stages: ['greeting', 'ehlo', 'helo', 'starttls', 'mail', 'rcpt_random', 'rcpt', 'vrfy'],
    code: /^421$/,
    outcome: 'temporary_failure',
    why: 'Service closing the session (RFC 5321 3.8), at any stage: try the next MX.',
  },
  // Greeting, EHLO, HELO: nothing here is about the address.
  {
    id: 'greeting.4xx',
    stages: ['greeting'],
    code: /^4/,
    outcome: 'temporary_failure',
    why: 'Server busy or refusing for now; try the next MX.',
  },
  {
    id: 'greeting.5xx',
    stages: ['greeting'],
    code: /^5/,
    outcome: 'policy_rejected',
    why: 'Server refuses us at connect (RFC 5321 554 "no SMTP service"); says nothing about the mailbox.',
  },
  {
    id: 'helo.4xx',
    stages: ['ehlo', 'helo'],
    code: /^4/,
    outcome: 'temporary_failure',
    why: 'Temporary refusal of our HELO/EHLO.',
  },
  {
    id: 'helo.5xx',
    stages: ['ehlo', 'helo'],
    code: /^5/,
    outcome: 'policy_rejected',
    why: 'Refusal of our HELO name is about us, not the mailbox.',
  },
  {
    id: 'starttls.refused',
    stages: ['starttls'],
    code: /^[45]/,
    outcome: 'temporary_failure',
    why: 'STARTTLS offered but refused; only decisive when TLS is required.',
  },

  // MAIL FROM.
  {
    id: 'mail.greylisted',
    stages: ['mail'],
    code: /^4/,
    text: GREYLIST,
    outcome: 'greylisted',
    why: 'Greylisting at MAIL FROM.',
  },
  {
    id: 'mail.4xx',
    stages: ['mail'],
    code: /^4/,
    outcome: 'temporary_failure',
    why: '4xx is never undeliverable.',
  },
  {
    id: 'mail.tls-or-auth-required',
    stages: ['mail'],
    code: /^5/,
    text: TLS_OR_AUTH,
    outcome: 'policy_rejected',
    why: 'Server wants TLS or authentication from us (530 5.7.0).',
  },
  {
    id: 'mail.null-sender-named',
    stages: ['mail'],
    code: /^5/,
    nullSender: true,
    text: ABOUT_NULL_SENDER,
    outcome: 'null_sender_rejected',
    why: 'The refusal names the sender, here <> (Postfix: "<>: Sender address rejected: Access denied").',
  },
  {
    id: 'mail.about-client',
    stages: ['mail'],
    code: /^5/,
    text: ABOUT_CLIENT,
    outcome: 'policy_rejected',
    why: 'Blocklist or policy refusal of our host.',
  },
  {
    id: 'mail.null-sender-refused',
    stages: ['mail'],
    code: /^5/,
    nullSender: true,
    outcome: 'null_sender_rejected',
    why: 'The domain refuses bounces (MAIL FROM:<>), against RFC 5321 4.5.5.',
  },
  {
    id: 'mail.sender-refused',
    stages: ['mail'],
    code: /^5/,
    nullSender: false,
    outcome: 'policy_rejected',
    why: 'Our configured sender was refused; says nothing about the mailbox.',
  },

  // VRFY (only when enabled). Anything not listed falls back to RCPT.
  {
    id: 'vrfy.2xx',
    stages: ['vrfy'],
    code: /^25[01]$/,
    outcome: 'accepted',
    why: 'VRFY confirmed the mailbox.',
  },
  {
    id: 'vrfy.unknown',
    stages: ['vrfy'],
    code: /^55[013]$/,
    text: NO_SUCH_USER,
    outcome: 'user_unknown',
    why: 'VRFY denied the mailbox explicitly.',
  },
  {
    id: 'vrfy.other',
    stages: ['vrfy'],
    code: /^[2-5]/,
    outcome: 'inconclusive',
    why: '252, 502 and the rest: VRFY is disabled or non-committal (RFC 2505); use RCPT.',
  },

  // RCPT TO, for the address and for the random catch-all probe.
  { id: 'rcpt.2xx', stages: RCPT, code: /^2/, outcome: 'accepted', why: 'Recipient accepted (250, 251).' },
  {
    id: 'rcpt.greylisted',
    stages: RCPT,
    code: /^4/,
    text: GREYLIST,
    outcome: 'greylisted',
    why: 'Greylisting: the triplet is new; a retry will be accepted or rejected.',
  },
  {
    id: 'rcpt.too-many-recipients',
    stages: ['rcpt'],
    code: /^4/,
    enhanced: /^4\.5\.3$/,
    outcome: 'retry_alone',
    why: 'Server takes one recipient per bounce; retry the address in its own transaction.',
  },
  {
    id: 'rcpt.too-many-recipients-text',
    stages: ['rcpt'],
    code: /^[45]/,
    text: TOO_MANY_RECIPIENTS,
    outcome: 'retry_alone',
    why: 'As above, without the enhanced code.',
  },
  {
    id: 'rcpt.4xx',
    stages: RCPT,
    code: /^4/,
    outcome: 'temporary_failure',
    why: '4xx is never undeliverable.',
  },
  // Sender-status codes and enhanced codes about the mailbox outrank any text heuristics below.
  {
    id: 'rcpt.sender-status',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.1\.[78]$/,
    nullSender: true,
    outcome: 'null_sender_rejected',
    why: 'RFC 3463 5.1.7/5.1.8 are about the sender address, here the null sender.',
  },
  {
    id: 'rcpt.our-sender-status',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.1\.[78]$/,
    outcome: 'policy_rejected',
    why: 'Our configured sender was refused.',
  },
  {
    id: 'rcpt.mailbox-disabled',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.2\.1$/,
    outcome: 'mailbox_disabled',
    why: 'RFC 3463 5.2.1 mailbox disabled, not accepting messages.',
  },
  {
    id: 'rcpt.mailbox-full',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.2\.2$/,
    outcome: 'mailbox_full',
    why: 'RFC 3463 5.2.2 mailbox full: the mailbox exists.',
  },
  {
    id: 'rcpt.552',
    stages: RCPT,
    code: /^552$/,
    enhanced: null,
    outcome: 'mailbox_full',
    why: 'RFC 5321 552 storage exceeded, without an enhanced code.',
  },
  {
    id: 'rcpt.bad-destination-system',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.1\.2$/,
    outcome: 'policy_rejected',
    why: '5.1.2 says the host does not serve the domain: a routing problem, not the mailbox.',
  },
  {
    id: 'rcpt.bad-mailbox',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.1\.\d+$/,
    outcome: 'user_unknown',
    why: 'RFC 3463 5.1.x addressing status: 5.1.1 bad mailbox, 5.1.3 bad syntax, 5.1.6 moved, 5.1.10 null MX.',
  },
  {
    id: 'rcpt.o365-dbeb',
    stages: RCPT,
    code: /^550$/,
    enhanced: /^5\.4\.1$/,
    text: /recipient address rejected/i,
    outcome: 'user_unknown',
    why: 'Exchange Online directory-based edge blocking: 550 5.4.1 Recipient address rejected: Access denied.',
  },
  {
    id: 'rcpt.null-sender-refused',
    stages: RCPT,
    code: /^5/,
    nullSender: true,
    text: ABOUT_NULL_SENDER,
    outcome: 'null_sender_rejected',
    why: 'Rejection at RCPT that names the null sender (Postfix smtpd_delay_reject defers sender checks to RCPT).',
  },
  {
    id: 'rcpt.security-or-policy',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.7\.\d+$/,
    outcome: 'policy_rejected',
    why: 'RFC 3463 5.7.x: security or policy status, about us not the mailbox.',
  },
  {
    id: 'rcpt.protocol',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.5\.\d+$/,
    outcome: 'protocol_error',
    why: 'RFC 3463 5.5.x: the server disliked our protocol, not the mailbox.',
  },
  {
    id: 'rcpt.551-user-not-local',
    stages: RCPT,
    code: /^551$/,
    outcome: 'user_unknown',
    why: 'RFC 5321 551 user not local: this mailbox is not delivered here (it may name a new address).',
  },
  {
    id: 'rcpt.relay-denied',
    stages: RCPT,
    code: /^5/,
    text: RELAY,
    outcome: 'policy_rejected',
    why: 'Relay denied: the host does not take mail for the domain from us; nothing about the mailbox.',
  },
  {
    id: 'rcpt.about-client',
    stages: RCPT,
    code: /^5/,
    text: ABOUT_CLIENT,
    outcome: 'policy_rejected',
    why: 'Blocklist or policy text without an enhanced code.',
  },
  {
    id: 'rcpt.no-such-user-text',
    stages: RCPT,
    code: /^5/,
    text: NO_SUCH_USER,
    outcome: 'user_unknown',
    why: 'Text that says the mailbox does not exist (with no enhanced code, or a generic one such as 5.0.0).',
  },
  {
    id: 'rcpt.550-plain',
    stages: RCPT,
    code: /^55[013]$/,
    enhanced: null,
    outcome: 'user_unknown',
    why: 'Plain 550/551/553 with no enhanced code and no telling text (Exim "Unrouteable address").',
  },
  {
    id: 'rcpt.5xx-other',
    stages: RCPT,
    code: /^5/,
    outcome: 'policy_rejected',
    why: 'Any other 5xx is not clearly about the mailbox; never reject on it.',
  },
];

/** The rule id used when a stage has a reply that matches nothing (every stage ends in a catch-all rule, so only bugs get here). */
export const FALLBACK_RULE_ID = 'fallback.unclassified';
