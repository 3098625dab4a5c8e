/**
 * Floods whose victim MX gives no information, and floods spread over many sites one MX serves,
 * through the service against scripted loopback MXes that count sessions (the real Postfix
 * versions are in test/interop/flood.test.ts):
 *
 * - an MX that answers 4xx to every unknown RCPT, one that says 421 at connect, one that stalls:
 *   the breaker trips on silence as it does on user_unknown, and every forged sender is deferred;
 * - a greylisting domain whose new senders exist: tripped by their first (greylisted) answers,
 *   its retried senders are verified through the trickle and its first confirmation lifts the trip;
 * - many sites at one MX address: the MX address trips, not the provider's every customer;
 * - what is silence: never our own limits, our shutdown, or DNS.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FloodBreaker } from '../../../src/limits/flood-breaker.js';
import { evidenceOf } from '../../../src/service/callout-scheduler.js';
import type { ServiceVerdict } from '../../../src/service/verdict.js';
import { StaticResolver, testEngineOptions } from '../../support/engine.js';
import {
  CLOSE,
  STALL,
  startScriptedServer,
  type ScriptedServer,
  type Step,
} from '../../support/scripted-smtp.js';
import { testService } from '../../support/service.js';
import { SHIPPED_LIMITS } from '../../support/shipped-limits.js';

const servers: ScriptedServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const localOf = (line: string) => /<([^@>]*)@/.exec(line)?.[1] ?? '';
const reasons = (vs: ServiceVerdict[]) => [...new Set(vs.map((v) => `${v.reason}/${v.rule}`))].sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A scripted MX; `domains` all have it as their MX. */
async function mx(
  domains: readonly string[],
  script: { greeting?: Step[]; rcpt?: (local: string, line: string) => Step[] },
) {
  const server = await startScriptedServer({
    ...(script.greeting ? { greeting: script.greeting } : {}),
    replies: script.rcpt ? { RCPT: (line) => script.rcpt?.(localOf(line), line) ?? [] } : {},
  });
  servers.push(server);
  const zone: Record<string, { mx?: { exchange: string; priority: number }[]; a?: string[] }> = {
    'mx.provider.test': { a: [server.host] },
  };
  for (const d of domains) zone[d] = { mx: [{ exchange: 'mx.provider.test', priority: 10 }] };
  return { server, resolver: new StaticResolver(zone) };
}

const forged = (domain: string, n: number) =>
  Array.from({ length: n }, (_, i) => `r${String(i).padStart(4, '0')}@${domain}`);

describe('a flood whose victim MX gives no information', () => {
  it('450 to every unknown RCPT: trips within its first sessions, every forged sender deferred, a known one from the cache', async () => {
    const { server, resolver } = await mx(['tempfail.test'], {
      rcpt: (local) => [
        local === 'known'
          ? '250 2.1.5 Ok\r\n'
          : `450 4.1.1 <${local}@tempfail.test>: Recipient address rejected: User unknown in local recipient table\r\n`,
      ],
    });
    const svc = testService(server.port, resolver, { limits: SHIPPED_LIMITS });
    assert.equal((await svc.verifier.verify('known@tempfail.test')).reason, 'accepted');
    const before = server.sessions.length;
    const flood = await Promise.all(forged('tempfail.test', 200).map((a) => svc.verifier.verify(a)));
    assert.deepEqual(reasons(flood), ['rate_limited/service.flood-breaker', 'temporary_failure/rcpt.4xx']);
    assert.ok(flood.every((v) => v.temporary));
    assert.ok(server.sessions.length - before <= 2, `sessions: ${server.sessions.length - before}`);
    assert.deepEqual(svc.observer.tripped, ['tempfail.test']);
    const known = await svc.verifier.verify('known@tempfail.test');
    assert.deepEqual([known.reason, known.cache.hit], ['accepted', true]);
    // The forged senders retried (as the clients' MTAs retry a 4xx): no session of their own.
    const sessions = server.sessions.length;
    const again = await Promise.all(flood.map((v) => svc.verifier.verify(v.address)));
    assert.ok(again.every((v) => v.temporary));
    assert.equal(server.sessions.length, sessions);
    await svc.verifier.close(0);
  });

  it('421 at connect: trips as soon as the closed sessions add up, and every forged sender is deferred', async () => {
    const { server, resolver } = await mx(['closed.test'], {
      greeting: ['421 4.3.2 Service shutting down\r\n', CLOSE],
    });
    const svc = testService(server.port, resolver, { limits: SHIPPED_LIMITS });
    const flood = await Promise.all(forged('closed.test', 200).map((a) => svc.verifier.verify(a)));
    assert.ok(
      flood.every((v) => v.temporary && v.result === 'unknown'),
      JSON.stringify(reasons(flood)),
    );
    assert.ok(reasons(flood).includes('rate_limited/service.flood-breaker'), JSON.stringify(reasons(flood)));
    assert.ok(server.sessions.length <= 4, `sessions: ${server.sessions.length}`);
    assert.deepEqual(svc.observer.tripped, ['closed.test']);
    await svc.verifier.close(0);
  });

  it('a tarpit that never answers RCPT: its time-outs trip it, and the flood waits for no more of them', async () => {
    const { server, resolver } = await mx(['tarpit.test'], { rcpt: () => [STALL] });
    const { probe } = testEngineOptions(server.port);
    const svc = testService(server.port, resolver, {
      limits: SHIPPED_LIMITS,
      engine: { probe: { ...probe, timeouts: { ...probe.timeouts, rcpt: 200 } } },
    });
    const first = await Promise.all(forged('tarpit.test', 40).map((a) => svc.verifier.verify(a)));
    assert.ok(
      first.every((v) => v.temporary),
      JSON.stringify(reasons(first)),
    );
    assert.deepEqual(svc.observer.tripped, ['tarpit.test']);
    const sessions = server.sessions.length;
    const later = await Promise.all(forged('late.tarpit.test', 100).map((a) => svc.verifier.verify(a)));
    assert.deepEqual(reasons(later), ['rate_limited/service.flood-breaker']);
    assert.equal(server.sessions.length, sessions);
    await svc.verifier.close(0);
  });

  it('a greylisting domain whose new senders exist: their retries pass through the trickle, and the first confirmation lifts the trip', async () => {
    // Greylisting per address: the first RCPT of a local part is 450, later ones pass (every
    // random probe is new, so it stays greylisted).
    const seen = new Set<string>();
    const { server, resolver } = await mx(['grey.test'], {
      rcpt: (local) => {
        const known = seen.has(local);
        seen.add(local);
        return [
          known
            ? '250 2.1.5 Ok\r\n'
            : '450 4.2.0 Greylisted, see http://postgrey.schweikert.ch/help/grey.test.html\r\n',
        ];
      },
    });
    const svc = testService(server.port, resolver, { limits: SHIPPED_LIMITS, trickleIntervalMs: 100 });
    const senders = Array.from({ length: 12 }, (_, i) => `user${i}@grey.test`);
    const first = await Promise.all(senders.map((a) => svc.verifier.verify(a)));
    assert.ok(
      first.every((v) => v.temporary),
      JSON.stringify(reasons(first)),
    );
    assert.deepEqual(svc.observer.tripped, ['grey.test'], 'twelve greylisted new senders look like silence');
    // Each sender's MTA retries until it is accepted (a greylisted entry is cached briefly: expire it).
    const accepted = new Set<string>();
    for (let round = 0; round < 200 && accepted.size < senders.length; round++) {
      await sleep(50);
      for (const a of senders) {
        if (accepted.has(a)) continue;
        await svc.cache.purgeAddress(a);
        const v = await svc.verifier.verify(a);
        assert.ok(v.result !== 'undeliverable', JSON.stringify(v));
        if (v.reason === 'accepted') accepted.add(a);
      }
    }
    assert.equal(accepted.size, senders.length);
    assert.equal(svc.limits.flood.isTripped('grey.test'), false, 'a confirmation lifted the trip');
    await svc.verifier.close(0);
  });
});

describe('a flood spread over many sites one MX serves', () => {
  it('trips the MX address after a few sites, not each of 100 sites: 500 forged senders cost a handful of sessions, all deferred', async () => {
    const domains = Array.from({ length: 100 }, (_, i) => `h${String(i).padStart(4, '0')}-hosted.test`);
    const { server, resolver } = await mx(domains, {
      rcpt: () => ['550 5.1.1 <x>: Recipient address rejected: User unknown\r\n'],
    });
    const svc = testService(server.port, resolver, { limits: SHIPPED_LIMITS });
    const senders = Array.from(
      { length: 500 },
      (_, i) => `r${String(i).padStart(4, '0')}@${domains[i % 100]}`,
    );
    const flood = await Promise.all(senders.map((a) => svc.verifier.verify(a)));
    assert.ok(flood.every((v) => v.result !== 'deliverable'));
    assert.ok(
      flood.every((v) => v.reason === 'user_unknown' || v.temporary),
      JSON.stringify(reasons(flood)),
    );
    assert.ok(server.sessions.length <= 12, `sessions: ${server.sessions.length}`);
    assert.ok(svc.observer.tripped.includes(`mx:${server.host}`), JSON.stringify(svc.observer.tripped));
    assert.ok(svc.verifier.floodSnapshot().some((t) => t.domain === `mx:${server.host}`));
    await svc.verifier.close(0);
  });

  it('never trips a provider whose many sites have new senders that exist, nor for one site flooded', async () => {
    const domains = Array.from({ length: 20 }, (_, i) => `c${i}-customers.test`);
    const { server, resolver } = await mx([...domains, 'flooded.test'], {
      rcpt: (local) => [local.startsWith('user') ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'],
    });
    const svc = testService(server.port, resolver, { limits: SHIPPED_LIMITS });
    // One site flooded: it trips, the MX address does not.
    await Promise.all(forged('flooded.test', 60).map((a) => svc.verifier.verify(a)));
    assert.deepEqual(svc.observer.tripped, ['flooded.test']);
    // Twenty customers with a new sender each (within the MX's burst and rate), two unknown ones among them.
    const verdicts = await Promise.all(
      domains.map((d, i) => svc.verifier.verify(`${i % 10 === 0 ? 'gone' : 'user'}${i}@${d}`)),
    );
    assert.equal(
      verdicts.filter((v) => v.reason === 'accepted').length,
      18,
      JSON.stringify(reasons(verdicts)),
    );
    assert.deepEqual(svc.observer.tripped, ['flooded.test']);
    await svc.verifier.close(0);
  });
});

describe('what counts as silence', () => {
  const target = { host: 'mx.example', ip: '192.0.2.25', preference: 10 };
  it('an MX reached that said nothing about the address, never our own limits, our shutdown, DNS or a catch-all', () => {
    assert.equal(evidenceOf({ reason: 'temporary_failure', rule: 'rcpt.4xx', mx: target }), 'silent');
    assert.equal(evidenceOf({ reason: 'greylisted', rule: 'rcpt.greylisted', mx: target }), 'silent');
    assert.equal(evidenceOf({ reason: 'timeout', rule: 'local.timeout.rcpt', mx: target }), 'silent');
    assert.equal(evidenceOf({ reason: 'timeout', rule: 'local.timeout.dns', mx: null }), 'neither');
    assert.equal(evidenceOf({ reason: 'dns_error', rule: 'dns.servfail', mx: null }), 'neither');
    assert.equal(
      evidenceOf({ reason: 'rate_limited', rule: 'local.rate-limited-mx', mx: target }),
      'neither',
    );
    assert.equal(evidenceOf({ reason: 'timeout', rule: 'local.aborted', mx: target }), 'neither');
    assert.equal(evidenceOf({ reason: 'connection_failed', rule: 'local.own-fault', mx: target }), 'neither');
    assert.equal(evidenceOf({ reason: 'catch_all', rule: 'rcpt.2xx', mx: target }), 'neither');
    assert.equal(evidenceOf({ reason: 'user_unknown', rule: 'rcpt.bad-mailbox', mx: target }), 'unknown');
    assert.equal(evidenceOf({ reason: 'accepted', rule: 'rcpt.2xx', mx: target }), 'exists');
  });

  it('the breaker: silence trips as user_unknown does, witnesses outweigh both, and a confirmation lifts a trip on silence alone', () => {
    const flood = new FloodBreaker(SHIPPED_LIMITS.flood);
    // A busy greylisting domain: more confirmed than silent, however many.
    for (let i = 0; i < 20; i++) flood.settle('busy.test', `ok${i}`, 'exists');
    for (let i = 0; i < 19; i++) assert.equal(flood.settle('busy.test', `new${i}`, 'silent'), 'ok');
    assert.equal(flood.isTripped('busy.test'), false);
    // 'neither' never counts, repeats count once.
    for (let i = 0; i < 10; i++) flood.settle('quiet.test', `x${i}`, 'neither');
    for (let i = 0; i < 10; i++) flood.settle('quiet.test', 'same', 'silent');
    assert.equal(flood.state('quiet.test'), 'held');
    for (let i = 0; i < 3; i++) assert.equal(flood.settle('quiet.test', `s${i}`, 'silent'), 'ok');
    assert.equal(flood.settle('quiet.test', 's3', 'silent'), 'tripped');
    assert.equal(flood.settle('quiet.test', 's4', 'silent'), 'ok', 're-armed, not tripped again');
    assert.equal(flood.settle('quiet.test', 'real', 'exists'), 'lifted');
    assert.equal(flood.state('quiet.test'), 'held', 'still more silent than confirmed');
    // With user_unknown answers among them, one confirmation is not enough.
    for (let i = 0; i < 4; i++) flood.settle('mixed.test', `s${i}`, 'silent');
    assert.equal(flood.settle('mixed.test', 'u', 'unknown'), 'tripped');
    assert.equal(flood.settle('mixed.test', 'real0', 'exists'), 'ok');
    assert.equal(flood.isTripped('mixed.test'), true);
    for (let i = 1; i < 5; i++) flood.settle('mixed.test', `real${i}`, 'exists');
    assert.equal(flood.settle('mixed.test', 'real5', 'exists'), 'lifted');
  });
});
