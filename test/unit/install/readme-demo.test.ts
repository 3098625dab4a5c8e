/**
 * The README's first `cbv verify` example runs as written: `npm run demo-mx` starts the
 * demonstration mail server and prints the very command the README shows, that command gives the
 * README's table (address, result, reason, rule and reply code; times differ), and Ctrl-C stops
 * the server and frees its port. The server's port is the one free at test time (DEMO_MX_PORT),
 * put in place of the README's 2525, since tests never use fixed ports.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { scratchConfig } from '../../support/cli.js';
import { REPO } from '../../support/scratch-copy.js';

interface Example {
  start: string;
  verify: string;
  rows: string[][];
}

/** The two commands and the table of the README's demo example. */
function readmeExample(): Example {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```console\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  const startBlock = blocks.find((b) => b.startsWith('$ npm run demo-mx')) ?? '';
  const verifyBlock = blocks.find((b) => b.startsWith('$ npm run cbv -- verify')) ?? '';
  const [verifyLine = '', , ...rows] = verifyBlock.trim().split('\n');
  return {
    start: (startBlock.split('\n')[0] ?? '').slice(2),
    verify: verifyLine.slice(2),
    rows: rows.map((r) => r.split(/\s{2,}/)),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('the README demo', { timeout: 120_000 }, () => {
  it('npm run demo-mx, then the verify command it prints, gives the README table; Ctrl-C stops it', async () => {
    const example = readmeExample();
    assert.equal(example.start, 'npm run demo-mx');
    assert.match(example.verify, /--port 2525 /);
    assert.equal(example.rows.length, 4);
    const port = await freePort();
    const [program = '', ...args] = example.start.split(' ');
    const demo = spawn(program, args, {
      cwd: REPO,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEMO_MX_PORT: String(port) },
    });
    const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
    try {
      let printed = '';
      const command = await new Promise<string>((resolve, reject) => {
        demo.stdout.on('data', (c: Buffer) => {
          printed += c.toString();
          const line = /^ {2}(npm run cbv -- verify .*)$/m.exec(printed);
          if (line?.[1]) resolve(line[1]);
        });
        void exited.then(() => reject(new Error(`demo-mx exited: ${printed}`)));
      });
      assert.equal(command, example.verify.replace('--port 2525 ', `--port ${port} `));
      const table = await new Promise<string>((resolve) => {
        execFile(
          'sh',
          ['-c', command],
          // A configuration of its own, so that no cache in the checkout answers instead of the server.
          { cwd: REPO, env: { ...process.env, CBV_CONFIG: scratchConfig() } },
          (_error, stdout) => resolve(stdout),
        );
      });
      const rows = table
        .split('\n')
        .filter((l) => /^\S+@\[127\.0\.0\.1\]\s/.test(l))
        .map((r) => r.split(/\s{2,}/));
      const key = (r: string[]): string =>
        [r[0], r[1], r[2], r[3], r[4], (r[6] ?? '').slice(0, 3)].join(' | ');
      assert.deepEqual(rows.map(key), example.rows.map(key), table);
    } finally {
      process.kill(-(demo.pid ?? 0), 'SIGINT');
    }
    assert.equal(await exited, 0);
    // The port is free again.
    await new Promise<void>((resolve, reject) => {
      const again = createServer();
      again.once('error', reject);
      again.listen(port, '127.0.0.1', () => again.close(() => resolve()));
    });
  });
});
