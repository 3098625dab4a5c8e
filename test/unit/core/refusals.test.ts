/**
 * Refusals against scripted loopback servers replying byte for byte: a refusal about us is never
 * a refusal of bounces, an ambiguous refusal of MAIL FROM:<> is re-checked in the same session,
 * what a reply says beats its code class, a plain 5xx is read by its text, a HELO refusal says
 * so, and a clean code with binary text is read by its code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ScriptedServer, scriptedServers } from '../../support/scripted-smtp.js';
import { testEngine } from '../../support/engine.js';
import { cbv } from '../../support/cli.js';
import type { EngineOptions } from '../../../src/core/verify.js';

const server = scriptedServers();

const NO_PIPELINING = ['250-test.example\r\n', '250 ENHANCEDSTATUSCODES\r\n'];
const unknownRandom = (line: string): string[] => [
  line.includes('randomprobe') ? '550 5.1.1 User unknown\r\n' : '250 2.1.5 Ok\r\n',
];

async function verifyAt(s: ScriptedServer, probe: Partial<EngineOptions['probe']> = {}) {
  const engine = testEngine(s.port, { randomLocalPart: () => 'randomprobe', probe });
  const v = await engine.verify(`alice@[${s.host}]`, { transcript: true, waitForClose: true });
  await engine.idle();
  return v;
}

/** MAIL FROM:<> gets `nullReply`; any other reverse-path gets `otherReply`. */
function mailReplies(nullReply: string, otherReply = '250 2.1.0 Ok\r\n') {
  return (line: string): string[] => [line.startsWith('MAIL FROM:<>') ? nullReply : otherReply];
}

const S3140 =
  "550 5.7.1 Unfortunately, messages from [192.0.2.10] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.\r\n";

describe('a refusal about us at MAIL FROM:<> is policy_rejected, and is not re-checked', () => {
  const members: [string, string, boolean][] = [
    ['Outlook S3140 block list, pipelined', S3140, true],
    ['the same without PIPELINING', S3140, false],
    [
      'Spamhaus via Postfix',
      '554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.10\r\n',
      true,
    ],
    ['Yahoo "not allowed", no enhanced code', '553 Mail from 192.0.2.10 not allowed - [10]\r\n', false],
    [
      'multi-line reputation refusal naming <>',
      '550-5.7.1 <>: Sender address rejected:\r\n550-5.7.1 your IP 192.0.2.10 has a poor reputation\r\n550 5.7.1 (listed by b.barracudacentral.org)\r\n',
      true,
    ],
    [
      'a permanently deferred IP',
      '554 5.7.1 [TS03] All messages from 192.0.2.10 will be permanently deferred\r\n',
      true,
    ],
  ];
  for (const [name, refusal, pipelining] of members) {
    it(name, async () => {
      const s = await server({
        replies: { MAIL: [refusal], ...(pipelining ? {} : { EHLO: NO_PIPELINING }) },
      });
      const v = await verifyAt(s);
      assert.equal(v.reason, 'policy_rejected');
      assert.equal(v.rule, 'mail.about-client');
      assert.equal(v.result, 'unknown');
      const mails = s.sessions[0]?.commands.filter((c) => c.startsWith('MAIL')) ?? [];
      assert.deepEqual(mails, ['MAIL FROM:<>'], 'no re-check: the reply said it is about us');
    });
  }

  it('reads the S3140 refusal at RCPT the same way', async () => {
    const s = await server({ replies: { RCPT: [S3140] } });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'policy_rejected');
    assert.equal(v.rule, 'rcpt.about-client');
  });
});

describe('an ambiguous refusal of MAIL FROM:<> is re-checked after RSET in the same session', () => {
  it('refuses bounces only when another sender is accepted (pipelined)', async () => {
    const s = await server({ replies: { MAIL: mailReplies('550 Go away\r\n'), RCPT: unknownRandom } });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'null_sender_rejected');
    assert.equal(v.rule, 'recheck.null-sender-only');
    assert.equal(v.smtp?.code, 550, 'the deciding reply is the refusal of <>');
    assert.match(v.message, /MAIL FROM:<postmaster@verifier\.test> accepted in the same session/);
    // The pipelined group ended with RSET and QUIT (they prove it in step), so the re-check
    // goes in a second session, one command at a time.
    assert.equal(s.sessions.length, 2);
    assert.deepEqual(s.sessions[0]?.commands, [
      'EHLO verifier.test',
      'MAIL FROM:<>',
      'RCPT TO:<randomprobe@[127.0.0.1]>',
      'RCPT TO:<alice@[127.0.0.1]>',
      'RSET',
      'QUIT',
    ]);
    assert.deepEqual(s.sessions[1]?.commands, [
      'EHLO verifier.test',
      'MAIL FROM:<>',
      'RSET',
      'MAIL FROM:<postmaster@verifier.test>',
      'RSET',
      'QUIT',
    ]);
  });

  it('does the same without PIPELINING, with an enhanced code', async () => {
    const s = await server({ replies: { EHLO: NO_PIPELINING, MAIL: mailReplies('550 5.0.0 Rejected\r\n') } });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'null_sender_rejected');
    assert.equal(v.rule, 'recheck.null-sender-only');
    assert.deepEqual(s.sessions[0]?.commands.slice(1, 4), [
      'MAIL FROM:<>',
      'RSET',
      'MAIL FROM:<postmaster@verifier.test>',
    ]);
  });

  const refusedToo: [string, string, string][] = [
    ['the same bare 550', '550 Go away\r\n', '550 Go away\r\n'],
    [
      'Exim "Administrative prohibition" twice',
      '550 Administrative prohibition\r\n',
      '550 Administrative prohibition\r\n',
    ],
    ['a multi-line refusal, then a 554', '550-Not\r\n550 today\r\n', '554 5.7.1 Access denied\r\n'],
  ];
  for (const [name, first, second] of refusedToo) {
    it(`calls it about us when the other sender is refused too: ${name}`, async () => {
      const s = await server({ replies: { MAIL: mailReplies(first, second) } });
      const v = await verifyAt(s);
      assert.equal(v.reason, 'policy_rejected');
      assert.equal(v.rule, 'recheck.any-sender-refused');
      assert.match(v.message, /about us, not about bounces/);
    });
  }

  it('re-checks once for a batch of addresses, and answers each of them', async () => {
    const s = await server({ replies: { MAIL: mailReplies('550 Go away\r\n'), RCPT: unknownRandom } });
    const engine = testEngine(s.port, { randomLocalPart: () => 'randomprobe' });
    const verdicts = await engine.verifyBatch(
      ['alice', 'bob', 'carol'].map((l) => `${l}@[${s.host}]`),
      { waitForClose: true },
    );
    await engine.idle();
    assert.deepEqual(
      verdicts.map((v) => [v.reason, v.rule]),
      Array(3).fill(['null_sender_rejected', 'recheck.null-sender-only']),
    );
    // One re-check for the whole batch (in a lockstep session of its own when the pipelined group
    // already ended in QUIT).
    const rechecks = s.sessions
      .flatMap((x) => x.commands)
      .filter((c) => c === 'MAIL FROM:<postmaster@verifier.test>');
    assert.equal(rechecks.length, 1);
    assert.ok(s.sessions.length <= 2);
  });

  it('learns nothing from a 4xx to the re-check, and says so temporarily', async () => {
    const s = await server({ replies: { MAIL: mailReplies('550 Go away\r\n', '451 4.3.0 Try later\r\n') } });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'temporary_failure');
    assert.equal(v.rule, 'recheck.inconclusive');
    assert.equal(v.temporary, true);
  });

  it('with the re-check off, calls the refusal policy_rejected, never a refusal of bounces', async () => {
    const s = await server({ replies: { MAIL: mailReplies('550 Go away\r\n') } });
    const v = await verifyAt(s, { recheckSender: null });
    assert.equal(v.reason, 'policy_rejected');
    assert.equal(v.rule, 'mail.null-sender-ambiguous');
    assert.match(v.message, /null_sender_recheck is off/);
    assert.deepEqual(
      s.sessions[0]?.commands.filter((c) => c.startsWith('MAIL')),
      ['MAIL FROM:<>'],
    );
  });

  it('does not re-check a refusal that names the null sender', async () => {
    const s = await server({ replies: { MAIL: mailReplies('553 5.1.8 <>: Bounces not accepted\r\n') } });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'null_sender_rejected');
    assert.equal(v.rule, 'mail.null-sender-named');
    assert.equal(s.sessions[0]?.commands.filter((c) => c.startsWith('MAIL')).length, 1);
  });
});

describe('what a reply says beats its code class (RCPT)', () => {
  const members: [string, string, string, string][] = [
    [
      'Microsoft 5.5.0 mailbox unavailable',
      '550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302)\r\n',
      'user_unknown',
      'rcpt.no-such-user-text',
    ],
    [
      '5.5.1 with "no such user"',
      '550 5.5.1 <alice@[127.0.0.1]>: No such user\r\n',
      'user_unknown',
      'rcpt.no-such-user-text',
    ],
    [
      'multi-line 5.5.0 over quota',
      '552-5.5.0 Sorry,\r\n552 5.5.0 mailbox is full\r\n',
      'mailbox_full',
      'rcpt.mailbox-full-text',
    ],
    [
      'Postfix HELO refusal with smtpd_delay_reject',
      '504 5.5.2 <mailcheck>: Helo command rejected: need fully-qualified hostname\r\n',
      'policy_rejected',
      'rcpt.helo-refused',
    ],
  ];
  for (const [name, rcpt, reason, rule] of members) {
    it(name, async () => {
      const s = await server({
        replies: { RCPT: (line) => (line.includes('randomprobe') ? ['550 5.1.1 User unknown\r\n'] : [rcpt]) },
      });
      const v = await verifyAt(s);
      assert.equal(v.reason, reason);
      assert.equal(v.rule, rule);
    });
  }

  it('says that our HELO name was the reason, naming the setting', async () => {
    const s = await server({
      replies: { RCPT: ['504 5.5.2 <mailcheck>: Helo command rejected: need fully-qualified hostname\r\n'] },
    });
    const v = await verifyAt(s, { heloName: 'mailcheck' });
    assert.equal(v.reason, 'policy_rejected');
    assert.match(v.message, /refused our HELO name "mailcheck" \(set verify\.helo_name/);
  });

  it('says so too when HELO itself is refused', async () => {
    const s = await server({
      replies: {
        EHLO: ['502 5.5.2 Error: command not recognized\r\n'],
        HELO: ['501 5.5.2 <vm>: Helo command rejected: need fully-qualified hostname\r\n'],
      },
    });
    const v = await verifyAt(s, { heloName: 'vm' });
    assert.equal(v.reason, 'policy_rejected');
    assert.equal(v.rule, 'helo.name-refused');
    assert.match(v.message, /refused our HELO name "vm"/);
  });
});

describe('a plain 5xx is read by its text before "no such user"', () => {
  const members: [string, string, string, string, string][] = [
    [
      'the Dovecot over-quota example',
      'RCPT',
      '550 Mailbox is full / Blocks limit exceeded / Inode limit exceeded\r\n',
      'mailbox_full',
      'rcpt.mailbox-full-text',
    ],
    [
      'over quota, multi-line',
      'RCPT',
      '550-The account of this user\r\n550 is over quota\r\n',
      'mailbox_full',
      'rcpt.mailbox-full-text',
    ],
    [
      'a throttling 550 at RCPT',
      'RCPT',
      '550 Too many connections from your IP, slow down\r\n',
      'temporary_failure',
      'rcpt.throttled',
    ],
    [
      'a frequency limit with an enhanced code',
      'RCPT',
      '550 5.7.1 Frequency limit reached for this client\r\n',
      'temporary_failure',
      'rcpt.throttled',
    ],
    [
      'a 554 that calls itself temporary',
      'RCPT',
      '554 Temporary failure, please try again later\r\n',
      'temporary_failure',
      'rcpt.temporary-text',
    ],
    [
      'a throttling 550 at MAIL',
      'MAIL',
      '550 5.7.1 Too many concurrent connections from 192.0.2.10\r\n',
      'temporary_failure',
      'mail.throttled',
    ],
    [
      'a temporary 554 at MAIL',
      'MAIL',
      '554 5.3.0 Insufficient system resources\r\n',
      'temporary_failure',
      'mail.temporary-text',
    ],
  ];
  for (const [name, verb, text, reason, rule] of members) {
    it(name, async () => {
      const reply =
        verb === 'RCPT'
          ? (line: string) => (line.includes('randomprobe') ? ['550 5.1.1 User unknown\r\n'] : [text])
          : [text];
      const s = await server({ replies: { [verb]: reply } });
      const v = await verifyAt(s);
      assert.equal(v.reason, reason);
      assert.equal(v.rule, rule);
      assert.notEqual(v.result, 'undeliverable');
    });
  }

  it('still reads a plain 550 with nothing to say as "no such user", as a last resort', async () => {
    const s = await server({ replies: { RCPT: ['550 Unrouteable address\r\n'] } });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'user_unknown');
  });
});

describe('a clean code with binary text is read by its code', () => {
  const garbage = Buffer.from([
    0xff, 0xfe, 0x9b, 0x1b, 0x5b, 0x32, 0x4a, 0x1b, 0x5d, 0x30, 0x3b, 0x07, 0xc3, 0x28, 0x00,
  ]);
  const binaryUnknown = Buffer.concat([Buffer.from('550 5.1.1 '), garbage, Buffer.from('\r\n')]);
  const members: [string, Buffer, string, string][] = [
    ['550 5.1.1 + high-bit bytes and terminal escapes', binaryUnknown, 'user_unknown', 'rcpt.bad-mailbox'],
    [
      '552 5.2.2 + invalid UTF-8, multi-line',
      Buffer.concat([Buffer.from('552-5.2.2 '), garbage, Buffer.from('\r\n552 5.2.2 \x1b[0m\r\n')]),
      'mailbox_full',
      'rcpt.mailbox-full',
    ],
    [
      '550 5.7.1 + a bidi override',
      Buffer.from('550 5.7.1 \u202eDENIED\u202c\r\n'),
      'policy_rejected',
      'rcpt.security-or-policy',
    ],
    [
      '550 + escape sequences and no enhanced code: the last resort still applies',
      Buffer.concat([Buffer.from('550 '), garbage, Buffer.from('\r\n')]),
      'user_unknown',
      'rcpt.550-plain',
    ],
  ];
  const binaryAt = (bytes: Buffer) => (line: string) =>
    line.includes('randomprobe') ? ['550 5.1.1 User unknown\r\n'] : [bytes];
  for (const [name, bytes, reason, rule] of members) {
    it(name, async () => {
      const s = await server({ replies: { RCPT: binaryAt(bytes) } });
      const v = await verifyAt(s);
      assert.equal(v.reason, reason);
      assert.equal(v.rule, rule);
      // Bytes that are not UTF-8 are kept as \xHH; the rest is kept as sent, for the printers to escape.
      if (bytes.includes(0xff)) assert.match(v.smtp?.text ?? '', /\\xff\\xfe\\x9b\x1b\[2J/);
    });
  }

  it('prints the transcript of such a reply escaped (cbv verify --trace)', async () => {
    const s = await server({ replies: { RCPT: binaryAt(binaryUnknown) } });
    const flags = ['--allow-target', '127.0.0.0/8', '--port', String(s.port), '--helo', 'h.test'];
    const r = await cbv(['verify', '--trace', ...flags, 'nobody@[127.0.0.1]']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /nobody@\[127\.0\.0\.1\] +undeliverable +user_unknown/);
    assert.match(r.stdout, /S: 550 5\.1\.1 \\xff\\xfe\\x9b\\x1b\[2J\\x1b\]0;\\x07\\xc3\(\\x00/);
    assert.doesNotMatch(r.stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/);
  });
});
