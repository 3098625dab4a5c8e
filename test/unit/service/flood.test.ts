/**
 * The flood breaker and its trickle, through the service against scripted loopback MXes that
 * count sessions: it trips on the forged-flood signature (distinct never-seen local parts the
 * MX does not know), never on volume; known senders are answered from the cache during a
 * flood; deferred senders are verified as a trickle, several per session, retried ones first.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FloodBreaker } from '../../../src/limits/flood-breaker.js';
import type { ServiceVerdict } from '../../../src/service/verdict.js';
import { StaticResolver } from '../../support/engine.js';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';
import { testService } from '../../support/service.js';
import { SHIPPED_LIMITS } from '../../support/shipped-limits.js';

const servers: ScriptedServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** A scripted MX for `domain` that knows the local parts `exists` accepts. */
async function mailDomain(domain: string, exists: (local: string) => boolean) {
  const server = await startScriptedServer({
    replies: {
      RCPT: (line) => {
        const local = /<([^@>]*)@/.exec(line)?.[1] ?? '';
        return [
          exists(local) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 <x>: Recipient address rejected: User unknown\r\n',
        ];
      },
    },
  });
  servers.push(server);
  const resolver = new StaticResolver({
    [domain]: { mx: [{ exchange: `mx.${domain}`, priority: 10 }] },
    [`mx.${domain}`]: { a: [server.host] },
  });
  return { server, resolver };
}

const rcptsOf = (server: ScriptedServer) =>
  server.sessions.map((s) => s.commands.filter((c) => c.startsWith('RCPT')).length);
const reasons = (vs: ServiceVerdict[]) => [...new Set(vs.map((v) => `${v.reason}/${v.rule}`))].sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the flood breaker', () => {
  it('trips on a forged flood within its first sessions, answers no forged sender 2xx, and serves a known sender from the cache', async () => {
    const { server, resolver } = await mailDomain('forged.test', (l) => l === 'known');
    const svc = testService(server.port, resolver, { limits: SHIPPED_LIMITS });
    assert.equal((await svc.verifier.verify('known@forged.test')).reason, 'accepted');
    const before = server.sessions.length;
    const flood = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        svc.verifier.verify(`r${String(i).padStart(4, '0')}@forged.test`),
      ),
    );
    assert.deepEqual(reasons(flood), ['rate_limited/service.flood-breaker', 'user_unknown/rcpt.bad-mailbox']);
    assert.ok(flood.every((v) => v.result !== 'deliverable'));
    // The sessions already under way when the first answers came (domain_concurrency), no more.
    assert.ok(server.sessions.length - before <= 2, `sessions: ${rcptsOf(server).join(',')}`);
    assert.deepEqual(svc.observer.tripped, ['forged.test']);
    // The known sender: from the cache, no session, no added delay beyond a lookup.
    const sessions = server.sessions.length;
    const known = await svc.verifier.verify('known@forged.test');
    assert.deepEqual([known.reason, known.cache.hit], ['accepted', true]);
    assert.equal(server.sessions.length, sessions);
    // A forged sender asked again is answered from the cache too (its 5xx) if it was called out,
    // and deferred again if it was not: never a callout of its own.
    const again = await Promise.all(flood.map((v) => svc.verifier.verify(v.address)));
    assert.deepEqual(
      again.map((v) => v.reason),
      flood.map((v) => v.reason),
    );
    assert.equal(server.sessions.length, sessions);
  });

  it('never trips a busy domain whose new senders exist, and batches them into few sessions', async () => {
    const { server, resolver } = await mailDomain('busy.test', (l) => l.startsWith('user'));
    const svc = testService(server.port, resolver, { limits: SHIPPED_LIMITS });
    const verdicts = await Promise.all(
      Array.from({ length: 60 }, (_, i) => svc.verifier.verify(`user${i}@busy.test`)),
    );
    assert.deepEqual(reasons(verdicts), ['accepted/rcpt.2xx']);
    assert.deepEqual(svc.observer.tripped, []);
    // 60 addresses, at most 7 per session (8 RCPTs with the catch-all probe).
    assert.ok(server.sessions.length <= 10, `sessions: ${rcptsOf(server).join(',')}`);
    assert.ok(rcptsOf(server).every((n) => n <= 8));
  });

  it('does not trip for a busy domain with a few unknown senders among many that exist', async () => {
    const { server, resolver } = await mailDomain('mixed.test', (l) => l.startsWith('user'));
    const svc = testService(server.port, resolver, { limits: SHIPPED_LIMITS });
    const addresses = Array.from({ length: 56 }, (_, i) => (i % 8 === 0 ? `gone${i}` : `user${i}`));
    const verdicts = await Promise.all(addresses.map((l) => svc.verifier.verify(`${l}@mixed.test`)));
    assert.equal(
      verdicts.filter((v) => v.reason === 'user_unknown').length,
      7,
      JSON.stringify(verdicts.map((v) => v.address + ':' + v.reason + ':' + v.rule)),
    );
    assert.equal(verdicts.filter((v) => v.reason === 'accepted').length, 49);
    assert.deepEqual(svc.observer.tripped, []);
  });

  it('makes one callout for 100 messages from one new sender, and does not trip', async () => {
    const { server, resolver } = await mailDomain('one.test', () => false);
    const svc = testService(server.port, resolver, { limits: SHIPPED_LIMITS });
    const verdicts = await Promise.all(
      Array.from({ length: 100 }, () => svc.verifier.verify('newcomer@one.test')),
    );
    assert.deepEqual(reasons(verdicts), ['user_unknown/rcpt.bad-mailbox']);
    for (let i = 0; i < 100; i++) await svc.verifier.verify('newcomer@one.test');
    assert.equal(server.sessions.length, 1);
    assert.deepEqual(svc.observer.tripped, []);
    assert.equal(svc.limits.flood.isTripped('one.test'), false);
  });
});

/**
 * A scripted MX serving `count` subdomains of `site` (as a wildcard MX does), and `site` itself;
 * `exists` decides per local part.
 */
async function wildcardSite(site: string, count: number, exists: (local: string) => boolean) {
  const { server } = await mailDomain(site, exists);
  const zone: Record<string, { mx?: { exchange: string; priority: number }[]; a?: string[] }> = {
    [site]: { mx: [{ exchange: `mx.${site}`, priority: 10 }] },
    [`mx.${site}`]: { a: [server.host] },
  };
  const subdomains = Array.from({ length: count }, (_, i) => `s${String(i).padStart(4, '0')}.${site}`);
  for (const sub of subdomains) zone[sub] = { mx: [{ exchange: `mx.${site}`, priority: 10 }] };
  return { server, resolver: new StaticResolver(zone), subdomains };
}

describe('a flood spread over the subdomains of one site', () => {
  it('trips the site (its registrable domain) within its first sessions: 200 forged senders at 200 subdomains', async () => {
    const { server, resolver, subdomains } = await wildcardSite('wild.test', 200, (l) => l === 'known');
    const svc = testService(server.port, resolver, { limits: SHIPPED_LIMITS });
    const flood = await Promise.all(subdomains.map((sub, i) => svc.verifier.verify(`r${i}@${sub}`)));
    assert.deepEqual(reasons(flood), ['rate_limited/service.flood-breaker', 'user_unknown/rcpt.bad-mailbox']);
    assert.ok(flood.every((v) => v.result !== 'deliverable'));
    // The sessions under way before the first answers (threshold never-seen addresses), no more.
    assert.ok(server.sessions.length <= 10, `sessions: ${rcptsOf(server).join(',')}`);
    assert.deepEqual(svc.observer.tripped, ['wild.test']);
    assert.equal(svc.limits.flood.isTripped('another.sub.wild.test'), true);
    assert.equal(svc.limits.flood.isTripped('wild.test'), true);
    await svc.verifier.close(0);
  });

  it('counts one local part at different subdomains as different addresses, and repeats of one address once', () => {
    const flood = new FloodBreaker(SHIPPED_LIMITS.flood);
    for (let i = 0; i < 4; i++) flood.settle(`s${i}.site.test`, 'info', 'unknown');
    for (let i = 0; i < 10; i++) flood.settle('s0.site.test', 'info', 'unknown');
    assert.equal(flood.isTripped('site.test'), false, 'four distinct addresses, one of them repeated');
    assert.equal(flood.settle('s4.site.test', 'info', 'unknown'), 'tripped');
    assert.equal(flood.isTripped('s9.site.test'), true);
    // Sites the Public Suffix List separates stay apart (its private section included).
    for (let i = 0; i < 5; i++) flood.settle(`user${i}.github.io`, `r${i}`, 'unknown');
    assert.equal(flood.isTripped('user0.github.io'), false);
    assert.equal(flood.isTripped('github.io'), false);
    for (let i = 0; i < 5; i++) flood.settle(`d${i}.example.co.uk`, `r${i}`, 'unknown');
    assert.equal(flood.isTripped('example.co.uk'), true);
    assert.equal(flood.isTripped('other.co.uk'), false);
  });

  it('never trips a site whose new senders at its subdomains exist, among a few unknown ones', async () => {
    const { server, resolver, subdomains } = await wildcardSite('campus.test', 18, (l) =>
      l.startsWith('user'),
    );
    const svc = testService(server.port, resolver, { limits: SHIPPED_LIMITS });
    // One session per subdomain (a session speaks for one domain): 18 at the MX's rate.
    const verdicts = await Promise.all(
      subdomains.map((sub, i) => svc.verifier.verify(`${i % 6 === 0 ? 'gone' : 'user'}${i}@${sub}`)),
    );
    assert.equal(
      verdicts.filter((v) => v.reason === 'accepted').length,
      15,
      JSON.stringify(reasons(verdicts)),
    );
    assert.equal(verdicts.filter((v) => v.reason === 'user_unknown').length, 3);
    assert.deepEqual(svc.observer.tripped, []);
    await svc.verifier.close(0);
  });

  it('trickles one session per interval for the whole site, not one per subdomain', async () => {
    const { server, resolver, subdomains } = await wildcardSite('drip.test', 40, (l) => l === 'real');
    const svc = testService(server.port, resolver, { limits: SHIPPED_LIMITS, trickleIntervalMs: 150 });
    await Promise.all(subdomains.slice(0, 20).map((sub, i) => svc.verifier.verify(`r${i}@${sub}`)));
    assert.deepEqual(svc.observer.tripped, ['drip.test']);
    const tripSessions = server.sessions.length;
    const deferred = await Promise.all(
      subdomains.slice(20).map((sub, i) => svc.verifier.verify(`late${i}@${sub}`)),
    );
    assert.deepEqual(reasons(deferred), ['rate_limited/service.flood-breaker']);
    // At least four intervals, and until the first tick (a loaded machine may delay it): a
    // trickle per subdomain would open 20 sessions at once; per site, one per interval passed.
    const started = performance.now();
    await sleep(600);
    for (let i = 0; i < 500 && server.sessions.length === tripSessions; i++) await sleep(20);
    const intervals = Math.floor((performance.now() - started) / 150);
    const trickled = server.sessions.length - tripSessions;
    assert.ok(
      trickled >= 1 && trickled <= intervals + 1,
      `trickle sessions in ${intervals} intervals: ${trickled}`,
    );
    await svc.verifier.close(0);
  });
});

describe('the trickle', () => {
  it('verifies deferred senders of a tripped domain several per session, retried ones first', async () => {
    const { server, resolver } = await mailDomain('trickle.test', (l) => l === 'real');
    const svc = testService(server.port, resolver, { limits: SHIPPED_LIMITS, trickleIntervalMs: 150 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => svc.verifier.verify(`r${i}@trickle.test`)));
    assert.deepEqual(svc.observer.tripped, ['trickle.test']);
    const tripSessions = server.sessions.length;
    // A real sender that retries (as an MTA does after a deferral), and 30 more forged senders,
    // asked once each after it. Ticks fall anywhere on a loaded machine (one may even carry the
    // senders deferred during the trip before the real one is asked), so the test checks the
    // order, not the timing: once the forged ones are queued, the retried sender goes first.
    assert.equal((await svc.verifier.verify('real@trickle.test')).reason, 'rate_limited');
    assert.equal((await svc.verifier.verify('real@trickle.test')).reason, 'rate_limited');
    const deferred = await Promise.all(
      Array.from({ length: 30 }, (_, i) => svc.verifier.verify(`late${i}@trickle.test`)),
    );
    assert.deepEqual(reasons(deferred), ['rate_limited/service.flood-breaker']);
    const trickleRcpts = () =>
      server.sessions.slice(tripSessions).map((s) => s.commands.filter((c) => c.startsWith('RCPT')));
    const firstCarrying = (pattern: RegExp) =>
      trickleRcpts().findIndex((r) => r.some((c) => pattern.test(c)));
    for (let i = 0; i < 1500 && firstCarrying(/<late\d+@/) < 0; i++) await sleep(20);
    const real = firstCarrying(/<real@/);
    const late = firstCarrying(/<late\d+@/);
    assert.ok(late >= 0, 'no trickle session carried a forged sender');
    assert.ok(real >= 0 && real <= late, `retried sender in session ${real}, first forged one in ${late}`);
    // Several per session: the 31 deferred senders go out in sessions of up to 7 (8 RCPTs with
    // the probe), one per interval.
    while (server.sessions.length < tripSessions + 3) await sleep(20);
    assert.ok(
      trickleRcpts().some((r) => r.length > 2),
      JSON.stringify(trickleRcpts()),
    );
    assert.ok(trickleRcpts().every((r) => r.length <= 8));
    // Its retry is now answered from the cache.
    let retry = await svc.verifier.verify('real@trickle.test');
    for (let i = 0; i < 500 && !retry.cache.hit; i++) {
      await sleep(20);
      retry = await svc.verifier.verify('real@trickle.test');
    }
    assert.deepEqual([retry.reason, retry.cache.hit], ['accepted', true]);
    // At most one session per interval, whatever the flood: and the domain stays tripped.
    assert.equal(svc.limits.flood.isTripped('trickle.test'), true);
    await svc.verifier.close(0);
  });

  it('ends the trip after the cooldown: the domain is called out normally again', async () => {
    const { server, resolver } = await mailDomain('ends.test', (l) => l === 'real');
    let clock = Date.now();
    const svc = testService(server.port, resolver, {
      limits: {
        ...SHIPPED_LIMITS,
        flood: { threshold: 5, windowMs: 60_000, cooldownMs: 300_000, now: () => clock },
      },
      trickleIntervalMs: 50,
    });
    await Promise.all(Array.from({ length: 10 }, (_, i) => svc.verifier.verify(`r${i}@ends.test`)));
    assert.equal(svc.limits.flood.isTripped('ends.test'), true);
    assert.equal((await svc.verifier.verify('real@ends.test')).reason, 'rate_limited');
    clock += 301_000;
    assert.equal((await svc.verifier.verify('other@ends.test')).reason, 'user_unknown');
    await svc.verifier.close(0);
  });
});
