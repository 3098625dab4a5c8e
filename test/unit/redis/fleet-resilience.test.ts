/**
 * Redis is never a single point of failure: against a real redis-server that
 * is killed, paused (slow) and restarted, every call still returns (the local
 * fallback), the link reports each change once, and rejoins by itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryCache } from '../../../src/cache/memory-cache.js';
import { RedisCache } from '../../../src/cache/redis-cache.js';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import type { RedisLink } from '../../../src/redis/link.js';
import { entry } from '../../contract/verdict-cache.contract.js';
import { openLink } from '../../support/redis-link.js';
import { startRedis, type TestRedis } from '../../support/redis-server.js';
import { sleep } from '../../support/testbed/process.js';

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(50);
  }
}

describe('the Redis link when Redis fails', { timeout: 120_000 }, () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  it('answers from the fallback while Redis is killed, reports down and up once each, rejoins', async () => {
    const link = await openLink(redis);
    const changes: boolean[] = [];
    link.watch({ change: (up) => changes.push(up) });
    const cache = new TieredCache(new MemoryCache(100), new RedisCache(link), 0);
    const now = Date.now();
    await cache.putAddress(entry('kept@example.org', now));
    await redis.kill();
    await until('the link to notice', () => !link.up);
    // The memory tier still answers what it holds; Redis-only lookups are misses; writes do not throw.
    assert.equal((await cache.getAddress('kept@example.org', now))?.address, 'kept@example.org');
    assert.equal(await cache.getAddress('other@example.org', now), null);
    await cache.putAddress(entry('during@example.org', now));
    for (let i = 0; i < 20; i++) await cache.getAddress(`miss${i}@example.org`, now);
    assert.deepEqual(changes, [false], 'one change to down, not one per call');
    await redis.restart();
    await until('the link to come back', () => link.up);
    assert.deepEqual(changes, [false, true]);
    await cache.putAddress(entry('after@example.org', now));
    const other = await openLink(redis, { prefix: link.prefix });
    assert.equal(
      (await new RedisCache(other).getAddress('after@example.org', now))?.address,
      'after@example.org',
    );
    await other.close();
    await link.close();
  });

  it('a slow Redis (paused past the command timeout) gives the fallback, rests, then is used again', async () => {
    const link = await openLink(redis, { commandTimeoutMs: 200, retryAfterMs: 300 });
    const admin = await openLink(redis);
    const cache = new RedisCache(link);
    const now = Date.now();
    await cache.putAddress(entry('slow@example.org', now));
    const changes: boolean[] = [];
    link.watch({ change: (up) => changes.push(up) });
    await admin.client.call('CLIENT', 'PAUSE', '1500', 'ALL');
    assert.equal(await cache.getAddress('slow@example.org', now), null, 'a timed-out read is a miss');
    assert.equal(link.up, false, 'resting after the timeout: no caller waits for Redis meanwhile');
    assert.equal(await cache.getAddress('slow@example.org', now), null);
    await until('the pause to end and the rest to pass', async () => {
      await cache.getAddress('slow@example.org', now);
      return link.up;
    });
    assert.equal((await cache.getAddress('slow@example.org', now))?.address, 'slow@example.org');
    assert.deepEqual(changes, [false, true]);
    await admin.close();
    await link.close();
  });

  it('an entry it cannot decode is a miss, not an error', async () => {
    const link = await openLink(redis);
    await link.client.set(`${link.prefix}a:broken@example.org`, Buffer.from([1, 0, 200]));
    await link.client.set(`${link.prefix}f:broken.example`, 'not an entry at all');
    const cache = new RedisCache(link);
    assert.equal(await cache.getAddress('broken@example.org', Date.now()), null);
    assert.equal(await cache.getDomainFact('broken.example', Date.now()), null);
    await link.close();
  });

  it('stores entries with native TTLs, so Redis forgets them by itself', async () => {
    const link = await openLink(redis);
    const cache = new RedisCache(link);
    const now = Date.now();
    await cache.putAddress(entry('ttl@example.org', now, 60_000));
    const ttl = await link.client.pttl(`${link.prefix}a:ttl@example.org`);
    assert.ok(ttl > 0 && ttl <= 60_000, `pttl ${ttl}`);
    await cache.putAddress(entry('gone@example.org', now, 50));
    await until(
      'Redis to expire the key',
      async () => (await link.client.exists(`${link.prefix}a:gone@example.org`)) === 0,
    );
    await link.close();
  });

  it('a purge on one node empties the memory tier of another', async () => {
    const a = await openLink(redis);
    const b = await openLink(redis, { prefix: a.prefix });
    const onA = new TieredCache(new MemoryCache(100), new RedisCache(a), 0);
    const redisB = new RedisCache(b);
    assert.equal(await redisB.listening, true);
    const onB = new TieredCache(new MemoryCache(100), redisB, 0);
    const now = Date.now();
    await onA.putAddress(entry('purged@example.org', now));
    assert.notEqual(await onB.getAddress('purged@example.org', now), null); // now in B's memory tier too
    assert.equal(await onA.purgeAddress('purged@example.org'), 1);
    await until('B to forget', async () => (await onB.getAddress('purged@example.org', now)) === null);
    await a.close();
    await b.close();
  });

  it('administrators hear when Redis is away (purge, statistics), instead of a silent zero', async () => {
    const link: RedisLink = await openLink(redis, { connectTimeoutMs: 300 });
    const cache = new RedisCache(link);
    await redis.kill();
    await assert.rejects(cache.purgeDomain('example.org'), { code: 'CBV_ERR_REDIS_UNAVAILABLE' });
    await assert.rejects(cache.stats(Date.now()), { code: 'CBV_ERR_REDIS_UNAVAILABLE' });
    await redis.restart();
    await link.close();
  });
});
