/**
 * The HELO name: verify.helo_name, else the machine's FQDN; when neither is fully qualified,
 * `cbv serve` starts but says so once in its log (naming verify.helo_name), in /readyz details and
 * on the dashboard (test/interop/dashboard-helo.test.ts), and `cbv verify` warns once on stderr.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { heloIdentity, isFullyQualified } from '../../../src/config/helo-name.js';
import { engineOptions } from '../../../src/config/engine-options.js';
import { parseConfig } from '../../../src/config/load.js';
import { EVENTS } from '../../../src/observability/events.js';
import { cbv } from '../../support/cli.js';
import { json, startHttpDaemon, type HttpDaemon } from '../../support/http-daemon.js';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';

const config = (verify: Record<string, unknown> = {}) => parseConfig({ verify }, 'test');

describe('which HELO names are fully qualified', () => {
  const yes = [
    'mx1.example.org',
    'verify.example.co.uk',
    'mail.example.org.',
    '[192.0.2.1]',
    '[IPv6:2001:db8::1]',
  ];
  const no = [
    'vm',
    'localhost',
    'localhost.localdomain',
    'vm.localdomain',
    'printer.local',
    'host.internal',
    '10.0.0.1',
    'a..b',
  ];
  for (const name of yes) it(`${name}: yes`, () => assert.equal(isFullyQualified(name), true));
  for (const name of no) it(`${name}: no`, () => assert.equal(isFullyQualified(name), false));
});

describe('heloIdentity', () => {
  it('takes verify.helo_name first, and does not ask the machine', () => {
    const id = heloIdentity(config({ helo_name: 'mx.example.org' }), () => assert.fail('asked the machine'));
    assert.deepEqual(id, { name: 'mx.example.org', source: 'config', qualified: true, warning: null });
  });

  it("uses the machine's FQDN when verify.helo_name is unset", () => {
    const id = heloIdentity(config(), () => 'host.example.net');
    assert.deepEqual(id, { name: 'host.example.net', source: 'machine', qualified: true, warning: null });
    assert.equal(engineOptions(config(), () => 'host.example.net').probe.heloName, 'host.example.net');
  });

  it('warns, naming verify.helo_name, when the machine has only a short name', () => {
    const id = heloIdentity(config(), () => 'vm');
    assert.equal(id.qualified, false);
    assert.equal(id.name, 'vm');
    assert.match(
      id.warning ?? '',
      /"vm" is not a fully qualified domain name and verify\.helo_name is not set/,
    );
  });

  it('warns when verify.helo_name itself is a short name', () => {
    const id = heloIdentity(config({ helo_name: 'mailcheck' }));
    assert.equal(id.source, 'config');
    assert.match(id.warning ?? '', /^verify\.helo_name "mailcheck" is not a fully qualified domain name/);
  });

  it('re-checks a bare refusal of <> as postmaster@ the HELO name, unless told otherwise or off', () => {
    const probe = (verify: Record<string, unknown>) =>
      engineOptions(config(verify), () => 'h.example.org').probe;
    assert.equal(probe({}).recheckSender, 'postmaster@h.example.org');
    assert.equal(probe({ helo_name: 'mx.example.org' }).recheckSender, 'postmaster@mx.example.org');
    assert.equal(
      probe({ recheck_sender: 'bounce-check@example.org' }).recheckSender,
      'bounce-check@example.org',
    );
    assert.equal(probe({ null_sender_recheck: false }).recheckSender, null);
  });
});

describe('cbv serve with a HELO name that is not fully qualified', () => {
  const daemons: HttpDaemon[] = [];
  after(async () => {
    for (const d of daemons) await d.close();
  });

  it('starts, logs one warning line naming verify.helo_name, and reports it in /readyz details', async () => {
    const d = await startHttpDaemon({ verify: { helo_name: 'vm' } });
    daemons.push(d);
    const warned = d.logs.filter((l) => l.event === EVENTS.heloNotQualified);
    assert.equal(warned.length, 1);
    const [line] = warned;
    assert.ok(line);
    assert.equal(line.level, 'warn');
    assert.equal(line.heloName, 'vm');
    assert.match(String(line.msg), /verify\.helo_name/);
    const r = await d.get('/readyz');
    assert.equal(r.status, 200);
    const body = await json<{ status: string; details: { heloName: string; warnings: string[] } }>(r);
    assert.equal(body.status, 'ready');
    assert.equal(body.details.heloName, 'vm');
    assert.equal(body.details.warnings.length, 1);
    assert.match(body.details.warnings[0] ?? '', /set verify\.helo_name/);
    // It still verifies.
    assert.equal((await d.get('/v1/verify?address=alice%40%5B127.0.0.1%5D')).status, 200);
  });

  it('says nothing when the name is fully qualified', async () => {
    const d = await startHttpDaemon({ verify: { helo_name: 'verify.example.org' } });
    daemons.push(d);
    assert.equal(d.logs.filter((l) => l.event === EVENTS.heloNotQualified).length, 0);
    const body = await json<{ details: { heloName: string; warnings: string[] } }>(await d.get('/readyz'));
    assert.deepEqual(body.details, { heloName: 'verify.example.org', warnings: [] });
  });
});

describe('cbv verify with a HELO name that is not fully qualified', () => {
  let smtp: ScriptedServer;
  after(() => smtp.close());

  it('warns once on stderr, whatever the number of addresses, and still verifies', async () => {
    smtp = await startScriptedServer({
      replies: { RCPT: (line) => [/<alice@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'] },
    });
    const flags = ['--allow-target', '127.0.0.0/8', '--port', String(smtp.port)];
    const short = await cbv(['verify', ...flags, '--helo', 'vm', 'alice@[127.0.0.1]', 'bob@[127.0.0.1]']);
    assert.equal(short.code, 1, short.stderr);
    const warnings = short.stderr.split('\n').filter((l) => l.includes('verify.helo_name'));
    assert.equal(warnings.length, 1, short.stderr);
    assert.match(warnings[0] ?? '', /^cbv: warning: verify\.helo_name "vm" is not a fully qualified/);
    assert.match(short.stdout, /alice@\[127\.0\.0\.1\] +deliverable/);
    assert.match(short.stdout, /bob@\[127\.0\.0\.1\] +undeliverable/);
    assert.ok(smtp.sessions.every((s) => s.commands[0] === 'EHLO vm'));

    const fqdn = await cbv(['verify', ...flags, '--helo', 'verify.example.org', 'alice@[127.0.0.1]']);
    assert.equal(fqdn.code, 0, fqdn.stderr);
    assert.doesNotMatch(fqdn.stderr, /helo_name/);
  });
});
