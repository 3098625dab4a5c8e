/**
 * The random probe must not cost the answer for the real address (issue 9,
 * item 3). When the session dies (421, reset, close) after the random RCPT was
 * refused and before the real address was answered, the real address is asked
 * alone in a fresh session, within the session limit, and the verdict says
 * that this MX punishes the probe so the next callout can put it last.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CLOSE,
  RESET,
  type ScriptOptions,
  type ScriptedServer,
  type Step,
  scriptedServers,
} from '../../support/scripted-smtp.js';
import { testEngine } from '../../support/engine.js';
import type { EngineOptions, VerifyOptions } from '../../../src/core/verify.js';

const server = scriptedServers();

const RANDOM = 'randomprobe123';
const NO_PIPELINING = ['250-mx.example.test\r\n', '250 ENHANCEDSTATUSCODES\r\n'];

/**
 * A server that ends the session after its first refused recipient, like
 * Postfix with smtpd_hard_error_limit = 1. `ending` is what it does then.
 */
function punishing(ending: Step[], known = /<(alice|bob)@/): ScriptOptions['replies'] {
  return {
    RCPT: (line) =>
      known.test(line)
        ? ['250 2.1.5 Ok\r\n']
        : [
            `550 5.1.1 <${line.slice(9, -1)}>: Recipient address rejected: User unknown in local recipient table\r\n`,
            ...ending,
          ],
  };
}
const POSTFIX_421: Step[] = ['421 4.7.0 mx.example.test Error: too many errors\r\n', CLOSE];

async function verify(
  s: ScriptedServer,
  local: string,
  opts: { overrides?: Partial<EngineOptions>; verify?: VerifyOptions } = {},
) {
  const engine = testEngine(s.port, {
    randomLocalPart: () => RANDOM,
    ...(opts.overrides ? { overrides: opts.overrides } : {}),
  });
  const v = await engine.verify(`${local}@[${s.host}]`, {
    transcript: true,
    waitForClose: true,
    ...opts.verify,
  });
  await engine.idle();
  return v;
}
const rcpts = (s: ScriptedServer, i: number): string[] =>
  (s.sessions[i]?.commands ?? []).filter((c) => c.startsWith('RCPT'));

describe('a server that ends the session after refusing the random probe', () => {
  it('Postfix-like 550 5.1.1 then 421 4.7.0 too many errors: the real address is asked alone (issue example)', async () => {
    const s = await server({ replies: punishing(POSTFIX_421) });
    const v = await verify(s, 'alice');
    assert.equal(v.reason, 'accepted', v.message);
    assert.equal(v.result, 'deliverable');
    assert.equal(v.catchAllProbe, null);
    assert.equal(v.probePunished, true);
    assert.match(v.message, /catch-all untested/);
    assert.equal(s.sessions.length, 2);
    assert.deepEqual(
      rcpts(s, 1),
      ['RCPT TO:<alice@[127.0.0.1]>'],
      'the fresh session asks about the address alone',
    );
  });

  const endings: [string, Step[]][] = [
    ['a reset', [RESET]],
    ['a close without 421', [CLOSE]],
    [
      'a 421 with another text, no enhanced code',
      ['421 Too many invalid recipients, closing connection\r\n', CLOSE],
    ],
    [
      'a 554 then close (Exim-like "too many unknown users")',
      ['554 Too many unknown users, closing\r\n', CLOSE],
    ],
  ];
  for (const [name, ending] of endings) {
    it(`${name} after the refusal: still accepted, from a fresh session`, async () => {
      const s = await server({ replies: punishing(ending) });
      const v = await verify(s, 'alice');
      assert.equal(v.reason, 'accepted', `${v.rule}: ${v.message}`);
      assert.equal(v.probePunished, true);
      assert.equal(s.sessions.length, 2);
    });
  }

  it('an unknown real address at such a server is user_unknown, read one command at a time', async () => {
    const s = await server({ replies: punishing(POSTFIX_421) });
    const v = await verify(s, 'nobody');
    assert.equal(v.reason, 'user_unknown', v.message);
    assert.equal(v.smtp?.code, 550);
    assert.equal(s.sessions.length, 2);
  });

  it('without PIPELINING the probe goes last, so the address is answered in the first session', async () => {
    const s = await server({ replies: { EHLO: NO_PIPELINING, ...punishing(POSTFIX_421) } });
    const v = await verify(s, 'alice');
    assert.equal(v.reason, 'accepted');
    assert.equal(v.catchAllProbe, false, 'the refusal came in step, so the domain is not catch-all');
    assert.equal(s.sessions.length, 1);
    assert.deepEqual(rcpts(s, 0), ['RCPT TO:<alice@[127.0.0.1]>', `RCPT TO:<${RANDOM}@[127.0.0.1]>`]);
  });

  it('with the domain fact (randomProbe: last) the next callout asks the address first, in one session', async () => {
    const s = await server({ replies: punishing(POSTFIX_421) });
    const v = await verify(s, 'alice', { verify: { randomProbe: 'last' } });
    assert.equal(v.reason, 'accepted');
    assert.equal(v.catchAllProbe, false);
    assert.equal(s.sessions.length, 1);
    assert.deepEqual(rcpts(s, 0), ['RCPT TO:<alice@[127.0.0.1]>', `RCPT TO:<${RANDOM}@[127.0.0.1]>`]);
  });

  it('stays within the session limit: with one session allowed, the answer is temporary', async () => {
    const s = await server({ replies: punishing(POSTFIX_421) });
    const v = await verify(s, 'alice', { overrides: { maxSessions: 1 } });
    assert.equal(v.temporary, true, `${v.reason} ${v.rule}`);
    assert.equal(s.sessions.length, 1);
  });

  it('a batch at such a server: every address answered, each unknown one costing a session', async () => {
    const s = await server({ replies: punishing(POSTFIX_421) });
    const engine = testEngine(s.port, { randomLocalPart: () => RANDOM });
    const verdicts = await engine.verifyBatch(
      ['alice', 'nobody', 'bob'].map((l) => `${l}@[${s.host}]`),
      { waitForClose: true },
    );
    await engine.idle();
    assert.deepEqual(
      verdicts.map((v) => v.reason),
      ['accepted', 'user_unknown', 'accepted'],
    );
    assert.ok(verdicts.every((v) => v.probePunished));
    assert.equal(s.sessions.length, 3);
  });

  it('a probe refused without the session dying is not punishment', async () => {
    const s = await server({ replies: punishing([]) });
    const v = await verify(s, 'alice');
    assert.equal(v.reason, 'accepted');
    assert.equal(v.catchAllProbe, false);
    assert.equal(v.probePunished, false);
    assert.equal(s.sessions.length, 1);
  });
});
