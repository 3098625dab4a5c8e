/**
 * Senders as real mail streams write them, through the policy server of a real daemon, against
 * a scripted loopback MX: SRS and VERP local parts beyond RFC 5321's 64 octets, Postfix's
 * unquoted internal form, the null sender written `<>`, control characters, and domains in
 * U-labels or A-labels matched against configuration lists written either way. Plus the
 * verdict header, once per message whatever order its recipients come in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PolicyClient, rcptRequest } from '../../support/policy-client.js';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';
import { startTestDaemon, type TestDaemon } from '../../support/daemon.js';

/** Knows alice, bob and every SRS/VERP-looking or quoted local part; refuses the rest. */
let mx: ScriptedServer;
const daemons: TestDaemon[] = [];
const clients: PolicyClient[] = [];

before(async () => {
  mx = await startScriptedServer({
    replies: {
      RCPT: (line) =>
        /<(alice|bob|SRS0=|bounce-|"john doe"|"a\.\.b")/.test(line)
          ? ['250 2.1.5 Ok\r\n']
          : ['550 5.1.1 User unknown\r\n'],
    },
  });
});
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(daemons.map((d) => d.stop()));
  await mx.close();
});

async function client(raw: Record<string, Record<string, unknown>> = {}): Promise<{
  c: PolicyClient;
  d: TestDaemon;
}> {
  const d = await startTestDaemon({
    ...raw,
    verify: { allow_targets: ['127.0.0.0/8'], port: mx.port, catch_all_test: false },
  });
  daemons.push(d);
  const c = await PolicyClient.open(d.policy);
  clients.push(c);
  return { c, d };
}

const today = (): string => new Date().toISOString().slice(0, 10);
const stats = (d: TestDaemon) => d.service.verifier.stats.sum(today(), today());
/** RCPT lines the scripted MX received since `from` sessions. */
const rcptsSince = (from: number): string[] =>
  mx.sessions.slice(from).flatMap((s) => s.commands.filter((l) => l.startsWith('RCPT')));

/** A forwarder's SRS sender: 68 octets of local part, beyond RFC 5321's 64. */
const SRS = 'SRS0=HHH=TT=mail.some-long-sender-domain.example=firstname.lastname1@[127.0.0.1]';

describe('senders beyond RFC 5321 that real MTAs accept', () => {
  it('verifies a 68-octet SRS sender whose MX accepts it (was 550 invalid_syntax)', async () => {
    const { c, d } = await client();
    const from = mx.sessions.length;
    assert.equal(await c.ask(rcptRequest({ sender: SRS })), 'action=DUNNO');
    assert.deepEqual(rcptsSince(from), [`RCPT TO:<${SRS}>`]);
    const v = await d.service.verifier.verify(SRS);
    assert.equal(v.reason, 'accepted');
    assert.match(v.message, /local part is 68 octets, beyond RFC 5321's 64/);
  });

  it('verifies a VERP sender with a 300-octet path and still rejects it when its MX says no such user', async () => {
    const { c } = await client();
    const verp = `bounce-${'x'.repeat(40)}=${'long-list-member-domain'.repeat(9)}.example@[127.0.0.1]`;
    assert.ok(Buffer.byteLength(verp) > 256);
    assert.equal(await c.ask(rcptRequest({ sender: verp })), 'action=DUNNO');
    const gone = `gone-${'y'.repeat(70)}@[127.0.0.1]`;
    assert.match(await c.ask(rcptRequest({ sender: gone })), /^action=550 5\.1\.7 /);
  });

  it('reads Postfix\'s internal form: the sender of MAIL FROM:<"john doe"@...> is verified quoted', async () => {
    const { c } = await client();
    const from = mx.sessions.length;
    assert.equal(await c.ask(rcptRequest({ sender: 'john doe@[127.0.0.1]' })), 'action=DUNNO');
    assert.equal(await c.ask(rcptRequest({ sender: 'a..b@[127.0.0.1]' })), 'action=DUNNO');
    assert.deepEqual(rcptsSince(from), ['RCPT TO:<"john doe"@[127.0.0.1]>', 'RCPT TO:<"a..b"@[127.0.0.1]>']);
  });

  it('lets through, without a callout, a sender with a control character (Postfix accepts U+0001)', async () => {
    const { c, d } = await client();
    const from = mx.sessions.length;
    assert.equal(await c.ask(rcptRequest({ sender: 'a\u0001b@[127.0.0.1]' })), 'action=DUNNO');
    assert.equal(mx.sessions.length, from, 'no callout');
    const v = await d.service.verifier.verify('a\u0001b@[127.0.0.1]');
    assert.deepEqual([v.reason, v.result, v.rule], ['unverifiable', 'unknown', 'local.unverifiable']);
  });

  it('skips the null sender written <> like an empty sender= (was 550)', async () => {
    const { c, d } = await client();
    const from = mx.sessions.length;
    const before = (await stats(d)).skips ?? 0;
    assert.equal(await c.ask(rcptRequest({ sender: '<>' })), 'action=DUNNO');
    assert.equal(mx.sessions.length, from, 'no callout');
    assert.equal(((await stats(d)).skips ?? 0) - before, 1);
  });

  it('skips the null sender however the brackets are spaced (< >, a TAB inside), never a 550', async () => {
    const { c, d } = await client();
    const from = mx.sessions.length;
    const before = (await stats(d)).skips ?? 0;
    for (const sender of ['< >', '<  >', '<\t>', ' < > '])
      assert.equal(await c.ask(rcptRequest({ sender })), 'action=DUNNO', JSON.stringify(sender));
    assert.equal(mx.sessions.length, from, 'no callout');
    assert.equal(((await stats(d)).skips ?? 0) - before, 4);
  });

  it('verifies a source-routed sender without its route (RFC 5321 C): its mailbox exists (was 550 for the route quoted)', async () => {
    const { c } = await client();
    const from = mx.sessions.length;
    for (const sender of [
      '<@relay.example:alice@[127.0.0.1]>',
      '<@a.example,@[192.0.2.1]:alice@[127.0.0.1]>',
      '<@RELAY.example:bob@[127.0.0.1]>',
    ])
      assert.equal(await c.ask(rcptRequest({ sender })), 'action=DUNNO', sender);
    // The second alice is the first one's verdict, from the cache: the same mailbox.
    assert.deepEqual(rcptsSince(from), ['RCPT TO:<alice@[127.0.0.1]>', 'RCPT TO:<bob@[127.0.0.1]>']);
  });

  it('lets through, without a callout, an IPv4 literal with a leading zero that Postfix accepts (was 550 invalid_syntax)', async () => {
    const { c, d } = await client();
    const from = mx.sessions.length;
    for (const sender of ['gone@[127.0.0.01]', 'gone@[127.000.000.001]', '<gone@[0127.0.0.1]>'])
      assert.equal(await c.ask(rcptRequest({ sender })), 'action=DUNNO', sender);
    assert.equal(mx.sessions.length, from, 'no callout');
    const v = await d.service.verifier.verify('gone@[127.0.0.010]');
    assert.deepEqual([v.reason, v.temporary], ['unverifiable', false]);
  });

  it('verifies a sender written with white space around its path, as <> is skipped with it (was 550 invalid_syntax)', async () => {
    const { c } = await client();
    for (const sender of [
      ' <alice@[127.0.0.1]>',
      'alice@[127.0.0.1] ',
      '< alice@[127.0.0.1] >',
      '\t<bob@[127.0.0.1]>',
    ])
      assert.equal(await c.ask(rcptRequest({ sender })), 'action=DUNNO', JSON.stringify(sender));
    // Verified, not waved through: the same forms of a sender its MX does not know are refused.
    assert.match(
      await c.ask(rcptRequest({ sender: ' <gone@[127.0.0.1]> ' })),
      /^action=550 5\.1\.7 <gone@\[127\.0\.0\.1\]>: /,
    );
  });

  it('still rejects what no mail can reach: a sender without a domain', async () => {
    const { c } = await client();
    assert.match(
      await c.ask(rcptRequest({ sender: 'plain' })),
      /^action=550 5\.1\.7 Sender address rejected: /,
    );
  });
});

describe('one canonical form of a domain in every configured list', () => {
  const skipped = async (c: PolicyClient, d: TestDaemon, sender: string): Promise<void> => {
    const from = mx.sessions.length;
    const before = (await stats(d)).skips ?? 0;
    assert.equal(await c.ask(rcptRequest({ sender })), 'action=DUNNO', sender);
    assert.equal(mx.sessions.length, from, `no callout for ${sender}`);
    assert.equal(((await stats(d)).skips ?? 0) - before, 1, `a skip for ${sender}`);
  };

  it('local_domains in A-labels matches a UTF-8 sender at that domain (was a callout and a 550)', async () => {
    const { c, d } = await client({
      policy: { listen: ['127.0.0.1:0'], local_domains: ['xn--bcher-kva.test'] },
    });
    await skipped(c, d, 'nobody@bücher.test');
    await skipped(c, d, 'nobody@Mail.BÜCHER.test.');
    await skipped(c, d, 'nobody@xn--bcher-kva.test');
  });

  it('local_domains and allow_senders accept U-labels and match both forms', async () => {
    const { c, d } = await client({
      policy: {
        listen: ['127.0.0.1:0'],
        local_domains: ['Bücher.Test.'],
        allow_senders: ['ghost@straße.test', 'müller.test'],
      },
    });
    await skipped(c, d, 'nobody@xn--bcher-kva.test');
    await skipped(c, d, 'nobody@sub.bücher.test');
    await skipped(c, d, 'GHOST@xn--strae-oqa.test');
    await skipped(c, d, 'anyone@xn--mller-kva.test');
    // Not on any list: verified (the MX refuses it).
    assert.match(await c.ask(rcptRequest({ sender: 'nobody@[127.0.0.1]' })), /^action=550 /);
  });

  it('the schema normalises every list once: what serve runs with is what config check prints', async () => {
    const { d } = await client({
      service: {
        skip_domains: ['Bücher.test.'],
        skip_addresses: ['Ghost@Straße.test'],
        routes: { 'RELAY-ü.test.': `127.0.0.1:${mx.port}` },
      },
      policy: { listen: ['127.0.0.1:0'], local_domains: ['xn--bcher-kva.TEST'] },
    });
    assert.ok(d.service);
    const v1 = await d.service.verifier.verify('x@xn--bcher-kva.test');
    const v2 = await d.service.verifier.verify('ghost@xn--strae-oqa.test');
    assert.deepEqual([v1.reason, v1.rule], ['skipped', 'service.skip-list']);
    assert.deepEqual([v2.reason, v2.rule], ['skipped', 'service.skip-list']);
  });

  it('address literals in lists match every spelling of the same address (IPv6 as RFC 5952 writes it)', async () => {
    const { c, d } = await client({
      service: { skip_addresses: ['Ghost@[IPv6:0:0::1]'] },
      policy: {
        listen: ['127.0.0.1:0'],
        allow_senders: ['[IPv6:2001:DB8:0::7]', 'u@[ipv6:::FFFF:127.0.0.1]'],
      },
    });
    await skipped(c, d, 'x@[IPv6:2001:db8::7]');
    await skipped(c, d, 'x@[IPV6:2001:0db8:0000:0000:0000:0000:0000:0007]');
    await skipped(c, d, 'u@[IPv6:::ffff:7f00:1]');
    await skipped(c, d, 'ghost@[IPv6:::1]');
    const v = await d.service.verifier.verify('ghost@[IPv6:0::1]');
    assert.deepEqual([v.reason, v.rule], ['skipped', 'service.skip-list']);
  });

  it('routes keyed by a U-label call-forward recipients written in either form', async () => {
    const { c } = await client({
      service: { routes: { 'relay-ü.test': `127.0.0.1:${mx.port}` } },
    });
    for (const domain of ['relay-ü.test', 'xn--relay--8ya.test']) {
      assert.match(
        await c.ask(rcptRequest({ sender: '', recipient: `ghost@${domain}` })),
        /^action=550 5\.1\.1 <ghost@xn--relay--8ya\.test>: Recipient address rejected: /,
      );
      assert.equal(await c.ask(rcptRequest({ sender: '', recipient: `bob@${domain}` })), 'action=DUNNO');
    }
  });
});

describe('prepend_header: once per accepted message, whatever order the recipients come in', () => {
  const HEADER = /^action=PREPEND X-Sender-Verification: deliverable; reason=accepted; /;
  const routed = () => ({
    service: { routes: { 'relay.test': `127.0.0.1:${mx.port}` } },
    policy: { listen: ['127.0.0.1:0'], prepend_header: true },
  });

  it('first recipient refused by cbv (call-forward), the next accepted: the header goes with the next', async () => {
    const { c } = await client(routed());
    const message = { sender: 'alice@[127.0.0.1]', instance: 'order.1' };
    assert.match(
      await c.ask(rcptRequest({ ...message, recipient: 'ghost@relay.test' })),
      /^action=550 5\.1\.1 /,
    );
    assert.match(await c.ask(rcptRequest({ ...message, recipient: 'bob@relay.test' })), HEADER);
    assert.equal(await c.ask(rcptRequest({ ...message, recipient: 'r3@local.test' })), 'action=DUNNO');
  });

  it('first recipient accepted, a later one refused: the header once, with the first', async () => {
    const { c } = await client(routed());
    const message = { sender: 'alice@[127.0.0.1]', instance: 'order.2' };
    assert.match(await c.ask(rcptRequest({ ...message, recipient: 'bob@relay.test' })), HEADER);
    assert.match(
      await c.ask(rcptRequest({ ...message, recipient: 'ghost@relay.test' })),
      /^action=550 5\.1\.1 /,
    );
    assert.equal(await c.ask(rcptRequest({ ...message, recipient: 'r3@local.test' })), 'action=DUNNO');
  });
});
