/**
 * One extra reply line must never shift the answers (issue 9, item 5). With
 * PIPELINING, MAIL, the RCPTs, RSET and QUIT go in one write, and the replies
 * counted as RSET's and QUIT's must be theirs; one command at a time, a reply
 * nobody asked for is caught when it arrives. Either way an out-of-step stream
 * is a temporary failure, never an answer. Scripted servers inject the extra
 * line byte for byte at each position.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CLOSE,
  type Responder,
  type ScriptOptions,
  type ScriptedServer,
  scriptedServers,
} from '../../support/scripted-smtp.js';
import { StaticResolver, testEngine } from '../../support/engine.js';

const server = scriptedServers();

const RANDOM = 'randomprobe123';
const NO_PIPELINING = ['250-test.example\r\n', '250 ENHANCEDSTATUSCODES\r\n'];
const UNKNOWN = '550 5.1.1 <x>: Recipient address rejected: User unknown in local recipient table\r\n';

/** RCPT replies: `alice` exists; the random probe and `nobody` do not; `extra` is appended where asked. */
function rcpt(opts: { onRandom?: string; onReal?: string }): Responder {
  return (line) => {
    if (line.includes(RANDOM)) return [UNKNOWN + (opts.onRandom ?? '')];
    const reply = line.includes('<alice@') ? '250 2.1.5 Ok\r\n' : UNKNOWN;
    return [reply + (opts.onReal ?? '')];
  };
}

async function verify(s: ScriptedServer, local: string) {
  const engine = testEngine(s.port, { randomLocalPart: () => RANDOM });
  const v = await engine.verify(`${local}@[${s.host}]`, { transcript: true, waitForClose: true });
  await engine.idle();
  return v;
}

function assertOutOfStep(v: Awaited<ReturnType<typeof verify>>): void {
  assert.equal(v.reason, 'temporary_failure', `${v.reason} ${v.rule}: ${v.message}`);
  assert.equal(v.temporary, true);
  assert.match(v.rule, /^local\.(out-of-step|protocol-error)$/);
}

describe('a stray reply line is caught, not read as an answer', () => {
  const cases: [string, string, ScriptOptions['replies']][] = [
    // The example: every unknown user is answered `550 no` then `250 ok`.
    [
      'an unknown user answered "550 no" then "250 ok" (issue example)',
      'nobody',
      { RCPT: (line) => [line.includes('<alice@') ? '250 ok\r\n' : '550 no\r\n250 ok\r\n'] },
    ],
    ['an extra 2xx after MAIL', 'nobody', { MAIL: ['250 2.1.0 Ok\r\n250 2.1.0 Ok\r\n'], RCPT: rcpt({}) }],
    [
      'an extra 2xx after MAIL, real address exists',
      'alice',
      { MAIL: ['250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n'], RCPT: rcpt({}) },
    ],
    ['an extra 2xx after the random RCPT', 'nobody', { RCPT: rcpt({ onRandom: '250 2.1.5 Ok\r\n' }) }],
    ['an extra 2xx after the real RCPT', 'nobody', { RCPT: rcpt({ onReal: '250 2.1.5 Ok\r\n' }) }],
    [
      'an extra 5xx after the real RCPT of a mailbox that exists',
      'alice',
      { RCPT: rcpt({ onReal: UNKNOWN }) },
    ],
    ['an extra 5xx after the random RCPT', 'alice', { RCPT: rcpt({ onRandom: '550 5.7.1 go away\r\n' }) }],
    // Shaped like RSET's own reply: only QUIT's 221 tells the shift apart.
    [
      'an extra "250 2.0.0 Ok" after the random RCPT',
      'alice',
      { RCPT: rcpt({ onRandom: '250 2.0.0 Ok\r\n' }) },
    ],
    ['an extra 4xx after MAIL', 'alice', { MAIL: ['250 2.1.0 Ok\r\n451 4.3.0 hmm\r\n'], RCPT: rcpt({}) }],
    [
      'the extra line in a later segment',
      'nobody',
      { RCPT: (line) => (line.includes(RANDOM) ? [UNKNOWN, { delay: 30 }, '250 2.1.5 Ok\r\n'] : [UNKNOWN]) },
    ],
  ];
  for (const [name, local, replies] of cases) {
    it(`pipelined: ${name}`, async () => {
      const s = await server({ replies });
      const v = await verify(s, local);
      assertOutOfStep(v);
      assert.equal(s.sessions.length, 1);
    });
  }

  const lockstepCases: [string, string, ScriptOptions['replies']][] = [
    [
      'an unknown user answered "550 no" then "250 ok"',
      'nobody',
      {
        EHLO: NO_PIPELINING,
        RCPT: (line) => [line.includes('<alice@') ? '250 ok\r\n' : '550 no\r\n250 ok\r\n'],
      },
    ],
    [
      'an extra 2xx after MAIL',
      'nobody',
      { EHLO: NO_PIPELINING, MAIL: ['250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n'], RCPT: rcpt({}) },
    ],
    ['an extra 5xx after the last RCPT', 'alice', { EHLO: NO_PIPELINING, RCPT: rcpt({ onReal: UNKNOWN }) }],
  ];
  for (const [name, local, replies] of lockstepCases) {
    it(`one command at a time: ${name}`, async () => {
      const s = await server({ replies });
      const v = await verify(s, local);
      assertOutOfStep(v);
    });
  }

  it('tries the next MX after an out-of-step one, and answers from it', async () => {
    const bad = await server({
      host: '127.0.0.31',
      replies: { RCPT: (line) => [line.includes('<alice@') ? '250 ok\r\n' : '550 no\r\n250 ok\r\n'] },
    });
    await server({ host: '127.0.0.32', port: bad.port, replies: { RCPT: rcpt({}) } });
    const resolver = new StaticResolver({
      'shift.test': {
        mx: [
          { exchange: 'a.shift.test', priority: 1 },
          { exchange: 'b.shift.test', priority: 2 },
        ],
      },
      'a.shift.test': { a: ['127.0.0.31'] },
      'b.shift.test': { a: ['127.0.0.32'] },
    });
    const engine = testEngine(bad.port, { resolver, randomLocalPart: () => RANDOM });
    const v = await engine.verify('nobody@shift.test');
    await engine.idle();
    assert.equal(v.reason, 'user_unknown');
    assert.equal(v.mx?.host, 'b.shift.test');
    assert.deepEqual(
      v.attempts.map((a) => a.rule),
      ['local.out-of-step', 'rcpt.bad-mailbox'],
    );
  });
});

describe('servers in step are trusted without an extra round trip', () => {
  it('answers from the one pipelined write (RSET and QUIT in it)', async () => {
    const s = await server({ replies: { RCPT: rcpt({}) } });
    const v = await verify(s, 'alice');
    assert.equal(v.reason, 'accepted');
    assert.equal(s.chunks.filter((c) => c.includes('RCPT')).length, 1);
  });

  it('accepts an RSET reply with another enhanced code (Gmail says 250 2.1.5 Flushed)', async () => {
    const s = await server({ replies: { RCPT: rcpt({}), RSET: ['250 2.1.5 Flushed d2sm1234 - gsmtp\r\n'] } });
    assert.equal((await verify(s, 'alice')).reason, 'accepted');
    assert.equal((await verify(s, 'nobody')).reason, 'user_unknown');
  });

  it("accepts a refused RSET when QUIT's 221 proves the count (Postfix says 530 to RSET before STARTTLS)", async () => {
    const mustTls = ['530 5.7.0 Must issue a STARTTLS command first\r\n'];
    const s = await server({ replies: { MAIL: mustTls, RCPT: mustTls, RSET: mustTls } });
    const v = await verify(s, 'alice');
    assert.equal(v.reason, 'policy_rejected', `${v.rule}: ${v.message}`);
    assert.equal(v.smtp?.stage, 'mail');
  });

  it('accepts a server that closes after RSET instead of answering QUIT', async () => {
    const s = await server({ replies: { RCPT: rcpt({}), QUIT: [CLOSE] } });
    assert.equal((await verify(s, 'nobody')).reason, 'user_unknown');
  });

  it('reads an unknown user one command at a time when the server offers no PIPELINING', async () => {
    const s = await server({ replies: { EHLO: NO_PIPELINING, RCPT: rcpt({}) } });
    assert.equal((await verify(s, 'nobody')).reason, 'user_unknown');
  });
});
