/**
 * An administrator runs `sudo cbv stats` on the mail server while the daemon's database belongs to
 * the daemon's own user (deploy/cbv.service runs it as `cbv`). SQLite creates `-wal` and `-shm`
 * beside the database even for a read-only connection; owned by root, they would lock the daemon
 * out of its own database (SQLite gives them the database file's owner; this keeps it so for
 * everything the commands create). Needs root, as the interop suite does.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cbv } from '../support/cli.js';

const NOBODY = { uid: 65534, gid: 65534 };

/** `cbv ARGS` as the unprivileged user `nobody`, as the daemon's user would run. */
function cbvAsNobody(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), join(import.meta.dirname, '../../src/main.ts'), ...args],
      { env: { ...process.env, ...env }, ...NOBODY, cwd: tmpdir(), timeout: 30_000 },
      (error, _stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr }),
    );
  });
}

/**
 * `nobody` runs cbv from this checkout, so it must be able to reach it: a checkout below a 0700
 * directory (mktemp -d, a CI runner's work folder) would make every such run fail with "cannot
 * find module". The test lets others traverse (o+x, not read) the folders above the checkout for
 * its duration, and restores their modes afterwards.
 */
const widened: { path: string; mode: number }[] = [];
before(() => {
  for (let dir = resolve(import.meta.dirname, '../..'); dir !== dirname(dir); dir = dirname(dir)) {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) {
      widened.push({ path: dir, mode });
      chmodSync(dir, mode | 0o001);
    }
  }
});
after(() => {
  for (const { path, mode } of widened) chmodSync(path, mode);
});

describe('commands run as root next to a database owned by the daemon user', () => {
  it('leave the -wal and -shm files to the database owner, so the daemon can still write', async () => {
    assert.equal(process.getuid?.(), 0, 'the interop suite runs as root');
    const dir = mkdtempSync(join(tmpdir(), 'cbv-root-'));
    chownSync(dir, NOBODY.uid, NOBODY.gid);
    const data = join(dir, 'data');
    mkdirSync(data);
    const config = join(dir, 'cbv.yaml');
    writeFileSync(config, `service:\n  data_dir: ${data}\n`);
    const db = join(data, 'cbv.sqlite');
    // The daemon's user creates its database (as `cbv serve` under systemd would).
    chownSync(data, NOBODY.uid, NOBODY.gid);
    const created = await cbvAsNobody(['verify', '--cache', db, 'x@[127.0.0.1]'], { CBV_CONFIG: config });
    assert.equal(created.code, 3, created.stderr); // unsafe_target: the cache file exists now
    assert.equal(statSync(db).uid, NOBODY.uid);
    assert.equal(existsSync(`${db}-shm`), false, 'a clean close removes the side files');

    for (const args of [['stats'], ['cache', 'stats'], ['cache', 'purge', 'x@[127.0.0.1]']]) {
      const r = await cbv(args, { CBV_CONFIG: config });
      assert.equal(r.code, 0, r.stderr);
      for (const sidecar of [`${db}-wal`, `${db}-shm`]) {
        if (existsSync(sidecar))
          assert.equal(statSync(sidecar).uid, NOBODY.uid, `${args.join(' ')}: ${sidecar}`);
      }
      const daemonUser = await cbvAsNobody(['cache', 'purge', 'example.org'], { CBV_CONFIG: config });
      assert.equal(daemonUser.code, 0, `after root's ${args.join(' ')}: ${daemonUser.stderr}`);
    }
  });
});

/**
 * An administrator runs `cbv stats` as themself next to a daemon whose data directory is 0700 (as
 * serve makes it) or whose database is 0600: the commands must say "permission denied", not "no
 * such file (... or the daemon uses another configuration)", which sends them looking elsewhere.
 */
describe('commands run as a user who may not read the daemon data', () => {
  let dir: string;
  let config: string;
  let db: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cbv-hidden-'));
    chmodSync(dir, 0o755);
    const data = join(dir, 'data');
    config = join(dir, 'cbv.yaml');
    writeFileSync(config, `service:\n  data_dir: ${data}\n`);
    chmodSync(config, 0o644);
    db = join(data, 'cbv.sqlite');
    // The daemon's database (root's here), as serve leaves it: data directory 0700, file 0600.
    mkdirSync(data, { mode: 0o700 });
    const created = await cbv(['verify', '--cache', db, 'x@[127.0.0.1]'], { CBV_CONFIG: config });
    assert.equal(created.code, 3, created.stderr);
  });

  const denied =
    /^cbv: cache database .*cbv\.sqlite: permission denied \(EACCES\): run the command as the daemon's user, or as root$/;
  for (const [layout, dirMode] of [
    ['a 0700 data directory', 0o700],
    ['a 0600 database in a readable directory', 0o755],
  ] as const) {
    it(`${layout}: stats, cache get/stats/purge say permission denied (exit 69)`, async () => {
      chmodSync(dirname(db), dirMode);
      for (const args of [
        ['stats'],
        ['cache', 'get', 'x@[127.0.0.1]'],
        ['cache', 'stats'],
        ['cache', 'purge', 'a@b.example'],
      ]) {
        const r = await cbvAsNobody(args, { CBV_CONFIG: config });
        assert.equal(r.code, 69, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr.trimEnd().split('\n').at(-1) ?? '', denied, args.join(' '));
      }
    });
  }

  it('cbv verify says why it cannot share the cache: permission denied, not "does not exist"', async () => {
    chmodSync(dirname(db), 0o700);
    const r = await cbvAsNobody(['verify', 'x@[127.0.0.1]'], { CBV_CONFIG: config });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /no cache \(.*cbv\.sqlite: permission denied \(EACCES\)/);
    assert.doesNotMatch(r.stderr, /does not exist/);
  });

  it('a default config file the user may not see is named (and refused), not replaced by the built-in defaults', async () => {
    const etc = join(dir, 'etc-cbv');
    mkdirSync(etc, { mode: 0o750 });
    const hidden = join(etc, 'cbv.yaml');
    writeFileSync(hidden, 'policy:\n  mode: warn\n');
    const script = `import('${join(import.meta.dirname, '../../src/config/locate.ts')}').then((m) => process.stdout.write(JSON.stringify(m.locateConfig(undefined, {}, ${JSON.stringify(hidden)}))))`;
    const out = await new Promise<{ error: Error | null; stdout: string }>((done) =>
      execFile(
        process.execPath,
        ['--import', import.meta.resolve('tsx'), '-e', script],
        { ...NOBODY, cwd: tmpdir(), timeout: 30_000 },
        (error, stdout) => done({ error, stdout }),
      ),
    );
    assert.equal(out.error, null);
    assert.deepEqual(JSON.parse(out.stdout), { via: 'default', path: hidden });
  });
});
