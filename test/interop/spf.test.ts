/**
 * SPF before the callout, against the bed's real Unbound (SPF records, an include and a redirect
 * whose name server SERVFAILs) and through a real receiving Postfix asking cbv, driven by swaks
 * from different loopback client addresses; and `cbv verify` with connection facts (a child
 * process), which decides as the policy server and the HTTP API do.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, it } from 'node:test';
import { spf as mailauthSpf } from 'mailauth/lib/spf/index.js';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { SpfDnsClient } from '../../src/service/spf/dns-client.js';
import { SpfChecker } from '../../src/service/spf/spf-checker.js';
import type { SpfResult } from '../../src/service/spf/outcome.js';
import { cbv as cbvCommand } from '../support/cli.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import {
  startMailTestbed,
  startReceivingPostfix,
  swaks,
  type MailTestbed,
  type ReceivingPostfix,
  type SwaksResult,
} from '../support/testbed/index.js';
import { sleep } from '../support/testbed/process.js';
import { NAMES, SPF_CLIENTS, SPF_NAMES, spfRecords } from '../support/testbed/zone.js';
import { logSince } from '../support/testbed/log-since.js';

const RCPT = 'rcpt@inbox.test';
let bed: MailTestbed;
let mta: ReceivingPostfix;
let cbv: TestDaemon | undefined;

before(
  async () => {
    bed = await startMailTestbed({ extraRecords: spfRecords() });
    cbv = await startTestDaemon({
      ...sharedConfig(),
      policy: { listen: ['127.0.0.1:0'] },
      http: { enabled: true, listen: ['127.0.0.1:0'] },
    });
    const policy = `inet:127.0.0.1:${cbv.policy.port}`;
    const check = (context: string): string =>
      [
        'permit_mynetworks',
        'reject_unauth_destination',
        `check_policy_service { ${policy}, timeout=30s, default_action=DUNNO, policy_context=${context} }`,
      ].join(',\n    ');
    mta = await startReceivingPostfix({
      listeners: [
        {
          name: 'spf',
          ip: '127.0.2.21',
          senderRestrictions: check('sender'),
          recipientRestrictions: check('recipient'),
        },
      ],
      mailDomain: 'inbox.test',
      mailboxes: ['rcpt'],
      mynetworks: '127.0.0.1/32',
    });
  },
  { timeout: 60_000 },
);

/** The sections the daemon and `cbv verify`'s config file share: the bed's DNS and MX port, SPF's header. */
function sharedConfig(): Record<string, Record<string, unknown>> {
  return {
    dns: { servers: [bed.dns.server], query_timeout: 2, tries: 1 },
    verify: { port: bed.smtpPort, allow_targets: ['127.0.0.0/8'], helo_name: 'verifier.test' },
    spf: { received_spf_header: true },
  };
}

after(async () => {
  await cbv?.stop();
  await Promise.allSettled([(mta as ReceivingPostfix | undefined)?.stop()]);
  await (bed as MailTestbed | undefined)?.stop();
});

function checker(cache = new MemoryCache(1000), cacheMaxTtlMs = 3_600_000): SpfChecker {
  const dns = new SpfDnsClient({ servers: [bed.dns.server], queryTimeoutMs: 2000, tries: 1 });
  return new SpfChecker(
    { timeoutMs: 10_000, maxLookups: 10, maxVoidLookups: 2, cacheMaxTtlMs, receiver: 'verifier.test' },
    { dns, cache },
  );
}

describe('SPF checks against a real resolver (mailauth 4.x behind cbv resolver)', { timeout: 60_000 }, () => {
  const { listed, partner, stranger } = SPF_CLIENTS;
  const cases: [string, string, SpfResult][] = [
    [SPF_NAMES.pass, listed, 'pass'],
    [SPF_NAMES.pass, stranger, 'fail'],
    [SPF_NAMES.softfail, listed, 'pass'],
    [SPF_NAMES.softfail, stranger, 'softfail'],
    [SPF_NAMES.neutral, stranger, 'neutral'],
    [SPF_NAMES.include, partner, 'pass'],
    [SPF_NAMES.include, listed, 'fail'],
    [SPF_NAMES.redirect, listed, 'pass'],
    [SPF_NAMES.redirect, stranger, 'fail'],
    [SPF_NAMES.overLimit, stranger, 'permerror'],
    [SPF_NAMES.none, listed, 'none'],
    [NAMES.nxdomain, listed, 'none'],
    [SPF_NAMES.brokenInclude, listed, 'temperror'],
    [SPF_NAMES.brokenInclude, stranger, 'temperror'],
    [SPF_NAMES.brokenRedirect, listed, 'temperror'],
    [NAMES.servfail, listed, 'temperror'],
    // %{p}: no validated name (RFC 7208 7.3's "unknown"), and a fail from it is not proven.
    [SPF_NAMES.validatedName, listed, 'pass'],
    [SPF_NAMES.validatedName, stranger, 'neutral'],
    [SPF_NAMES.validatedNameInclude, partner, 'pass'],
    [SPF_NAMES.validatedNameInclude, stranger, 'neutral'],
  ];
  for (const [domain, ip, expected] of cases) {
    it(`${domain} for client ${ip}: ${expected}`, async () => {
      const outcome = await checker().check({
        identity: 'mailfrom',
        domain,
        sender: `someone@${domain}`,
        clientIp: ip,
        helo: 'client.test',
      });
      assert.equal(outcome.result, expected, outcome.comment);
    });
  }

  it('the guard is needed: mailauth alone turns the include SERVFAIL into fail', async () => {
    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([bed.dns.server]);
    const bare = await mailauthSpf({
      sender: `someone@${SPF_NAMES.brokenInclude}`,
      ip: SPF_CLIENTS.listed,
      helo: 'client.test',
      mta: 'verifier.test',
      resolver: ((name: string, type: string) => resolver.resolve(name, type)) as never,
    });
    assert.equal(bare.status.result, 'fail', 'mailauth 4.13 drops the SERVFAIL inside include:');
  });

  it('reads an IPv4-mapped client (any writing) as the IPv4 client before SPF', async () => {
    const daemon = cbv;
    assert.ok(daemon);
    const v = await daemon.service.verifier.verify({
      sender: `nobody@${SPF_NAMES.pass}`,
      clientIp: '::ffff:7f00:401',
    });
    assert.deepEqual([v.reason, v.spf?.result, v.spf?.clientIp], ['spf_pass', 'pass', SPF_CLIENTS.listed]);
  });

  it("caches a result for its record's TTL, at most the configured maximum, and never a temperror", async () => {
    const cache = new MemoryCache(1000);
    const c = checker(cache, 600_000);
    const ask = (domain: string) =>
      c.check({
        identity: 'mailfrom',
        domain,
        sender: `x@${domain}`,
        clientIp: SPF_CLIENTS.listed,
        helo: null,
      });
    const before = Date.now();
    await ask(SPF_NAMES.shortTtl);
    const short = await cache.getSpf(SPF_NAMES.shortTtl, SPF_CLIENTS.listed, Date.now());
    assert.ok(short && short.expiresAt - before <= 60_000 + 1000, 'the record TTL (60 s) bounds it');
    await ask(SPF_NAMES.pass);
    const capped = await cache.getSpf(SPF_NAMES.pass, SPF_CLIENTS.listed, Date.now());
    // The record lives 300 s (the bed's default TTL): below the 600 s maximum.
    assert.ok(capped && capped.expiresAt - before <= 300_000 + 1000 && capped.expiresAt - before > 60_000);
    assert.equal((await ask(SPF_NAMES.pass)).cached, true);
    await ask(SPF_NAMES.brokenInclude);
    assert.equal(await cache.getSpf(SPF_NAMES.brokenInclude, SPF_CLIENTS.listed, Date.now()), null);
    const tight = checker(new MemoryCache(1000), 30_000);
    const at = Date.now();
    await tight.check({
      identity: 'mailfrom',
      domain: SPF_NAMES.pass,
      sender: 'x@spfpass.test',
      clientIp: SPF_CLIENTS.partner,
      helo: null,
    });
    // The configured maximum (30 s) bounds a longer-lived record.
    const entry = await (tight as unknown as { deps: { cache: MemoryCache } }).deps.cache.getSpf(
      SPF_NAMES.pass,
      SPF_CLIENTS.partner,
      Date.now(),
    );
    assert.ok(entry && entry.expiresAt - at <= 30_000 + 1000, 'the configured maximum bounds it');
  });
});

type Sent = SwaksResult & { id: string };

async function send(client: string, from: string, helo = 'client.test'): Promise<Sent> {
  const id = `X-Cbv-Test: ${randomUUID()}`;
  const result = await swaks({
    server: mta.at('spf'),
    from,
    to: RCPT,
    localAddress: client,
    helo,
    headers: [id],
    quitAfter: '',
  });
  return { ...result, id };
}

/** Sessions the sender domains' MX (the bed's rejecting listener) saw since `since` was taken. */
const calloutSeen = /postfix\/rejecting\/smtpd\[\d+\]: connect from /;

async function delivered(sent: Sent): Promise<string> {
  assert.equal(sent.reply('RCPT')?.code, 250, sent.output);
  assert.equal(sent.reply('.')?.code, 250, sent.output);
  for (let i = 0; i < 100; i++) {
    const message = await mta.delivered('rcpt', sent.id);
    if (message !== undefined) return message;
    await sleep(50);
  }
  assert.fail('message not delivered');
}

describe('Postfix asking cbv with SPF, clients on different loopback addresses', { timeout: 120_000 }, () => {
  it('SPF pass: 250 and no callout, even for a mailbox that does not exist; Received-SPF added', async () => {
    const remote = await logSince(bed.postfix.postfix.logFile);
    const message = await delivered(await send(SPF_CLIENTS.listed, `nobody@${SPF_NAMES.pass}`));
    assert.match(
      message,
      /^Received-SPF: pass \(verifier\.test: domain of nobody@spfpass\.test designates 127\.0\.4\.1 as permitted sender\) client-ip=127\.0\.4\.1; envelope-from="nobody@spfpass\.test"; helo=client\.test; receiver=verifier\.test; identity=mailfrom$/m,
    );
    await sleep(300);
    assert.doesNotMatch(await remote(), calloutSeen, 'the MX of spfpass.test saw no callout');
  });

  it('SPF fail: 550 5.7.23 at RCPT and no callout', async () => {
    const remote = await logSince(bed.postfix.postfix.logFile);
    const sent = await send(SPF_CLIENTS.stranger, `alice@${SPF_NAMES.pass}`);
    const rcpt = sent.reply('RCPT');
    assert.equal(rcpt?.code, 550, sent.output);
    assert.equal(
      rcpt.lines[0],
      '5.7.23 <alice@spfpass.test>: Sender address rejected: SPF: the domain spfpass.test does not designate 127.0.6.1 as a permitted sender',
    );
    await sleep(300);
    assert.doesNotMatch(await remote(), calloutSeen);
  });

  it("SPF softfail: the callout's verdict (550 5.1.7 for an unknown mailbox, 250 for a known one)", async () => {
    const remote = await logSince(bed.postfix.postfix.logFile);
    const unknown = await send(SPF_CLIENTS.stranger, `nobody@${SPF_NAMES.softfail}`);
    assert.equal(unknown.reply('RCPT')?.code, 550, unknown.output);
    assert.match(unknown.reply('RCPT')?.lines[0] ?? '', /^5\.1\.7 .*mailbox does not exist/);
    const message = await delivered(await send(SPF_CLIENTS.stranger, `alice@${SPF_NAMES.softfail}`));
    assert.match(message, /^Received-SPF: softfail /m);
    assert.match(await remote(calloutSeen), calloutSeen);
  });

  it("no SPF record: a callout, and the callout's verdict", async () => {
    const remote = await logSince(bed.postfix.postfix.logFile);
    const unknown = await send(SPF_CLIENTS.listed, `nobody@${SPF_NAMES.none}`);
    assert.match(unknown.reply('RCPT')?.lines[0] ?? '', /^5\.1\.7 .*mailbox does not exist/, unknown.output);
    const message = await delivered(await send(SPF_CLIENTS.listed, `alice@${SPF_NAMES.none}`));
    assert.match(message, /^Received-SPF: none /m);
    assert.match(await remote(calloutSeen), calloutSeen, 'the MX of spfnone.test was called back');
  });

  it('an include whose name server SERVFAILs never rejects: the callout decides, an unproven sender is deferred', async () => {
    const known = await delivered(await send(SPF_CLIENTS.listed, `alice@${SPF_NAMES.brokenInclude}`));
    assert.match(known, /^Received-SPF: temperror /m);
    const unknown = await send(SPF_CLIENTS.listed, `nobody@${SPF_NAMES.brokenInclude}`);
    // The callout found no such mailbox: that rejection is the callout's, on its own evidence.
    assert.match(unknown.reply('RCPT')?.lines[0] ?? '', /^5\.1\.7 /, unknown.output);
  });

  it('the null sender: the HELO identity is checked (pass delivers, fail gets 550 5.7.23)', async () => {
    const message = await delivered(await send(SPF_CLIENTS.listed, '<>', SPF_NAMES.pass));
    assert.match(
      message,
      /^Received-SPF: pass \(verifier\.test: domain of postmaster@spfpass\.test designates 127\.0\.4\.1 as permitted sender\) .*envelope-from="<>"; helo=spfpass\.test; .*identity=helo$/m,
    );
    const refused = await send(SPF_CLIENTS.stranger, '<>', SPF_NAMES.pass);
    assert.equal(refused.reply('RCPT')?.code, 550, refused.output);
    assert.match(
      refused.reply('RCPT')?.lines[0] ?? '',
      /^5\.7\.23 .*SPF: the host name spfpass\.test does not designate 127\.0\.6\.1 as a permitted sender/,
    );
    // A HELO name without SPF leaves the null sender alone, as before.
    await delivered(await send(SPF_CLIENTS.stranger, '<>', 'client.test'));
  });

  it('counts SPF results and the callouts it avoided', async () => {
    const daemon = cbv;
    assert.ok(daemon);
    const c = await daemon.service.verifier.stats.sum('0000', '9999');
    assert.ok((c['spf.pass'] ?? 0) >= 2, JSON.stringify(c));
    assert.ok((c['spf.fail'] ?? 0) >= 2);
    assert.ok((c['spf.softfail'] ?? 0) >= 2);
    assert.ok((c['spf.none'] ?? 0) >= 2);
    assert.ok((c['spf.errors'] ?? 0) >= 2);
    // Pass and fail of a sender domain (not of the HELO name: the null sender is never called back).
    assert.ok((c.spf_callouts_avoided ?? 0) >= 2);
  });
});

/** `cbv verify` run as a user runs it, with the daemon's settings in a config file of its own (JSON is YAML). */
async function cliConfig(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cbv-spf-cli-'));
  const file = join(dir, 'cbv.yaml');
  await writeFile(file, JSON.stringify({ ...sharedConfig(), service: { data_dir: join(dir, 'data') } }));
  return file;
}

interface Decided {
  address: string;
  result: string;
  reason: string;
  rule: string;
  spf?: { result: string; clientIp: string };
  decision: {
    action: string;
    reply: { code: number; enhanced: string; text: string } | null;
    skipped: boolean;
    headers: string[];
  };
}

/** `cbv verify --json --no-cache` with the client's facts: one decided verdict per address, and the exit status. */
async function cliDecides(
  facts: string[],
  addresses: string[],
): Promise<{ code: number; answers: Decided[]; stdout: string; stderr: string }> {
  const r = await cbvCommand([
    'verify',
    '--config',
    await cliConfig(),
    '--no-cache',
    '--json',
    ...facts,
    ...addresses,
  ]);
  const answers = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Decided);
  return { ...r, answers };
}

describe(
  'cbv verify with connection facts: the shared decision path (SPF first, then the callout)',
  { timeout: 120_000 },
  () => {
    it('SPF pass: no callout (the MX sees no connection), a skip with reason spf_pass', async () => {
      const remote = await logSince(bed.postfix.postfix.logFile);
      const r = await cliDecides(
        ['--client-ip', SPF_CLIENTS.listed, '--client-helo', 'client.test'],
        [`nobody@${SPF_NAMES.pass}`],
      );
      assert.equal(r.code, 0, r.stderr);
      const [a] = r.answers;
      assert.deepEqual(
        [a?.reason, a?.spf?.result, a?.decision.action, a?.decision.skipped],
        ['spf_pass', 'pass', 'dunno', true],
      );
      assert.match(
        a?.decision.headers[0] ?? '',
        /^Received-SPF: pass .*client-ip=127\.0\.4\.1; envelope-from="nobody@spfpass\.test"; helo=client\.test;/,
      );
      assert.match(r.stderr, /deciding as the policy server would/);
      await sleep(300);
      assert.doesNotMatch(await remote(), calloutSeen, 'the MX of spfpass.test saw no callout');
    });

    it('SPF fail: 550 5.7.23 without a callout, exit 1; the table shows action, reply, SPF result and reason', async () => {
      const remote = await logSince(bed.postfix.postfix.logFile);
      const r = await cliDecides(['--client-ip', SPF_CLIENTS.stranger], [`alice@${SPF_NAMES.pass}`]);
      assert.equal(r.code, 1, r.stderr);
      assert.deepEqual(r.answers[0]?.decision.reply, {
        code: 550,
        enhanced: '5.7.23',
        text: 'SPF: the domain spfpass.test does not designate 127.0.6.1 as a permitted sender',
      });
      assert.equal(r.answers.at(0)?.reason, 'spf_fail');
      const table = await cbvCommand([
        'verify',
        '--config',
        await cliConfig(),
        '--no-cache',
        '--client-ip',
        SPF_CLIENTS.stranger,
        `alice@${SPF_NAMES.pass}`,
      ]);
      assert.equal(table.code, 1, table.stderr);
      assert.match(table.stdout, /^ADDRESS\s+ACTION\s+SPF\s+RESULT\s+REASON\s+RULE\s+MS\s+REPLY \/ DETAIL$/m);
      assert.match(
        table.stdout,
        /^alice@spfpass\.test\s+reject\s+fail\s+unknown\s+spf_fail\s+spf\.fail\s+\d+\s+550 5\.7\.23 SPF: the domain spfpass\.test does not designate 127\.0\.6\.1/m,
      );
      await sleep(300);
      assert.doesNotMatch(await remote(), calloutSeen, 'the MX of spfpass.test saw no callout');
    });

    it("SPF softfail: the callout's verdict (reject 5.1.7 for an unknown mailbox, accept a known one)", async () => {
      const remote = await logSince(bed.postfix.postfix.logFile);
      const r = await cliDecides(
        ['--client-ip', SPF_CLIENTS.stranger],
        [`nobody@${SPF_NAMES.softfail}`, `alice@${SPF_NAMES.softfail}`],
      );
      assert.equal(r.code, 1, r.stderr);
      assert.deepEqual(
        r.answers.map((a) => [
          a.spf?.result,
          a.reason,
          a.decision.action,
          a.decision.reply?.enhanced ?? null,
        ]),
        [
          ['softfail', 'user_unknown', 'reject', '5.1.7'],
          ['softfail', 'accepted', 'dunno', null],
        ],
      );
      assert.match(await remote(calloutSeen), calloutSeen, 'the MX of spfsoft.test was called back');
    });

    it('without connection facts it is a bare callout, as before: no SPF, no decision', async () => {
      const r = await cliDecides([], [`nobody@${SPF_NAMES.pass}`]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.answers[0]?.reason, 'user_unknown');
      assert.equal(r.answers.at(0)?.spf, undefined);
      assert.equal('decision' in (r.answers.at(0) ?? {}), false);
    });

    it('the HTTP API and the CLI give the same decision for the same request', async () => {
      const daemon = cbv;
      assert.ok(daemon);
      const base = `http://${daemon.listening.http?.[0] ?? ''}`;
      const requests: [string, string, string, Record<string, string>?][] = [
        [SPF_CLIENTS.listed, 'client.test', `nobody@${SPF_NAMES.pass}`],
        [SPF_CLIENTS.stranger, 'client.test', `alice@${SPF_NAMES.include}`],
        [SPF_CLIENTS.stranger, 'client.test', `nobody@${SPF_NAMES.softfail}`],
        [SPF_CLIENTS.listed, 'client.test', `alice@${SPF_NAMES.brokenInclude}`],
        [SPF_CLIENTS.listed, SPF_NAMES.pass, '<>'],
        [SPF_CLIENTS.stranger, SPF_NAMES.pass, '<>'],
        // An authenticated client (with its reverse DNS name): a skip, whatever SPF would say.
        [
          SPF_CLIENTS.stranger,
          'client.test',
          `nobody@${SPF_NAMES.pass}`,
          { sasl_user: 'carol', client_name: 'client.test' },
        ],
      ];
      const view = (a: Decided) => ({
        address: a.address,
        result: a.result,
        reason: a.reason,
        rule: a.rule,
        spf: a.spf?.result ?? null,
        decision: a.decision,
      });
      for (const [ip, helo, address, more = {}] of requests) {
        const query = new URLSearchParams({ address, client_ip: ip, helo, ...more });
        const response = await fetch(`${base}/v1/verify?${query.toString()}`);
        assert.equal(response.status, 200);
        const http = (await response.json()) as Decided;
        const flags = Object.entries(more).flatMap(([k, v]) => [`--${k.replace('_', '-')}`, v]);
        const cli = await cliDecides(['--client-ip', ip, '--client-helo', helo, ...flags], [address]);
        assert.equal(cli.answers.length, 1, cli.stderr);
        assert.deepEqual(view(cli.answers[0] as Decided), view(http), `${address} from ${ip}`);
      }
    });
  },
);
