/**
 * Byte-exact edge cases against scripted SMTP servers on loopback TCP.
 * Real servers (Postfix, Exim) are exercised in test/interop; these are the
 * behaviours they cannot be made to produce on demand.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  CLOSE,
  RESET,
  STALL,
  selfSignedCert,
  type ScriptOptions,
  type ScriptedServer,
  scriptedServers,
} from '../../support/scripted-smtp.js';
import { StaticResolver, testEngine } from '../../support/engine.js';
import type { EngineOptions } from '../../../src/core/verify.js';

const server = scriptedServers();

const fixedRandom = (): string => 'randomprobe123';
const unknownRandom: ScriptOptions['replies'] = {
  RCPT: (line) => [
    line.includes('randomprobe123')
      ? '550 5.1.1 <randomprobe123@x>: Recipient address rejected: User unknown\r\n'
      : '250 2.1.5 Ok\r\n',
  ],
};

async function verifyAt(
  s: ScriptedServer,
  address = 'alice',
  opts: { probe?: Partial<EngineOptions['probe']>; overrides?: Partial<EngineOptions> } = {},
) {
  const engine = testEngine(s.port, { randomLocalPart: fixedRandom, ...opts });
  const verdict = await engine.verify(`${address}@[${s.host}]`, { transcript: true, waitForClose: true });
  await engine.idle();
  return verdict;
}

describe('probe dialogue', () => {
  it('pipelines MAIL, both RCPTs, RSET and QUIT in one write, never DATA', async () => {
    const s = await server({ replies: unknownRandom });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'accepted');
    assert.equal(v.result, 'deliverable');
    assert.equal(v.rule, 'rcpt.2xx');
    assert.equal(v.catchAllProbe, false);
    const cmds = s.sessions[0]?.commands ?? [];
    assert.deepEqual(cmds, [
      'EHLO verifier.test',
      'MAIL FROM:<>',
      'RCPT TO:<randomprobe123@[127.0.0.1]>',
      'RCPT TO:<alice@[127.0.0.1]>',
      'RSET',
      'QUIT',
    ]);
    assert.ok(
      s.chunks.includes(
        'MAIL FROM:<>\r\nRCPT TO:<randomprobe123@[127.0.0.1]>\r\nRCPT TO:<alice@[127.0.0.1]>\r\nRSET\r\nQUIT\r\n',
      ),
      'one segment',
    );
    assert.ok(!cmds.some((c) => c.startsWith('DATA')));
  });

  it('calls a domain that accepts a random local part catch_all', async () => {
    const s = await server();
    const v = await verifyAt(s);
    assert.equal(v.reason, 'catch_all');
    assert.equal(v.result, 'risky');
    assert.equal(v.catchAllProbe, true);
  });

  it('parses a multiline greeting split into segments, even inside a line', async () => {
    const s = await server({
      greeting: [
        '22',
        { delay: 30 },
        '0-first line\r\n220',
        { delay: 30 },
        '-second\r\n',
        { delay: 30 },
        '220 last\r\n',
      ],
      replies: unknownRandom,
    });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'accepted');
    assert.ok(v.transcript?.some((l) => l.line === '220-second'));
  });

  it('falls back to HELO when EHLO is refused', async () => {
    const s = await server({
      replies: { EHLO: ['502 5.5.2 Error: command not recognized\r\n'], ...unknownRandom },
    });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'accepted');
    assert.deepEqual(s.sessions[0]?.commands.slice(0, 3), [
      'EHLO verifier.test',
      'HELO verifier.test',
      'MAIL FROM:<>',
    ]);
  });

  it('sends one command per write without PIPELINING', async () => {
    const s = await server({ replies: { EHLO: ['250-test\r\n', '250 8BITMIME\r\n'], ...unknownRandom } });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'accepted');
    assert.ok(
      s.chunks.every((c) => c.split('\r\n').filter(Boolean).length === 1),
      `chunks: ${JSON.stringify(s.chunks)}`,
    );
  });

  it('treats a 4xx to a random RCPT and a 2xx to the address as accepted, with an inconclusive probe', async () => {
    const s = await server({
      replies: { RCPT: (line) => [line.includes('randomprobe') ? '451 4.3.0 try later\r\n' : '250 ok\r\n'] },
    });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'accepted');
    assert.equal(v.catchAllProbe, null);
  });
});

describe('STARTTLS', () => {
  let tls: { key: string; cert: string };
  before(() => {
    tls = selfSignedCert();
  });
  const withTls = (): ScriptOptions['replies'] => ({
    EHLO: ['250-test\r\n', '250-PIPELINING\r\n', '250 STARTTLS\r\n'],
    ...unknownRandom,
  });

  it('upgrades when offered and says EHLO again', async () => {
    const s = await server({ tls, replies: withTls() });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'accepted');
    const session = s.sessions[0];
    assert.equal(session?.tls, true);
    assert.deepEqual(session.commands.slice(0, 3), ['EHLO verifier.test', 'STARTTLS', 'EHLO verifier.test']);
  });

  it('refuses to go on in required mode when STARTTLS is not offered', async () => {
    const s = await server({ replies: unknownRandom });
    const v = await verifyAt(s, 'alice', { probe: { starttls: 'required' } });
    assert.equal(v.reason, 'temporary_failure');
    assert.equal(v.rule, 'local.tls-required-not-offered');
    assert.ok(!s.sessions[0]?.commands.some((c) => c.startsWith('MAIL')));
  });

  it('falls back to a plain session when the handshake fails in opportunistic mode', async () => {
    // The 220, then (once our ClientHello is on its way) bytes that are not TLS.
    const s = await server({
      replies: {
        ...withTls(),
        STARTTLS: ['220 go ahead\r\n', { delay: 50 }, 'this is not a TLS record\r\n', CLOSE],
      },
    });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'accepted');
    assert.equal(s.sessions.length, 2);
    assert.ok(!s.sessions[1]?.commands.includes('STARTTLS'));
  });

  it('never reads plaintext injected after the 220 to STARTTLS', async () => {
    const s = await server({
      tls,
      replies: { ...withTls(), STARTTLS: ['220 go ahead\r\n250 injected\r\n', { do: 'starttls' }] },
    });
    const v = await verifyAt(s, 'alice', { probe: { starttls: 'required' } });
    assert.equal(v.reason, 'temporary_failure');
    assert.equal(v.rule, 'local.protocol-error');
    assert.match(v.message, /unsolicited reply 250 injected|after its STARTTLS reply/);
  });
});

describe('deadlines name the phase', () => {
  const quick = {
    timeouts: { connect: 300, greeting: 300, ehlo: 300, starttls: 300, mail: 300, rcpt: 300, quit: 300 },
  };
  const cases: [string, ScriptOptions][] = [
    ['greeting', { greeting: [STALL] }],
    ['ehlo', { replies: { EHLO: [STALL] } }],
    ['mail', { replies: { MAIL: [STALL] } }],
    ['rcpt_random', { replies: { RCPT: [STALL] } }],
    ['rcpt', { replies: { RCPT: (line) => (line.includes('random') ? ['550 5.1.1 no\r\n'] : [STALL]) } }],
  ];
  for (const [phase, script] of cases) {
    it(`stall at ${phase}`, async () => {
      const s = await server(script);
      const v = await verifyAt(s, 'alice', { probe: quick });
      assert.equal(v.reason, 'timeout');
      assert.equal(v.temporary, true);
      assert.equal(v.rule, `local.timeout.${phase}`);
      assert.match(
        v.message,
        new RegExp(`${phase.replace('rcpt_random', 'rcpt_random')} deadline of 300 ms`),
      );
    });
  }

  it('stops at the overall budget', async () => {
    const s = await server({ greeting: [STALL] });
    const v = await verifyAt(s, 'alice', { overrides: { budgetMs: 250 } });
    assert.equal(v.reason, 'timeout');
    assert.equal(v.rule, 'local.budget-exhausted');
    assert.ok(v.durationMs < 2000);
  });
});

describe('a server that breaks the protocol gives no information, temporarily', () => {
  const cases: [string, ScriptOptions][] = [
    ['an endless multiline reply', { greeting: Array.from({ length: 500 }, () => '220-more and more\r\n') }],
    ['an oversized line', { greeting: [`220 ${'A'.repeat(5000)}\r\n`] }],
    ['binary garbage', { greeting: [Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0xfe, 0x0a])] }],
    ['a multiline reply that changes code', { greeting: ['220-a\r\n250 b\r\n'] }],
    [
      'an unsolicited flood of complete replies',
      {
        greeting: ['220 hi\r\n', ...Array.from({ length: 30000 }, () => '250 ok\r\n')],
        replies: { EHLO: [STALL] },
      },
    ],
  ];
  for (const [name, script] of cases) {
    it(name, async () => {
      const s = await server(script);
      const v = await verifyAt(s);
      assert.equal(v.reason, 'temporary_failure', v.message);
      assert.equal(v.temporary, true);
      assert.equal(v.rule, 'local.protocol-error');
    });
  }

  it('a reset in the middle of a reply is a lost connection', async () => {
    const s = await server({ replies: { EHLO: ['250-test\r\n250-PIPEL', { delay: 20 }, RESET] } });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'connection_failed');
    assert.equal(v.rule, 'local.connection-lost');
  });
});

describe('fallback across MX hosts', () => {
  it('moves on after a 4xx greeting and answers from the second MX', async () => {
    const first = await server({ host: '127.0.0.2', greeting: ['421 4.3.2 busy, try later\r\n', CLOSE] });
    const second = await server({ host: '127.0.0.3', port: first.port, replies: unknownRandom });
    const resolver = new StaticResolver({
      'two.test': {
        mx: [
          { exchange: 'mx1.two.test', priority: 10 },
          { exchange: 'mx2.two.test', priority: 20 },
        ],
      },
      'mx1.two.test': { a: ['127.0.0.2'] },
      'mx2.two.test': { a: ['127.0.0.3'] },
    });
    const engine = testEngine(first.port, { resolver, randomLocalPart: fixedRandom });
    const v = await engine.verify('alice@two.test');
    await engine.idle();
    assert.equal(v.reason, 'accepted');
    assert.deepEqual(v.mx, { host: 'mx2.two.test', ip: '127.0.0.3', preference: 20 });
    assert.deepEqual(
      v.attempts.map((a) => a.reason),
      ['temporary_failure', 'accepted'],
    );
    assert.equal(second.sessions.length, 1);
  });

  it('moves on after a refused connection', async () => {
    const live = await server({ host: '127.0.0.5', replies: unknownRandom });
    const resolver = new StaticResolver({
      'dead.test': {
        mx: [
          { exchange: 'a.dead.test', priority: 1 },
          { exchange: 'b.dead.test', priority: 2 },
        ],
      },
      'a.dead.test': { a: ['127.0.0.4'] },
      'b.dead.test': { a: ['127.0.0.5'] },
    });
    const engine = testEngine(live.port, { resolver, randomLocalPart: fixedRandom });
    const v = await engine.verify('alice@dead.test');
    assert.equal(v.reason, 'accepted');
    assert.equal(v.attempts[0]?.rule, 'local.connect-failed');
  });

  it('stops at the first authoritative answer', async () => {
    const first = await server({ host: '127.0.0.6', replies: { RCPT: ['550 5.1.1 User unknown\r\n'] } });
    const second = await server({ host: '127.0.0.7', port: first.port });
    const resolver = new StaticResolver({
      'stop.test': {
        mx: [
          { exchange: 'a.stop.test', priority: 1 },
          { exchange: 'b.stop.test', priority: 2 },
        ],
      },
      'a.stop.test': { a: ['127.0.0.6'] },
      'b.stop.test': { a: ['127.0.0.7'] },
    });
    const v = await testEngine(first.port, { resolver }).verify('alice@stop.test');
    assert.equal(v.reason, 'user_unknown');
    assert.equal(second.sessions.length, 0);
  });
});

describe('safety', () => {
  it('never lets CR/LF reach the socket', async () => {
    const s = await server();
    const v = await testEngine(s.port).verify(`alice\r\nDATA@[${s.host}]`);
    assert.equal(v.reason, 'invalid_syntax');
    assert.equal(s.sessions.length, 0);
  });

  it('refuses loopback unless allowed, sending no packet', async () => {
    const s = await server();
    const v = await testEngine(s.port, { overrides: { allowTargets: [] } }).verify(`alice@[${s.host}]`);
    assert.equal(v.reason, 'unsafe_target');
    assert.equal(v.attempts[0]?.reason, 'unsafe_target');
    assert.equal(s.sessions.length, 0);
  });
});

describe('transaction details', () => {
  it('asks again in a new session when the server takes one recipient per bounce', async () => {
    let rcpts = 0;
    const s = await server({
      replies: {
        RCPT: () => [
          ++rcpts === 2
            ? '452 4.5.3 Error: too many recipients\r\n'
            : rcpts === 1
              ? '550 5.1.1 unknown\r\n'
              : '250 2.1.5 Ok\r\n',
        ],
      },
    });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'accepted');
    assert.equal(v.catchAllProbe, false, 'the probe answered in the first session still counts');
    assert.deepEqual(s.sessions[1]?.commands, [
      'EHLO verifier.test',
      'MAIL FROM:<>',
      'RCPT TO:<alice@[127.0.0.1]>',
      'RSET',
      'QUIT',
    ]);
  });

  it('moves on after a 421 at RCPT', async () => {
    const s = await server({ replies: { RCPT: ['421 4.7.0 closing\r\n', CLOSE] } });
    const v = await verifyAt(s);
    assert.equal(v.reason, 'temporary_failure');
    assert.equal(v.rule, 'any.421');
    assert.equal(v.attempts.length, 1);
  });

  it('bounds the octets accepted over a whole session', async () => {
    const s = await server({
      replies: {
        EHLO: [
          ...Array.from({ length: 50 }, (_, i) => `250-EXTENSION${i} ${'x'.repeat(100)}\r\n`),
          '250 PIPELINING\r\n',
        ],
      },
    });
    const v = await verifyAt(s, 'alice', {
      probe: { limits: { maxLineLength: 2048, maxLines: 100, maxReplyBytes: 32768, maxSessionBytes: 4000 } },
    });
    assert.equal(v.reason, 'temporary_failure');
    assert.match(v.message, /more than 4000 octets in one session/);
  });

  it('needs SMTPUTF8 for a UTF-8 local part', async () => {
    const s = await server();
    const v = await verifyAt(s, 'jörg');
    assert.equal(v.reason, 'protocol_error');
    assert.equal(v.rule, 'local.smtputf8-not-offered');
  });

  it('sends SMTPUTF8 on MAIL when the server offers it', async () => {
    const s = await server({
      replies: { EHLO: ['250-test\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n'], ...unknownRandom },
    });
    const v = await verifyAt(s, 'jörg');
    assert.equal(v.reason, 'accepted');
    assert.ok(s.sessions[0]?.commands.includes('MAIL FROM:<> SMTPUTF8'));
  });

  it('uses VRFY when enabled and it answers', async () => {
    const s = await server({
      replies: {
        VRFY: (line) => [line.includes('alice') ? '550 5.1.1 <alice>: no such user\r\n' : '252 maybe\r\n'],
      },
    });
    const v = await verifyAt(s, 'alice', { probe: { useVrfy: true } });
    assert.equal(v.reason, 'user_unknown');
    assert.equal(v.rule, 'vrfy.unknown');
    assert.ok(s.sessions[0]?.commands.includes('VRFY alice@[127.0.0.1]'), 'VRFY was sent');
    assert.ok(!s.sessions[0]?.commands.some((c) => c.startsWith('MAIL')));
  });

  // The random VRFY is read as the random RCPT is: only an explicit denial says "not catch-all".
  const randomVrfy: [string, string, string, boolean | null][] = [
    ['an inconclusive 252', '252 2.0.0 Cannot VRFY user, but will accept message\r\n', 'accepted', null],
    ['a 4xx', '450 4.7.1 try again later\r\n', 'accepted', null],
    ['a refusal of VRFY itself', '502 5.5.1 VRFY command is disabled\r\n', 'accepted', null],
    ['an explicit denial', '550 5.1.1 <randomprobe123@x>: no such user\r\n', 'accepted', false],
    ['a confirmation', '250 2.1.5 <randomprobe123@x>\r\n', 'catch_all', true],
  ];
  for (const [name, reply, reason, catchAll] of randomVrfy) {
    it(`reads ${name} to the random VRFY as ${String(catchAll)}`, async () => {
      const s = await server({
        replies: { VRFY: (line) => [line.includes('randomprobe123') ? reply : '250 2.1.5 <alice@x>\r\n'] },
      });
      const v = await verifyAt(s, 'alice', { probe: { useVrfy: true } });
      assert.equal(v.reason, reason);
      assert.equal(v.catchAllProbe, catchAll);
      assert.deepEqual(
        s.sessions[0]?.commands.filter((c) => c.startsWith('VRFY')),
        ['VRFY alice@[127.0.0.1]', 'VRFY randomprobe123@[127.0.0.1]'],
      );
    });
  }

  it('falls back to RCPT when VRFY is non-committal', async () => {
    const s = await server({ replies: unknownRandom });
    const v = await verifyAt(s, 'alice', { probe: { useVrfy: true } });
    assert.equal(v.reason, 'accepted');
    assert.ok(s.sessions[0]?.commands.includes('VRFY alice@[127.0.0.1]'), 'VRFY was sent');
    assert.ok(s.sessions[0]?.commands.includes('MAIL FROM:<>'));
  });

  it('sends the configured sender and HELO name', async () => {
    const s = await server({ replies: unknownRandom });
    await verifyAt(s, 'alice', {
      probe: { sender: 'postmaster@verifier.test', heloName: 'mx.verifier.test' },
    });
    assert.deepEqual(s.sessions[0]?.commands.slice(0, 2), [
      'EHLO mx.verifier.test',
      'MAIL FROM:<postmaster@verifier.test>',
    ]);
  });
});
