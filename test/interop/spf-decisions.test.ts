/**
 * What SPF may and may not decide on its own, through the shared decision path (the CLI as a
 * child process, and the policy server), against a real Unbound: an include whose name server
 * SERVFAILs (temperror), a record beyond RFC 7208's lookup limit (permerror) and a plain pass.
 * The sender domains' MX are scripted servers on loopback: one knows alice and greylists grey,
 * one accepts every local part (a catch-all: its answer proves nothing about the address).
 *
 *   temperror: the callout decides; a callout that proves nothing defers (451 4.7.24), never rejects
 *   permerror: never a rejection on its own; the callout decides
 *   always_callout: SPF pass and fail are called out all the same
 */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cbv } from '../support/cli.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { PolicyClient, rcptRequest } from '../support/policy-client.js';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-smtp.js';
import { startDns, type DnsServer } from '../support/testbed/dns.js';
import { NAMES, SPF_CLIENTS } from '../support/testbed/zone.js';

const TEMP_STRICT = 'tempstrict.test';
const TEMP_CATCHALL = 'tempcatchall.test';
const PERM = 'permlimit.test';
const PASS = 'passonly.test';
const BROKEN = `v=spf1 include:_spf.${NAMES.servfail} -all`;

let dns: DnsServer;
let strict: ScriptedServer;
let catchAll: ScriptedServer;
let daemon: TestDaemon | undefined;

before(async () => {
  strict = await startScriptedServer({
    replies: {
      RCPT: (line) => {
        if (/<grey@/.test(line)) return ['450 4.2.0 <grey>: Recipient address rejected: Greylisted\r\n'];
        return [/<alice@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'];
      },
    },
  });
  // The same port on another loopback address: one --port reaches both.
  catchAll = await startScriptedServer({ host: '127.0.0.2', port: strict.port });
  const limitHosts = Array.from({ length: 11 }, (_, i) => `a${i + 1}.${PERM}`);
  dns = await startDns({
    records: [
      { name: 'mx.strict.test', type: 'A', value: '127.0.0.1' },
      { name: 'mx.anyone.test', type: 'A', value: '127.0.0.2' },
      ...[TEMP_STRICT, PERM, PASS].map((name) => ({ name, type: 'MX' as const, value: '10 mx.strict.test' })),
      { name: TEMP_CATCHALL, type: 'MX', value: '10 mx.anyone.test' },
      { name: TEMP_STRICT, type: 'TXT', value: BROKEN },
      { name: TEMP_CATCHALL, type: 'TXT', value: BROKEN },
      { name: PERM, type: 'TXT', value: `v=spf1 ${limitHosts.map((h) => `a:${h}`).join(' ')} -all` },
      ...limitHosts.map((h, i) => ({ name: h, type: 'A' as const, value: `192.0.2.${i + 1}` })),
      { name: PASS, type: 'TXT', value: 'v=spf1 ip4:127.0.4.0/29 -all' },
    ],
    servfail: [NAMES.servfail],
  });
});

after(async () => {
  await daemon?.stop();
  await Promise.allSettled([strict.close(), catchAll.close()]);
  await (dns as DnsServer | undefined)?.stop();
});

/** A cbv.yaml with the bed's resolver and MX port, plus `spf` settings. */
async function config(spf: Record<string, unknown> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cbv-spf-decisions-'));
  const file = join(dir, 'cbv.yaml');
  const raw = {
    dns: { servers: [dns.server], query_timeout: 2, tries: 1 },
    verify: { port: strict.port, allow_targets: ['127.0.0.0/8'], helo_name: 'verifier.test' },
    service: { data_dir: join(dir, 'data') },
    spf,
  };
  await writeFile(file, JSON.stringify(raw));
  return file;
}

interface Decided {
  reason: string;
  result: string;
  spf?: { result: string };
  decision: { action: string; reply: { code: number; enhanced: string } | null };
}

/** `cbv verify --json` for one sender of a client at `ip`: the decided verdict and the exit status. */
async function decide(
  address: string,
  ip: string,
  spf: Record<string, unknown> = {},
): Promise<{ code: number; answer: Decided; stderr: string }> {
  const r = await cbv([
    'verify',
    '--config',
    await config(spf),
    '--no-cache',
    '--json',
    '--client-ip',
    ip,
    address,
  ]);
  return { code: r.code, answer: JSON.parse(r.stdout) as Decided, stderr: r.stderr };
}

const sessions = (): number => strict.sessions.length + catchAll.sessions.length;
const brief = (a: Decided) => [
  a.spf?.result,
  a.reason,
  a.decision.action,
  a.decision.reply?.enhanced ?? null,
];

describe('what SPF decides on its own, and what it leaves to the callout', { timeout: 120_000 }, () => {
  it('temperror and a callout that proves nothing (catch-all): deferred 451 4.7.24, never rejected', async () => {
    const before = sessions();
    const r = await decide(`anyone@${TEMP_CATCHALL}`, SPF_CLIENTS.listed);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(brief(r.answer), ['temperror', 'catch_all', 'defer', '4.7.24']);
    assert.equal(r.answer.decision.reply?.code, 451);
    assert.ok(sessions() > before, 'the callout was made');
  });

  it('temperror and a greylisting MX: deferred (the greylisting deferral), never rejected', async () => {
    const r = await decide(`grey@${TEMP_STRICT}`, SPF_CLIENTS.stranger);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(brief(r.answer), ['temperror', 'greylisted', 'defer', '4.1.7']);
  });

  it("temperror: the callout's own evidence decides (its mailbox exists: accepted; it does not: 550 5.1.7)", async () => {
    const known = await decide(`alice@${TEMP_STRICT}`, SPF_CLIENTS.stranger);
    assert.equal(known.code, 0, known.stderr);
    assert.deepEqual(brief(known.answer), ['temperror', 'accepted', 'dunno', null]);
    const unknown = await decide(`nobody@${TEMP_STRICT}`, SPF_CLIENTS.stranger);
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.deepEqual(brief(unknown.answer), ['temperror', 'user_unknown', 'reject', '5.1.7']);
  });

  it('spf.temperror: callout leaves an inconclusive callout to the decision table (no deferral of its own)', async () => {
    const r = await decide(`anyone@${TEMP_CATCHALL}`, SPF_CLIENTS.listed, { temperror: 'callout' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(brief(r.answer), ['temperror', 'catch_all', 'dunno', null]);
  });

  it('permerror never rejects on its own: the callout decides', async () => {
    const before = sessions();
    const known = await decide(`alice@${PERM}`, SPF_CLIENTS.stranger);
    assert.equal(known.code, 0, known.stderr);
    assert.deepEqual(brief(known.answer), ['permerror', 'accepted', 'dunno', null]);
    const unknown = await decide(`nobody@${PERM}`, SPF_CLIENTS.stranger);
    assert.deepEqual(brief(unknown.answer), ['permerror', 'user_unknown', 'reject', '5.1.7']);
    assert.ok(sessions() >= before + 2, 'both were called out');
  });

  it('spf.always_callout: a pass and a fail are called out all the same, and the callout decides', async () => {
    const before = sessions();
    const pass = await decide(`nobody@${PASS}`, SPF_CLIENTS.listed, { always_callout: true });
    assert.deepEqual(brief(pass.answer), ['pass', 'user_unknown', 'reject', '5.1.7']);
    const fail = await decide(`alice@${PASS}`, SPF_CLIENTS.stranger, { always_callout: true });
    assert.deepEqual(brief(fail.answer), ['fail', 'accepted', 'dunno', null]);
    assert.ok(sessions() >= before + 2, 'both were called out');
  });

  it('the policy server answers the same temperror deferral as DEFER_IF_PERMIT 4.7.24; /metrics and the statistics count it', async () => {
    daemon = await startTestDaemon({
      dns: { servers: [dns.server], query_timeout: 2, tries: 1 },
      verify: { port: strict.port, allow_targets: ['127.0.0.0/8'], helo_name: 'verifier.test' },
      http: { enabled: true, listen: ['127.0.0.1:0'] },
    });
    const client = await PolicyClient.open(daemon.policy);
    try {
      const action = await client.ask(
        rcptRequest({ sender: `anyone@${TEMP_CATCHALL}`, client_address: SPF_CLIENTS.listed }),
      );
      assert.match(action, /^action=DEFER_IF_PERMIT 4\.7\.24 .*could not be checked \(temporary DNS error\)/);
      // A pass: no callout, counted as one avoided.
      assert.equal(
        await client.ask(rcptRequest({ sender: `nobody@${PASS}`, client_address: SPF_CLIENTS.listed })),
        'action=DUNNO',
      );
    } finally {
      client.close();
    }
    const base = `http://${daemon.listening.http?.[0] ?? ''}`;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^cbv_spf_results_total\{result="temperror",identity="mailfrom"\} 1$/m);
    assert.match(metrics, /^cbv_spf_results_total\{result="pass",identity="mailfrom"\} 1$/m);
    assert.match(metrics, /^cbv_spf_callouts_avoided_total 1$/m);
    const stats = (await (await fetch(`${base}/v1/stats`)).json()) as {
      rows: { key: string; value: number }[];
    };
    const row = (key: string) => stats.rows.find((r) => r.key === key)?.value;
    assert.deepEqual(
      [row('spf.pass'), row('spf.errors'), row('spf_callouts_avoided')],
      [1, 1, 1],
      JSON.stringify(stats.rows),
    );
  });
});
