/**
 * The CLI and the daemon look at the same data: every command finds the configuration the same
 * way (--config, CBV_CONFIG, /etc/cbv/cbv.yaml, built-in defaults), says which one it used, and
 * never creates an empty database when asked to read.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CONFIG_PATH, locateConfig } from '../../../src/config/locate.js';
import { cbv } from '../../support/cli.js';
import { PolicyClient, rcptRequest } from '../../support/policy-client.js';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';
import { hostPort, startServeChild } from '../../support/serve-child.js';

let mx: ScriptedServer;
before(async () => {
  mx = await startScriptedServer({
    replies: { RCPT: (line) => [/<alice@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'] },
  });
});
after(() => mx.close());

const scratch = (): string => mkdtempSync(join(tmpdir(), 'cbv-location-'));

/** A config file in its own directory; `data_dir: data` is relative to that directory. */
function configIn(dir: string, extra = ''): string {
  const path = join(dir, 'cbv.yaml');
  writeFileSync(
    path,
    [
      'verify:',
      `  port: ${mx.port}`,
      "  allow_targets: ['127.0.0.0/8']",
      '  helo_name: cbv.test',
      'service:',
      '  data_dir: data',
      'policy:',
      "  listen: ['127.0.0.1:0']",
      'http:',
      '  enabled: false',
      'logging:',
      '  level: info',
      extra,
    ].join('\n'),
  );
  return path;
}

describe('which configuration a command uses', () => {
  it('--config, then CBV_CONFIG, then the default path when it exists, then the built-in defaults', () => {
    const dir = scratch();
    const present = join(dir, 'cbv.yaml');
    writeFileSync(present, '');
    const absent = join(dir, 'none.yaml');
    const env = { CBV_CONFIG: '/from/env.yaml' };
    assert.deepEqual(locateConfig('/flag.yaml', env, present), { via: '--config', path: '/flag.yaml' });
    assert.deepEqual(locateConfig(undefined, env, present), { via: 'CBV_CONFIG', path: '/from/env.yaml' });
    assert.deepEqual(locateConfig(undefined, {}, present), { via: 'default', path: present });
    assert.deepEqual(locateConfig(undefined, { CBV_CONFIG: '' }, present), { via: 'default', path: present });
    assert.deepEqual(locateConfig(undefined, {}, absent), { via: 'built-in', path: null });
    assert.equal(DEFAULT_CONFIG_PATH, '/etc/cbv/cbv.yaml');
  });
});

describe("the commands see the daemon's data, from any directory", () => {
  it('cbv stats, cache get and cache stats report what a running daemon recorded, and name the files', async () => {
    const home = scratch();
    const config = configIn(home);
    const daemonCwd = scratch();
    const daemon = await startServeChild([], { env: { ...process.env, CBV_CONFIG: config }, cwd: daemonCwd });
    try {
      const client = await PolicyClient.open(hostPort(daemon.listening.policy?.[0] ?? ''));
      const reply = await client.ask(rcptRequest({ sender: 'nobody@[127.0.0.1]' }));
      client.close();
      assert.match(reply, /^action=550 5\.1\.7 /);
      assert.match(
        daemon.stderr(),
        new RegExp(`^cbv: config ${config} \\(from CBV_CONFIG\\), cache ${home}/data/cbv\\.sqlite\\n`),
      );
      await new Promise((r) => setTimeout(r, 1500)); // the daemon flushes its counters every second

      const elsewhere = scratch();
      const stats = await cbv(['stats', '--json'], { CBV_CONFIG: config }, elsewhere);
      assert.equal(stats.code, 0, stats.stderr);
      const rows = (JSON.parse(stats.stdout) as { rows: { key: string; value: number }[] }).rows;
      assert.equal(rows.find((r) => r.key === 'requests')?.value, 1);
      assert.equal(
        stats.stderr,
        `cbv: config ${config} (from CBV_CONFIG), cache ${home}/data/cbv.sqlite (read-only)\n`,
      );
      const got = await cbv(['cache', 'get', '--config', config, 'nobody@[127.0.0.1]'], {}, elsewhere);
      assert.equal(got.code, 0, got.stderr);
      assert.match(got.stdout, /result +undeliverable \(user_unknown\)/);
      assert.match(
        got.stderr,
        new RegExp(`^cbv: config ${config} \\(--config\\), cache ${home}/data/cbv\\.sqlite`),
      );
      const entries = await cbv(['cache', 'stats', '--json'], { CBV_CONFIG: config }, elsewhere);
      assert.equal((JSON.parse(entries.stdout) as { addresses: number }).addresses, 1);
      assert.deepEqual(readdirSync(elsewhere), [], 'nothing was created in the working directory');
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
    assert.deepEqual(
      readdirSync(daemonCwd),
      [],
      "the daemon's data is where its config says, not in its cwd",
    );
  });
});

describe('reading commands never create a database', () => {
  const commands: string[][] = [
    ['stats'],
    ['stats', '--json'],
    ['cache', 'get', 'alice@example.org'],
    ['cache', 'stats'],
    ['cache', 'purge', 'alice@example.org'],
    ['cache', 'purge', 'example.org'],
  ];
  for (const args of commands) {
    it(`cbv ${args.join(' ')} with no database: exit 69, one line naming the file, nothing created`, async () => {
      const home = scratch();
      const config = configIn(home);
      const r = await cbv(args, { CBV_CONFIG: config });
      assert.equal(r.code, 69, r.stderr);
      assert.equal(r.stdout, '');
      const db = join(home, 'data', 'cbv.sqlite');
      assert.match(
        r.stderr.split('\n')[1] ?? '',
        new RegExp(
          `^cbv: cache database ${db}: no such file \\(nothing was cached there yet, or the daemon uses another configuration\\)$`,
        ),
      );
      assert.equal(existsSync(join(home, 'data')), false);
      mkdirSync(join(home, 'data'));
      assert.equal((await cbv(args, { CBV_CONFIG: config })).code, 69);
      assert.deepEqual(readdirSync(join(home, 'data')), []);
    });
  }

  it('a config whose cache lives in the daemon says so instead of reading an empty one', async () => {
    const config = configIn(scratch(), 'cache:\n  backend: memory\n');
    const r = await cbv(['stats'], { CBV_CONFIG: config });
    assert.equal(r.code, 69);
    assert.match(
      r.stderr,
      /cbv: cache\.backend is memory: the daemon's cache and statistics live inside its process; ask the daemon over HTTP instead/,
    );
  });
});

describe("no command touches another program's database", () => {
  /** SQLite files cbv did not make, each a way a typo in cache.path could land. */
  const FOREIGN: [string, string][] = [
    [
      'a webmail database',
      "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'x')",
    ],
    [
      "a key/value meta table without cbv's mark",
      "CREATE TABLE meta (key TEXT, value TEXT); INSERT INTO meta VALUES ('owner', 'someone')",
    ],
    ['a meta table of another shape', 'CREATE TABLE meta (id INTEGER); CREATE TABLE log (line TEXT)'],
  ];
  const commands: string[][] = [
    ['serve'],
    ['verify', 'alice@[127.0.0.1]'],
    ['stats'],
    ['cache', 'get', 'alice@example.org'],
    ['cache', 'stats'],
    ['cache', 'purge', 'example.org'],
  ];
  for (const [what, sql] of FOREIGN) {
    for (const args of commands) {
      it(`cbv ${args.join(' ')} on ${what}: exit 69, one line, the file unchanged`, async () => {
        const home = scratch();
        const db = join(home, 'other.sqlite');
        const foreign = new Database(db);
        foreign.exec(sql);
        foreign.close();
        const bytes = readFileSync(db);
        const config = configIn(home, `cache:\n  path: ${db}\n`);
        const r = await cbv([...args, '--config', config]);
        assert.equal(r.code, 69, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(
            `^cbv: cache database ${db}: not a cbv cache database \\(it holds other tables: [a-z, ]+\\); cbv leaves it alone$`,
            'm',
          ),
        );
        assert.ok(readFileSync(db).equals(bytes), 'the file was changed');
        assert.deepEqual(readdirSync(home).sort(), ['cbv.yaml', 'other.sqlite']);
      });
    }
  }
});

describe('cbv verify and cbv cache agree on which cache a config names', () => {
  it('uses the daemon database of the config (data_dir, no cache.path), and never creates it', async () => {
    const home = scratch();
    const config = configIn(home);
    const db = join(home, 'data', 'cbv.sqlite');
    const before = await cbv(['verify', '--json', '--config', config, 'alice@[127.0.0.1]']);
    assert.equal(before.code, 0, before.stderr);
    assert.equal(before.stderr, `cbv: config ${config} (--config), no cache (${db} does not exist)\n`);
    assert.equal(existsSync(join(home, 'data')), false);

    const daemon = await startServeChild(['--config', config]);
    assert.equal(await daemon.stop(), 0); // the daemon created its database

    const viaFlag = await cbv(['verify', '--json', '--config', config, 'alice@[127.0.0.1]']);
    assert.equal(viaFlag.stderr, `cbv: config ${config} (--config), cache ${db}\n`);
    assert.equal((JSON.parse(viaFlag.stdout) as { cache: { hit: boolean } }).cache.hit, false);
    const viaEnv = await cbv(['verify', '--json', 'alice@[127.0.0.1]'], { CBV_CONFIG: config });
    assert.equal((JSON.parse(viaEnv.stdout) as { cache: { hit: boolean } }).cache.hit, true);
    const got = await cbv(['cache', 'get', '--json', '--config', config, 'alice@[127.0.0.1]']);
    assert.equal((JSON.parse(got.stdout) as { kind: string }).kind, 'address');

    const fresh = await cbv(['verify', '--json', '--no-cache', '--config', config, 'bob@[127.0.0.1]']);
    assert.equal(fresh.stderr, `cbv: config ${config} (--config), no cache (--no-cache)\n`);
    assert.equal((await cbv(['cache', 'get', '--config', config, 'bob@[127.0.0.1]'])).code, 3);
  });

  it('a config naming cache.path: verify and cache get both use that file', async () => {
    const home = scratch();
    const config = configIn(home, 'cache:\n  path: shared/verdicts.sqlite\n');
    const db = join(home, 'shared', 'verdicts.sqlite');
    const created = await cbv(['verify', '--cache', db, '--config', config, 'alice@[127.0.0.1]']);
    assert.equal(created.code, 0, created.stderr);
    const again = await cbv(['verify', '--json', '--config', config, 'alice@[127.0.0.1]'], {}, scratch());
    assert.equal(again.stderr, `cbv: config ${config} (--config), cache ${db}\n`);
    assert.equal((JSON.parse(again.stdout) as { cache: { hit: boolean } }).cache.hit, true);
    const got = await cbv(['cache', 'get', 'alice@[127.0.0.1]'], { CBV_CONFIG: config }, scratch());
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stderr, new RegExp(`cache ${db} \\(read-only\\)`));
    const table = await cbv(['verify', '--config', config, 'alice@[127.0.0.1]']);
    assert.match(table.stdout, /alice@\[127\.0\.0\.1\] +deliverable \(cached\) +accepted/);
  });
});
