/**
 * Fleet mode end to end: three `cbv serve` processes on loopback share one
 * real redis-server, in front of one loopback SMTP server that counts the
 * sessions they open (the sender domain is routed to it, so no DNS is
 * involved). What a fleet promises: one callout per address whichever node
 * is asked, one politeness budget per domain, one flood breaker, and Redis
 * never a single point of failure for mail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCountingServer, type CountingServer } from '../support/counting-smtp.js';
import { startFleetNode, type FleetNode } from '../support/fleet-node.js';
import { PolicyClient, rcptRequest } from '../support/policy-client.js';
import { startRedis, type TestRedis } from '../support/redis-server.js';
import { makeTempDir, removeTempDir, sleep } from '../support/testbed/process.js';

/** One sender domain per test, so that one test's new addresses never count towards another's flood breaker. */
const DOMAINS = ['coalesce.test', 'restart.test', 'stream.test', 'limits.test', 'flood.test'];

let redis: TestRedis;
let smtp: CountingServer;
let dir: string;
let nodes: FleetNode[] = [];

/** Ask one node about one sender, on a connection of its own (as one smtpd process would). */
async function ask(node: FleetNode, sender: string): Promise<string> {
  const client = await PolicyClient.open(node.policy);
  try {
    return await client.ask(rcptRequest({ sender }));
  } finally {
    client.close();
  }
}

async function metric(node: FleetNode, name: string): Promise<number | null> {
  const text = await (await fetch(`${node.http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : null;
}

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(100);
  }
}

const eventsOf = (node: FleetNode, code: string): Record<string, unknown>[] =>
  node.events().filter((e) => e.event === code);

describe('a fleet of three cbv nodes sharing one Redis', { timeout: 240_000 }, () => {
  before(async () => {
    redis = await startRedis();
    smtp = await startCountingServer();
    dir = await makeTempDir('fleet');
    const config = {
      verify: { allow_targets: ['127.0.0.0/8'], helo_name: 'verifier.test', starttls: 'off' },
      service: {
        routes: Object.fromEntries(DOMAINS.map((d) => [d, `127.0.0.1:${smtp.port}`])),
        inline_budget: 15,
      },
      cache: { backend: 'redis' },
      limits: {
        domain_concurrency: 2,
        domain_rate: 1000,
        domain_burst: 1000,
        mx_concurrency: 50, // so that only the per-domain limit can hold sessions back
        mx_rate: 1000,
        mx_burst: 1000,
        flood_threshold: 50,
        flood_window: 60,
        flood_cooldown: 60,
      },
      redis: { url: redis.url, prefix: 'fleet:', retry_after: 1 },
      policy: { listen: ['127.0.0.1:0'] },
      http: { listen: ['127.0.0.1:0'] },
      logging: { level: 'info' },
    };
    nodes = await Promise.all(
      ['mx1', 'mx2', 'mx3'].map((name) =>
        startFleetNode(name, dir, { ...config, redis: { ...config.redis, node_name: name } }),
      ),
    );
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await smtp.close();
    await redis.stop();
    if (dir) await removeTempDir(dir);
  });

  it('100 concurrent requests for one never-seen address over three nodes make one callout', async () => {
    smtp.reset();
    smtp.setHoldMs(300); // the first callout is still running when every request has arrived
    const sender = 'nobody.coalesced@coalesce.test';
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) => ask(nodes[i % 3] as FleetNode, sender)),
    );
    smtp.setHoldMs(0);
    assert.equal(smtp.sessions(), 1, 'one SMTP session for the whole fleet');
    assert.deepEqual(smtp.rcpts, [sender]);
    // Every node answered with the one callout's verdict (user unknown: a rejection).
    for (const reply of replies) assert.match(reply, /^action=550 5\.1\.7 /);
    for (const node of nodes)
      await until(`${node.name} logged its answer`, () =>
        Promise.resolve(eventsOf(node, 'verify.result').some((e) => e.address === sender)),
      );
  });

  it('a restarted node answers from Redis for addresses other nodes verified, without a callout', async () => {
    smtp.reset();
    const sender = 'restart.check@restart.test';
    assert.equal(await ask(nodes[0] as FleetNode, sender), 'action=DUNNO');
    assert.equal(smtp.sessions(), 1);
    const node = nodes[2] as FleetNode;
    await node.restart();
    assert.equal(await ask(node, sender), 'action=DUNNO');
    assert.equal(smtp.sessions(), 1, 'no second callout');
    // Log lines are written in batches: wait for the line, then read what it says.
    const logged = (): Record<string, unknown> | undefined =>
      eventsOf(node, 'verify.result').find((e) => e.address === sender);
    await until('the verify.result line', () => Promise.resolve(logged() !== undefined));
    assert.equal(logged()?.cached, true);
  });

  it('per-domain concurrency holds across the three nodes', async () => {
    smtp.reset();
    smtp.setHoldMs(300); // each session holds its RCPT reply: they overlap unless limited
    const senders = Array.from({ length: 12 }, (_, i) => `limit${i}@limits.test`);
    const replies = await Promise.all(senders.map((s, i) => ask(nodes[i % 3] as FleetNode, s)));
    smtp.setHoldMs(0);
    assert.deepEqual(
      replies.filter((r) => r !== 'action=DUNNO'),
      [],
      'every sender verified (within the inline budget)',
    );
    assert.equal(smtp.rcpts.length, 12);
    // Each node alone allows 2; three nodes without a shared budget would reach 6.
    assert.ok(smtp.peakActive() <= 2, `peak of ${smtp.peakActive()} sessions in a transaction at once`);
    assert.equal(smtp.peakActive(), 2, 'the budget is used, not just undershot');
  });

  it('a forged flood spread over the three nodes trips the breaker fleet-wide', async () => {
    smtp.reset();
    // 20 never-seen addresses per node that the MX does not know (the counting server refuses
    // "nobody*"): below the threshold of 50 for any one node, 60 for the fleet.
    const replies: string[] = [];
    for (let round = 0; round < 20; round++) {
      replies.push(
        ...(await Promise.all(nodes.map((node, n) => ask(node, `nobody.forged${round}.${n}@flood.test`)))),
      );
    }
    const held = replies.filter((r) => /flood|too many/i.test(r));
    assert.ok(held.length >= 9, `${held.length} requests held back by the breaker`);
    assert.ok(smtp.rcpts.length <= 51, `${smtp.rcpts.length} callouts reached the victim`);
    // Now every node refuses to call this domain, for an address none of them has seen.
    for (const [n, node] of nodes.entries()) {
      const before = smtp.sessions();
      const reply = await ask(node, `fresh${n}@flood.test`);
      assert.match(reply, /^action=DEFER_IF_PERMIT /);
      assert.equal(smtp.sessions(), before, `${node.name} made no callout`);
    }
    // Exactly one node saw the sighting that tripped it, and says so (log lines come in batches).
    const tripped = (): number => nodes.flatMap((node) => eventsOf(node, 'flood.tripped')).length;
    await until('a flood.tripped line', () => Promise.resolve(tripped() > 0));
    assert.equal(tripped(), 1);
  });

  it('Redis killed mid-stream: every request answered, none rejected; restarted: the nodes share again', async () => {
    smtp.reset();
    const total = 150;
    const replies: string[] = [];
    let sent = 0;
    let killed = false;
    // Ten clients in parallel, each sending requests one after another, over the three nodes.
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (sent < total) {
          const i = sent++;
          if (i === 50 && !killed) {
            killed = true;
            await redis.kill();
          }
          replies.push(await ask(nodes[i % 3] as FleetNode, `stream${i % 40}@stream.test`));
        }
      }),
    );
    assert.equal(replies.length, total);
    // Every address exists: the only right answer is DUNNO. No rejection, no fail-safe, no 5xx.
    assert.deepEqual(
      replies.filter((r) => r !== 'action=DUNNO'),
      [],
    );
    for (const node of nodes) {
      assert.equal(eventsOf(node, 'policy.fail_safe').length, 0, `${node.name}: no fail-safe answer`);
      await until(`${node.name} logged redis.down`, () =>
        Promise.resolve(eventsOf(node, 'redis.down').length > 0),
      );
      assert.equal(
        eventsOf(node, 'redis.down').length,
        1,
        `${node.name}: one redis.down event, not one a request`,
      );
      assert.equal(await metric(node, 'cbv_redis_up'), 0);
    }

    await redis.restart();
    for (const node of nodes)
      await until(`${node.name} back on Redis`, async () => (await metric(node, 'cbv_redis_up')) === 1);
    // One redis.up at start, one on rejoining (log lines are written in batches: wait for them).
    for (const node of nodes)
      await until(`${node.name} logged redis.up again`, () =>
        Promise.resolve(eventsOf(node, 'redis.up').length >= 2),
      );
    smtp.reset();
    const sender = 'after.restart@stream.test';
    assert.equal(await ask(nodes[0] as FleetNode, sender), 'action=DUNNO');
    assert.equal(await ask(nodes[1] as FleetNode, sender), 'action=DUNNO');
    assert.equal(await ask(nodes[2] as FleetNode, sender), 'action=DUNNO');
    assert.equal(smtp.sessions(), 1, 'the result written after the restart is shared');
  });
});
