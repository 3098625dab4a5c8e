/**
 * Classification against a corpus of replies as real servers send them.
 * Every rule in the table must be exercised by at least one case here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyReply } from '../../../src/core/classify/classify.js';
import { RULES } from '../../../src/core/classify/rules.js';
import { ReplyParser } from '../../../src/core/smtp/reply-parser.js';
import type { Stage } from '../../../src/core/verdict.js';

type Case = [stage: Stage, reply: string, outcome: string, rule: string, nullSender?: boolean];

const CORPUS: Case[] = [
  ['greeting', '421 4.3.2 Service shutting down', 'temporary_failure', 'any.421'],
  ['greeting', '450 too busy', 'temporary_failure', 'greeting.4xx'],
  [
    'greeting',
    '554 5.7.1 mx.example.org ESMTP not accepting connections from your network',
    'policy_rejected',
    'greeting.5xx',
  ],
  ['ehlo', '451 4.3.0 temporary problem', 'temporary_failure', 'helo.4xx'],
  [
    'helo',
    '501 5.5.2 <x>: Helo command rejected: need fully-qualified hostname',
    'policy_rejected',
    'helo.5xx',
  ],
  ['starttls', '454 4.7.0 TLS not available due to local problem', 'temporary_failure', 'starttls.refused'],
  // MAIL FROM
  [
    'mail',
    '451 4.7.1 <>: Sender address rejected: Greylisted, try again later',
    'greylisted',
    'mail.greylisted',
  ],
  ['mail', '451 4.3.0 Error: queue file write error', 'temporary_failure', 'mail.4xx'],
  ['mail', '530 5.7.0 Must issue a STARTTLS command first', 'policy_rejected', 'mail.tls-or-auth-required'],
  [
    'mail',
    '550 5.7.1 <>: Sender address rejected: Access denied',
    'null_sender_rejected',
    'mail.null-sender-named',
  ],
  [
    'mail',
    '554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org',
    'policy_rejected',
    'mail.about-client',
  ],
  ['mail', '550 Administrative prohibition', 'policy_rejected', 'mail.about-client'],
  ['mail', '553 5.1.8 Bounces not accepted', 'null_sender_rejected', 'mail.null-sender-named'],
  ['mail', '550 Go away', 'null_sender_rejected', 'mail.null-sender-refused'],
  ['mail', '550 5.1.0 Go away', 'policy_rejected', 'mail.sender-refused', false],
  // VRFY
  ['vrfy', '250 2.1.5 Alice <alice@example.org>', 'accepted', 'vrfy.2xx'],
  ['vrfy', '550 5.1.1 <bob>: Recipient address rejected: User unknown', 'user_unknown', 'vrfy.unknown'],
  ['vrfy', '252 2.0.0 Cannot VRFY user; try RCPT to attempt delivery', 'inconclusive', 'vrfy.other'],
  ['vrfy', '502 5.5.1 VRFY command is disabled', 'inconclusive', 'vrfy.other'],
  // RCPT
  ['rcpt', '250 2.1.5 Ok', 'accepted', 'rcpt.2xx'],
  ['rcpt', '251 User not local; will forward', 'accepted', 'rcpt.2xx'],
  [
    'rcpt',
    '450 4.2.0 <a@grey.test>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/grey.test.html',
    'greylisted',
    'rcpt.greylisted',
  ],
  ['rcpt', '451 4.7.1 Please try again later', 'greylisted', 'rcpt.greylisted'],
  ['rcpt', '452 4.5.3 Error: too many recipients', 'retry_alone', 'rcpt.too-many-recipients'],
  ['rcpt', '452 Too many recipients received this hour', 'retry_alone', 'rcpt.too-many-recipients-text'],
  [
    'rcpt',
    '450 4.1.1 <a@x>: Recipient address rejected: unverified address: host not reachable',
    'temporary_failure',
    'rcpt.4xx',
  ],
  ['rcpt', '452 4.2.2 Mailbox full', 'temporary_failure', 'rcpt.4xx'],
  [
    'rcpt',
    '550 5.1.8 <>: Sender address rejected: domain not found',
    'null_sender_rejected',
    'rcpt.sender-status',
  ],
  ['rcpt', '553 5.1.7 The sender address is invalid', 'policy_rejected', 'rcpt.our-sender-status', false],
  ['rcpt', '550 5.2.1 Mailbox disabled', 'mailbox_disabled', 'rcpt.mailbox-disabled'],
  ['rcpt', '552 5.2.2 <a@x>: Mailbox full', 'mailbox_full', 'rcpt.mailbox-full'],
  ['rcpt', '552 Requested mail action aborted: exceeded storage allocation', 'mailbox_full', 'rcpt.552'],
  ['rcpt', '550 5.1.2 bad destination system address', 'policy_rejected', 'rcpt.bad-destination-system'],
  [
    'rcpt',
    '550 5.1.1 <alice@ok.test>: Recipient address rejected: User unknown in local recipient table',
    'user_unknown',
    'rcpt.bad-mailbox',
  ],
  [
    'rcpt',
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 double-checking the recipient's email address for typos or\r\n550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser",
    'user_unknown',
    'rcpt.bad-mailbox',
  ],
  [
    'rcpt',
    '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
    'user_unknown',
    'rcpt.bad-mailbox',
  ],
  [
    'rcpt',
    '550 5.4.1 Recipient address rejected: Access denied. AS(201806281)',
    'user_unknown',
    'rcpt.o365-dbeb',
  ],
  [
    'rcpt',
    '554 5.7.1 <>: Sender address rejected: Access denied',
    'null_sender_rejected',
    'rcpt.null-sender-refused',
  ],
  ['rcpt', '550 null sender not accepted here', 'null_sender_rejected', 'rcpt.null-sender-refused'],
  ['rcpt', '554 5.7.1 <a@x>: Relay access denied', 'policy_rejected', 'rcpt.security-or-policy'],
  [
    'rcpt',
    '554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org',
    'policy_rejected',
    'rcpt.security-or-policy',
  ],
  [
    'rcpt',
    '550 5.7.606 Access denied, banned sending IP [192.0.2.1]',
    'policy_rejected',
    'rcpt.security-or-policy',
  ],
  [
    'rcpt',
    '554 5.7.1 <>: Sender address rejected: Access denied',
    'policy_rejected',
    'rcpt.security-or-policy',
    false,
  ],
  ['rcpt', '501 5.5.4 Syntax: RCPT TO:<address>', 'protocol_error', 'rcpt.protocol'],
  [
    'rcpt',
    "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
    'policy_rejected',
    'rcpt.relay-denied',
  ],
  ['rcpt', '550 relay not permitted', 'policy_rejected', 'rcpt.relay-denied'],
  ['rcpt', '550 Administrative prohibition', 'policy_rejected', 'rcpt.about-client'],
  ['rcpt', '554 Your IP address is listed at bl.example', 'policy_rejected', 'rcpt.about-client'],
  ['rcpt', '550 5.0.0 <alice@x>... User unknown', 'user_unknown', 'rcpt.no-such-user-text'],
  [
    'rcpt',
    "554 delivery error: dd This user doesn't have a yahoo.com account (a@yahoo.com) [0] - mta1.mail.example",
    'user_unknown',
    'rcpt.no-such-user-text',
  ],
  ['rcpt', '550 Unrouteable address', 'user_unknown', 'rcpt.no-such-user-text'],
  ['rcpt', '553 mailbox name not allowed', 'user_unknown', 'rcpt.550-plain'],
  ['rcpt', '550 Requested action not taken: mailbox unavailable', 'user_unknown', 'rcpt.no-such-user-text'],
  ['rcpt', '550 sorry', 'user_unknown', 'rcpt.550-plain'],
  ['rcpt', '551 User not local; please try <forward@example.org>', 'user_unknown', 'rcpt.551-user-not-local'],
  ['rcpt', '554 Transaction failed', 'policy_rejected', 'rcpt.5xx-other'],
  ['rcpt', '550 5.0.0 Recipient rejected', 'policy_rejected', 'rcpt.5xx-other'],
  ['rcpt_random', '550 5.1.1 User unknown', 'user_unknown', 'rcpt.bad-mailbox'],
];

function reply(text: string) {
  const parsed = new ReplyParser().push(Buffer.from(`${text}\r\n`));
  const r = parsed[0];
  assert.ok(r, `no reply parsed from ${text}`);
  return r;
}

describe('classification corpus', () => {
  for (const [stage, text, outcome, rule, nullSender = true] of CORPUS) {
    it(`${stage} ${text.split('\r\n')[0] ?? ''}${nullSender ? '' : ' (real sender)'}`, () => {
      assert.deepEqual(classifyReply(stage, reply(text), { nullSender }), { outcome, rule });
    });
  }

  it('exercises every rule in the table', () => {
    const hit = new Set(CORPUS.map((c) => c[3]));
    const unused = RULES.map((r) => r.id).filter((id) => !hit.has(id));
    assert.deepEqual(unused, []);
  });

  it('has unique rule ids', () => {
    const ids = RULES.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('never makes a 4xx undeliverable', () => {
    for (const code of [421, 450, 451, 452, 454]) {
      for (const text of [
        '4.1.1 User unknown',
        '4.2.1 Mailbox disabled',
        'Greylisted',
        'Recipient address rejected: User unknown',
        '',
      ]) {
        for (const stage of ['greeting', 'ehlo', 'mail', 'rcpt', 'rcpt_random'] as const) {
          const { outcome } = classifyReply(stage, reply(`${code} ${text}`.trim()), { nullSender: true });
          assert.ok(
            ['temporary_failure', 'greylisted', 'retry_alone'].includes(outcome),
            `${stage} ${code} ${text} -> ${outcome}`,
          );
        }
      }
    }
  });
});
