/**
 * No DNS failure anywhere in an SPF evaluation may become `fail`, and a record's `%{d}` is its own
 * domain at any depth: SPF checks against a real Unbound whose zones SERVFAIL (broken delegation),
 * REFUSE (local-zone refuse) and never answer (a silent name server), reached through `ptr`, `a`,
 * `mx`, `exists`, `include:` and `redirect=`, nested, for IPv4 and IPv6 clients; answers too big
 * for UDP (truncated, re-asked over TCP); and vendor records that use `%{d}` (RFC 7208 7.3).
 *
 * Client addresses are documentation addresses (192.0.2.0/24, 2001:db8::/32): SPF only compares
 * them, nothing is ever sent to them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { SpfDnsClient } from '../../src/service/spf/dns-client.js';
import type { SpfResult } from '../../src/service/spf/outcome.js';
import { SpfChecker } from '../../src/service/spf/spf-checker.js';
import { startDns, type DnsRecord, type DnsServer } from '../support/testbed/dns.js';

let dns: DnsServer;

const txt = (name: string, value: string): DnsRecord => ({ name, type: 'TXT', value });
const ptr = (ip: string, name: string): DnsRecord => ({
  name: `${ip.split('.').reverse().join('.')}.in-addr.arpa`,
  type: 'PTR',
  value: name,
});
/** The nibble-reversed ip6.arpa name of 2001:db8::<last> (RFC 3596). */
const ptr6 = (last: string, name: string): DnsRecord => {
  const nibbles = `20010db8${'0'.repeat(20)}${last.padStart(4, '0')}`.split('').reverse().join('.');
  return { name: `${nibbles}.ip6.arpa`, type: 'PTR', value: name };
};
/** Filler TXT strings, so that the whole answer is far beyond one UDP reply (Unbound's 1232 bytes). */
const filler = (name: string): DnsRecord[] =>
  Array.from({ length: 12 }, (_, i) => txt(name, `filler-${i}-${'x'.repeat(200)}`));

before(async () => {
  dns = await startDns({
    records: [
      // ptr: the client's name is under a zone that SERVFAILs / REFUSEs / never answers.
      txt('ptrbroken.test', 'v=spf1 ptr:servfail.test -all'),
      ptr('192.0.2.7', 'mail.servfail.test'),
      txt('ptrslow.test', 'v=spf1 ptr:slow.test -all'),
      ptr('192.0.2.9', 'mail.slow.test'),
      txt('ptrrefused.test', 'v=spf1 ptr:refused.test -all'),
      ptr('192.0.2.10', 'mail.refused.test'),
      txt('ptrinclude.test', 'v=spf1 include:ptrbroken.test -all'),
      txt('ptrredirect.test', 'v=spf1 redirect=ptrbroken.test'),
      ptr6('7', 'mail.servfail.test'),
      // ptr that works: the name's address is the client's.
      txt('ptrgood.test', 'v=spf1 ptr:good.test -all'),
      ptr('192.0.2.11', 'mail.good.test'),
      { name: 'mail.good.test', type: 'A', value: '192.0.2.11' },
      // Failures the evaluation passes on (mailauth raises them; held here so that they stay so).
      txt('refinclude.test', 'v=spf1 include:_spf.refused.test -all'),
      txt('redirrefused.test', 'v=spf1 redirect=_spf.refused.test'),
      txt('nest1.test', 'v=spf1 ip4:198.51.100.0/24 include:nest2.test -all'),
      txt('nest2.test', 'v=spf1 include:nest3.test -all'),
      txt('nest3.test', 'v=spf1 exists:%{i}.servfail.test -all'),
      txt('mxbroken.test', 'v=spf1 mx -all'),
      { name: 'mxbroken.test', type: 'MX', value: '10 mail.servfail.test' },
      txt('mxslow.test', 'v=spf1 mx:mxslowhost.test -all'),
      { name: 'mxslowhost.test', type: 'MX', value: '10 mail.slow.test' },
      txt('aslow.test', 'v=spf1 a:x.slow.test -all'),
      txt('arefused.test', 'v=spf1 ip6:2001:db8:1::/48 a:x.refused.test -all'),
      // Truncated over UDP: the TXT answer is re-asked over TCP, at the top and inside an include.
      txt('bigtxt.test', 'v=spf1 ip4:192.0.2.30 -all'),
      ...filler('bigtxt.test'),
      txt('biginclude.test', 'v=spf1 include:bigtxt.test -all'),
      // %{d} in a vendor's record is the vendor's domain (RFC 7208 7.3), through include and redirect.
      txt('macroinc.test', 'v=spf1 include:vendor.test -all'),
      txt('macroredir.test', 'v=spf1 redirect=vendor.test'),
      txt('vendor.test', 'v=spf1 a:mx.%{d} -all'),
      { name: 'mx.vendor.test', type: 'A', value: '192.0.2.20' },
      txt('macrotrans.test', 'v=spf1 include:_s.vendor2.test -all'),
      txt('_s.vendor2.test', 'v=spf1 exists:%{i}._ok.%{d2} -all'),
      { name: '192.0.2.22._ok.vendor2.test', type: 'A', value: '127.0.0.2' },
      txt('macronest.test', 'v=spf1 include:_a.vendor3.test -all'),
      txt('_a.vendor3.test', 'v=spf1 include:_b.%{d} -all'),
      txt('_b._a.vendor3.test', 'v=spf1 a:%{d} -all'),
      { name: '_b._a.vendor3.test', type: 'A', value: '192.0.2.23' },
      // Records whose answer depends on the sender's local part or the HELO name, not only on the
      // domain and the client (RFC 7208 7.3 %{l}, %{h}): per-user SPF.
      txt('permacro.test', 'v=spf1 exists:%{l}.users._spf.permacro.test -all'),
      { name: 'alice.users._spf.permacro.test', type: 'A', value: '127.0.0.2' },
      txt('permacroinc.test', 'v=spf1 include:_u.permacro.test -all'),
      txt('_u.permacro.test', 'v=spf1 exists:%{l}.inc._spf.permacro.test -all'),
      { name: 'alice.inc._spf.permacro.test', type: 'A', value: '127.0.0.2' },
      txt('perhelo.test', 'v=spf1 exists:%{h}._helo.perhelo.test -all'),
      { name: 'good.example._helo.perhelo.test', type: 'A', value: '127.0.0.2' },
      // The sender's own %{d} was always right: it stays so.
      txt('owna.test', 'v=spf1 a:mx.%{d} -all'),
      { name: 'mx.owna.test', type: 'A', value: '192.0.2.24' },
    ],
    servfail: ['servfail.test'],
    timeout: ['slow.test'],
    refused: ['refused.test'],
  });
});

after(async () => {
  await (dns as DnsServer | undefined)?.stop();
});

function checker(): SpfChecker {
  const client = new SpfDnsClient({ servers: [dns.server], queryTimeoutMs: 1000, tries: 1 });
  return new SpfChecker(
    {
      timeoutMs: 10_000,
      maxLookups: 10,
      maxVoidLookups: 2,
      cacheMaxTtlMs: 3_600_000,
      receiver: 'verifier.test',
    },
    { dns: client, cache: new MemoryCache(1000) },
  );
}

async function check(domain: string, clientIp: string): Promise<{ result: SpfResult; comment: string }> {
  return checker().check({
    identity: 'mailfrom',
    domain,
    sender: `alice@${domain}`,
    clientIp,
    helo: 'client.test',
  });
}

describe('a DNS failure anywhere in the evaluation never becomes fail', { timeout: 120_000 }, () => {
  const cases: [string, string, SpfResult][] = [
    // ptr: mailauth skips a name whose address lookup failed (RFC 7208 5.5), then reaches -all.
    ['ptrbroken.test', '192.0.2.7', 'temperror'],
    ['ptrslow.test', '192.0.2.9', 'temperror'],
    ['ptrrefused.test', '192.0.2.10', 'temperror'],
    ['ptrinclude.test', '192.0.2.7', 'temperror'],
    ['ptrredirect.test', '192.0.2.7', 'temperror'],
    ['ptrbroken.test', '2001:db8::7', 'temperror'],
    // ...and a ptr that works still passes or fails on its evidence.
    ['ptrgood.test', '192.0.2.11', 'pass'],
    ['ptrgood.test', '192.0.2.12', 'fail'],
    // a, mx, exists, include, redirect: REFUSED, SERVFAIL and silence, nested three deep.
    ['refinclude.test', '192.0.2.1', 'temperror'],
    ['redirrefused.test', '192.0.2.1', 'temperror'],
    ['nest1.test', '192.0.2.1', 'temperror'],
    ['nest1.test', '198.51.100.1', 'pass'],
    ['mxbroken.test', '192.0.2.1', 'temperror'],
    ['mxslow.test', '192.0.2.1', 'temperror'],
    ['aslow.test', '192.0.2.1', 'temperror'],
    ['arefused.test', '192.0.2.1', 'temperror'],
    ['arefused.test', '2001:db8:1::5', 'pass'],
    // Truncated answers are read whole over TCP.
    ['bigtxt.test', '192.0.2.30', 'pass'],
    ['bigtxt.test', '192.0.2.31', 'fail'],
    ['biginclude.test', '192.0.2.30', 'pass'],
  ];
  for (const [domain, ip, expected] of cases) {
    it(`${domain} for ${ip}: ${expected}`, async () => {
      const outcome = await check(domain, ip);
      assert.equal(outcome.result, expected, outcome.comment);
    });
  }
});

describe(
  '%{d} is the domain of the record it is written in (RFC 7208 7.3), at any depth',
  { timeout: 60_000 },
  () => {
    const cases: [string, string, SpfResult][] = [
      ['macroinc.test', '192.0.2.20', 'pass'],
      ['macroinc.test', '192.0.2.21', 'fail'],
      ['macroredir.test', '192.0.2.20', 'pass'],
      ['macroredir.test', '192.0.2.21', 'fail'],
      ['macrotrans.test', '192.0.2.22', 'pass'],
      ['macronest.test', '192.0.2.23', 'pass'],
      ['macronest.test', '192.0.2.21', 'fail'],
      ['owna.test', '192.0.2.24', 'pass'],
      ['owna.test', '192.0.2.21', 'fail'],
    ];
    for (const [domain, ip, expected] of cases) {
      it(`${domain} for ${ip}: ${expected}`, async () => {
        const outcome = await check(domain, ip);
        assert.equal(outcome.result, expected, outcome.comment);
      });
    }
  },
);

describe(
  'a result that depends on the sender or the HELO name is not reused for another',
  { timeout: 60_000 },
  () => {
    /** One checker, one cache: the second question must not get the first one's answer. */
    async function inTurn(questions: [sender: string, helo: string][], domain: string): Promise<SpfResult[]> {
      const shared = checker();
      const results: SpfResult[] = [];
      for (const [sender, helo] of questions) {
        const o = await shared.check({ identity: 'mailfrom', domain, sender, clientIp: '192.0.2.50', helo });
        results.push(o.result);
      }
      return results;
    }

    it('%{l}: bob fails, then alice passes, then bob fails again (same domain, same client)', async () => {
      const results = await inTurn(
        [
          ['bob@permacro.test', 'client.test'],
          ['alice@permacro.test', 'client.test'],
          ['bob@permacro.test', 'client.test'],
        ],
        'permacro.test',
      );
      assert.deepEqual(results, ['fail', 'pass', 'fail']);
    });

    it('%{l} inside an include: the same', async () => {
      const results = await inTurn(
        [
          ['bob@permacroinc.test', 'client.test'],
          ['alice@permacroinc.test', 'client.test'],
        ],
        'permacroinc.test',
      );
      assert.deepEqual(results, ['fail', 'pass']);
    });

    it('%{h}: a bad HELO fails, then a good one passes', async () => {
      const results = await inTurn(
        [
          ['alice@perhelo.test', 'bad.example'],
          ['alice@perhelo.test', 'good.example'],
        ],
        'perhelo.test',
      );
      assert.deepEqual(results, ['fail', 'pass']);
    });

    it('a record without such macros is still cached per (domain, client)', async () => {
      const shared = checker();
      const ask = (sender: string) =>
        shared.check({
          identity: 'mailfrom',
          domain: 'owna.test',
          sender,
          clientIp: '192.0.2.24',
          helo: null,
        });
      assert.equal((await ask('alice@owna.test')).cached, false);
      assert.deepEqual(await ask('bob@owna.test').then((o) => [o.result, o.cached]), ['pass', true]);
    });
  },
);
