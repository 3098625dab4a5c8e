/**
 * The install recipe docs/postfix.md gives, run as written in a scratch copy of the repository
 * (standing in for /opt/cbv; npm may use its local cache), and the result started as the systemd
 * unit starts it: `node dist/main.js serve`, here with a loopback configuration on ports the kernel
 * picks. It must answer a policy request and /healthz with no development package left, and stop
 * on SIGTERM. It takes a minute or more (npm ci, tsc), so it lives with the interop suites.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { commandLink, installRecipe } from '../support/install-recipe.js';
import { PolicyClient, rcptRequest } from '../support/policy-client.js';
import { REPO, scratchCopy } from '../support/scratch-copy.js';
import { hostPort, writeLoopbackConfig } from '../support/serve-child.js';

/**
 * better-sqlite3's install script looks for a prebuilt binary before it compiles one (minutes on a
 * loaded machine). Offline, it can find the one this checkout's `npm ci` built, packed as the
 * prebuild it would download (prebuild-install's local-prebuilds folder): the same file, sooner.
 */
function localPrebuilds(): string {
  const pkg = join(REPO, 'node_modules/better-sqlite3');
  const { version } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string };
  const folder = mkdtempSync(join(tmpdir(), 'cbv-prebuilds-'));
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  execFileSync('tar', ['-czf', join(folder, name), '-C', pkg, 'build/Release/better_sqlite3.node']);
  return folder;
}

let dir: string;
let recipeOutput: string;
before(
  () => {
    dir = scratchCopy();
    recipeOutput = execFileSync('sh', ['-c', `${installRecipe()} 2>&1`], {
      cwd: dir,
      encoding: 'utf8',
      env: {
        ...process.env,
        npm_config_prefer_offline: 'true',
        npm_config_audit: 'false',
        npm_config_fund: 'false',
        npm_config_better_sqlite3_local_prebuilds: localPrebuilds(),
      },
      maxBuffer: 64 * 1024 * 1024,
    });
  },
  { timeout: 600_000 },
);

describe('the documented install recipe', { timeout: 600_000 }, () => {
  it('installs without engine warnings, builds, and leaves no development package', () => {
    assert.doesNotMatch(recipeOutput, /EBADENGINE|ERR!/, recipeOutput);
    assert.ok(existsSync(join(dir, 'dist/main.js')), 'dist/main.js was built');
    for (const dev of ['typescript', 'tsx', 'eslint', 'prettier'])
      assert.equal(existsSync(join(dir, 'node_modules', dev)), false, `${dev} was pruned`);
    const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
    assert.equal(
      execFileSync('node', ['dist/main.js', '--version'], { cwd: dir, encoding: 'utf8' }),
      `cbv ${version}\n`,
    );
  });

  it('checks the example configuration the page installs', () => {
    const out = execFileSync('node', ['dist/main.js', 'config', 'check', 'deploy/cbv.yaml.example'], {
      cwd: dir,
      encoding: 'utf8',
    });
    assert.match(out, /: ok\n$/);
  });

  it('runs as the command the page links (cbv stats ...), from another directory', () => {
    // The page's `ln -s /opt/cbv/dist/main.js /usr/local/bin/cbv`, with the scratch copy for
    // /opt/cbv and a directory of its own on PATH for /usr/local/bin.
    const { target, name } = commandLink();
    const bin = mkdtempSync(join(tmpdir(), 'cbv-bin-'));
    symlinkSync(join(dir, target), join(bin, name));
    const elsewhere = mkdtempSync(join(tmpdir(), 'cbv-cwd-'));
    const run = (...args: string[]): string =>
      execFileSync(name, args, {
        cwd: elsewhere,
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
      });
    assert.match(run('--version'), /^cbv \d+\.\d+\.\d+\n$/);
    assert.match(run('config', 'check', join(dir, 'deploy/cbv.yaml.example')), /: ok\n$/);
  });

  describe('node dist/main.js serve', () => {
    let child: ReturnType<typeof spawn>;
    let listening: Record<string, string[]> = {};
    let log = '';
    before(async () => {
      const data = join(dir, 'state');
      mkdirSync(data);
      const config = writeLoopbackConfig(data);
      // As the systemd unit runs it: the absolute path, from the state directory.
      child = spawn('node', [join(dir, 'dist/main.js'), 'serve', '--config', config], {
        cwd: data,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_ENV: 'production' },
      });
      child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
      listening = await new Promise((resolve, reject) => {
        child.stdout?.on('data', (c: Buffer) => {
          log += c.toString();
          const ready = /"event":"service\.ready".*?"frontends":(\{[^}]*\})/.exec(log);
          if (ready?.[1]) resolve(JSON.parse(ready[1]) as Record<string, string[]>);
        });
        child.once('exit', (code) => reject(new Error(`cbv serve exited (${code}): ${log}`)));
      });
    });
    after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });

    it('answers /healthz', async () => {
      const { host, port } = hostPort(listening.http?.[0] ?? '');
      const res = await fetch(`http://${host}:${port}/healthz`);
      assert.equal(res.status, 200);
    });

    it('answers a policy request (the null sender: DUNNO)', async () => {
      const client = await PolicyClient.open(hostPort(listening.policy?.[0] ?? ''));
      assert.match(await client.ask(rcptRequest({ sender: '' })), /^action=DUNNO/);
      client.close();
    });

    it('stops on SIGTERM to its PID, exit 0', async () => {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      process.kill(child.pid ?? 0, 'SIGTERM');
      assert.equal(await exited, 0, log);
      assert.match(log, /"event":"service\.stopped"/);
    });
  });
});
