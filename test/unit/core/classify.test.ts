/**
 * Classification: every rule wins the replies it was written for (rule precedence), and each
 * kind of reply the table must read (about us, about the null sender, over quota, throttling,
 * temporary, no such user) is tried with members constructed here, in other providers' words,
 * at other stages, with and without enhanced codes, single- and multi-line.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyReply, ruleMatches } from '../../../src/core/classify/classify.js';
import {
  FALLBACK_RULE_ID,
  NULL_SENDER_EVIDENCE,
  RULES,
  isAboutHelo,
  isAboutUs,
} from '../../../src/core/classify/rules.js';
import { ReplyParser } from '../../../src/core/smtp/reply-parser.js';
import type { Stage } from '../../../src/core/verdict.js';

function reply(text: string) {
  const parsed = new ReplyParser().push(Buffer.from(`${text}\r\n`));
  const r = parsed[0];
  assert.ok(r, `no reply parsed from ${text}`);
  return r;
}

describe('rule precedence', () => {
  // Each rule's own examples, run through the whole table: the rule written for a reply must be
  // the one that wins it, so no earlier rule (a generic code class above all) shadows it.
  for (const rule of RULES) {
    it(`${rule.id} wins every example it was written for`, () => {
      assert.ok(rule.examples.length > 0, `${rule.id} has no examples`);
      for (const example of rule.examples) {
        const ex = typeof example === 'string' ? { reply: example } : example;
        const stage = ex.stage ?? rule.stages[0];
        assert.ok(stage && rule.stages.includes(stage), `${rule.id}: example stage ${stage}`);
        const nullSender = ex.nullSender ?? rule.nullSender ?? true;
        const got = classifyReply(stage, reply(ex.reply), { nullSender });
        assert.equal(got.rule, rule.id, `${stage} ${JSON.stringify(ex.reply)} was won by ${got.rule}`);
        assert.equal(got.outcome, rule.outcome);
      }
    });
  }
});

/** [stage, reply (CRLF between lines), expected outcome, sender ('<>' default, or 'real')]. */
type Member = [stage: Stage, reply: string, outcome: string, sender?: 'real'];

function check(members: Member[], extra?: (got: ReturnType<typeof classifyReply>, m: Member) => void): void {
  for (const m of members) {
    const [stage, text, outcome, sender] = m;
    it(`${stage} ${JSON.stringify(text.split('\r\n').join(' / '))}${sender ? ' (real sender)' : ''}`, () => {
      const got = classifyReply(stage, reply(text), { nullSender: sender !== 'real' });
      assert.equal(got.outcome, outcome, `won by ${got.rule}`);
      extra?.(got, m);
    });
  }
}

describe('kind: a refusal about the verifier is policy_rejected, never null_sender_rejected', () => {
  // Other providers' and MTAs' wordings than the rules' own examples, at MAIL FROM:<> and at RCPT.
  const aboutUs: Member[] = [
    [
      'mail',
      "550 5.7.1 Unfortunately, messages from [198.51.100.7] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).",
      'policy_rejected',
    ],
    [
      'rcpt',
      "550 5.7.1 Unfortunately, messages from [198.51.100.7] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140).",
      'policy_rejected',
    ],
    [
      'mail',
      '554 5.7.1 <>: Sender address rejected: Client host 198.51.100.7 is blocklisted',
      'policy_rejected',
    ],
    [
      'rcpt',
      '554 5.7.1 <>: Sender address rejected: Client host 198.51.100.7 is blocklisted',
      'policy_rejected',
    ],
    ['mail', '550 <>: Sender address rejected: blacklisted by dnsbl.sorbs.net', 'policy_rejected'],
    ['mail', '553 sorry, your IP is on a deny list (#5.7.1)', 'policy_rejected'],
    [
      'mail',
      '550-JunkMail rejected - mx.example [198.51.100.7] is in an RBL:\r\n550 see https://www.spamhaus.org/query/ip/198.51.100.7',
      'policy_rejected',
    ],
    [
      'rcpt',
      '554 Service unavailable; Client host [198.51.100.7] blocked using Barracuda Reputation, see http://www.barracudanetworks.com/reputation/?r=1&ip=198.51.100.7',
      'policy_rejected',
    ],
    ['mail', '550 5.7.1 Your IP address has a poor reputation', 'policy_rejected'],
    ['rcpt', '550 5.7.1 Message rejected: IP 198.51.100.7 listed at bl.spamcop.net', 'policy_rejected'],
    [
      'mail',
      '554 IP=198.51.100.7 - A problem occurred. (Ask your postmaster for help or to contact the list maintainer.) (BL)',
      'policy_rejected',
    ],
    ['mail', '550 IP 198.51.100.7 is not allowed to send mail here', 'policy_rejected'],
    [
      'mail',
      '553 5.7.1 [TS03] All messages from 198.51.100.7 will be permanently deferred; Retrying will NOT succeed.',
      'policy_rejected',
    ],
    [
      'mail',
      '550 5.7.25 The IP address sending this message does not have a PTR record setup',
      'policy_rejected',
    ],
    ['rcpt', '550 Rejected: reverse DNS lookup failed for 198.51.100.7', 'policy_rejected'],
    ['mail', "550 5.7.1 Rejected: dynamic IP range, use your provider's smarthost", 'policy_rejected'],
    ['mail', '550 5.7.23 SPF validation failed for the HELO identity vm.example', 'policy_rejected'],
    ['rcpt', '550 5.7.23 <>: Recipient address rejected: SPF Permanent Error: s=helo', 'policy_rejected'],
    ['mail', '550 5.7.1 <vm>: Helo command rejected: Host not found', 'policy_rejected'],
    ['rcpt', '504 5.5.2 <vm>: Helo command rejected: need fully-qualified hostname', 'policy_rejected'],
    ['rcpt', '550 Bad HELO - Host impersonating example.org', 'policy_rejected'],
    ['mail', '550-Sorry, the HELO name you gave (vm) is not\r\n550 fully qualified', 'policy_rejected'],
    [
      'rcpt',
      '554 resimta-ch2-01v.example 198.51.100.7 found on one or more DNSBLs, see http://postmaster.example/smtp-error-codes.php#BL000001',
      'policy_rejected',
    ],
    [
      'mail',
      "550-5.7.1 [198.51.100.7] The IP you're using to send mail is not authorized to\r\n550 5.7.1 send email directly to our servers.",
      'policy_rejected',
    ],
    [
      'mail',
      '553 5.3.0 flpd579 DNSBL:RBL 521< 198.51.100.7 >_is_blocked.For assistance forward this error to abuse_rbl@abuse.example',
      'policy_rejected',
    ],
    ['mail', '554 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=198.51.100.7', 'policy_rejected'],
  ];
  check(aboutUs, (got) => assert.ok(got.about, `${got.rule} should know the refusal is about us`));

  it('never reads an about-us rule example, at any MAIL or RCPT stage, as a refusal of bounces', () => {
    // Rules that read the text (a greeting or HELO refusal is about us by its stage alone).
    for (const rule of RULES.filter((r) => r.about && r.text)) {
      for (const example of rule.examples) {
        const text = typeof example === 'string' ? example : example.reply;
        for (const stage of ['mail', 'rcpt', 'rcpt_random'] as const) {
          const got = classifyReply(stage, reply(text), { nullSender: true });
          assert.notEqual(got.outcome, 'null_sender_rejected', `${stage} ${text} -> ${got.rule}`);
          assert.notEqual(got.outcome, 'user_unknown', `${stage} ${text} -> ${got.rule}`);
        }
      }
    }
  });
});

describe('kind: null_sender_rejected only on evidence about the null sender itself', () => {
  check([
    ['mail', '550 5.7.1 <>: Sender address rejected: Bounces are not accepted', 'null_sender_rejected'],
    ['mail', '554 5.7.1 We do not accept bounces', 'null_sender_rejected'],
    ['mail', '550-Null reverse-path\r\n550 not accepted here', 'null_sender_rejected'],
    ['mail', '553 Blank sender not allowed', 'null_sender_rejected'],
    ['rcpt', '550 5.7.1 <>: Sender address rejected: Null sender not accepted', 'null_sender_rejected'],
    ['rcpt', '550 5.1.7 <>: empty envelope sender refused', 'null_sender_rejected'],
  ]);
  // A refusal that does not say why is neither: the probe re-checks it (or calls it about us).
  check([
    ['mail', '550 Rejected', 'recheck_sender'],
    ['mail', '554 Access denied', 'recheck_sender'],
    ['mail', '550 5.0.0 Denied', 'recheck_sender'],
    ['mail', '550-Not\r\n550 today', 'recheck_sender'],
    ['mail', '554 5.7.1 Access denied', 'policy_rejected'],
  ]);
  it('offers only rules that read the null sender itself as evidence for the domain fact', () => {
    for (const id of NULL_SENDER_EVIDENCE) {
      const rule = RULES.find((r) => r.id === id);
      if (rule) assert.ok(rule.text || rule.enhanced, `${id} reads neither text nor enhanced code`);
    }
    assert.ok(!NULL_SENDER_EVIDENCE.has('mail.null-sender-ambiguous'));
    assert.ok(NULL_SENDER_EVIDENCE.has('recheck.null-sender-only'));
  });
});

describe('kind: what a reply says beats a generic code class', () => {
  check([
    ['rcpt', '550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302)', 'user_unknown'],
    ['rcpt', '550 5.5.1 <bob@x.example>: No such user here', 'user_unknown'],
    ['rcpt_random', '553 5.5.0 Recipient not found', 'user_unknown'],
    [
      'rcpt',
      '504 5.5.2 <mailcheck>: Helo command rejected: need fully-qualified hostname',
      'policy_rejected',
    ],
    ['rcpt', '501 5.5.2 <x.y>: Helo command rejected: Invalid name', 'policy_rejected'],
    ['rcpt', '552 5.5.0 Mailbox is full', 'mailbox_full'],
    ['rcpt', '550 5.5.0 Too many connections, try later', 'temporary_failure'],
    ['mail', '550 5.5.0 Sender rate limit exceeded', 'temporary_failure'],
    ['mail', '550 Your IP is blocked by our block list', 'policy_rejected'],
  ]);
  it('reads a HELO refusal at RCPT as about our HELO name', () => {
    const got = classifyReply(
      'rcpt',
      reply('504 5.5.2 <mailcheck>: Helo command rejected: need fully-qualified hostname'),
      { nullSender: true },
    );
    assert.ok(isAboutHelo(got.rule) && isAboutUs(got.rule));
  });
});

describe('kind: a plain 5xx is read by its text before it is read as "no such user"', () => {
  describe('over quota: the mailbox exists', () => {
    check([
      ['rcpt', '550 Mailbox is full / Blocks limit exceeded / Inode limit exceeded', 'mailbox_full'],
      ['rcpt', '550 5.0.0 <a@x.example>: mailbox over quota', 'mailbox_full'],
      ['rcpt', '554 Recipient exceeds the quota', 'mailbox_full'],
      ['rcpt_random', '550-Account is over\r\n550 quota, try another day', 'mailbox_full'],
      ['rcpt', '553 Disk quota exceeded', 'mailbox_full'],
      ['rcpt', '550 5.1.1 inbox is over its storage quota', 'mailbox_full'],
      ['rcpt', '550 Account inbox full', 'mailbox_full'],
      ['rcpt', '550 5.2.0 Message would exceed quota', 'mailbox_full'],
    ]);
  });
  describe('throttling: says nothing about the mailbox, and passes', () => {
    check([
      ['rcpt', '550 Too many connections from 198.51.100.7', 'temporary_failure'],
      ['rcpt', '554 5.7.0 Too many failed recipients for this session', 'temporary_failure'],
      ['rcpt', '550 Frequency of messages from you too high', 'temporary_failure'],
      ['rcpt_random', '550 You are being throttled', 'temporary_failure'],
      ['mail', '550 5.7.1 Too many concurrent SMTP connections from this IP address', 'temporary_failure'],
      ['mail', '554-Connection rate limit\r\n554 exceeded', 'temporary_failure'],
      ['mail', '550 Maximum number of connections exceeded', 'temporary_failure'],
      ['rcpt', '550 5.4.5 Hourly sending limit exceeded', 'temporary_failure'],
      ['rcpt', '550 5.7.1 user rate exceeded', 'temporary_failure'],
    ]);
  });
  describe('temporary conditions', () => {
    check([
      ['rcpt', '550 Temporary local problem, please try again', 'temporary_failure'],
      ['rcpt', '554 Service temporarily unavailable', 'temporary_failure'],
      ['mail', '550 System is busy', 'temporary_failure'],
      ['mail', '554 5.3.0 Insufficient system resources', 'temporary_failure'],
      [
        'rcpt',
        '550 5.1.1 <a@x.example>: Recipient address rejected: unverified address: Connection timed out',
        'temporary_failure',
      ],
      ['rcpt', '550 Unable to verify recipient at this time', 'temporary_failure'],
    ]);
  });
  describe('policy words are not "no such user"', () => {
    check([
      ['rcpt', '550 Administrative prohibition', 'policy_rejected'],
      ['rcpt', '553 Access denied', 'policy_rejected'],
      ['rcpt', '550 Forbidden', 'policy_rejected'],
    ]);
  });
  describe('the last resort: a plain 550 with nothing to read', () => {
    check([
      ['rcpt', '550 sorry', 'user_unknown'],
      ['rcpt', '550 Unrouteable address', 'user_unknown'],
      ['rcpt', '553 No', 'user_unknown'],
      ['rcpt', '550 5.0.0 Address unknown', 'user_unknown'],
    ]);
  });
});

describe('kind: an address echoed in a reply never reads as a statement about us', () => {
  // Local parts that spell words the text rules look for: the address is masked before matching.
  check([
    ['rcpt', '550 5.1.1 <helo@x.example>: Recipient address rejected: User unknown', 'user_unknown'],
    [
      'rcpt',
      '550 5.1.1 <blocked.by.spamhaus@x.example>: Recipient address rejected: User unknown',
      'user_unknown',
    ],
    ['rcpt', '550 5.1.1 <ratelimit@x.example>: Recipient address rejected: User unknown', 'user_unknown'],
    ['rcpt', '550 <over.quota@x.example>... User unknown', 'user_unknown'],
    ['rcpt', '550 No such user: try.again.later@x.example', 'user_unknown'],
  ]);
});

describe('classification invariants', () => {
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

describe('the table as indexed by stage and code', () => {
  // classifyReply keeps, per (stage, code), the rules whose stage and code conditions hold
  // (issue 14); the answer must stay the first rule of the whole table that matches, for every
  // example of every rule at every stage, with either sender, in any order of asking.
  const STAGES: Stage[] = [
    'greeting',
    'ehlo',
    'helo',
    'starttls',
    'mail',
    'rcpt_random',
    'rcpt',
    'vrfy',
    'quit',
  ];
  const replies = RULES.flatMap((rule) =>
    rule.examples.map((example) => reply(typeof example === 'string' ? example : example.reply)),
  );
  const firstMatch = (stage: Stage, r: ReturnType<typeof reply>, nullSender: boolean): string =>
    RULES.find((rule) => ruleMatches(rule, stage, r, { nullSender }))?.id ?? FALLBACK_RULE_ID;

  it('gives the first matching rule of the whole table, asked in two orders', () => {
    const asks = STAGES.flatMap((stage) =>
      replies.flatMap((r) => [true, false].map((nullSender) => ({ stage, r, nullSender }))),
    );
    for (const order of [asks, [...asks].reverse()])
      for (const { stage, r, nullSender } of order)
        assert.equal(
          classifyReply(stage, r, { nullSender }).rule,
          firstMatch(stage, r, nullSender),
          `${stage} ${r.code} ${JSON.stringify(r.lines)}`,
        );
  });

  it('keeps tables apart: a table passed in is indexed on its own', () => {
    const r = reply('550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown');
    const onlyLast = RULES.filter((rule) => rule.id === firstMatch('rcpt', r, true)).slice(0, 1);
    assert.equal(classifyReply('rcpt', r, { nullSender: true }, []).rule, FALLBACK_RULE_ID);
    assert.equal(classifyReply('rcpt', r, { nullSender: true }, onlyLast).rule, firstMatch('rcpt', r, true));
    assert.equal(classifyReply('rcpt', r, { nullSender: true }).rule, firstMatch('rcpt', r, true));
  });
});
