/**
 * Fleet statistics: each node counts its own and adds to the fleet's totals
 * in Redis; `cbv stats --fleet` and `/v1/stats?scope=fleet` show the sum; an
 * outage loses no count.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FleetMirrorStats, RedisStatsStore } from '../../../src/stats/redis-stats.js';
import { MemoryStatsStore } from '../../../src/stats/stats-store.js';
import { cbv } from '../../support/cli.js';
import { at, startHttpDaemon } from '../../support/http-daemon.js';
import { openLink } from '../../support/redis-link.js';
import { startRedis, type TestRedis } from '../../support/redis-server.js';

const DAY = '2026-11-30';

describe('fleet statistics', { timeout: 120_000 }, () => {
  let redis: TestRedis;
  let dir: string;
  before(async () => {
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), 'cbv-fleet-stats-'));
  });
  after(async () => {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sums every node, keeps each node its own, and loses nothing while Redis is away', async () => {
    const a = await openLink(redis, { nodeName: 'mx1' });
    const b = await openLink(redis, { prefix: a.prefix, nodeName: 'mx2' });
    const localA = new MemoryStatsStore();
    const onA = new FleetMirrorStats(localA, new RedisStatsStore(a));
    const onB = new FleetMirrorStats(new MemoryStatsStore(), new RedisStatsStore(b));
    await onA.add(DAY, { requests: 3, callouts: 1 });
    await onB.add(DAY, { requests: 5 });
    const fleet = new RedisStatsStore(a);
    assert.deepEqual(await fleet.sum(DAY, DAY), { requests: 8, callouts: 1 });
    assert.deepEqual(await fleet.nodes(DAY, DAY), ['mx1', 'mx2']);
    assert.deepEqual(await onA.sum(DAY, DAY), { requests: 3, callouts: 1 }, 'the node keeps its own');

    await redis.kill();
    await onA.add(DAY, { requests: 2 });
    await onA.addHourly(`${DAY}T10`, { 'result.deliverable': 2 });
    await redis.restart();
    const again = await openLink(redis, { prefix: a.prefix });
    const deadline = Date.now() + 15_000;
    // The next flush after Redis returns carries what it could not take.
    while (!a.up && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await onA.add(DAY, { requests: 1 });
    // This test Redis keeps nothing across a kill (no persistence; docs/fleet.md says to turn it
    // on): what it holds now is exactly what the node retained during the outage, plus the new count.
    assert.deepEqual(await new RedisStatsStore(again).sum(DAY, DAY), { requests: 2 + 1 });
    assert.deepEqual(await new RedisStatsStore(again).perHour(`${DAY}T00`, `${DAY}T23`), [
      { hour: `${DAY}T10`, counts: { 'result.deliverable': 2 } },
    ]);
    await Promise.all([a.close(), b.close(), again.close()]);
  });

  it('GET /v1/stats?scope=fleet sums the fleet; a single node refuses the scope', async () => {
    const prefix = `http${process.pid}:`;
    const fleetNode = (name: string) =>
      startHttpDaemon({
        config: {
          cache: { backend: 'redis' },
          redis: { url: redis.url, prefix, node_name: name },
          service: { data_dir: join(dir, name) },
        },
      });
    const [one, two] = [await fleetNode('web1'), await fleetNode('web2')];
    const single = await startHttpDaemon();
    try {
      assert.equal((await one.get(`/v1/verify?address=${at('alice')}`)).status, 200);
      assert.equal((await two.get(`/v1/verify?address=${at('alice')}`)).status, 200);
      assert.equal((await two.get(`/v1/verify?address=${at('nobody')}`)).status, 200);
      await one.daemon.service.verifier.stats.flush();
      await two.daemon.service.verifier.stats.flush();
      const fleet = (await (await one.get('/v1/stats?scope=fleet')).json()) as {
        scope: string;
        nodes: string[];
        rows: { key: string; value: number }[];
      };
      const value = (key: string): number | undefined => fleet.rows.find((r) => r.key === key)?.value;
      assert.equal(fleet.scope, 'fleet');
      assert.deepEqual(fleet.nodes, ['web1', 'web2']);
      assert.equal(value('requests'), 3);
      // web2 answered alice from the cache web1 filled: two callouts for three requests.
      assert.equal(value('callouts'), 2);
      assert.equal(value('cache_hits'), 1);
      const mine = (await (await one.get('/v1/stats')).json()) as {
        fleet: boolean;
        rows: { key: string; value: number }[];
      };
      assert.equal(mine.fleet, true);
      assert.equal(mine.rows.find((r) => r.key === 'requests')?.value, 1);
      const refused = await single.get('/v1/stats?scope=fleet');
      assert.equal(refused.status, 400);
      assert.equal(((await (await single.get('/v1/stats')).json()) as { fleet: boolean }).fleet, false);
    } finally {
      await Promise.all([one.close(), two.close(), single.close()]);
    }
  });

  it('cbv stats --fleet prints the fleet table; without fleet mode it says what is needed', async () => {
    const link = await openLink(redis, { nodeName: 'cli1' });
    await new RedisStatsStore(link).add(new Date().toISOString().slice(0, 10), { requests: 7 });
    await link.close();
    const config = join(dir, 'fleet.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        cache: { backend: 'redis' },
        redis: { url: redis.url, prefix: link.prefix },
        service: { data_dir: join(dir, 'cli') },
      }),
    );
    const r = await cbv(['stats', '--fleet', '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Fleet of 1 node: cli1\n/);
    assert.match(r.stdout, /verification requests\s*:\s+7/);
    const single = await cbv(['stats', '--fleet']);
    assert.equal(single.code, 64);
    assert.match(single.stderr, /--fleet needs cache.backend redis/);
  });
});
