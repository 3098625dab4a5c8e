/**
 * Forged floods through a real inbound Postfix asking `cbv serve` (issue 10, seed 001), with a
 * real Postfix as the MX of the sender domains: what each flood costs that MX is the number of
 * SMTP connections its log shows. cbv runs with its default limits throughout.
 *
 * - 500 forged senders at one domain from 20 clients in parallel: at most 10 connections, and
 *   no forged sender accepted; a known sender of that domain is answered from the cache.
 * - The same spread over 500 subdomains of one domain whose MX serves them all: at most 10.
 * - 300 existing senders of one domain within about 15 s: no trip, every one accepted.
 * - 100 messages from one new sender at once: one callout, no trip.
 *
 * And floods whose victim MX gives no information (each a real Postfix setting): 450 to every
 * unknown RCPT (unknown_local_recipient_reject_code), soft_bounce, 421 at connect, 451 to MAIL
 * FROM, greylisting (postgrey), a tarpit that stalls every RCPT: at most 10 connections for 500 forged senders, none accepted,
 * and the clients' retries of the same senders add none. A greylisting domain's own new senders
 * are deferred at first, as greylisting defers them anyway, and accepted on a later retry. A flood
 * spread over 100 registrable domains one MX host serves: at most 10 connections to that host.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import {
  rigHosted,
  rigSubdomains,
  startFloodRig,
  type FloodRig,
  type VictimBehaviour,
} from '../support/testbed/flood-rig.js';
import { sleep } from '../support/testbed/process.js';
import type { EnvelopeResult } from '../support/testbed/smtp-sender.js';

const DOMAINS = {
  forged: 'forged.test',
  busy: 'busy.test',
  single: 'single.test',
  wild: 'wild.test',
  tempfail: 'tempfail.test',
  soft: 'soft.test',
  closed: 'closed.test',
  mailfail: 'mailfail.test',
  grey: 'grey.test',
  greyreal: 'greyreal.test',
  provider: 'provider.test',
  tarpit: 'tarpit.test',
};
/** How the MX of each silent label answers (flood-rig.ts VictimBehaviour). */
const BEHAVIOUR: Record<string, VictimBehaviour> = {
  tempfail: 'tempfail',
  soft: 'soft_bounce',
  closed: 'greeting_421',
  mailfail: 'mail_4xx',
  grey: 'greylist',
  greyreal: 'greylist',
  tarpit: 'tarpit',
};
/** provider's MX host serves 100 other registrable domains (h0000-provider.test ...). */
const HOSTED = 100;
/** postgrey's delay: a retry this long after the first attempt passes. */
const GREYLIST_DELAY_S = 3;
/**
 * cache.ttl.greylisted for this daemon: real MTAs retry a deferral after minutes, past the
 * default 120 s; the test's clients retry every few seconds, so the entry must lapse as fast.
 */
const GREYLISTED_TTL_S = 4;
/** The tarpit stalls each RCPT this long, past this daemon's verify.timeouts.rcpt (the default is 30 s). */
const TARPIT_S = 15;
const RCPT_TIMEOUT_S = 5;
/** wild.test has a wildcard-like MX: 500 subdomains, all served by its MX. */
const WILD_SUBDOMAINS = 500;
const USERS = ['known', 'newcomer', ...Array.from({ length: 300 }, (_, i) => `user${i + 1}`)];
const CLIENTS = 20;

let rig: FloodRig;
let cbv: TestDaemon | undefined;

before(
  async () => {
    rig = await startFloodRig({
      domains: DOMAINS,
      users: USERS,
      subdomains: { wild: WILD_SUBDOMAINS },
      hosted: { provider: HOSTED },
      behaviour: BEHAVIOUR,
      greylistDelaySeconds: GREYLIST_DELAY_S,
      tarpitSeconds: TARPIT_S,
      cbv: async (dns, smtpPort) => {
        // Only what the rig needs (its DNS, its MX port, loopback allowed, the greylisted TTL and
        // RCPT deadline above): every limit is the default.
        cbv = await startTestDaemon({
          dns: { servers: [dns.server] },
          verify: {
            port: smtpPort,
            allow_targets: ['127.0.0.0/8'],
            helo_name: 'verifier.test',
            timeouts: { rcpt: RCPT_TIMEOUT_S },
          },
          cache: { ttl: { greylisted: GREYLISTED_TTL_S } },
        });
        const d = cbv;
        return { policy: `${d.policy.host}:${d.policy.port}`, stop: () => d.stop() };
      },
    });
  },
  { timeout: 120_000 },
);

after(async () => {
  await (rig as FloodRig | undefined)?.stop();
});

function daemon(): TestDaemon {
  if (!cbv) throw new Error('cbv did not start');
  return cbv;
}

const codes = (results: EnvelopeResult[]) => {
  const count = new Map<string, number>();
  for (const r of results) {
    const key = r.rcpt ? `${Math.floor(r.rcpt.code / 100)}xx` : `no reply: ${r.problem}`;
    count.set(key, (count.get(key) ?? 0) + 1);
  }
  return Object.fromEntries([...count].sort());
};

const counters = () => daemon().service.verifier.stats.sum('0000', '9999');

/** Connections a domain's MX has had from cbv (its start-up check connected once to each listener). */
async function callouts(label: string): Promise<number> {
  return (await rig.connections(label)) - 1;
}

/** The same, once it has stopped moving (5 s after the last reply). */
async function settledCallouts(label: string): Promise<number> {
  await sleep(5000);
  return callouts(label);
}

describe('forged floods through a real Postfix asking cbv serve', { timeout: 300_000 }, () => {
  it('500 forged senders from 20 clients cost the forged domain at most 10 connections; none is accepted; a known sender is answered from the cache', async () => {
    const known = `known@${DOMAINS.forged}`;
    const [first] = await rig.send([known], 1);
    assert.equal(first?.rcpt?.code, 250, JSON.stringify(first));
    assert.equal(await callouts('forged'), 1);

    const forged = Array.from(
      { length: 500 },
      (_, i) => `r${String(i + 1).padStart(4, '0')}@${DOMAINS.forged}`,
    );
    // The known sender's message goes out halfway through the flood, among the forged ones.
    const during = [...forged.slice(0, 250), known, ...forged.slice(250)];
    const hitsBefore = (await counters()).cache_hits ?? 0;
    const results = await rig.send(during, CLIENTS);
    const connections = await settledCallouts('forged'); // the known sender's one included

    const forgedResults = results.filter((r) => r.from !== known);
    const summary = codes(forgedResults);
    assert.equal(forgedResults.length, 500);
    assert.deepEqual(
      Object.keys(summary).filter((k) => !['4xx', '5xx'].includes(k)),
      [],
      JSON.stringify(summary),
    );
    assert.ok(connections <= 10, `the forged domain's MX saw ${connections} connections`);
    assert.ok(daemon().service.limits.flood.isTripped(DOMAINS.forged), 'the breaker tripped');

    const knownResult = results.find((r) => r.from === known);
    assert.equal(knownResult?.rcpt?.code, 250, JSON.stringify(knownResult));
    // No forged sender is asked twice, so the one cache hit of the flood is the known sender's.
    const hits = ((await counters()).cache_hits ?? 0) - hitsBefore;
    assert.equal(hits, 1, 'the known sender was answered from the cache, without a callout');
    console.log(
      `# forged flood: ${connections} connections to the forged domain's MX; forged senders ${JSON.stringify(summary)}`,
    );
  });

  it('500 forged senders at 500 subdomains of one domain (a wildcard MX) from 20 clients cost its MX at most 10 connections; none is accepted', async () => {
    const forged = rigSubdomains(DOMAINS.wild, WILD_SUBDOMAINS).map(
      (sub, i) => `r${String(i + 1).padStart(4, '0')}@${sub}`,
    );
    const results = await rig.send(forged, CLIENTS);
    const connections = await settledCallouts('wild');
    const summary = codes(results);
    assert.equal(results.length, 500);
    assert.deepEqual(
      Object.keys(summary).filter((k) => !['4xx', '5xx'].includes(k)),
      [],
      JSON.stringify(summary),
    );
    assert.ok(connections <= 10, `the wildcard domain's MX saw ${connections} connections`);
    assert.ok(daemon().service.limits.flood.isTripped(`s0042.${DOMAINS.wild}`), 'the site tripped');
    console.log(
      `# subdomain flood: ${connections} connections to the wildcard domain's MX; forged senders ${JSON.stringify(summary)}`,
    );
  });

  it('300 existing senders of one domain within about 15 s, default limits: no trip, every one accepted', async () => {
    const senders = Array.from({ length: 300 }, (_, i) => `user${i + 1}@${DOMAINS.busy}`);
    // 20 clients, one message a second each: 300 messages over 15 s.
    const results = await rig.send(senders, CLIENTS, 1000);
    // Every callout ended before its sender got its 2xx: nothing is left to settle.
    const connections = await callouts('busy');
    assert.deepEqual(codes(results), { '2xx': 300 });
    assert.equal(daemon().service.limits.flood.isTripped(DOMAINS.busy), false);
    // Several senders shared each session: far fewer connections than senders.
    assert.ok(connections < 300 / 3, `the busy domain's MX saw ${connections} connections`);
    console.log(`# busy domain: 300 senders accepted over ${connections} connections`);
  });

  it('every session the MXes saw was polite: a qualified HELO, RSET and QUIT, at most 8 RCPTs, never DATA', async () => {
    const log = await readFile(rig.victim.logFile, 'utf8');
    const sessions = log.split('\n').filter((l) => /\/smtpd\[\d+\]: disconnect from .* mail=/.test(l));
    assert.ok(sessions.length > 0);
    for (const line of sessions) {
      assert.match(line, / rset=1 quit=1 /, line);
      assert.doesNotMatch(line, /\bdata=/, line);
      const rcpts = Number(/ rcpt=\d+\/(\d+)/.exec(line)?.[1] ?? 0);
      assert.ok(rcpts >= 1 && rcpts <= 8, line);
    }
    const helos = new Set([...log.matchAll(/ helo=<([^>]*)>/g)].map((m) => m[1]));
    assert.deepEqual([...helos], ['verifier.test']);
  });

  it('100 messages from one new sender queued at once: one callout, no trip', async () => {
    const sender = `newcomer@${DOMAINS.single}`;
    const results = await rig.send(Array(100).fill(sender) as string[], CLIENTS);
    assert.deepEqual(codes(results), { '2xx': 100 });
    assert.equal(await callouts('single'), 1);
    assert.equal(daemon().service.limits.flood.state(DOMAINS.single), 'open');
  });
});

const forgedAt = (domain: string) =>
  Array.from({ length: 500 }, (_, i) => `r${String(i + 1).padStart(4, '0')}@${domain}`);

/** Every result 4xx or 5xx (none accepted, none unanswered). */
function assertRefused(results: EnvelopeResult[]): Record<string, number> {
  const summary = codes(results);
  assert.deepEqual(
    Object.keys(summary).filter((k) => !['4xx', '5xx'].includes(k)),
    [],
    JSON.stringify(summary),
  );
  return summary;
}

describe('forged floods whose victim MX gives no information', { timeout: 600_000 }, () => {
  for (const label of ['tempfail', 'soft', 'closed', 'mailfail', 'grey', 'tarpit'] as const) {
    it(`${BEHAVIOUR[label]}: 500 forged senders from 20 clients cost the MX at most 10 connections, none accepted; their retries add none`, async () => {
      const domain = DOMAINS[label];
      const forged = forgedAt(domain);
      const results = await rig.send(forged, CLIENTS);
      const connections = await settledCallouts(label);
      const summary = assertRefused(results);
      assert.equal(results.length, 500);
      assert.ok(connections <= 10, `the ${label} MX saw ${connections} connections`);
      assert.ok(daemon().service.limits.flood.isTripped(domain), 'the breaker tripped');
      // The clients' MTAs retry every deferred sender: answered from the cache or deferred again.
      const retried = await rig.send(forged, CLIENTS);
      const again = await settledCallouts(label);
      assertRefused(retried);
      assert.ok(again - connections <= 1, `the retries cost ${again - connections} connections`);
      console.log(
        `# ${BEHAVIOUR[label]} flood: ${connections} connections (+${again - connections} for the retries); forged senders ${JSON.stringify(summary)}`,
      );
    });
  }

  it("a greylisting domain's own new senders: deferred at first (as greylisting defers them), never rejected, accepted on a later retry", async () => {
    const senders = Array.from({ length: 30 }, (_, i) => `user${i + 1}@${DOMAINS.greyreal}`);
    const first = await rig.send(senders, CLIENTS);
    assert.deepEqual(codes(first), { '4xx': 30 });
    // Each sender's MTA retries its deferred message until it is accepted (every few seconds here).
    const accepted = new Set<string>();
    for (let round = 0; round < 60 && accepted.size < senders.length; round++) {
      await sleep((GREYLIST_DELAY_S + 1) * 1000);
      const results = await rig.send(
        senders.filter((s) => !accepted.has(s)),
        CLIENTS,
      );
      for (const r of results) {
        assert.notEqual(Math.floor((r.rcpt?.code ?? 400) / 100), 5, JSON.stringify(r));
        if (r.rcpt?.code === 250) accepted.add(r.from);
      }
    }
    assert.equal(accepted.size, senders.length);
    console.log(
      `# greylisting domain: 30 new senders accepted after retries; ${await callouts('greyreal')} connections`,
    );
  });

  it('500 forged senders at 100 registrable domains one MX host serves cost that host at most 10 connections; none accepted', async () => {
    const domains = rigHosted('provider', HOSTED);
    const forged = Array.from(
      { length: 500 },
      (_, i) => `r${String(i + 1).padStart(4, '0')}@${domains[i % HOSTED] ?? ''}`,
    );
    const results = await rig.send(forged, CLIENTS);
    const connections = await settledCallouts('provider');
    const summary = assertRefused(results);
    assert.ok(connections <= 10, `the provider's MX saw ${connections} connections`);
    const tripped = daemon()
      .service.verifier.floodSnapshot()
      .map((t) => t.domain);
    assert.ok(
      tripped.some((d) => d.startsWith('mx:')),
      JSON.stringify(tripped),
    );
    console.log(
      `# flood over ${HOSTED} domains at one MX: ${connections} connections; forged senders ${JSON.stringify(summary)}`,
    );
  });
});
