/**
 * Every path through the dialogue settles the verification and releases its
 * socket and its abort listener (issue 9 item 7, issue 10 "a fault inside the
 * SMTP dialogue leaks the socket and its abort listener"): a failed TLS
 * handshake after `220 Ready to start TLS`, a hang-up at any stage, a stall, a
 * broken server, the caller cancelling, and a fault in cbv's own code.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import {
  CLOSE,
  RESET,
  STALL,
  type ScriptOptions,
  type ScriptedServer,
  scriptedServers,
} from '../../support/scripted-smtp.js';
import { testEngineOptions, StaticResolver } from '../../support/engine.js';
import { TcpConnector, VerificationEngine, type Connector } from '../../../src/core/index.js';
import { parseMailbox } from '../../../src/core/address.js';
import { Probe } from '../../../src/core/smtp/probe.js';
import type { ConnectRequest } from '../../../src/core/smtp/connector.js';

const server = scriptedServers();

/** A real TCP connector that remembers every socket it hands out (and can make writes fail). */
class RecordingConnector implements Connector {
  readonly sockets: Socket[] = [];
  constructor(private readonly faultyWrites = false) {}
  async connect(request: ConnectRequest): Promise<Socket> {
    const socket = await new TcpConnector().connect(request);
    this.sockets.push(socket);
    if (this.faultyWrites) {
      // The socket seam misbehaving: the dialogue meets an error that is no ProbeError.
      socket.write = () => {
        throw new TypeError('write exploded');
      };
    }
    return socket;
  }
}

const TLS_EHLO = ['250-mx.test\r\n', '250-PIPELINING\r\n', '250 STARTTLS\r\n'];
const quick = { connect: 800, greeting: 800, ehlo: 800, starttls: 800, mail: 800, rcpt: 800, quit: 400 };
const PATHS: [string, ScriptOptions][] = [
  ['a clean session', {}],
  [
    '220 Ready to start TLS, then close',
    { replies: { EHLO: TLS_EHLO, STARTTLS: ['220 2.0.0 Ready to start TLS\r\n', CLOSE] } },
  ],
  [
    '220 Ready to start TLS, then reset',
    { replies: { EHLO: TLS_EHLO, STARTTLS: ['220 2.0.0 Ready\r\n', RESET] } },
  ],
  [
    '220 Ready to start TLS, then silence',
    { replies: { EHLO: TLS_EHLO, STARTTLS: ['220 2.0.0 Ready\r\n', STALL] } },
  ],
  ['close instead of a greeting', { greeting: [CLOSE] }],
  ['reset after EHLO', { replies: { EHLO: [RESET] } }],
  ['close after MAIL', { replies: { MAIL: [CLOSE] } }],
  ['reset at RCPT', { replies: { RCPT: [RESET] } }],
  ['a stall at RCPT', { replies: { RCPT: [STALL] } }],
  ['a stall at QUIT', { replies: { RSET: [STALL], QUIT: [STALL] } }],
  ['binary garbage', { greeting: [Buffer.from([0xff, 0x00, 0x0a])] }],
  ['an extra reply line', { replies: { RCPT: ['550 no\r\n250 ok\r\n'] } }],
  ['421 at MAIL', { replies: { MAIL: ['421 4.3.2 shutting down\r\n', CLOSE] } }],
];

async function session(s: ScriptedServer, connector: Connector, signal: AbortSignal) {
  const options = testEngineOptions(s.port).probe;
  const probe = new Probe(connector, { ...options, timeouts: quick });
  const parsed = parseMailbox(`alice@[${s.host}]`);
  if (!parsed.ok) throw new Error(parsed.error);
  const outcome = await probe.session({
    target: { host: s.host, ip: s.host, preference: 0 },
    domain: parsed.mailbox.domain,
    mailboxes: [parsed.mailbox],
    probe: true,
    knownCatchAll: null,
    lockstep: false,
    perTransaction: null,
    randomLocalPart: 'randomprobe123',
    signal,
    startedAt: Date.now(),
    budgetMs: 10_000,
    plainOnly: false,
  });
  await outcome.closed;
  return outcome;
}

describe('every session releases its socket and abort listener', () => {
  for (const [name, script] of PATHS) {
    it(name, async () => {
      const s = await server(script);
      const connector = new RecordingConnector();
      const controller = new AbortController();
      await session(s, connector, controller.signal);
      assert.equal(connector.sockets.length, 1);
      assert.ok(
        connector.sockets.every((socket) => socket.destroyed),
        'socket destroyed',
      );
      assert.equal(getEventListeners(controller.signal, 'abort').length, 0, 'abort listener removed');
    });
  }

  it('the caller cancelling mid-session', async () => {
    const s = await server({ replies: { RCPT: [STALL] } });
    const connector = new RecordingConnector();
    const controller = new AbortController();
    const pending = session(s, connector, controller.signal);
    setTimeout(() => controller.abort(), 100);
    const outcome = await pending;
    assert.equal(outcome.failure?.rule, 'local.aborted');
    assert.ok(connector.sockets.every((socket) => socket.destroyed));
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });

  it('a fault in the dialogue that is no ProbeError: a temporary verdict, the socket released', async () => {
    const s = await server();
    const connector = new RecordingConnector(true);
    const controller = new AbortController();
    const outcome = await session(s, connector, controller.signal);
    assert.equal(outcome.failure?.reason, 'temporary_failure');
    assert.equal(outcome.failure.rule, 'local.internal-error');
    assert.ok(connector.sockets.every((socket) => socket.destroyed));
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });
});

describe('a transcript is kept only when asked for', () => {
  it('a session records its transcript by default and none with transcript: false', async () => {
    const s = await server();
    const options = testEngineOptions(s.port).probe;
    const probe = new Probe(new TcpConnector(), { ...options, timeouts: quick });
    const parsed = parseMailbox(`alice@[${s.host}]`);
    if (!parsed.ok) throw new Error(parsed.error);
    const request = {
      target: { host: s.host, ip: s.host, preference: 0 },
      domain: parsed.mailbox.domain,
      mailboxes: [parsed.mailbox],
      probe: true,
      knownCatchAll: null,
      lockstep: false,
      perTransaction: null,
      randomLocalPart: 'randomprobe123',
      signal: new AbortController().signal,
      startedAt: Date.now(),
      budgetMs: 10_000,
      plainOnly: false,
    };
    const kept = await probe.session(request);
    const notKept = await probe.session({ ...request, transcript: false });
    await Promise.all([kept.closed, notKept.closed]);
    assert.ok(kept.transcript.some((l) => l.dir === 'C' && l.line === `RCPT TO:<alice@[${s.host}]>`));
    assert.deepEqual(notKept.transcript, []);
    assert.deepEqual(
      notKept.answers.map((a) => a?.reason),
      kept.answers.map((a) => a?.reason),
    );
  });

  it('the engine gives the same verdict with and without the transcript, and the transcript only when asked', async () => {
    const s = await server({
      replies: { RCPT: ['550 5.1.1 <alice@x>: Recipient address rejected: User unknown\r\n'] },
    });
    const engine = new VerificationEngine(testEngineOptions(s.port), {
      resolver: new StaticResolver({}),
      connector: new TcpConnector(),
    });
    const plain = await engine.verify(`alice@[${s.host}]`, { waitForClose: true });
    const traced = await engine.verify(`alice@[${s.host}]`, { waitForClose: true, transcript: true });
    assert.equal(plain.transcript, undefined);
    assert.ok((traced.transcript ?? []).some((l) => l.dir === 'C' && l.line === 'QUIT'));
    const { transcript: _t, durationMs: _d1, ...a } = traced;
    const { durationMs: _d2, ...b } = plain;
    assert.deepEqual(b, a);
  });
});

describe('every verification settles in a verdict', () => {
  it('a fault in the dialogue: the engine answers temporary_failure, never throws, never 5xx', async () => {
    const s = await server();
    const engine = new VerificationEngine(testEngineOptions(s.port), {
      resolver: new StaticResolver({}),
      connector: new RecordingConnector(true),
    });
    const v = await engine.verify(`alice@[${s.host}]`);
    assert.equal(v.reason, 'temporary_failure');
    assert.equal(v.temporary, true);
    assert.equal(v.rule, 'local.internal-error');
  });

  it('a connect gate that throws: a temporary verdict for every address', async () => {
    const s = await server();
    const engine = new VerificationEngine(testEngineOptions(s.port), {
      resolver: new StaticResolver({}),
      connector: new TcpConnector(),
      gate: { acquire: () => Promise.reject(new Error('limits exploded')) },
    });
    const verdicts = await engine.verifyBatch([`alice@[${s.host}]`, `bob@[${s.host}]`]);
    assert.deepEqual(
      verdicts.map((v) => [v.reason, v.rule]),
      [
        ['temporary_failure', 'local.internal-error'],
        ['temporary_failure', 'local.internal-error'],
      ],
    );
    assert.equal(s.sessions.length, 0);
  });

  for (const [name, script] of PATHS) {
    it(`${name}: the caller's signal is let go once the verdict and RSET/QUIT are over`, async () => {
      const s = await server(script);
      const engine = new VerificationEngine(
        { ...testEngineOptions(s.port), probe: { ...testEngineOptions(s.port).probe, timeouts: quick } },
        { resolver: new StaticResolver({}), connector: new TcpConnector() },
      );
      const controller = new AbortController();
      const v = await engine.verify(`alice@[${s.host}]`, { signal: controller.signal });
      assert.ok(v.reason.length > 0);
      await engine.idle();
      assert.equal(getEventListeners(controller.signal, 'abort').length, 0, 'abort listener removed');
    });

    it(`${name}: waitForClose resolves`, async () => {
      const s = await server(script);
      const engine = new VerificationEngine(
        { ...testEngineOptions(s.port), probe: { ...testEngineOptions(s.port).probe, timeouts: quick } },
        { resolver: new StaticResolver({}), connector: new TcpConnector() },
      );
      const v = await engine.verify(`alice@[${s.host}]`, { waitForClose: true, transcript: true });
      assert.ok(v.reason.length > 0);
      await engine.idle();
    });
  }
});
