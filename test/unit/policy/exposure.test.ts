/**
 * Who can reach the policy server and the cache files: listeners beyond
 * loopback are refused by the schema (so `cbv config check` and `cbv serve`
 * say the same one line), the unix socket is 0660 with the configured group,
 * and the data directory and the SQLite files are private whatever the umask.
 * Run as root (as the suite is), so that a client can be started as `nobody`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { after, describe, it } from 'node:test';
import { openStores } from '../../../src/app/build.js';
import { ConfigError, parseConfig } from '../../../src/config/load.js';
import { cbv } from '../../support/cli.js';
import { startTestDaemon, type TestDaemon } from '../../support/daemon.js';
import { startScriptedServer } from '../../support/scripted-smtp.js';

const NOBODY = { uid: 65534, gid: 65534 };
const daemons: TestDaemon[] = [];
after(() => Promise.all(daemons.map((d) => d.stop())));

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cbv-exposure-'));
  chmodSync(dir, 0o755); // so that only the socket's own mode decides who may connect
  return dir;
}

/** Try to connect to a unix socket as another user; resolves 'connected' or the error code. */
function connectAs(user: { uid: number; gid: number }, path: string): Promise<string> {
  const script = `require('net').connect(${JSON.stringify(path)})
    .on('connect', () => { console.log('connected'); process.exit(0); })
    .on('error', (e) => { console.log(e.code); process.exit(0); });`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { ...user, cwd: '/' }, (error, stdout) =>
      error ? reject(new Error(error.message, { cause: error })) : resolve(stdout.trim()),
    );
  });
}

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('policy listeners beyond loopback', () => {
  it('are refused by the schema, naming the key, for 0.0.0.0, ::, and a LAN address', () => {
    for (const listen of ['0.0.0.0:10046', '[::]:10046', '192.0.2.10:10046', '10.1.2.3:10040']) {
      assert.throws(
        () => parseConfig({ policy: { listen: ['127.0.0.1:10040', listen] } }, 'cbv.yaml'),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.key === 'policy.listen.1' &&
          /allow_network/.test(error.message) &&
          !error.message.includes('\n'),
        listen,
      );
    }
  });

  it('are allowed when policy.allow_network says so; loopback needs nothing', () => {
    const open = parseConfig({ policy: { allow_network: true, listen: ['0.0.0.0:10046'] } }, 'x');
    assert.deepEqual(open.policy.listen, ['0.0.0.0:10046']);
    for (const listen of ['127.0.0.1:10040', '127.3.4.5:1', '[::1]:10040'])
      assert.doesNotThrow(() => parseConfig({ policy: { listen: [listen] } }, 'x'), listen);
  });

  it('cbv config check and cbv serve refuse 0.0.0.0 with the same one line, exit 78', async () => {
    const dir = scratch();
    const file = join(dir, 'cbv.yaml');
    writeFileSync(
      file,
      `policy:\n  listen: ['0.0.0.0:10046']\nhttp:\n  enabled: false\ncache:\n  backend: memory\n`,
    );
    const check = await cbv(['config', 'check', file]);
    const serve = await cbv(['serve', '--config', file]);
    assert.equal(check.code, 78);
    assert.equal(serve.code, 78);
    assert.match(
      check.stderr,
      /^cbv: .*policy\.listen\.0: got "0\.0\.0\.0:10046", expected a loopback address/,
    );
    assert.equal(check.stderr.trim().split('\n').length, 1);
    assert.ok(serve.stderr.includes(check.stderr.trim()), serve.stderr);
  });
});

describe('a web page cannot drive the policy server (cross-protocol requests)', () => {
  /**
   * What a browser sends when a page does fetch('http://127.0.0.1:10040/', {method: 'POST',
   * mode: 'no-cors', body}) (10040 is not among the ports browsers block): an HTTP request whose
   * headers read as one malformed policy request, and whose text/plain body is a well-formed one.
   */
  function browserPost(port: number, body: string, method = 'POST'): string {
    return [
      `${method} /anything HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Connection: keep-alive',
      'Content-Type: text/plain;charset=UTF-8',
      'Origin: http://attacker.example',
      'Sec-Fetch-Site: cross-site',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  }

  /** Sends raw bytes; resolves with what came back once the daemon closes (or after 2 s). */
  function exchange(port: number, bytes: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(text);
      }, 2000);
      socket.on('data', (c: Buffer) => (text += c.toString('utf8')));
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(text);
      });
      socket.on('error', reject);
      socket.write(bytes);
    });
  }

  it('closes a connection that speaks HTTP before reading any request from it: no callout (was a callout per page)', async () => {
    const mx = await startScriptedServer({});
    try {
      const d = await startTestDaemon({
        verify: { allow_targets: ['127.0.0.0/8'], helo_name: 'verifier.test', port: mx.port },
      });
      daemons.push(d);
      const smuggled = 'request=smtpd_access_policy\nprotocol_state=RCPT\nsender=victim@[127.0.0.1]\n\n';
      for (const method of ['POST', 'GET', 'PUT']) {
        const answer = await exchange(d.policy.port, browserPost(d.policy.port, smuggled, method));
        assert.equal(answer, '', `${method}: nothing answered, the connection closed`);
      }
      assert.equal(mx.sessions.length, 0, 'no callout');
      // Postfix's own requests are served as before.
      const direct = await exchange(d.policy.port, smuggled);
      assert.match(direct, /^action=/);
    } finally {
      await mx.close();
    }
  });
});

describe('the unix socket', () => {
  it('is created 0660 whatever the umask, so a user outside its group cannot connect', async () => {
    const dir = scratch();
    const path = join(dir, 'policy');
    const umask = process.umask(0o000);
    try {
      daemons.push(await startTestDaemon({ policy: { listen: [], unix_socket: path } }));
    } finally {
      process.umask(umask);
    }
    assert.equal(mode(path), 0o660);
    assert.equal(await connectAs(NOBODY, path), 'EACCES');
  });

  it('takes the configured group (by name) and mode, and lets that group in', async () => {
    const dir = scratch();
    const path = join(dir, 'policy');
    daemons.push(
      await startTestDaemon({ policy: { listen: [], unix_socket: path, unix_socket_group: 'nogroup' } }),
    );
    assert.equal(statSync(path).gid, 65534);
    assert.equal(mode(path), 0o660);
    assert.equal(await connectAs(NOBODY, path), 'connected');
    const other = join(dir, 'other');
    daemons.push(
      await startTestDaemon({
        policy: { listen: [], unix_socket: other, unix_socket_owner: '65534', unix_socket_mode: '0600' },
      }),
    );
    assert.equal(statSync(other).uid, 65534);
    assert.equal(mode(other), 0o600);
  });

  it('refuses to start with a group that does not exist, naming the key', async () => {
    const path = join(scratch(), 'policy');
    await assert.rejects(
      startTestDaemon({ policy: { listen: [], unix_socket: path, unix_socket_group: 'no-such-group-cbv' } }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /policy\.unix_socket_group: got "no-such-group-cbv", expected a group in \/etc\/group/.test(
          error.message,
        ),
    );
  });
});

describe('the data directory and the cache files', () => {
  it('are 0700 and 0600 (database, -wal, -shm) under umask 022', async () => {
    const root = scratch();
    const dataDir = join(root, 'var', 'cbv');
    const umask = process.umask(0o022);
    let stores;
    try {
      stores = openStores(parseConfig({ service: { data_dir: dataDir } }, 'x'));
      await stores.cache.putAddress({
        address: 'a@example.org',
        domain: 'example.org',
        verdict: {
          address: 'a@example.org',
          domain: 'example.org',
          result: 'deliverable',
          reason: 'accepted',
          temporary: false,
          rule: 'rcpt.2xx',
          message: 'accepted',
          mx: null,
          smtp: null,
          catchAllProbe: null,
          durationMs: 1,
          attempts: [],
          cache: { hit: false, fact: null, ageSeconds: null },
        },
        storedAt: Date.now(),
        expiresAt: Date.now() + 60_000,
        refreshAt: null,
      });
      assert.equal(mode(join(root, 'var')), 0o700);
      assert.equal(mode(dataDir), 0o700);
      for (const file of ['cbv.sqlite', 'cbv.sqlite-wal', 'cbv.sqlite-shm'])
        assert.equal(mode(join(dataDir, file)), 0o600, file);
    } finally {
      await stores?.close();
      process.umask(umask);
    }
  });

  it('closes a database an older run left readable by others, and leaves an existing directory alone', async () => {
    const dir = scratch();
    const path = join(dir, 'cbv.sqlite');
    writeFileSync(path, '');
    chmodSync(path, 0o644);
    const stores = openStores(parseConfig({ cache: { path } }, 'x'));
    await stores.close();
    assert.equal(mode(path), 0o600);
    assert.equal(mode(dir), 0o755, 'a directory cbv did not create keeps its mode');
  });
});
