/**
 * Politeness across the fleet against a real redis-server: concurrency slots
 * with leases, rates, and the flood breaker counted over every node; a
 * crashed node's slots free themselves; without Redis each node is on its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CalloutLimits } from '../../../src/limits/callout-limits.js';
import { FleetLimits, type FleetLimitOptions } from '../../../src/limits/fleet-limits.js';
import type { RedisLink } from '../../../src/redis/link.js';
import { openLink } from '../../support/redis-link.js';
import { startRedis, type TestRedis } from '../../support/redis-server.js';

const OPTIONS: FleetLimitOptions = {
  domainConcurrency: 2,
  domainRate: 1,
  domainBurst: 3,
  mxConcurrency: 1,
  mxRate: 1000,
  mxBurst: 1000,
  flood: { threshold: 5, windowMs: 60_000, cooldownMs: 60_000 },
  leaseMs: 400,
  pollMs: 20,
};

const never = (): AbortSignal => new AbortController().signal;

describe('fleet limits', { timeout: 60_000 }, () => {
  let redis: TestRedis;
  const links: RedisLink[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await Promise.all(links.map((l) => l.close()));
    await redis.stop();
  });

  /** Two nodes sharing one key prefix. */
  async function twoNodes(options = OPTIONS): Promise<[FleetLimits, FleetLimits, RedisLink]> {
    const a = await openLink(redis);
    const b = await openLink(redis, { prefix: a.prefix });
    links.push(a, b);
    return [new FleetLimits(a, options), new FleetLimits(b, options), a];
  }

  it('two nodes share one per-domain concurrency budget', async () => {
    const [a, b] = await twoNodes();
    const first = await a.slot('domain', 'example.org', never());
    const second = await b.slot('domain', 'example.org', never());
    assert.equal(typeof first, 'function');
    assert.equal(typeof second, 'function');
    // The third waits, and gives up when its signal does.
    assert.equal(await b.slot('domain', 'example.org', AbortSignal.timeout(150)), null);
    // Another domain has its own budget.
    assert.equal(typeof (await b.slot('domain', 'example.net', never())), 'function');
    const waiting = a.slot('domain', 'example.org', AbortSignal.timeout(5000));
    (first as () => void)();
    assert.equal(typeof (await waiting), 'function', 'a released slot goes to the one waiting');
  });

  it("a crashed node's slots free themselves when their leases lapse", async () => {
    const [a, , link] = await twoNodes();
    // What a node that died while calling out leaves behind: leases nobody renews.
    const t = await link.client.time();
    const now = Number(t[0]) * 1000 + Math.floor(Number(t[1]) / 1000);
    await link.client.zadd(`${link.prefix}slots:mx:192.0.2.1`, now + 300, 'dead-node:1');
    assert.equal(await a.slot('mx', '192.0.2.1', AbortSignal.timeout(100)), null, 'held by the dead node');
    assert.equal(typeof (await a.slot('mx', '192.0.2.1', AbortSignal.timeout(5000))), 'function');
  });

  it('a held slot is renewed while its callout outlasts the lease', async () => {
    const [a, b] = await twoNodes({ ...OPTIONS, leaseMs: 400 });
    const held = await a.slot('mx', '192.0.2.9', never());
    assert.equal(typeof held, 'function');
    assert.equal(
      await b.slot('mx', '192.0.2.9', AbortSignal.timeout(600)),
      null,
      'still held after 4 leases',
    );
    (held as () => void)();
  });

  it('two nodes share one rate: burst tokens in all, then a wait', async () => {
    const [a, b] = await twoNodes();
    assert.equal(await a.token('domain', 'rate.example', never()), true);
    assert.equal(await b.token('domain', 'rate.example', never()), true);
    assert.equal(await a.token('domain', 'rate.example', never()), true);
    assert.equal(await b.token('domain', 'rate.example', AbortSignal.timeout(100)), false);
  });

  it('the flood breaker counts distinct never-seen addresses over every node, once each', async () => {
    const [a, b] = await twoNodes();
    // The same address asked again and again is one address, not a flood.
    for (let i = 0; i < 20; i++)
      assert.equal(await a.recordEvidence('flood.example', 'same@flood.example', 'unknown'), 'ok');
    const seen: string[] = [];
    for (let i = 0; i < 3; i++)
      seen.push(await (i % 2 ? a : b).recordEvidence('flood.example', `u${i}@flood.example`, 'unknown'));
    assert.deepEqual(seen, ['ok', 'ok', 'ok']); // 4 distinct addresses: one short of the threshold
    assert.equal(await b.recordEvidence('flood.example', 'u5@flood.example', 'unknown'), 'tripped');
    assert.equal(await a.recordEvidence('flood.example', 'u6@flood.example', 'unknown'), 'open');
    assert.equal(await a.recordEvidence('other.example', 'u6@other.example', 'unknown'), 'ok');
  });

  it('silence counts as the unknown does, witnesses outweigh both and lift a trip, fleet-wide', async () => {
    const [a, b] = await twoNodes();
    // A busy domain: confirmed senders outnumber the silent ones, no trip however many.
    for (let i = 0; i < 12; i++)
      assert.equal(
        await (i % 2 ? a : b).recordEvidence('busy.example', `ok${i}@busy.example`, 'exists'),
        'ok',
      );
    for (let i = 0; i < 11; i++)
      assert.equal(await a.recordEvidence('busy.example', `grey${i}@busy.example`, 'silent'), 'ok');
    // An MX that answers nothing: five addresses with no answer trip it, on either node.
    for (let i = 0; i < 4; i++)
      assert.equal(
        await (i % 2 ? a : b).recordEvidence('quiet.example', `r${i}@quiet.example`, 'silent'),
        'ok',
      );
    assert.equal(await b.recordEvidence('quiet.example', 'r4@quiet.example', 'silent'), 'tripped');
    assert.equal(await a.isFloodTripped('quiet.example'), true);
    // A trip on silence alone: the first confirmation (a greylisted sender's retry passing) lifts it.
    assert.equal(await a.recordEvidence('quiet.example', 'real@quiet.example', 'exists'), 'lifted');
    assert.equal(await b.isFloodTripped('quiet.example'), false);
    // Four silent and one user_unknown trip too; then it takes witnesses outnumbering them all.
    for (let i = 0; i < 4; i++)
      assert.equal(await a.recordEvidence('mixed.example', `r${i}@mixed.example`, 'silent'), 'ok');
    assert.equal(await b.recordEvidence('mixed.example', 'r4@mixed.example', 'unknown'), 'tripped');
    for (let i = 0; i < 5; i++)
      assert.equal(await a.recordEvidence('mixed.example', `real${i}@mixed.example`, 'exists'), 'open');
    assert.equal(await b.recordEvidence('mixed.example', 'real5@mixed.example', 'exists'), 'lifted');
    assert.equal(await b.isFloodTripped('mixed.example'), false);
    // An MX address is a key like a site; its trickle turn is one per interval, fleet-wide.
    assert.equal(await a.trickleTurn('mx:192.0.2.25', 60_000), true);
    assert.equal(await b.trickleTurn('mx:192.0.2.25', 60_000), false);
    assert.equal(await b.trickleTurn('mx:192.0.2.26', 60_000), true);
  });

  it('without Redis every call says local, and CalloutLimits keeps to its own limits', async () => {
    const [a, , link] = await twoNodes();
    const limits = new CalloutLimits(
      {
        globalConcurrency: 10,
        domainConcurrency: 1,
        domainRate: 1000,
        domainBurst: 1000,
        mxConcurrency: 1,
        mxRate: 1000,
        mxBurst: 1000,
        flood: { threshold: 100, windowMs: 60_000, cooldownMs: 60_000 },
        mxTrickleMs: 30_000,
      },
      a,
    );
    await redis.kill();
    try {
      assert.equal(await a.slot('domain', 'down.example', never()), 'local');
      assert.equal(await a.token('domain', 'down.example', never()), 'local');
      assert.equal(await a.recordEvidence('down.example', 'x@down.example', 'unknown'), 'local');
      assert.equal(await a.trickleTurn('mx:192.0.2.25', 1000), true, "the node's own interval alone");
      const slot = await limits.acquireDomain('down.example', never());
      assert.equal(typeof slot, 'function', 'the local slot alone');
      assert.equal(await limits.acquireDomain('down.example', AbortSignal.timeout(50)), 'domain_concurrency');
      assert.equal(link.up, false);
    } finally {
      await redis.restart();
    }
  });
});
