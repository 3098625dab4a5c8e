/** DNS edge cases through an in-memory resolver; the real resolver is exercised in test/interop. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_MX_NAMES_LOOKED_UP, findMailHosts, orderMx } from '../../../src/core/dns/mail-hosts.js';
import { StaticResolver } from '../../support/engine.js';

const options = { maxMxHosts: 5, addressFamilies: ['ipv4', 'ipv6'] as const, random: Math.random };

describe('findMailHosts', () => {
  it('orders MX by preference with addresses of both families', async () => {
    const r = new StaticResolver({
      'd.test': {
        mx: [
          { exchange: 'b.d.test', priority: 20 },
          { exchange: 'a.d.test', priority: 10 },
        ],
      },
      'a.d.test': { a: ['192.0.2.1'], aaaa: ['2001:db8::1'] },
      'b.d.test': { a: ['192.0.2.2'] },
    });
    const route = await findMailHosts(r, 'd.test', options);
    assert.equal(route.kind, 'hosts');
    assert.deepEqual(route.hosts, [
      { host: 'a.d.test', preference: 10, addresses: ['192.0.2.1', '2001:db8::1'] },
      { host: 'b.d.test', preference: 20, addresses: ['192.0.2.2'] },
    ]);
  });

  it('shuffles equal preferences and keeps preference order', () => {
    const records = [1, 2, 3, 4]
      .map((i) => ({ exchange: `m${i}`, priority: 10 }))
      .concat([
        { exchange: 'first', priority: 5 },
        { exchange: 'last', priority: 50 },
      ]);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const ordered = orderMx(records, Math.random);
      assert.equal(ordered[0]?.exchange, 'first');
      assert.equal(ordered.at(-1)?.exchange, 'last');
      seen.add(ordered.map((r) => r.exchange).join(','));
    }
    assert.ok(seen.size > 5, `only ${seen.size} orders seen`);
  });

  it('uses the implicit MX when there is no MX (RFC 5321 5.1)', async () => {
    const route = await findMailHosts(
      new StaticResolver({ 'a.test': { a: ['192.0.2.9'] } }),
      'a.test',
      options,
    );
    assert.deepEqual(route.kind === 'hosts' && route.hosts, [
      { host: 'a.test', preference: 0, addresses: ['192.0.2.9'] },
    ]);
    assert.equal(route.kind === 'hosts' && route.implicit, true);
  });

  it('stops at a Null MX without looking further (RFC 7505)', async () => {
    const r = new StaticResolver({ 'n.test': { mx: [{ exchange: '', priority: 0 }], a: ['192.0.2.1'] } });
    const route = await findMailHosts(r, 'n.test', options);
    assert.deepEqual(route.kind === 'verdict' && [route.reason, route.rule], ['null_mx', 'dns.null-mx']);
    assert.deepEqual(r.queries, ['MX n.test']);
  });

  it('ignores a Null MX published beside real MX records', async () => {
    const r = new StaticResolver({
      'm.test': {
        mx: [
          { exchange: '', priority: 0 },
          { exchange: 'mx.m.test', priority: 10 },
        ],
      },
      'mx.m.test': { a: ['192.0.2.3'] },
    });
    const route = await findMailHosts(r, 'm.test', options);
    assert.equal(route.kind, 'hosts');
  });

  const verdicts: [string, Record<string, object>, string, string][] = [
    ['NXDOMAIN', {}, 'no_such_domain', 'dns.nxdomain'],
    ['SERVFAIL on MX', { 'x.test': { fail: 'temporary' } }, 'dns_error', 'dns.mx-lookup-failed'],
    ['neither MX nor address', { 'x.test': {} }, 'no_mail_host', 'dns.no-mx-no-address'],
    [
      'MX targets that do not resolve',
      { 'x.test': { mx: [{ exchange: 'gone.x.test', priority: 1 }] } },
      'no_mail_host',
      'dns.mx-target-unresolvable',
    ],
    [
      'MX targets that fail temporarily',
      {
        'x.test': { mx: [{ exchange: 'flaky.x.test', priority: 1 }] },
        'flaky.x.test': { fail: 'temporary' },
      },
      'dns_error',
      'dns.mx-target-lookup-failed',
    ],
  ];
  for (const [name, zone, reason, rule] of verdicts) {
    it(name, async () => {
      const route = await findMailHosts(new StaticResolver(zone), 'x.test', options);
      assert.deepEqual(route.kind === 'verdict' ? [route.reason, route.rule] : route, [reason, rule]);
    });
  }

  it('keeps only the configured number of hosts and the chosen families', async () => {
    const zone: Record<string, object> = {
      'x.test': { mx: Array.from({ length: 8 }, (_, i) => ({ exchange: `m${i}.x.test`, priority: i })) },
    };
    for (let i = 0; i < 8; i++) zone[`m${i}.x.test`] = { a: [`192.0.2.${i + 1}`], aaaa: ['2001:db8::1'] };
    const r = new StaticResolver(zone);
    const route = await findMailHosts(r, 'x.test', { ...options, maxMxHosts: 3, addressFamilies: ['ipv4'] });
    assert.equal(route.kind === 'hosts' && route.hosts.length, 3);
    assert.ok(!r.queries.some((q) => q.startsWith('AAAA')));
  });

  it('stops looking once enough hosts resolve', async () => {
    const zone: Record<string, object> = {
      'x.test': { mx: Array.from({ length: 8 }, (_, i) => ({ exchange: `m${i}.x.test`, priority: i })) },
    };
    for (let i = 0; i < 8; i++) zone[`m${i}.x.test`] = { a: [`192.0.2.${i + 1}`] };
    const r = new StaticResolver(zone);
    await findMailHosts(r, 'x.test', { ...options, maxMxHosts: 3 });
    assert.equal(
      r.queries.filter((q) => q.startsWith('A ')).length,
      3,
      'resolvable hosts found: no more lookups',
    );
  });
});

describe('the MX walk looks past names that do not resolve (issue 9, item 9)', () => {
  /** Names listed as [preference, name]; names in `live` resolve to 192.0.2.x. */
  function zoneOf(mx: [number, string][], live: Record<string, string>, extra: Record<string, object> = {}) {
    return new StaticResolver({
      'x.test': { mx: mx.map(([priority, exchange]) => ({ exchange, priority })) },
      ...Object.fromEntries(Object.entries(live).map(([name, ip]) => [name, { a: [ip] }])),
      ...extra,
    });
  }
  const hostsOf = (route: Awaited<ReturnType<typeof findMailHosts>>): string[] =>
    route.kind === 'hosts' ? route.hosts.map((h) => h.host) : [`${route.reason} ${route.rule}`];

  it('six MX: 10, 10, 20, 20, 30 do not exist, 40 works (issue example)', async () => {
    const r = zoneOf(
      [
        [10, 'a.x.test'],
        [10, 'b.x.test'],
        [20, 'c.x.test'],
        [20, 'd.x.test'],
        [30, 'e.x.test'],
        [40, 'mx.x.test'],
      ],
      { 'mx.x.test': '192.0.2.40' },
    );
    assert.deepEqual(hostsOf(await findMailHosts(r, 'x.test', options)), ['mx.x.test']);
  });

  it('counts hosts, not names: five working hosts found behind seven dead names', async () => {
    const dead = Array.from({ length: 7 }, (_, i): [number, string] => [i, `dead${i}.x.test`]);
    const live = Array.from({ length: 6 }, (_, i): [number, string] => [20 + i, `live${i}.x.test`]);
    const r = zoneOf([...dead, ...live], Object.fromEntries(live.map(([, n], i) => [n, `192.0.2.${i + 1}`])));
    assert.deepEqual(hostsOf(await findMailHosts(r, 'x.test', options)), [
      'live0.x.test',
      'live1.x.test',
      'live2.x.test',
      'live3.x.test',
      'live4.x.test',
    ]);
  });

  it('names that exist without an address (NODATA) are looked past too', async () => {
    const r = zoneOf(
      [
        [1, 'txtonly.x.test'],
        [2, 'mx.x.test'],
      ],
      { 'mx.x.test': '192.0.2.2' },
      { 'txtonly.x.test': {} },
    );
    assert.deepEqual(hostsOf(await findMailHosts(r, 'x.test', options)), ['mx.x.test']);
  });

  it('a partial DNS failure among the names is at most temporary, never no_mail_host', async () => {
    const r = zoneOf(
      [
        [10, 'gone.x.test'],
        [20, 'flaky.x.test'],
        [30, 'gone2.x.test'],
      ],
      {},
      { 'flaky.x.test': { fail: 'temporary' } },
    );
    assert.deepEqual(hostsOf(await findMailHosts(r, 'x.test', options)), [
      'dns_error dns.mx-target-lookup-failed',
    ]);
  });

  it('a failing name beside one that works: the working one is tried', async () => {
    const r = zoneOf(
      [
        [10, 'flaky.x.test'],
        [20, 'mx.x.test'],
      ],
      { 'mx.x.test': '192.0.2.2' },
      { 'flaky.x.test': { fail: 'temporary' } },
    );
    assert.deepEqual(hostsOf(await findMailHosts(r, 'x.test', options)), ['mx.x.test']);
  });

  it('no_mail_host only when no MX name of the domain resolves', async () => {
    const r = zoneOf(
      Array.from({ length: 9 }, (_, i): [number, string] => [i, `gone${i}.x.test`]),
      {},
    );
    assert.deepEqual(hostsOf(await findMailHosts(r, 'x.test', options)), [
      'no_mail_host dns.mx-target-unresolvable',
    ]);
  });

  it('bounds the names looked up for a domain that publishes hundreds', async () => {
    const r = zoneOf(
      Array.from({ length: 300 }, (_, i): [number, string] => [i, `gone${i}.x.test`]),
      {},
    );
    await findMailHosts(r, 'x.test', options);
    assert.equal(r.queries.filter((q) => q.startsWith('A ')).length, MAX_MX_NAMES_LOOKED_UP);
  });
});
