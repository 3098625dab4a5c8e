/**
 * verifyBatch: several addresses of one domain share one MX walk and one SMTP
 * session per attempt (one catch-all probe, then each address's RCPT), within
 * max_rcpt_per_session, with fallbacks to fewer per session. Scripted loopback servers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  RESET,
  type ScriptedServer,
  type SessionRecord,
  scriptedServers,
} from '../../support/scripted-smtp.js';
import { StaticResolver, testEngine } from '../../support/engine.js';
import type { EngineOptions } from '../../../src/core/verify.js';

const server = scriptedServers();

const RANDOM = 'randomprobe123';
/** Known mailboxes exist; the random probe and every other local part are unknown. */
const KNOWN = /<(alice|bob|carol|dave|erin|frank|grace|heidi|ivan)@/;
function rcptText(line: string): string {
  return KNOWN.test(line)
    ? '250 2.1.5 Ok\r\n'
    : '550 5.1.1 <x>: Recipient address rejected: User unknown in local recipient table\r\n';
}
const rcptReply = (line: string): string[] => [rcptText(line)];
const rcpts = (session: SessionRecord | undefined): string[] =>
  (session?.commands ?? []).filter((c) => c.startsWith('RCPT'));

function engineFor(s: ScriptedServer, overrides: Partial<EngineOptions> = {}) {
  return testEngine(s.port, { randomLocalPart: () => RANDOM, overrides });
}
const at = (s: ScriptedServer, local: string): string => `${local}@[${s.host}]`;

describe('verifyBatch', () => {
  it('asks about several addresses in one session: one probe, then each RCPT, verdicts in order', async () => {
    const s = await server({ replies: { RCPT: rcptReply } });
    const engine = engineFor(s);
    const verdicts = await engine.verifyBatch([at(s, 'alice'), at(s, 'nobody'), at(s, 'bob')], {
      waitForClose: true,
    });
    assert.deepEqual(
      verdicts.map((v) => [v.address, v.reason]),
      [
        ['alice@[127.0.0.1]', 'accepted'],
        ['nobody@[127.0.0.1]', 'user_unknown'],
        ['bob@[127.0.0.1]', 'accepted'],
      ],
    );
    assert.equal(s.sessions.length, 1);
    assert.deepEqual(s.sessions[0]?.commands, [
      'EHLO verifier.test',
      'MAIL FROM:<>',
      `RCPT TO:<${RANDOM}@[127.0.0.1]>`,
      'RCPT TO:<alice@[127.0.0.1]>',
      'RCPT TO:<nobody@[127.0.0.1]>',
      'RCPT TO:<bob@[127.0.0.1]>',
      'RSET',
      'QUIT',
    ]);
    assert.ok(verdicts.every((v) => v.catchAllProbe === false));
    await engine.idle();
  });

  it('never sends more RCPTs in a session than max_rcpt_per_session, and probes only once', async () => {
    const s = await server({ replies: { RCPT: rcptReply } });
    const names = ['alice', 'bob', 'carol', 'x1', 'dave', 'x2', 'erin'];
    const engine = engineFor(s, { maxRcptPerSession: 3 });
    const verdicts = await engine.verifyBatch(
      names.map((n) => at(s, n)),
      { waitForClose: true },
    );
    assert.deepEqual(
      verdicts.map((v) => v.reason),
      names.map((n) => (n.startsWith('x') ? 'user_unknown' : 'accepted')),
    );
    assert.ok(
      s.sessions.every((session) => rcpts(session).length <= 3),
      JSON.stringify(s.sessions),
    );
    assert.equal(s.sessions.flatMap(rcpts).filter((c) => c.includes(RANDOM)).length, 1);
    assert.equal(s.sessions.length, 3, 'random + 2, then 3, then 2');
    await engine.idle();
  });

  it('falls back to fewer recipients per transaction after 452 4.5.3 too many recipients', async () => {
    // A server that takes two RCPTs per transaction.
    const s = await server({
      replies: {
        RCPT: (line, session) => {
          const sinceMail =
            session.commands.length - 1 - session.commands.findLastIndex((c) => c.startsWith('MAIL'));
          return [sinceMail > 2 ? '452 4.5.3 Error: too many recipients\r\n' : rcptText(line)];
        },
      },
    });
    const engine = engineFor(s);
    const names = ['alice', 'x1', 'bob', 'carol', 'x2'];
    const verdicts = await engine.verifyBatch(
      names.map((n) => at(s, n)),
      { waitForClose: true },
    );
    assert.deepEqual(
      verdicts.map((v) => v.reason),
      ['accepted', 'user_unknown', 'accepted', 'accepted', 'user_unknown'],
    );
    assert.equal(s.sessions.length, 2);
    // The second session: transactions of two, all in one write, proven by RSETs and QUIT.
    assert.deepEqual(s.sessions[1]?.commands.slice(1), [
      'MAIL FROM:<>',
      'RCPT TO:<x1@[127.0.0.1]>',
      'RCPT TO:<bob@[127.0.0.1]>',
      'RSET',
      'MAIL FROM:<>',
      'RCPT TO:<carol@[127.0.0.1]>',
      'RCPT TO:<x2@[127.0.0.1]>',
      'RSET',
      'QUIT',
    ]);
    await engine.idle();
  });

  it('calls no address deliverable while the random probe is owed: a catch-all without PIPELINING that refuses it as one recipient too many (452 4.5.3)', async () => {
    // Without PIPELINING the random probe goes last, so a per-transaction limit lands on it.
    for (const limit of [1, 3, 7]) {
      const s = await server({
        replies: {
          EHLO: ['250-test.example\r\n', '250 8BITMIME\r\n'],
          RCPT: (_line, session) => {
            const sinceMail =
              session.commands.length - 1 - session.commands.findLastIndex((c) => c.startsWith('MAIL'));
            // A catch-all: every local part is taken, within the limit.
            return [sinceMail > limit ? '452 4.5.3 Error: too many recipients\r\n' : '250 2.1.5 Ok\r\n'];
          },
        },
      });
      const engine = engineFor(s);
      const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'];
      const verdicts = await engine.verifyBatch(
        names.map((n) => at(s, n)),
        { waitForClose: true },
      );
      assert.deepEqual(
        verdicts.map((v) => `${v.reason}/${String(v.catchAllProbe)}`),
        names.map(() => 'catch_all/true'),
        `limit ${limit}: ${JSON.stringify(s.sessions.map((x) => x.commands))}`,
      );
      assert.ok(s.sessions.every((x) => rcpts(x).length <= 8));
      await engine.idle();
    }
  });

  it('asks the rest again, one command at a time, when the session is lost mid-batch', async () => {
    // The first session is reset after the third RCPT arrives; later sessions behave.
    const s = await server({
      replies: {
        RCPT: (line, session) => {
          const isFirst = s.sessions[0] === session;
          return isFirst && rcpts(session).length === 3 ? [RESET] : rcptReply(line);
        },
      },
    });
    const engine = engineFor(s);
    const names = ['alice', 'x1', 'bob', 'carol'];
    const verdicts = await engine.verifyBatch(
      names.map((n) => at(s, n)),
      { waitForClose: true },
    );
    assert.deepEqual(
      verdicts.map((v) => v.reason),
      ['accepted', 'user_unknown', 'accepted', 'accepted'],
    );
    assert.equal(s.sessions.length, 2);
    const second = s.sessions[1];
    assert.ok(
      s.chunks.some((c) => c === 'RCPT TO:<alice@[127.0.0.1]>\r\n'),
      'the second session goes one command per write',
    );
    // The random probe was refused before the session died: it is not asked again.
    assert.ok(!rcpts(second).some((c) => c.includes(RANDOM)));
    assert.ok(verdicts.every((v) => v.probePunished));
    await engine.idle();
  });

  it('verifies each domain of a mixed batch on its own, and answers bad syntax without a callout', async () => {
    const a = await server({ host: '127.0.0.21', replies: { RCPT: rcptReply } });
    const b = await server({ host: '127.0.0.22', port: a.port, replies: { RCPT: rcptReply } });
    const resolver = new StaticResolver({
      'one.test': { mx: [{ exchange: 'mx.one.test', priority: 10 }] },
      'mx.one.test': { a: ['127.0.0.21'] },
      'two.test': { mx: [{ exchange: 'mx.two.test', priority: 10 }] },
      'mx.two.test': { a: ['127.0.0.22'] },
    });
    const engine = testEngine(a.port, { resolver, randomLocalPart: () => RANDOM });
    const verdicts = await engine.verifyBatch([
      'alice@one.test',
      'bad@one..test', // an empty label: Postfix refuses it too (docs/verdicts.md)
      'x@two.test',
      'bob@one.test',
    ]);
    assert.deepEqual(
      verdicts.map((v) => v.reason),
      ['accepted', 'invalid_syntax', 'user_unknown', 'accepted'],
    );
    assert.equal(a.sessions.length, 1);
    assert.equal(b.sessions.length, 1);
    assert.equal(rcpts(a.sessions[0]).length, 3);
    await engine.idle();
  });

  it('verify() is a batch of one', async () => {
    const s = await server({ replies: { RCPT: rcptReply } });
    const engine = engineFor(s);
    const [batch] = await engine.verifyBatch([at(s, 'alice')], { waitForClose: true });
    const single = await engine.verify(at(s, 'alice'), { waitForClose: true });
    assert.equal(single.reason, batch?.reason);
    assert.deepEqual(s.sessions[0]?.commands, s.sessions[1]?.commands);
    assert.equal(engine.addressesPerSession, 7);
    await engine.idle();
  });
});
