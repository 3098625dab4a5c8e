/**
 * The service against scripted loopback SMTP servers that count sessions:
 * coalescing, cache and domain facts, limits, the flood breaker, the inline budget.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startScriptedServer, type ScriptOptions, type ScriptedServer } from '../../support/scripted-smtp.js';
import { StaticResolver } from '../../support/engine.js';
import { testService } from '../../support/service.js';

const servers: ScriptedServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** A server at 127.0.0.N for `domain`, knowing the users listed. */
async function mailDomain(domain: string, users: string[], script: ScriptOptions = {}) {
  const server = await startScriptedServer({
    replies: {
      RCPT: (line) => [
        users.some((u) => line.includes(`<${u}@`)) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n',
      ],
    },
    ...script,
  });
  servers.push(server);
  const resolver = new StaticResolver({
    [domain]: { mx: [{ exchange: `mx.${domain}`, priority: 10 }] },
    [`mx.${domain}`]: { a: [server.host] },
  });
  return { server, resolver };
}

describe('coalescing', () => {
  it('100 concurrent checks of one address make one callout', async () => {
    const { server, resolver } = await mailDomain('coalesce.test', ['alice'], {
      greeting: [{ delay: 150 }, '220 slow\r\n'],
    });
    const { verifier, observer } = testService(server.port, resolver);
    const verdicts = await Promise.all(
      Array.from({ length: 100 }, () => verifier.verify('alice@coalesce.test')),
    );
    assert.equal(server.sessions.length, 1);
    assert.equal(observer.callouts.length, 1);
    assert.ok(verdicts.every((v) => v.reason === 'accepted'));
    assert.equal(verdicts.filter((v) => !v.cache.hit).length, 100);
  });
});

describe('cache', () => {
  it('answers a second request from the cache with no session', async () => {
    const { server, resolver } = await mailDomain('cache.test', ['alice']);
    const { verifier } = testService(server.port, resolver);
    const first = await verifier.verify('alice@cache.test');
    const second = await verifier.verify('alice@cache.test');
    assert.deepEqual([first.cache.hit, second.cache.hit], [false, true]);
    assert.equal(second.reason, 'accepted');
    assert.equal(server.sessions.length, 1);
  });

  it('learns that a domain is catch-all and answers other addresses from that fact', async () => {
    const { server, resolver } = await mailDomain('catchall.test', [], {
      replies: { RCPT: ['250 2.1.5 Ok\r\n'] },
    });
    const { verifier } = testService(server.port, resolver);
    assert.equal((await verifier.verify('a@catchall.test')).reason, 'catch_all');
    const other = await verifier.verify('b@catchall.test');
    assert.equal(other.reason, 'catch_all');
    assert.deepEqual(other.cache, { hit: true, fact: 'catch_all', ageSeconds: 0 });
    assert.equal(other.rule, 'cache.domain-fact.catch_all');
    assert.equal(other.address, 'b@catchall.test');
    assert.equal(server.sessions.length, 1);
  });

  it('learns that a domain refuses the null sender', async () => {
    const { server, resolver } = await mailDomain('nonull.test', ['alice'], {
      replies: { MAIL: ['550 5.7.1 <>: Sender address rejected: Access denied\r\n'] },
    });
    const { verifier } = testService(server.port, resolver);
    assert.equal((await verifier.verify('alice@nonull.test')).reason, 'null_sender_rejected');
    const other = await verifier.verify('bob@nonull.test');
    assert.equal(other.cache.fact, 'null_sender_rejected');
    assert.equal(server.sessions.length, 1);
  });

  it('learns that a domain refuses us at the greeting', async () => {
    const { server, resolver } = await mailDomain('refuses.test', ['alice'], {
      greeting: ['554 5.7.1 You are blocked\r\n'],
    });
    const { verifier } = testService(server.port, resolver);
    assert.equal((await verifier.verify('alice@refuses.test')).reason, 'policy_rejected');
    assert.equal((await verifier.verify('bob@refuses.test')).cache.fact, 'refuses_us');
  });

  it('learns that every MX of a domain is unreachable', async () => {
    const resolver = new StaticResolver({
      'down.test': { mx: [{ exchange: 'mx.down.test', priority: 1 }] },
      'mx.down.test': { a: ['127.0.0.9'] },
    });
    const { verifier } = testService(1, resolver);
    assert.equal((await verifier.verify('alice@down.test')).reason, 'connection_failed');
    assert.equal((await verifier.verify('bob@down.test')).cache.fact, 'unreachable');
  });

  it('refreshes a stale good entry in the background and never replaces it with a failure', async () => {
    const { server, resolver } = await mailDomain('refresh.test', ['alice']);
    let clock = Date.now();
    const svc = testService(server.port, resolver, { now: () => clock });
    assert.equal((await svc.verifier.verify('alice@refresh.test')).reason, 'accepted');
    await server.close();
    clock += 2 * 86_400_000; // past the refresh time, before expiry
    const stale = await svc.verifier.verify('alice@refresh.test');
    assert.equal(stale.reason, 'accepted');
    assert.equal(stale.cache.hit, true);
    // The refresh runs in the background: wait for it (bounded), however slow the machine.
    for (let i = 0; i < 250 && svc.observer.callouts.length < 2; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(svc.observer.callouts.length, 2, 'a refresh callout was made');
    assert.equal(svc.observer.callouts[1]?.reason, 'connection_failed');
    const after = await svc.verifier.verify('alice@refresh.test');
    assert.equal(after.reason, 'accepted', 'the failed refresh did not replace the good entry');
  });
});

describe('limits and the flood breaker', () => {
  it('answers rate_limited (temporary, never a rejection) when no slot comes free within the budget', async () => {
    const { server, resolver } = await mailDomain('busy.test', ['a', 'b', 'c'], {
      greeting: [{ delay: 500 }, '220 slow\r\n'],
    });
    const svc = testService(server.port, resolver, { limits: { domainConcurrency: 1 }, inlineBudgetMs: 200 });
    const first = svc.verifier.verify('a@busy.test');
    // Once the first is in its session (the only slot), the second can only queue behind it.
    while (server.sessions.length === 0) await new Promise((r) => setTimeout(r, 5));
    const second = await svc.verifier.verify('b@busy.test');
    assert.equal(
      (await first).reason,
      'pending',
      'the first got the slot, but the server is slower than the budget',
    );
    assert.equal(second.reason, 'rate_limited', 'the second could not start within its budget');
    assert.equal(second.temporary, true);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(server.sessions.length, 1, 'the second never got a slot');
    assert.equal((await svc.verifier.verify('b@busy.test')).reason, 'pending');
  });

  it('lets addresses of one domain that wait at the same time share one session', async () => {
    const { server, resolver } = await mailDomain('share.test', ['a', 'b', 'c']);
    const svc = testService(server.port, resolver, { limits: { domainConcurrency: 1 } });
    const verdicts = await Promise.all(
      ['a', 'b', 'c', 'x', 'y'].map((l) => svc.verifier.verify(`${l}@share.test`)),
    );
    assert.deepEqual(
      verdicts.map((v) => v.reason),
      ['accepted', 'accepted', 'accepted', 'user_unknown', 'user_unknown'],
    );
    assert.equal(server.sessions.length, 1, 'one session for all five');
    const rcpts = server.sessions[0]?.commands.filter((c) => c.startsWith('RCPT')) ?? [];
    assert.equal(rcpts.length, 6, 'one catch-all probe, then each address');
  });

  it('limits sessions per MX address through the engine gate', async () => {
    const { server } = await mailDomain('mxgate.test', ['a']);
    const zone = new StaticResolver({
      'one.test': { mx: [{ exchange: 'mx.shared.test', priority: 1 }] },
      'two.test': { mx: [{ exchange: 'mx.shared.test', priority: 1 }] },
      'mx.shared.test': { a: [server.host] },
    });
    // One session token per 100 s at that MX address: the second domain's callout cannot get one within its budget.
    const svc = testService(server.port, zone, {
      limits: { mxRate: 0.01, mxBurst: 1 },
      engine: { budgetMs: 500 },
    });
    const [a, b] = await Promise.all([svc.verifier.verify('a@one.test'), svc.verifier.verify('a@two.test')]);
    assert.deepEqual([a.reason, b.reason].sort(), ['accepted', 'rate_limited']);
    assert.equal(server.sessions.length, 1);
  });
});

describe('inline budget', () => {
  it('answers pending at once, finishes the callout in the background, and serves the retry from cache', async () => {
    const { server, resolver } = await mailDomain('slow.test', ['alice'], {
      replies: {
        RCPT: (line) => [{ delay: 600 }, line.includes('<alice@') ? '250 Ok\r\n' : '550 5.1.1 no\r\n'],
      },
    });
    const svc = testService(server.port, resolver, { inlineBudgetMs: 200 });
    const t0 = Date.now();
    const first = await svc.verifier.verify('alice@slow.test');
    assert.equal(first.reason, 'pending');
    assert.equal(first.temporary, true);
    assert.ok(Date.now() - t0 < 500);
    await new Promise((r) => setTimeout(r, 1500));
    const retry = await svc.verifier.verify('alice@slow.test');
    assert.equal(retry.reason, 'accepted');
    assert.equal(retry.cache.hit, true);
    assert.equal(server.sessions.length, 1);
  });
});

describe('skip list and statistics', () => {
  it('never calls out skipped domains and their subdomains', async () => {
    const { server, resolver } = await mailDomain('skip.test', ['alice']);
    const svc = testService(server.port, resolver, { skipDomains: ['skip.test'] });
    assert.equal((await svc.verifier.verify('alice@skip.test')).reason, 'skipped');
    assert.equal((await svc.verifier.verify('alice@sub.skip.test')).reason, 'skipped');
    assert.equal(server.sessions.length, 0);
  });

  it('counts requests, cache hits and SMTP refusals', async () => {
    const { server, resolver } = await mailDomain('count.test', ['alice']);
    const svc = testService(server.port, resolver);
    await svc.verifier.verify('alice@count.test');
    await svc.verifier.verify('alice@count.test');
    await svc.verifier.verify('nobody@count.test');
    await svc.verifier.verify('bad address');
    const today = new Date().toISOString().slice(0, 10);
    const c = await svc.stats.sum(today, today);
    assert.equal(c.requests, 4);
    assert.equal(c.cache_hits, 1);
    assert.equal(c.callouts, 2);
    assert.equal(c.smtp_sessions, 2);
    assert.equal(c.refused_rcpt_to, 1);
    assert.equal(c['reason.accepted'], 2);
    assert.equal(c['reason.user_unknown'], 1);
    assert.equal(c['reason.invalid_syntax'], 1);
  });
});

describe('a domain whose MX punishes the random probe (issue 9, item 3)', () => {
  it('is remembered, so the next callout asks the address first, in one session', async () => {
    const { server, resolver } = await mailDomain('punish.test', ['alice', 'bob'], {
      replies: {
        RCPT: (line) =>
          /<(alice|bob)@/.test(line)
            ? ['250 2.1.5 Ok\r\n']
            : [
                '550 5.1.1 <x@punish.test>: Recipient address rejected: User unknown in local recipient table\r\n',
                '421 4.7.0 mx.punish.test Error: too many errors\r\n',
                { do: 'close' },
              ],
      },
    });
    const { verifier } = testService(server.port, resolver);
    const first = await verifier.verify('alice@punish.test');
    assert.equal(first.reason, 'accepted');
    assert.equal(server.sessions.length, 2, 'the punished session, then the address alone');
    const second = await verifier.verify('bob@punish.test');
    assert.equal(second.reason, 'accepted');
    assert.equal(server.sessions.length, 3, 'one session for the next address');
    const rcpts = server.sessions[2]?.commands.filter((c) => c.startsWith('RCPT')) ?? [];
    assert.equal(rcpts[0], 'RCPT TO:<bob@punish.test>', 'the address first, the probe last');
    assert.equal(second.catchAllProbe, false);
  });
});
