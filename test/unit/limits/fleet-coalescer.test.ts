/**
 * Fleet coalescing against a real redis-server: of several nodes wanting the
 * same callout one makes it; a crashed holder's lock expires and another node
 * takes over; without Redis every node calls out alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FleetCoordinator, type CalloutJob } from '../../../src/limits/fleet-coalescer.js';
import type { RedisLink } from '../../../src/redis/link.js';
import type { CalloutVerdict } from '../../../src/service/verifier.js';
import { verdictFor } from '../../contract/verdict-cache.contract.js';
import { openLink } from '../../support/redis-link.js';
import { startRedis, type TestRedis } from '../../support/redis-server.js';
import { sleep } from '../../support/testbed/process.js';

const calloutVerdict = (address: string): CalloutVerdict => {
  const { cache: _cache, ...v } = verdictFor(address, 'user_unknown');
  return { ...v, attempts: [], transcript: [] };
};

/** A job whose callout takes `ms` and counts itself; peek finds nothing (no cache here). */
function job(address: string, calls: { n: number }, ms = 200): CalloutJob {
  return {
    key: address,
    work: async () => {
      calls.n++;
      await sleep(ms);
      return calloutVerdict(address);
    },
    peek: () => Promise.resolve(null),
    signal: new AbortController().signal,
  };
}

describe('fleet coalescing', { timeout: 60_000 }, () => {
  let redis: TestRedis;
  const links: RedisLink[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await Promise.all(links.map((l) => l.close()));
    await redis.stop();
  });

  async function nodes(n: number, options = { lockTtlMs: 2000, pollMs: 100 }): Promise<FleetCoordinator[]> {
    const first = await openLink(redis);
    links.push(first);
    const out = [new FleetCoordinator(first, options)];
    for (let i = 1; i < n; i++) {
      const l = await openLink(redis, { prefix: first.prefix });
      links.push(l);
      out.push(new FleetCoordinator(l, options));
    }
    for (const c of out) assert.equal(await c.listening, true);
    return out;
  }

  it('three nodes wanting one address at once: one callout, everyone gets its verdict', async () => {
    const fleet = await nodes(3);
    const calls = { n: 0 };
    const results = await Promise.all(fleet.map((c) => c.run(job('once@example.org', calls))));
    assert.equal(calls.n, 1);
    for (const r of results) {
      assert.equal(r.reason, 'user_unknown');
      assert.equal(r.address, 'once@example.org');
    }
  });

  it("a crashed holder's lock expires and another node makes the callout", async () => {
    const [node] = await nodes(1, { lockTtlMs: 2000, pollMs: 100 });
    const link = links.at(-1) as RedisLink;
    // What a node that died mid-callout leaves behind: a lock nobody renews.
    await link.client.set(`${link.prefix}lock:orphan@example.org`, 'dead-node', 'PX', 400);
    const calls = { n: 0 };
    const verdict = await (node as FleetCoordinator).run(job('orphan@example.org', calls, 10));
    assert.equal(calls.n, 1);
    assert.equal(verdict.reason, 'user_unknown');
  });

  it('a holder renews its lock while its callout outlasts the lock lifetime', async () => {
    // A lifetime long enough that a loaded machine's pauses cannot outlast a renewal period,
    // and a callout three lifetimes long.
    const fleet = await nodes(2, { lockTtlMs: 1000, pollMs: 50 });
    const calls = { n: 0 };
    const [a, b] = fleet as [FleetCoordinator, FleetCoordinator];
    const first = a.run(job('long@example.org', calls, 3000));
    await sleep(50);
    const second = b.run(job('long@example.org', calls, 3000));
    await Promise.all([first, second]);
    assert.equal(calls.n, 1, 'the lock outlived its 1 s lifetime while the holder worked');
  });

  it('a result already in the cache when the lock is taken is used, not called out again', async () => {
    const [node] = await nodes(1);
    const calls = { n: 0 };
    const landed = calloutVerdict('landed@example.org');
    const v = await (node as FleetCoordinator).run({
      ...job('landed@example.org', calls),
      peek: () => Promise.resolve(landed),
    });
    assert.equal(calls.n, 0);
    assert.equal(v, landed);
  });

  it('with Redis down every node calls out alone, and nobody waits', async () => {
    const fleet = await nodes(2);
    await redis.kill();
    try {
      const calls = { n: 0 };
      await Promise.all(fleet.map((c) => c.run(job('alone@example.org', calls, 10))));
      assert.equal(calls.n, 2);
    } finally {
      await redis.restart();
    }
  });
});
