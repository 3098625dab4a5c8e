/**
 * `cbv serve`, `cbv cache`, `cbv stats` and `cbv verify --cache` as child processes:
 * start-up errors are one line with the right exit status, SIGTERM is graceful,
 * and the persistent cache is shared between the commands.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cbv } from '../../support/cli.js';
import { PolicyClient, rcptRequest } from '../../support/policy-client.js';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';

let mx: ScriptedServer;
let slow: ScriptedServer;
before(async () => {
  mx = await startScriptedServer({
    replies: { RCPT: (line) => [/<alice@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'] },
  });
  slow = await startScriptedServer({ greeting: [{ delay: 3000 }, '220 slow\r\n'] });
});
after(async () => {
  await mx.close();
  await slow.close();
});

function configFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cbv-cli-daemon-'));
  const path = join(dir, 'cbv.yaml');
  writeFileSync(path, yaml.replaceAll('DIR', dir));
  return path;
}

describe('cbv serve start-up errors', () => {
  it('refuses a bad configuration in one line, exit 78', async () => {
    const r = await cbv(['serve', '--config', configFile('policy:\n  mode: loud\n')]);
    assert.equal(r.code, 78);
    assert.match(r.stderr, /^cbv: .*cbv\.yaml: policy\.mode: got "loud", allowed: "enforce" \| "warn"\n$/);
  });

  it('names a corrupt cache file in one line, exit 69 (no crash loop under systemd)', async () => {
    const path = configFile('cache:\n  path: DIR/broken.sqlite\n');
    writeFileSync(path.replace('cbv.yaml', 'broken.sqlite'), 'not a database at all '.repeat(200));
    const r = await cbv(['serve', '--config', path]);
    assert.equal(r.code, 69);
    assert.match(
      r.stderr,
      /^cbv: config .*cbv\.yaml \(--config\), cache .*broken\.sqlite\ncbv: cache database .*broken\.sqlite: file is not a database \(SQLITE_NOTADB\)\n$/,
    );
  });
});

describe('cbv serve shutdown', () => {
  // With `repeat`, a second signal arrives during the graceful stop (Ctrl-C under `npm start`
  // delivers SIGINT twice; an impatient operator presses it again): the stop still completes.
  for (const repeat of [false, true])
    it(
      `on SIGTERM${repeat ? ' then SIGINT while stopping' : ''} stops accepting, abandons a slow callout after the grace period, flushes, exits 0`,
      { timeout: 60_000 },
      async () => {
        const config = configFile(
          [
            'verify:',
            `  port: ${slow.port}`,
            "  allow_targets: ['127.0.0.0/8']",
            'service:',
            '  data_dir: DIR/data',
            '  inline_budget: 10',
            '  shutdown_grace: 0.5',
            'policy:',
            "  listen: ['127.0.0.1:0']",
            'http:',
            '  enabled: false',
          ].join('\n'),
        );
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', 'src/main.ts', 'serve', '--config', config],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        let log = '';
        const port = await new Promise<number>((resolve, reject) => {
          child.stdout.on('data', (c: Buffer) => {
            log += c.toString();
            const m = /"policy":\["127\.0\.0\.1:(\d+)"\]/.exec(log);
            if (m) resolve(Number(m[1]));
          });
          child.once('exit', () => reject(new Error(`daemon exited early: ${log}`)));
        });
        const client = await PolicyClient.open({ host: '127.0.0.1', port });
        client.write(
          `${Object.entries(rcptRequest({ sender: 'alice@[127.0.0.1]' }))
            .map(([k, v]) => `${k}=${v}\n`)
            .join('')}\n`,
        );
        // SIGTERM only once the callout is in flight (the slow MX has the connection and has not
        // greeted yet): a fixed pause raced the daemon's reading of the request on a loaded machine.
        const sessionsBefore = slow.sessions.length;
        while (slow.sessions.length === sessionsBefore) await new Promise((r) => setTimeout(r, 20));
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        if (repeat) {
          while (!log.includes('"event":"service.stopping"')) await new Promise((r) => setTimeout(r, 20));
          child.kill('SIGINT');
        }
        // A daemon that closed the connection without answering fails here instead of hanging.
        const reply = await Promise.race([
          client.next(),
          client.whenClosed().then(() => 'closed unanswered'),
        ]);
        assert.match(
          reply,
          /^action=DEFER_IF_PERMIT /,
          'the request in flight still got an answer, and not a rejection',
        );
        assert.equal(await exited, 0);
        assert.match(log, /"event":"service\.stopping","reason":"SIGTERM"/);
        assert.match(log, /"event":"service\.stopped"/);
        client.close();
      },
    );
});

describe('the persistent cache, shared by the commands', () => {
  it('cbv verify --cache writes it; cache get, purge, stats and cbv stats read it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cbv-cli-cache-'));
    const db = join(dir, 'cbv.sqlite');
    const flags = ['--allow-target', '127.0.0.0/8', '--port', String(mx.port)];
    const first = await cbv([
      'verify',
      '--json',
      '--cache',
      db,
      ...flags,
      'alice@[127.0.0.1]',
      'bob@[127.0.0.1]',
    ]);
    assert.equal(first.code, 1, first.stderr);
    const again = await cbv(['verify', '--json', '--cache', db, ...flags, 'alice@[127.0.0.1]']);
    assert.equal((JSON.parse(again.stdout) as { cache: { hit: boolean } }).cache.hit, true);

    const config = join(dir, 'cbv.yaml');
    writeFileSync(config, `cache:\n  path: ${db}\n`);
    const got = await cbv(['cache', 'get', '--config', config, 'alice@[127.0.0.1]']);
    assert.equal(got.code, 0);
    assert.match(got.stdout, /result +deliverable \(accepted\)/);
    const stats = await cbv(['cache', 'stats', '--json', '--config', config]);
    assert.equal((JSON.parse(stats.stdout) as { addresses: number }).addresses, 2);
    const purged = await cbv(['cache', 'purge', '--config', config, 'bob@[127.0.0.1]']);
    assert.equal(purged.stdout.trim(), 'bob@[127.0.0.1]: 1 entry removed');
    assert.equal((await cbv(['cache', 'get', '--config', config, 'bob@[127.0.0.1]'])).code, 3);

    const today = new Date().toISOString().slice(0, 10);
    const report = await cbv(['stats', '--json', '--config', config, '--since', today, '--until', today]);
    const rows = (JSON.parse(report.stdout) as { rows: { key: string; value: number }[] }).rows;
    const value = (key: string): number | undefined => rows.find((r) => r.key === key)?.value;
    assert.equal(value('requests'), 3);
    assert.equal(value('cache_hits'), 1);
    assert.equal(value('refused_rcpt_to'), 1);
    const table = await cbv(['stats', '--config', config]);
    assert.match(table.stdout, /^verification requests +: +3$/m);
  });

  it('cbv verify without --cache never opens the cache the daemon would use', async () => {
    const config = configFile('service:\n  data_dir: DIR/data\n');
    const r = await cbv([
      'verify',
      '--config',
      config,
      '--allow-target',
      '127.0.0.0/8',
      '--port',
      String(mx.port),
      'alice@[127.0.0.1]',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(config.replace('cbv.yaml', 'data')), false);
  });

  it('rejects bad dates in one line', async () => {
    const r = await cbv(['stats', '--since', '2026-13-45']);
    assert.equal(r.code, 64);
    assert.equal(
      r.stderr,
      "cbv: --since: expected a date as YYYY-MM-DD, got '2026-13-45' (try 'cbv stats --help')\n",
    );
  });
});
