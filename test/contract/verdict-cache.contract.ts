/**
 * The VerdictCache contract: every implementation must pass these tests.
 * Each backend's test file calls runCacheContract with a factory.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  AddressEntry,
  DomainFact,
  SpfEntry,
  StoredVerdict,
  VerdictCache,
} from '../../src/cache/verdict-cache.js';

export function verdictFor(address: string, reason: StoredVerdict['reason'] = 'accepted'): StoredVerdict {
  const domain = address.slice(address.lastIndexOf('@') + 1);
  return {
    address,
    domain,
    result: reason === 'accepted' ? 'deliverable' : 'undeliverable',
    reason,
    temporary: false,
    rule: reason === 'accepted' ? 'rcpt.2xx' : 'rcpt.bad-mailbox',
    message: 'test',
    mx: { host: `mx.${domain}`, ip: '192.0.2.1', preference: 10 },
    smtp: { stage: 'rcpt', code: 250, enhancedCode: '2.1.5', text: 'Ok' },
    catchAllProbe: false,
    durationMs: 12,
    attempts: [
      { host: `mx.${domain}`, ip: '192.0.2.1', reason: 'accepted', rule: 'rcpt.2xx', stage: 'rcpt' },
    ],
    cache: { hit: false, fact: null, ageSeconds: null },
  };
}

export function entry(
  address: string,
  now: number,
  ttlMs = 60_000,
  reason: StoredVerdict['reason'] = 'accepted',
): AddressEntry {
  const v = verdictFor(address, reason);
  return {
    address,
    domain: v.domain,
    verdict: v,
    storedAt: now,
    expiresAt: now + ttlMs,
    refreshAt: now + ttlMs / 2,
  };
}

function fact(domain: string, now: number, ttlMs = 60_000): DomainFact {
  return {
    domain,
    kind: 'catch_all',
    verdict: { ...verdictFor(`x@${domain}`), reason: 'catch_all', result: 'risky' },
    storedAt: now,
    expiresAt: now + ttlMs,
  };
}

export function spfEntry(
  domain: string,
  clientIp: string,
  now: number,
  ttlMs = 60_000,
  result: SpfEntry['outcome']['result'] = 'pass',
): SpfEntry {
  return {
    domain,
    clientIp,
    outcome: {
      result,
      identity: 'mailfrom',
      domain,
      clientIp,
      comment: `domain of ${domain} designates ${clientIp} as permitted sender`,
    },
    storedAt: now,
    expiresAt: now + ttlMs,
  };
}

export function runCacheContract(
  name: string,
  make: () => Promise<{ cache: VerdictCache; cleanup?: () => Promise<void> }>,
): void {
  describe(`VerdictCache contract: ${name}`, () => {
    const now = 1_800_000_000_000;
    async function withCache(fn: (c: VerdictCache) => Promise<void>): Promise<void> {
      const { cache, cleanup } = await make();
      try {
        await fn(cache);
      } finally {
        await cache.close();
        await cleanup?.();
      }
    }

    it('returns what was stored, intact', () =>
      withCache(async (c) => {
        const e = entry('alice@example.org', now);
        await c.putAddress(e);
        assert.deepEqual(await c.getAddress('alice@example.org', now + 1), e);
        assert.equal(await c.getAddress('bob@example.org', now), null);
      }));

    it('peekAddress, where a cache has it, agrees with getAddress or says it cannot tell', () =>
      withCache(async (c) => {
        if (!c.peekAddress) return; // only memory tiers answer without waiting
        await c.putAddress(entry('alice@example.org', now, 1000));
        for (const [address, at] of [
          ['alice@example.org', now + 1],
          ['alice@example.org', now + 999],
          ['alice@example.org', now + 1000],
          ['bob@example.org', now],
        ] as const) {
          const peeked = c.peekAddress(address, at);
          if (peeked !== undefined)
            assert.deepEqual(peeked, await c.getAddress(address, at), `${address} at +${at - now} ms`);
        }
      }));

    it('does not return expired entries', () =>
      withCache(async (c) => {
        await c.putAddress(entry('alice@example.org', now, 1000));
        assert.notEqual(await c.getAddress('alice@example.org', now + 999), null);
        assert.equal(await c.getAddress('alice@example.org', now + 1000), null);
      }));

    it('replaces an entry on put', () =>
      withCache(async (c) => {
        await c.putAddress(entry('alice@example.org', now));
        await c.putAddress(entry('alice@example.org', now + 5, 60_000, 'user_unknown'));
        assert.equal((await c.getAddress('alice@example.org', now + 6))?.verdict.reason, 'user_unknown');
      }));

    it('treats addresses as exact keys (local parts are case-sensitive)', () =>
      withCache(async (c) => {
        await c.putAddress(entry('Alice@example.org', now));
        assert.equal(await c.getAddress('alice@example.org', now), null);
      }));

    it('stores and expires domain facts', () =>
      withCache(async (c) => {
        await c.putDomainFact(fact('example.org', now, 1000));
        assert.equal((await c.getDomainFact('example.org', now + 1))?.kind, 'catch_all');
        assert.equal(await c.getDomainFact('example.org', now + 1000), null);
        assert.equal(await c.getDomainFact('example.net', now), null);
      }));

    it('purges one address', () =>
      withCache(async (c) => {
        await c.putAddress(entry('alice@example.org', now));
        await c.putAddress(entry('bob@example.org', now));
        assert.equal(await c.purgeAddress('alice@example.org'), 1);
        assert.equal(await c.purgeAddress('alice@example.org'), 0);
        assert.equal(await c.getAddress('alice@example.org', now), null);
        assert.notEqual(await c.getAddress('bob@example.org', now), null);
      }));

    it('purges a domain with all its addresses and its fact, and nothing else', () =>
      withCache(async (c) => {
        await c.putAddress(entry('alice@example.org', now));
        await c.putAddress(entry('bob@example.org', now));
        await c.putAddress(entry('carol@example.net', now));
        await c.putDomainFact(fact('example.org', now));
        assert.equal(await c.purgeDomain('example.org'), 3);
        assert.equal(await c.getAddress('bob@example.org', now), null);
        assert.equal(await c.getDomainFact('example.org', now), null);
        assert.notEqual(await c.getAddress('carol@example.net', now), null);
      }));

    it('counts live entries', () =>
      withCache(async (c) => {
        await c.putAddress(entry('a@example.org', now, 1000));
        await c.putAddress(entry('b@example.org', now, 5000));
        await c.putDomainFact(fact('example.org', now));
        const s = await c.stats(now + 2000);
        assert.equal(s.addresses, 1);
        assert.equal(s.domainFacts, 1);
      }));

    it('stores SPF outcomes per (domain, client IP), intact, and expires them', () =>
      withCache(async (c) => {
        const e = spfEntry('example.org', '192.0.2.1', now, 1000);
        await c.putSpf(e);
        assert.deepEqual(await c.getSpf('example.org', '192.0.2.1', now + 1), e);
        assert.equal(await c.getSpf('example.org', '192.0.2.2', now + 1), null, 'another client');
        assert.equal(await c.getSpf('example.net', '192.0.2.1', now + 1), null, 'another domain');
        assert.equal(await c.getSpf('example.org', '192.0.2.1', now + 1000), null, 'expired');
        await c.putSpf(spfEntry('example.org', '2001:db8::1', now, 1000, 'softfail'));
        assert.equal((await c.getSpf('example.org', '2001:db8::1', now))?.outcome.result, 'softfail');
      }));

    it('replaces an SPF outcome on put', () =>
      withCache(async (c) => {
        await c.putSpf(spfEntry('example.org', '192.0.2.1', now));
        await c.putSpf(spfEntry('example.org', '192.0.2.1', now + 5, 60_000, 'fail'));
        assert.equal((await c.getSpf('example.org', '192.0.2.1', now + 6))?.outcome.result, 'fail');
      }));

    it('purges the SPF outcomes of a domain with the domain, and nothing else', () =>
      withCache(async (c) => {
        await c.putSpf(spfEntry('example.org', '192.0.2.1', now));
        await c.putSpf(spfEntry('example.org', '192.0.2.2', now));
        await c.putSpf(spfEntry('example.net', '192.0.2.1', now));
        await c.putAddress(entry('alice@example.org', now));
        assert.equal(await c.purgeDomain('example.org'), 3);
        assert.equal(await c.getSpf('example.org', '192.0.2.2', now), null);
        assert.notEqual(await c.getSpf('example.net', '192.0.2.1', now), null);
      }));

    it('handles many entries', () =>
      withCache(async (c) => {
        for (let i = 0; i < 2000; i++) await c.putAddress(entry(`user${i}@bulk.example`, now));
        assert.equal((await c.getAddress('user1999@bulk.example', now))?.address, 'user1999@bulk.example');
        assert.equal(await c.purgeDomain('bulk.example'), 2000);
      }));
  });
}
