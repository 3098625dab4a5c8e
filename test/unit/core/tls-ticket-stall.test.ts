/**
 * The EHLO after STARTTLS, timed around the server's TLS 1.3 session ticket (ticket-stall.ts):
 * which hosts are remembered as holding their reply behind the ticket, and that a remembered
 * host gets its EHLO only after the ticket. The servers here hold their reply on purpose (a
 * scripted delay far longer than any threshold); the real Postfix case is in
 * test/interop/starttls-tickets.test.ts, and the round trips it saves in bench 2.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { TcpConnector, VerificationEngine, type TranscriptLine } from '../../../src/core/index.js';
import { TicketStalls, heldBehindTicket, ticketWaitMs } from '../../../src/core/smtp/ticket-stall.js';
import { StaticResolver, testEngineOptions } from '../../support/engine.js';
import { scriptedServers, selfSignedCert, type ScriptOptions } from '../../support/scripted-smtp.js';

const server = scriptedServers();

describe('TicketStalls', () => {
  it('remembers a host for ttlMs, then measures it again', () => {
    let now = 1_000;
    const stalls = new TicketStalls(10, 60_000, () => now);
    assert.equal(stalls.stalls('192.0.2.1'), false);
    stalls.remember('192.0.2.1');
    assert.equal(stalls.stalls('192.0.2.1'), true);
    now += 60_000;
    assert.equal(stalls.stalls('192.0.2.1'), true);
    now += 1;
    assert.equal(stalls.stalls('192.0.2.1'), false);
    assert.equal(stalls.size, 0);
  });

  it('forgets a host on request', () => {
    const stalls = new TicketStalls();
    stalls.remember('2001:db8::1');
    stalls.forget('2001:db8::1');
    assert.equal(stalls.stalls('2001:db8::1'), false);
  });

  it('keeps at most maxHosts, dropping the one remembered longest ago', () => {
    const stalls = new TicketStalls(3);
    for (const host of ['a', 'b', 'c']) stalls.remember(host);
    stalls.remember('a'); // seen again: now the newest
    stalls.remember('d');
    assert.equal(stalls.size, 3);
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((h) => stalls.stalls(h)),
      [true, false, true, true],
    );
  });
});

describe('heldBehindTicket', () => {
  const cases: [string, Parameters<typeof heldBehindTicket>[0], boolean][] = [
    ['no ticket at all', { handshakeMs: 50, ticketAt: null, replyAt: 1000 }, false],
    ['ticket after the reply', { handshakeMs: 50, ticketAt: 1001, replyAt: 1000 }, false],
    ['ticket and reply in one flight', { handshakeMs: 50, ticketAt: 999.6, replyAt: 1000 }, false],
    ['reply a round trip plus a delayed ACK later', { handshakeMs: 50, ticketAt: 1000, replyAt: 1093 }, true],
    ['on loopback: a delayed ACK later', { handshakeMs: 2, ticketAt: 1000, replyAt: 1040 }, true],
    [
      'a few ms later on a 50 ms path (not a hold)',
      { handshakeMs: 50, ticketAt: 1000, replyAt: 1008 },
      false,
    ],
    ['seconds later: a slow server, not a hold', { handshakeMs: 50, ticketAt: 1000, replyAt: 4000 }, false],
  ];
  for (const [what, timing, expected] of cases) {
    it(`${expected ? 'held' : 'not held'}: ${what}`, () => {
      assert.equal(heldBehindTicket(timing), expected);
    });
  }

  it('waits for a ticket about two handshakes, never beyond the STARTTLS deadline', () => {
    assert.equal(ticketWaitMs(50, 15_000), 150);
    assert.equal(ticketWaitMs(50, 100), 100);
  });
});

describe('EHLO after STARTTLS against a server that holds its reply behind its ticket', () => {
  let cert: { key: string; cert: string };
  before(() => {
    cert = selfSignedCert();
  });

  /** EHLO after TLS answered `holdMs` late (the ticket has gone out at once); RCPT: alice only. */
  const replies = (holdMs: number): ScriptOptions['replies'] => ({
    EHLO: (_line, session) =>
      session.tls
        ? [{ delay: holdMs }, '250-mx.test\r\n250 PIPELINING\r\n']
        : ['250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n'],
    RCPT: (line) => [/<alice@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'],
  });

  function engineFor(port: number, stalls: TicketStalls): VerificationEngine {
    return new VerificationEngine(testEngineOptions(port), {
      resolver: new StaticResolver({}),
      connector: new TcpConnector(),
      ticketStalls: stalls,
    });
  }

  const lines = (t: TranscriptLine[] | undefined): string[] => (t ?? []).map((l) => `${l.dir} ${l.line}`);
  /** The transcript from the handshake on. */
  const afterTls = (t: TranscriptLine[] | undefined): string[] => {
    const all = lines(t);
    return all.slice(all.findIndex((l) => l.startsWith('* TLS established (TLSv1.3')));
  };

  it('sends EHLO at once the first time, remembers the host, then sends EHLO only after the ticket', async () => {
    const s = await server({ tls: cert, replies: replies(300) });
    const stalls = new TicketStalls();
    const engine = engineFor(s.port, stalls);

    const first = await engine.verify(`alice@[${s.host}]`, { transcript: true, waitForClose: true });
    assert.equal(first.result, 'deliverable');
    const one = afterTls(first.transcript);
    assert.equal(one[1], 'C EHLO verifier.test', 'first session: EHLO right after the handshake');
    assert.ok(one.some((l) => /^\* the reply to EHLO came \d+ ms after the TLS session ticket/.test(l)));
    assert.equal(stalls.stalls(s.host), true);

    const second = await engine.verify(`nobody@[${s.host}]`, { transcript: true, waitForClose: true });
    assert.equal(second.result, 'undeliverable');
    const two = afterTls(second.transcript);
    assert.deepEqual(two.slice(1, 3), [
      '* TLS session ticket in; EHLO now, so that it acknowledges the ticket',
      'C EHLO verifier.test',
    ]);
    assert.equal(stalls.stalls(s.host), true);
    assert.deepEqual(s.sessions[1]?.commands.slice(0, 3), [
      'EHLO verifier.test',
      'STARTTLS',
      'EHLO verifier.test',
    ]);
    await engine.idle();
  });

  it('never waits over TLS 1.2 (no tickets after the handshake), even for a remembered host', async () => {
    const s = await server({ tls: { ...cert, maxVersion: 'TLSv1.2' }, replies: replies(300) });
    const stalls = new TicketStalls();
    stalls.remember(s.host);
    const v = await engineFor(s.port, stalls).verify(`alice@[${s.host}]`, {
      transcript: true,
      waitForClose: true,
    });
    assert.equal(v.result, 'deliverable');
    const all = lines(v.transcript);
    const tls = all.findIndex((l) => l.startsWith('* TLS established (TLSv1.2'));
    assert.ok(tls > 0, all.join('\n'));
    assert.equal(all[tls + 1], 'C EHLO verifier.test');
    assert.ok(!all.some((l) => /session ticket/.test(l)));
  });
});
