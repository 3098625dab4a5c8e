/**
 * A broken server gives no information, temporarily (issue 9, item 4): a
 * server that breaks the protocol is treated like an unreachable one, the next
 * MX is tried, and if none answers cleanly the verdict is temporary. The bounds
 * on bytes and lines stay, but an EHLO reply listing thousands of extensions is
 * cut, not fatal. Scripted loopback servers, byte for byte.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STALL, type ScriptOptions, scriptedServers } from '../../support/scripted-smtp.js';
import { StaticResolver, testEngine } from '../../support/engine.js';

const server = scriptedServers();

const RANDOM = 'randomprobe123';
const KNOWN: ScriptOptions['replies'] = {
  RCPT: (line) => [line.includes('<alice@') ? '250 2.1.5 Ok\r\n' : '550 5.1.1 <x>: User unknown\r\n'],
};
const quick = {
  timeouts: { connect: 1000, greeting: 1000, ehlo: 1000, starttls: 1000, mail: 1000, rcpt: 1000, quit: 500 },
};

/** The ways a server breaks the protocol, each at the stage named. */
const BROKEN: [string, ScriptOptions][] = [
  ['an oversized greeting line', { greeting: [`220 ${'A'.repeat(5000)}\r\n`] }],
  [
    'an endless multiline greeting',
    { greeting: Array.from({ length: 3000 }, () => '220-more and more\r\n') },
  ],
  ['a greeting line without CRLF, past the line limit', { greeting: ['220 ' + 'x'.repeat(3000), STALL] }],
  [
    'binary garbage instead of a greeting',
    { greeting: [Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0xfe, 0x0a])] },
  ],
  ['an HTTP server on port 25', { greeting: ['HTTP/1.1 400 Bad Request\r\n\r\n'] }],
  ['a multiline reply that changes code', { greeting: ['220-a\r\n250 b\r\n'] }],
  [
    'an RCPT reply that never ends',
    { replies: { RCPT: Array.from({ length: 3000 }, () => '250-still going\r\n') } },
  ],
  [
    'an RCPT reply line without CRLF, past the limit',
    { replies: { RCPT: ['550 ' + 'y'.repeat(3000), STALL] } },
  ],
  ['garbage in reply to MAIL', { replies: { MAIL: ['\u0000\u0001\u0002 what\r\n'] } }],
  [
    'an EHLO reply larger than the session bound',
    { replies: { EHLO: Array.from({ length: 20000 }, (_, i) => `250-X${i} ${'z'.repeat(20)}\r\n`) } },
  ],
];

describe('a server that breaks the protocol', () => {
  for (const [name, script] of BROKEN) {
    it(`${name}: temporary, never a verdict about the address`, async () => {
      const s = await server(script);
      const engine = testEngine(s.port, { randomLocalPart: () => RANDOM, probe: quick });
      const v = await engine.verify(`alice@[${s.host}]`, { transcript: true, waitForClose: true });
      await engine.idle();
      assert.equal(v.temporary, true, `${v.reason} ${v.rule}: ${v.message}`);
      assert.equal(v.result, 'unknown');
      assert.equal(v.reason, 'temporary_failure');
      assert.equal(v.rule, 'local.protocol-error');
      // Nothing the server sent reaches the transcript raw.
      assert.ok(!(v.transcript ?? []).some((l) => /[\x00-\x08\x0b-\x1f\x7f]/.test(l.line)));
    });
  }

  for (const [name, script] of BROKEN.filter((_, i) => i % 3 === 0)) {
    it(`${name} at the first MX: the second MX answers`, async () => {
      const bad = await server({ host: '127.0.0.41', ...script });
      const good = await server({ host: '127.0.0.42', port: bad.port, replies: KNOWN });
      const resolver = new StaticResolver({
        'two.test': {
          mx: [
            { exchange: 'bad.two.test', priority: 10 },
            { exchange: 'good.two.test', priority: 20 },
          ],
        },
        'bad.two.test': { a: ['127.0.0.41'] },
        'good.two.test': { a: ['127.0.0.42'] },
      });
      // Four servers share these two addresses in turn: each test gets fresh ones by port.
      const engine = testEngine(bad.port, { resolver, randomLocalPart: () => RANDOM, probe: quick });
      const v = await engine.verify('alice@two.test');
      await engine.idle();
      assert.equal(v.reason, 'accepted', `${v.rule}: ${v.message}`);
      assert.equal(v.mx?.host, 'good.two.test');
      assert.equal(v.attempts[0]?.rule, 'local.protocol-error');
      assert.equal(good.sessions.length, 1);
    });
  }
});

describe('an EHLO reply with thousands of extension lines is cut, not fatal', () => {
  const many = (n: number, first: string[]): string[] => [
    '250-mx.example.test\r\n',
    ...first,
    ...Array.from({ length: n }, (_, i) => `250-XEXT${i}\r\n`),
    '250 SMTPUTF8\r\n',
  ];
  const cases: [string, string[]][] = [
    ['5000 lines, PIPELINING among the first', many(5000, ['250-PIPELINING\r\n'])],
    [
      '2000 lines of 100 octets',
      many(
        0,
        Array.from({ length: 2000 }, (_, i) => `250-X${i} ${'v'.repeat(95)}\r\n`),
      ),
    ],
    ['150 lines, just over the line limit', many(150, ['250-PIPELINING\r\n', '250-ENHANCEDSTATUSCODES\r\n'])],
  ];
  for (const [name, ehlo] of cases) {
    it(name, async () => {
      const s = await server({ replies: { EHLO: ehlo, ...KNOWN } });
      const engine = testEngine(s.port, { randomLocalPart: () => RANDOM });
      const v = await engine.verify(`alice@[${s.host}]`, { transcript: true, waitForClose: true });
      await engine.idle();
      assert.equal(v.reason, 'accepted', `${v.rule}: ${v.message}`);
      assert.ok(v.transcript?.some((l) => /more reply lines read and not kept/.test(l.line)));
    });
  }
});
