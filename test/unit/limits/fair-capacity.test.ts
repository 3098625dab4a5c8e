/**
 * One slow destination costs its own senders, not everyone's: callouts queued
 * behind a tarpit MX hold no slot of the global pool, and the pool hands a
 * freed slot to the destination holding the fewest. The first test is the
 * whole service with the default limits, real TCP to a tarpit and a healthy
 * loopback MX, and 110 senders at distinct domains all served by the tarpit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { limitOptions } from '../../../src/app/build.js';
import { defaultConfig } from '../../../src/config/load.js';
import { CalloutLimits } from '../../../src/limits/callout-limits.js';
import { FairPool } from '../../../src/limits/fair-pool.js';
import type { Release } from '../../../src/limits/semaphore.js';
import { StaticResolver, testEngineOptions, type ZoneRecords } from '../../support/engine.js';
import { STALL, startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';
import { testService, type TestService } from '../../support/service.js';

const TARPIT_DOMAINS = 110;

describe('a tarpit MX shared by many sender domains', { timeout: 60_000 }, () => {
  let tarpit: ScriptedServer;
  let healthy: ScriptedServer;
  let s: TestService;

  before(async () => {
    tarpit = await startScriptedServer({ host: '127.0.0.2', greeting: [STALL] });
    healthy = await startScriptedServer({
      host: '127.0.0.3',
      port: tarpit.port,
      replies: {
        RCPT: (line) => [line.includes('<alice@') ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'],
      },
    });
    const zone: Record<string, ZoneRecords> = {
      'mx.tarpit.test': { a: ['127.0.0.2'] },
      'mx.healthy.test': { a: ['127.0.0.3'] },
      'healthy.test': { mx: [{ exchange: 'mx.healthy.test', priority: 10 }] },
    };
    for (let i = 0; i < TARPIT_DOMAINS; i++)
      zone[`d${i}.tarpit.test`] = { mx: [{ exchange: 'mx.tarpit.test', priority: 10 }] };
    const base = testEngineOptions(tarpit.port);
    s = testService(tarpit.port, new StaticResolver(zone), {
      // The daemon's own defaults: 100 global slots, 2 per domain, 2 per MX address.
      limits: limitOptions(defaultConfig()),
      inlineBudgetMs: 5000,
      // The tarpit holds each session longer than any request waits.
      engine: {
        probe: { ...base.probe, timeouts: { ...base.probe.timeouts, greeting: 20_000 } },
        budgetMs: 30_000,
      },
    });
  });
  after(async () => {
    await s.verifier.close(0);
    await tarpit.close();
    await healthy.close();
  });

  it('does not defer a sender at an unrelated healthy domain', async () => {
    const stuck = Array.from({ length: TARPIT_DOMAINS }, (_, i) =>
      s.verifier.verify(`user@d${i}.tarpit.test`),
    );
    // The tarpit has its two sessions (its share); the other 108 callouts wait for its MX address.
    while (tarpit.sessions.length < 2) await new Promise((r) => setTimeout(r, 10));
    const heldWhileQueued = s.limits.snapshot().inFlight;

    const v = await s.verifier.verify('alice@healthy.test');
    assert.equal(v.reason, 'accepted', `${v.rule}: ${v.message}`);
    assert.equal(v.cache.hit, false);
    assert.equal(healthy.sessions.length, 1);
    assert.equal(heldWhileQueued, 2, 'only sessions that connect hold a global slot');

    // The tarpit's own senders are the ones kept waiting (pending, then a temporary answer).
    const answers = await Promise.all(stuck);
    assert.equal(answers.length, TARPIT_DOMAINS);
    for (const a of answers) assert.equal(a.temporary, true, `${a.address}: ${a.reason}`);
    assert.equal(tarpit.sessions.length, 2, 'the tarpit never had more than its share');
  });
});

/** Stalling listeners on 127.0.5.1..count, one port: one provider's many MX addresses, in one /24. */
async function tarpitFarm(count: number): Promise<ScriptedServer[]> {
  const first = await startScriptedServer({ host: '127.0.5.1', greeting: [STALL] });
  const farm = [first];
  for (let i = 2; i <= count; i++)
    farm.push(await startScriptedServer({ host: `127.0.5.${i}`, port: first.port, greeting: [STALL] }));
  return farm;
}

describe(
  'a provider whose many MX addresses stall, serving many sender domains',
  { timeout: 120_000 },
  () => {
    const ADDRESSES = 60; // 2 sessions each would be 120: more than the pool of 100
    let farm: ScriptedServer[];
    let healthy: ScriptedServer;
    before(async () => {
      farm = await tarpitFarm(ADDRESSES);
      healthy = await startScriptedServer({
        host: '127.0.0.3',
        port: farm[0]?.port ?? 0,
        replies: {
          RCPT: (line) => [line.includes('<alice@') ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'],
        },
      });
    });
    after(async () => {
      for (const t of farm) await t.close();
      await healthy.close();
    });
    const farmSessions = (): number => farm.reduce((n, t) => n + t.sessions.length, 0);

    /** 110 senders at distinct sites, each domain's MX named by `mxName(i)`, on the farm's addresses. */
    async function flood(mxName: (i: number) => string): Promise<void> {
      const zone: Record<string, ZoneRecords> = {
        'mx.healthy.test': { a: ['127.0.0.3'] },
        'healthy.test': { mx: [{ exchange: 'mx.healthy.test', priority: 10 }] },
      };
      for (let i = 0; i < TARPIT_DOMAINS; i++) {
        zone[mxName(i)] = { a: [`127.0.5.${(i % ADDRESSES) + 1}`] };
        zone[`sender${i}.test`] = { mx: [{ exchange: mxName(i), priority: 10 }] };
      }
      const port = farm[0]?.port ?? 0;
      const base = testEngineOptions(port);
      const s = testService(port, new StaticResolver(zone), {
        limits: limitOptions(defaultConfig()),
        inlineBudgetMs: 5000,
        engine: {
          probe: { ...base.probe, timeouts: { ...base.probe.timeouts, greeting: 20_000 } },
          budgetMs: 30_000,
        },
      });
      try {
        const from = farmSessions();
        const stuck = Array.from({ length: TARPIT_DOMAINS }, (_, i) =>
          s.verifier.verify(`user@sender${i}.test`),
        );
        // The farm's share of the pool (a quarter: 25 sessions) is taken; the other callouts wait.
        while (farmSessions() - from < 25) await new Promise((r) => setTimeout(r, 10));
        const v = await s.verifier.verify('alice@healthy.test');
        assert.equal(v.reason, 'accepted', `${v.rule}: ${v.message}`);
        assert.ok(s.limits.snapshot().inFlight <= 25, `in flight: ${s.limits.snapshot().inFlight}`);
        for (const a of await Promise.all(stuck))
          assert.equal(a.temporary, true, `${a.address}: ${a.reason}`);
        assert.equal(farmSessions() - from, 25, 'the farm never had more than its share');
      } finally {
        await s.verifier.close(0);
      }
    }

    it('MX hosts mx0..mx109 of one site: the site holds its share, a sender elsewhere is verified (was pending)', () =>
      flood((i) => `mx${i}.farm.test`));

    it('MX hosts at 110 different sites, all in one /24: the network holds its share (was pending)', () =>
      flood((i) => `mx.farm${i}.test`));
  },
);

describe('CalloutLimits: where each wait happens', () => {
  const signal = (): AbortSignal => new AbortController().signal;

  it('takes no global slot for a callout, only for a session its MX address lets connect', async () => {
    const limits = new CalloutLimits({
      ...limitOptions(defaultConfig()),
      globalConcurrency: 2,
      mxConcurrency: 1,
    });
    const domains = await Promise.all(
      ['a.test', 'b.test', 'c.test'].map((d) => limits.acquireDomain(d, signal())),
    );
    for (const d of domains)
      assert.equal(typeof d, 'function', 'three callouts are under way on a pool of two');
    const first = await limits.gate.acquire('192.0.2.1', signal());
    assert.ok(first);
    // A second session to the same MX waits for that MX, holding nothing of the pool...
    const queued = limits.gate.acquire('192.0.2.1', signal());
    // ...so a session to another MX address still gets the last global slot at once.
    const other = await limits.gate.acquire('198.51.100.7', signal());
    assert.ok(other);
    assert.equal(limits.snapshot().inFlight, 2);
    first();
    const second = await queued;
    assert.ok(second);
    assert.equal(limits.snapshot().inFlight, 2);
    second();
    other();
    assert.equal(limits.snapshot().inFlight, 0);
  });

  it('refuses a session that cannot get a global slot before the callout gives up, naming the pool', async () => {
    const limits = new CalloutLimits({ ...limitOptions(defaultConfig()), globalConcurrency: 1 });
    const refusals: string[] = [];
    limits.onRefusal = (what) => refusals.push(what);
    const held = await limits.gate.acquire('192.0.2.1', signal());
    const controller = new AbortController();
    const waiting = limits.gate.acquire('192.0.2.2', controller.signal);
    controller.abort();
    assert.equal(await waiting, null);
    assert.deepEqual(refusals, ['global']);
    held?.();
  });
});

describe('FairPool', () => {
  const signal = (): AbortSignal => new AbortController().signal;

  it('gives a freed slot to the waiting destination that holds the fewest, not the first in line', async () => {
    const pool = new FairPool(3);
    const a1 = await pool.acquire('tarpit', signal());
    const a2 = await pool.acquire('tarpit', signal());
    const b1 = await pool.acquire('busy', signal());
    const order: string[] = [];
    const granted = new Map<string, Release>();
    const wait = (key: string, name: string): Promise<void> =>
      pool.acquire(key, signal()).then((r) => {
        assert.ok(r);
        order.push(name);
        granted.set(name, r);
      });
    const waits = [wait('tarpit', 'tarpit-3'), wait('busy', 'busy-2'), wait('healthy', 'healthy-1')];
    const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
    a1?.(); // tarpit 1, busy 1, healthy 0
    await settle();
    assert.deepEqual(order, ['healthy-1'], 'healthy holds none: it goes first, although last in line');
    granted.get('healthy-1')?.(); // tarpit 1, busy 1: equal, so the longest waiting
    await settle();
    assert.deepEqual(order, ['healthy-1', 'tarpit-3']);
    a2?.();
    await Promise.all(waits);
    assert.deepEqual(order, ['healthy-1', 'tarpit-3', 'busy-2']);
    for (const release of [b1, granted.get('tarpit-3'), granted.get('busy-2')]) release?.();
    assert.equal(pool.total, 0);
  });

  it('forgets a waiter whose signal aborts, and never exceeds its size', async () => {
    const pool = new FairPool(1);
    const held = await pool.acquire('x', signal());
    const controller = new AbortController();
    const gone = pool.acquire('y', controller.signal);
    controller.abort();
    assert.equal(await gone, null);
    const next = pool.acquire('z', signal());
    assert.equal(pool.total, 1);
    held?.();
    held?.(); // a second release is a no-op
    const z = await next;
    assert.ok(z);
    assert.equal(pool.total, 1);
    z();
    assert.equal(pool.total, 0);
  });
});
