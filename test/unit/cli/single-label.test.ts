/**
 * Senders at single-label domains (`root@vm`): refused as invalid syntax by default (a policy
 * choice, docs/verdicts.md), verified when `verify.allow_single_label_domains` is true, and then
 * never rejected on the DNS's word alone (a name the DNS does not know is `unverifiable`). Through
 * `cbv verify` and through the policy server of `cbv serve`, both as child processes, with a
 * loopback DNS server and a loopback SMTP server.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cbv } from '../../support/cli.js';
import { PolicyClient, rcptRequest } from '../../support/policy-client.js';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';
import { hostPort, startServeChild } from '../../support/serve-child.js';
import { startTinyDns, type TinyDns } from '../../support/tiny-dns.js';

let mx: ScriptedServer;
let dns: TinyDns;
before(async () => {
  mx = await startScriptedServer({
    replies: {
      RCPT: (line) => [/<(root|alice)@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'],
    },
  });
  dns = await startTinyDns({
    vm: { A: ['127.0.0.1'] }, // no MX: the implicit MX (RFC 5321 5.1)
    nomail: {}, // exists, no MX, no address
    'two.labels': { A: ['127.0.0.1'] },
  });
});
after(async () => {
  await mx.close();
  await dns.close();
});

function configFile(allow: boolean | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'cbv-single-label-'));
  const path = join(dir, 'cbv.yaml');
  const lines = [
    'dns:',
    `  servers: ['${dns.server}']`,
    'verify:',
    `  port: ${mx.port}`,
    "  allow_targets: ['127.0.0.0/8']",
    '  helo_name: cbv.test',
    ...(allow === null ? [] : [`  allow_single_label_domains: ${String(allow)}`]),
    'service:',
    `  data_dir: ${join(dir, 'data')}`,
    'policy:',
    "  listen: ['127.0.0.1:0']",
    'http:',
    '  enabled: false',
    '',
  ];
  writeFileSync(path, lines.join('\n'));
  return path;
}

async function verifyJson(
  config: string,
  address: string,
): Promise<{ code: number; v: Record<string, unknown> }> {
  const r = await cbv(['verify', '--no-cache', '--json', '--config', config, address]);
  return { code: r.code, v: JSON.parse(r.stdout) as Record<string, unknown> };
}

describe('cbv verify, single-label domains', () => {
  for (const allow of [null, false]) {
    it(`refuses root@vm as invalid syntax when the key is ${allow === null ? 'absent' : 'false'}, naming the key`, async () => {
      const { code, v } = await verifyJson(configFile(allow), 'root@vm');
      assert.equal(code, 1);
      assert.equal(v.reason, 'invalid_syntax');
      assert.match(String(v.message), /verify\.allow_single_label_domains/);
    });
  }

  it('with the key true, verifies root@vm at its MX (deliverable) and nobody@vm (the MX says no)', async () => {
    const config = configFile(true);
    const ok = await verifyJson(config, 'root@vm');
    assert.equal(ok.v.reason, 'accepted', JSON.stringify(ok.v));
    assert.equal(ok.code, 0);
    const no = await verifyJson(config, 'nobody@VM');
    assert.equal(no.v.reason, 'user_unknown', JSON.stringify(no.v));
    assert.equal(no.v.domain, 'vm');
  });

  for (const domain of ['ghost', 'nomail'])
    it(`with the key true, a single-label domain the DNS has no mail host for (${domain}) is unverifiable, not undeliverable`, async () => {
      const { code, v } = await verifyJson(configFile(true), `root@${domain}`);
      assert.equal(v.reason, 'unverifiable', JSON.stringify(v));
      assert.equal(v.rule, 'local.single-label-unresolved');
      assert.equal(code, 3);
    });

  it('with the key true, a name of two labels the DNS does not know is still no_such_domain', async () => {
    const { v } = await verifyJson(configFile(true), 'root@ghost.labels');
    assert.equal(v.reason, 'no_such_domain', JSON.stringify(v));
  });
});

describe('the policy server, single-label domains', { timeout: 60_000 }, () => {
  async function ask(config: string, senders: string[]): Promise<string[]> {
    const daemon = await startServeChild(['--config', config]);
    try {
      const client = await PolicyClient.open(hostPort(daemon.listening.policy?.[0] ?? ''));
      const replies: string[] = [];
      for (const sender of senders) replies.push(await client.ask(rcptRequest({ sender })));
      client.close();
      return replies;
    } finally {
      await daemon.stop();
    }
  }

  it('rejects root@vm (550) by default', async () => {
    const [reply] = await ask(configFile(null), ['root@vm']);
    assert.match(reply ?? '', /^action=550 /);
  });

  it('with the key true: root@vm accepted, nobody@vm rejected by its MX, root@ghost let through', async () => {
    const [root, nobody, ghost] = await ask(configFile(true), ['root@vm', 'nobody@vm', 'root@ghost']);
    assert.match(root ?? '', /^action=DUNNO/);
    assert.match(nobody ?? '', /^action=550 .*does not exist/);
    assert.match(ghost ?? '', /^action=DUNNO/);
  });
});
