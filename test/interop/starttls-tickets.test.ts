/**
 * Verifications over STARTTLS (TLS 1.3) with a real Postfix (Debian's, OpenSSL), and the EHLO
 * after the handshake timed around the server's session ticket (src/core/smtp/ticket-stall.ts):
 *  - Postfix sends one NewSessionTicket right after the handshake; a host remembered as holding
 *    its reply behind it gets the EHLO once that ticket is in, and the verdicts are unchanged;
 *  - Exim (Debian's, GnuTLS) sends no ticket unless tls_resumption_hosts says so: a remembered
 *    host then gets its EHLO after a bounded wait, and is forgotten.
 * Whether a first session detects the hold depends on the kernel's delayed ACK, so it is measured
 * in bench 2 (bash bench/run.sh rtt), not asserted here; tests/unit/core/tls-ticket-stall.test.ts
 * covers the detection with a server that holds its reply on purpose.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TcpConnector, TicketStalls, VerificationEngine, type TranscriptLine } from '../../src/core/index.js';
import { StaticResolver, testEngineOptions } from '../support/engine.js';
import {
  freePort,
  startExim,
  startPostfix,
  type Exim,
  type PostfixDirs,
  type PostfixInstance,
} from '../support/testbed/index.js';
import { selfSignedCert } from '../support/testbed/tls.js';

const IP = { tickets: '127.0.10.1', noTickets: '127.0.10.2' };
const DOMAIN = { [IP.tickets]: 'tickets.tls.test', [IP.noTickets]: 'notickets.tls.test' };

let postfix: PostfixInstance;
let exim: Exim;
let port: number;

function mainCf(dirs: PostfixDirs): string {
  return `
myhostname = mx.tls.test
mydestination = static:all
local_recipient_maps = texthash:${dirs.configDir}/local_users
smtpd_relay_restrictions = reject_unauth_destination
smtpd_tls_security_level = may
smtpd_tls_chain_files = ${dirs.configDir}/key.pem, ${dirs.configDir}/cert.pem
`;
}

before(async () => {
  port = await freePort(Object.values(IP));
  const pem = await selfSignedCert('mx.tls.test');
  exim = await startExim({ ip: IP.noTickets, port, users: ['alice'], tls: pem });
  postfix = await startPostfix({
    name: 'postfix-starttls',
    mainCf,
    masterCf: [`${IP.tickets}:${port} inet n - n - - smtpd`].join('\n'),
    files: { local_users: 'alice alice\n', 'key.pem': pem.key, 'cert.pem': pem.cert },
  });
});
after(async () => {
  await postfix.stop();
  await exim.stop();
});

function engineFor(stalls: TicketStalls): VerificationEngine {
  const zone: ConstructorParameters<typeof StaticResolver>[0] = {};
  for (const [ip, domain] of Object.entries(DOMAIN)) {
    zone[domain] = { mx: [{ exchange: `mx.${domain}`, priority: 10 }] };
    zone[`mx.${domain}`] = { a: [ip] };
  }
  return new VerificationEngine(testEngineOptions(port, { dnsTimeoutMs: 3000 }, {}), {
    resolver: new StaticResolver(zone),
    connector: new TcpConnector(),
    ticketStalls: stalls,
  });
}

/** The transcript from the TLS handshake on, as "dir line". */
function afterHandshake(t: TranscriptLine[] | undefined): string[] {
  const all = (t ?? []).map((l) => `${l.dir} ${l.line}`);
  const at = all.findIndex((l) => l.startsWith('* TLS established ('));
  assert.ok(at > 0, `no TLS handshake in:\n${all.join('\n')}`);
  return all.slice(at);
}

describe('STARTTLS with a real Postfix and Exim', { timeout: 60_000 }, () => {
  it('verifies over TLS 1.3 and says EHLO again right after the handshake', async () => {
    for (const [local, result] of [
      ['alice', 'deliverable'],
      ['nobody', 'undeliverable'],
    ] as const) {
      // A first session to the host (a fresh engine knows nothing of its tickets).
      const engine = engineFor(new TicketStalls());
      const v = await engine.verify(`${local}@${DOMAIN[IP.tickets]}`, {
        transcript: true,
        waitForClose: true,
      });
      assert.equal(v.result, result, `${local}: ${v.message}`);
      const lines = afterHandshake(v.transcript);
      assert.match(lines[0] ?? '', /^\* TLS established \(TLSv1\.3, /);
      assert.equal(lines[1], 'C EHLO verifier.test');
      assert.ok(!lines.some((l) => l.includes('250-STARTTLS')), 'no STARTTLS offered once in TLS');
      assert.ok(lines.some((l) => l === 'C MAIL FROM:<>'));
      await engine.idle();
    }
  });

  it('sends the EHLO of a host remembered as holding its reply once its ticket is in', async () => {
    const stalls = new TicketStalls();
    stalls.remember(IP.tickets);
    const engine = engineFor(stalls);
    const v = await engine.verify(`nobody@${DOMAIN[IP.tickets]}`, { transcript: true, waitForClose: true });
    assert.equal(v.result, 'undeliverable', v.message);
    assert.equal(v.reason, 'user_unknown');
    assert.deepEqual(afterHandshake(v.transcript).slice(1, 3), [
      '* TLS session ticket in; EHLO now, so that it acknowledges the ticket',
      'C EHLO verifier.test',
    ]);
    assert.equal(stalls.stalls(IP.tickets), true);
    const known = await engine.verify(`alice@${DOMAIN[IP.tickets]}`, {
      transcript: true,
      waitForClose: true,
    });
    assert.equal(known.result, 'deliverable', known.message);
    await engine.idle();
  });

  it('sends EHLO after a bounded wait to a remembered host that sends no ticket (Exim), and forgets it', async () => {
    const stalls = new TicketStalls();
    stalls.remember(IP.noTickets);
    const engine = engineFor(stalls);
    const v = await engine.verify(`alice@${DOMAIN[IP.noTickets]}`, { transcript: true, waitForClose: true });
    assert.equal(v.result, 'deliverable', v.message);
    const lines = afterHandshake(v.transcript);
    assert.match(lines[0] ?? '', /^\* TLS established \(TLSv1\.3, /);
    assert.match(lines[1] ?? '', /^\* no TLS session ticket within \d+ ms; EHLO now$/);
    assert.equal(lines[2], 'C EHLO verifier.test');
    assert.equal(stalls.stalls(IP.noTickets), false);
    await engine.idle();
  });
});
