/**
 * The engine against real servers: Unbound for DNS, Postfix listeners with
 * different behaviours, postgrey, and Exim, all on loopback (test/support/testbed).
 * Each case asserts the reason, and the rule where it tells something.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  NodeDnsResolver,
  TcpConnector,
  VerificationEngine,
  type EngineOptions,
} from '../../src/core/index.js';
import { testEngineOptions } from '../support/engine.js';
import { NAMES, startMailTestbed, type MailTestbed } from '../support/testbed/index.js';

let bed: MailTestbed;
before(async () => {
  bed = await startMailTestbed();
});
after(async () => {
  await bed.stop();
});

function engine(
  overrides: Partial<EngineOptions> = {},
  probe: Partial<EngineOptions['probe']> = {},
): VerificationEngine {
  const resolver = new NodeDnsResolver({ servers: [bed.dns.server], queryTimeoutMs: 1500, tries: 1 });
  return new VerificationEngine(
    testEngineOptions(
      bed.smtpPort,
      { dnsTimeoutMs: 3000, ...overrides },
      {
        timeouts: {
          connect: 3000,
          greeting: 5000,
          ehlo: 5000,
          starttls: 5000,
          mail: 5000,
          rcpt: 5000,
          quit: 2000,
        },
        ...probe,
      },
    ),
    {
      resolver,
      connector: new TcpConnector(),
    },
  );
}

type Case = [address: string, reason: string, rule: RegExp | null, note: string];

const CASES: Case[] = [
  [`alice@${NAMES.ok}`, 'accepted', /^rcpt\.2xx$/, 'Postfix, known user, unknown random local part'],
  [`nobody@${NAMES.ok}`, 'user_unknown', /^rcpt\.bad-mailbox$/, 'Postfix 550 5.1.1 User unknown'],
  [`full@${NAMES.ok}`, 'mailbox_full', /^rcpt\.mailbox-full$/, 'Postfix access map 552 5.2.2'],
  [`disabled@${NAMES.ok}`, 'mailbox_disabled', /^rcpt\.mailbox-disabled$/, 'Postfix access map 550 5.2.1'],
  [`anyone@${NAMES.catchall}`, 'catch_all', /^rcpt\.random-accepted$/, 'Postfix accepting every recipient'],
  [
    `alice@${NAMES.grey}`,
    'greylisted',
    /^rcpt\.greylisted$/,
    'postgrey via check_policy_service: 450 4.2.0 Greylisted',
  ],
  [
    `alice@${NAMES.nonull}`,
    'null_sender_rejected',
    /^rcpt\.null-sender-refused$/,
    'check_sender_access <> REJECT, seen at RCPT',
  ],
  [
    `alice@${NAMES.nonullmail}`,
    'null_sender_rejected',
    /^mail\.null-sender-named$/,
    'the same with smtpd_delay_reject=no, seen at MAIL',
  ],
  [
    `alice@${NAMES.tls}`,
    'accepted',
    /^rcpt\.2xx$/,
    'smtpd_tls_security_level=encrypt, reached after STARTTLS',
  ],
  [`nobody@${NAMES.tls}`, 'user_unknown', /^rcpt\.bad-mailbox$/, 'the same, unknown user'],
  [`alice@${NAMES.nopipe}`, 'accepted', /^rcpt\.2xx$/, 'PIPELINING not offered'],
  [
    `alice@${NAMES.blocked}`,
    'policy_rejected',
    /^rcpt\.about-client$/,
    '554 5.7.1 blocked using zen.spamhaus.org',
  ],
  [`carol@${NAMES.exim}`, 'accepted', /^rcpt\.2xx$/, 'Exim, known user'],
  [
    `nobody@${NAMES.exim}`,
    'user_unknown',
    /^rcpt\.(no-such-user-text|550-plain)$/,
    'Exim 550 Unrouteable address',
  ],
  [`alice@${NAMES.twomx}`, 'accepted', /^rcpt\.2xx$/, 'first MX refuses connections, second answers'],
  [
    `alice@${NAMES.sixmx}`,
    'accepted',
    /^rcpt\.2xx$/,
    'five MX names that do not exist, then the sixth works',
  ],
  [`nobody@${NAMES.sixmx}`, 'user_unknown', /^rcpt\.bad-mailbox$/, 'the same, unknown user'],
  [`alice@${NAMES.mixmx}`, 'accepted', /^rcpt\.2xx$/, 'MX names SERVFAIL and NXDOMAIN, then one that works'],
  [
    `alice@${NAMES.halfmx}`,
    'dns_error',
    /^dns\.mx-target-lookup-failed$/,
    'no MX name resolves, one fails for now',
  ],
  [`alice@${NAMES.aonly}`, 'accepted', /^rcpt\.2xx$/, 'no MX: implicit MX from the A record'],
  [`alice@${NAMES.idnUnicode}`, 'accepted', /^rcpt\.2xx$/, 'IDN domain looked up as its A-label'],
  [`alice@${NAMES.nullmx}`, 'null_mx', /^dns\.null-mx$/, 'MX 0 .'],
  [`alice@${NAMES.nxdomain}`, 'no_such_domain', /^dns\.nxdomain$/, 'NXDOMAIN'],
  [`alice@${NAMES.nomail}`, 'no_mail_host', /^dns\.no-mx-no-address$/, 'TXT only'],
  [`alice@${NAMES.dangling}`, 'no_mail_host', /^dns\.mx-target-unresolvable$/, 'MX target is NXDOMAIN'],
  [`alice@${NAMES.private}`, 'unsafe_target', /^local\.unsafe-target$/, 'MX at 10.0.0.25, never contacted'],
  [`alice@${NAMES.servfail}`, 'dns_error', /^dns\./, 'SERVFAIL from the resolver'],
  [`alice@${NAMES.slow}`, 'dns_error', /^(dns\.|local\.timeout\.dns)/, 'the resolver never answers'],
];

describe('engine against real servers', () => {
  for (const [address, reason, rule, note] of CASES) {
    it(`${address} -> ${reason} (${note})`, async () => {
      const e = engine();
      const v = await e.verify(address, { transcript: true });
      await e.idle();
      const trace = (v.transcript ?? []).map((l) => `${l.dir} ${l.line}`).join('\n');
      assert.equal(v.reason, reason, `${v.rule}: ${v.message}\n${trace}`);
      if (rule) assert.match(v.rule, rule, v.message);
    });
  }

  it('greets Postfix politely: QUIT after RSET, never DATA', async () => {
    const e = engine();
    const v = await e.verify(`alice@${NAMES.ok}`, { transcript: true, waitForClose: true });
    const sent = (v.transcript ?? []).filter((l) => l.dir === 'C').map((l) => l.line);
    assert.deepEqual(sent.slice(-2), ['RSET', 'QUIT']);
    assert.ok(!sent.includes('DATA'));
    assert.ok(
      (v.transcript ?? []).some((l) => l.line.startsWith('221')),
      'server said goodbye',
    );
  });

  it('uses TLS with the STARTTLS-requiring Postfix, and is refused without it', async () => {
    const tls = await engine().verify(`alice@${NAMES.tls}`, { transcript: true });
    assert.ok(tls.transcript?.some((l) => l.line.startsWith('TLS established')));
    const plain = await engine({}, { starttls: 'off' }).verify(`alice@${NAMES.tls}`);
    assert.equal(plain.reason, 'policy_rejected');
    assert.equal(plain.rule, 'mail.tls-or-auth-required');
  });

  it('records the failed first MX in the attempts', async () => {
    const v = await engine().verify(`alice@${NAMES.twomx}`);
    assert.deepEqual(
      v.attempts.map((a) => [a.host, a.reason]),
      [
        [`dead.${NAMES.twomx}`, 'connection_failed'],
        [`mx.${NAMES.twomx}`, 'accepted'],
      ],
    );
  });

  it('refuses loopback MX hosts when loopback is not explicitly allowed', async () => {
    const v = await engine({ allowTargets: [] }).verify(`alice@${NAMES.ok}`);
    assert.equal(v.reason, 'unsafe_target');
    assert.deepEqual(
      v.attempts.map((a) => a.reason),
      ['unsafe_target'],
    );
  });
});
