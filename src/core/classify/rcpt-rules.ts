/**
 * Rules for RCPT TO, for the address and for the random catch-all probe.
 *
 * Order matters (the first match wins), in four bands:
 *  1. 2xx and 4xx (4xx is never undeliverable);
 *  2. refusals about us or about the moment: our HELO name, throttling, block lists and
 *     reputation, temporary conditions; then the null sender, and RFC 3463 5.7.x policy;
 *  3. what the reply says about the mailbox: enhanced codes 5.2.x / 5.1.x, then texts
 *     (over quota, relaying, no such user);
 *  4. generic code classes: 5.5.x protocol, 551, 552, and "a plain 550 means no such user" as
 *     the very last resort before "any other 5xx is not about the mailbox".
 */
import {
  ABOUT_CLIENT,
  ABOUT_NULL_SENDER,
  ABOUT_SENDER,
  GREYLIST,
  HELO_REFUSED,
  MAILBOX_FULL,
  NO_SUCH_USER,
  POLICY_REFUSAL,
  RELAY_DENIED,
  TEMPORARY_CONDITION,
  THROTTLED,
  TOO_MANY_RECIPIENTS,
} from './patterns.js';
import type { ReplyRule } from './rule-types.js';
import type { Stage } from '../verdict.js';

const RCPT: readonly Stage[] = ['rcpt', 'rcpt_random'];

const TRANSIENT_RULES: readonly ReplyRule[] = [
  {
    id: 'rcpt.2xx',
    stages: RCPT,
    code: /^2/,
    outcome: 'accepted',
    why: 'Recipient accepted (250, 251).',
    examples: [
      '250 2.1.5 Ok',
      '251 User not local; will forward',
      { reply: '250 Accepted', stage: 'rcpt_random' },
    ],
  },
  {
    id: 'rcpt.greylisted',
    stages: RCPT,
    code: /^4/,
    text: GREYLIST,
    outcome: 'greylisted',
    why: 'Greylisting: the triplet is new; a retry will be accepted or rejected.',
    examples: [
      '450 4.2.0 <a@grey.test>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/grey.test.html',
      '451 4.7.1 Please try again later',
    ],
  },
  {
    id: 'rcpt.too-many-recipients',
    // The random probe too: refused as one too many, it has not been answered (probe.ts asks again).
    stages: RCPT,
    code: /^4/,
    enhanced: /^4\.5\.3$/,
    outcome: 'retry_alone',
    why: 'Server takes one recipient per bounce; retry the address in its own transaction.',
    examples: ['452 4.5.3 Error: too many recipients', '451 4.5.3 Only one recipient per null sender'],
  },
  {
    id: 'rcpt.too-many-recipients-text',
    stages: RCPT,
    code: /^[45]/,
    text: TOO_MANY_RECIPIENTS,
    outcome: 'retry_alone',
    why: 'As above, without the enhanced code.',
    examples: ['452 Too many recipients received this hour', '550 Only one recipient accepted for bounces'],
  },
  {
    id: 'rcpt.4xx',
    stages: RCPT,
    code: /^4/,
    outcome: 'temporary_failure',
    why: '4xx is never undeliverable.',
    examples: [
      '450 4.1.1 <a@x>: Recipient address rejected: unverified address: host not reachable',
      '452 4.2.2 Mailbox full',
    ],
  },
];

const ABOUT_US_RULES: readonly ReplyRule[] = [
  {
    id: 'rcpt.helo-refused',
    stages: RCPT,
    code: /^5/,
    text: HELO_REFUSED,
    outcome: 'policy_rejected',
    about: 'helo',
    why: 'Our HELO name refused at RCPT (Postfix smtpd_delay_reject=yes reports HELO restrictions here): about us.',
    examples: [
      '504 5.5.2 <mailcheck>: Helo command rejected: need fully-qualified hostname',
      '550 5.7.1 <vm.invalid>: Helo command rejected: Host not found',
      { reply: '550-Your HELO name is not\r\n550 acceptable here', stage: 'rcpt_random' },
    ],
  },
  {
    id: 'rcpt.throttled',
    stages: RCPT,
    code: /^5/,
    text: THROTTLED,
    outcome: 'temporary_failure',
    why: 'A rate, frequency or connection limit says nothing about the mailbox, and passes.',
    examples: [
      '550 5.7.1 Too many invalid recipients from your IP, slow down',
      '550 Rate limit exceeded for 192.0.2.1',
      '554 5.4.5 Daily sending quota exceeded',
    ],
  },
  {
    id: 'rcpt.about-client',
    stages: RCPT,
    code: /^5/,
    text: ABOUT_CLIENT,
    outcome: 'policy_rejected',
    about: 'client',
    why: 'Our IP, host or network is refused (block list in any spelling, reputation, rDNS, SPF): about us.',
    examples: [
      '554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org',
      '550 5.7.606 Access denied, banned sending IP [192.0.2.1]',
      '554 Your IP address is listed at bl.example',
      "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.1, because the ip is in Spamhaus's list",
      '550 5.1.1 Sender IP 192.0.2.1 blocked: see https://sorbs.net',
    ],
  },
  {
    id: 'rcpt.temporary-text',
    stages: RCPT,
    code: /^5/,
    text: TEMPORARY_CONDITION,
    outcome: 'temporary_failure',
    why: 'A 5xx whose text calls the condition temporary: read as a 4xx.',
    examples: [
      '550 Requested action aborted: try again later',
      '554 5.0.0 Temporary lookup failure',
      '550-System busy\r\n550 please try again',
    ],
  },
  {
    id: 'rcpt.sender-status',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.1\.[78]$/,
    nullSender: true,
    outcome: 'null_sender_rejected',
    why: 'RFC 3463 5.1.7/5.1.8 are about the sender address, here the null sender.',
    examples: ['550 5.1.8 <>: Sender address rejected: domain not found', '553 5.1.7 Bad sender'],
  },
  {
    id: 'rcpt.our-sender-status',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.1\.[78]$/,
    outcome: 'policy_rejected',
    why: 'Our configured sender was refused.',
    examples: [
      { reply: '553 5.1.7 The sender address is invalid', nullSender: false },
      { reply: '550 5.1.8 Sender domain has no MX', nullSender: false },
    ],
  },
  {
    id: 'rcpt.null-sender-refused',
    stages: RCPT,
    code: /^5/,
    nullSender: true,
    text: ABOUT_NULL_SENDER,
    outcome: 'null_sender_rejected',
    why: 'Rejection at RCPT that names the null sender (Postfix smtpd_delay_reject defers sender checks to RCPT).',
    examples: [
      '554 5.7.1 <>: Sender address rejected: Access denied',
      '550 null sender not accepted here',
      '550 5.0.0 Bounces are not accepted by this domain',
    ],
  },
  {
    id: 'rcpt.security-or-policy',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.7\.\d+$/,
    outcome: 'policy_rejected',
    why: 'RFC 3463 5.7.x: security or policy status, about us or this sender, not the mailbox.',
    examples: [
      '554 5.7.1 <a@x>: Relay access denied',
      { reply: '554 5.7.1 <>: Sender address rejected: Access denied', nullSender: false },
      '550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized to send to this recipient',
    ],
  },
];

const MAILBOX_RULES: readonly ReplyRule[] = [
  {
    id: 'rcpt.mailbox-full',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.2\.2$/,
    outcome: 'mailbox_full',
    why: 'RFC 3463 5.2.2 mailbox full: the mailbox exists.',
    examples: [
      '552 5.2.2 <a@x>: Mailbox full',
      '552-5.2.2 The email account that you tried to reach is over quota.\r\n552 5.2.2 Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm',
    ],
  },
  {
    id: 'rcpt.sender-text',
    stages: RCPT,
    code: /^5/,
    text: ABOUT_SENDER,
    outcome: 'policy_rejected',
    why: 'A refusal at RCPT that speaks of the sender, not the recipient (its domain, a failed sender verification): not about the mailbox.',
    examples: [
      { reply: '550 Sender domain does not exist', nullSender: false },
      '550 Recipient rejected: sender verify failed',
      { reply: '553-Mail from this\r\n553 sender is not accepted', nullSender: false },
    ],
  },
  {
    id: 'rcpt.mailbox-full-text',
    stages: RCPT,
    code: /^5/,
    text: MAILBOX_FULL,
    outcome: 'mailbox_full',
    why: 'Over quota in words (Dovecot "Blocks limit exceeded", "Mailbox is full"): the mailbox exists. Read before any "no such user" reading of a plain 550.',
    examples: [
      '550 Mailbox is full / Blocks limit exceeded / Inode limit exceeded',
      '550 5.1.1 <a@x>: user is over quota',
      '554 5.0.0 Quota exceeded (mailbox for user is full)',
      '550-Recipient mailbox\r\n550 exceeded storage allocation',
    ],
  },
  {
    id: 'rcpt.mailbox-disabled',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.2\.1$/,
    outcome: 'mailbox_disabled',
    why: 'RFC 3463 5.2.1 mailbox disabled, not accepting messages.',
    examples: [
      '550 5.2.1 Mailbox disabled',
      '550 5.2.1 The email account that you tried to reach is disabled.',
    ],
  },
  {
    id: 'rcpt.bad-destination-system',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.1\.2$/,
    outcome: 'policy_rejected',
    why: '5.1.2 says the host does not serve the domain: a routing problem, not the mailbox.',
    examples: ['550 5.1.2 bad destination system address', '553 5.1.2 Domain not served here'],
  },
  {
    id: 'rcpt.bad-mailbox',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.1\.\d+$/,
    outcome: 'user_unknown',
    why: 'RFC 3463 5.1.x addressing status: 5.1.1 bad mailbox, 5.1.3 bad syntax, 5.1.6 moved, 5.1.10 null MX.',
    examples: [
      '550 5.1.1 <alice@ok.test>: Recipient address rejected: User unknown in local recipient table',
      "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 double-checking the recipient's email address for typos or\r\n550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser",
      '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
      { reply: '550 5.1.1 User unknown', stage: 'rcpt_random' },
      '550 5.1.1 <helo@x.example>: Recipient address rejected: User unknown in virtual mailbox table',
      '550 5.1.1 <blocked.spamhaus@x.example>: Recipient address rejected: User unknown in relay recipient table',
    ],
  },
  {
    id: 'rcpt.o365-dbeb',
    stages: RCPT,
    code: /^550$/,
    enhanced: /^5\.4\.1$/,
    text: /recipient address rejected/i,
    outcome: 'user_unknown',
    why: 'Exchange Online directory-based edge blocking: 550 5.4.1 Recipient address rejected: Access denied.',
    examples: ['550 5.4.1 Recipient address rejected: Access denied. AS(201806281)'],
  },
  {
    id: 'rcpt.relay-denied',
    stages: RCPT,
    code: /^5/,
    text: RELAY_DENIED,
    outcome: 'policy_rejected',
    why: 'Relay denied: the host does not take mail for the domain from us; nothing about the mailbox.',
    examples: [
      "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
      '550 relay not permitted',
      '550 5.0.0 Unable to relay for x@example.org',
    ],
  },
  {
    id: 'rcpt.no-such-user-text',
    stages: RCPT,
    code: /^5/,
    text: NO_SUCH_USER,
    outcome: 'user_unknown',
    why: 'Text that says the mailbox does not exist, whatever the generic code class (5.0.0, 5.5.0, none).',
    examples: [
      '550 5.0.0 <alice@x>... User unknown',
      "554 delivery error: dd This user doesn't have a yahoo.com account (a@yahoo.com) [0] - mta1.mail.example",
      '550 Unrouteable address',
      '550 Requested action not taken: mailbox unavailable',
      '550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302)',
      '552 1 Requested mail action aborted, mailbox not found',
      '553 Requested action not taken: mailbox name not allowed',
    ],
  },
  {
    id: 'rcpt.policy-text',
    stages: RCPT,
    code: /^5/,
    text: POLICY_REFUSAL,
    outcome: 'policy_rejected',
    why: 'A refusal in words of policy (Exim "Administrative prohibition", "Access denied"): not about the mailbox.',
    examples: [
      '550 Administrative prohibition',
      '550 Access denied',
      '553 Recipient not allowed by local policy',
    ],
  },
];

const GENERIC_RULES: readonly ReplyRule[] = [
  {
    id: 'rcpt.protocol',
    stages: RCPT,
    code: /^5/,
    enhanced: /^5\.5\.\d+$/,
    outcome: 'protocol_error',
    why: 'RFC 3463 5.5.x with no telling text: the server disliked our protocol, not the mailbox.',
    examples: ['501 5.5.4 Syntax: RCPT TO:<address>', '503 5.5.1 Error: need MAIL command'],
  },
  {
    id: 'rcpt.551-user-not-local',
    stages: RCPT,
    code: /^551$/,
    outcome: 'user_unknown',
    why: 'RFC 5321 551 user not local: this mailbox is not delivered here (it may name a new address).',
    examples: [
      '551 User not local; please try <forward@example.org>',
      '551 User has moved; please try <new@example.net>',
    ],
  },
  {
    id: 'rcpt.552',
    stages: RCPT,
    code: /^552$/,
    enhanced: null,
    outcome: 'mailbox_full',
    why: 'RFC 5321 552 storage exceeded, without an enhanced code or telling text.',
    examples: ['552 Requested mail action aborted', '552 Message size exceeds fixed maximum message size'],
  },
  {
    id: 'rcpt.550-plain',
    stages: RCPT,
    code: /^55[013]$/,
    enhanced: null,
    outcome: 'user_unknown',
    why: 'The last resort: a plain 550/551/553 with no enhanced code and no text about us, the moment, quota or relaying.',
    examples: ['550 sorry', '553 Bad recipient', '550 Recipient address rejected'],
  },
  {
    id: 'rcpt.5xx-other',
    stages: RCPT,
    code: /^5/,
    outcome: 'policy_rejected',
    why: 'Any other 5xx is not clearly about the mailbox; never reject on it.',
    examples: ['554 Transaction failed', '550 5.0.0 Recipient rejected', '554 5.3.4 Error'],
  },
];

export const RCPT_RULES: readonly ReplyRule[] = [
  ...TRANSIENT_RULES,
  ...ABOUT_US_RULES,
  ...MAILBOX_RULES,
  ...GENERIC_RULES,
];
