/** The SQLite cache keeps every committed entry across kill -9, and names the file when it cannot open it. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { MemoryCache } from '../../../src/cache/memory-cache.js';
import { SqliteCache } from '../../../src/cache/sqlite-cache.js';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { CacheOpenError } from '../../../src/cache/verdict-cache.js';
import { entry } from '../../contract/verdict-cache.contract.js';

describe('SqliteCache durability', () => {
  it(
    'keeps every committed entry when the writer is killed with SIGKILL mid-stream',
    { timeout: 120_000 },
    async () => {
      const path = join(mkdtempSync(join(tmpdir(), 'cbv-kill-')), 'cbv.sqlite');
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/cache-writer.ts', path], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const committed: string[] = [];
      let partial = '';
      await new Promise<void>((resolve, reject) => {
        // A writer that ends before 3,000 commits (it crashed, or stopped at its own bound) fails the test.
        child.once('exit', (code, signal) => {
          if (committed.length < 3000)
            reject(new Error(`writer ended early (${code ?? signal}) after ${committed.length}`));
        });
        child.stdout.on('data', (chunk: Buffer) => {
          const lines = (partial + chunk.toString()).split('\n');
          partial = lines.pop() ?? '';
          committed.push(...lines);
          if (committed.length >= 3000 && !child.killed) {
            child.kill('SIGKILL');
            resolve();
          }
        });
      });
      await new Promise((resolve) => child.once('exit', resolve));
      assert.equal(child.signalCode, 'SIGKILL');
      const cache = SqliteCache.open(path);
      const missing: string[] = [];
      for (const address of committed)
        if (!(await cache.getAddress(address, Date.now()))) missing.push(address);
      await cache.close();
      rmSync(dirname(path), { recursive: true, force: true });
      assert.deepEqual(missing, [], `${missing.length} of ${committed.length} committed entries lost`);
    },
  );

  it('names the file when it is not a database', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'cbv-bad-')), 'cbv.sqlite');
    writeFileSync(path, 'this is not an SQLite database, just garbage '.repeat(100));
    assert.throws(
      () => SqliteCache.open(path),
      (e: unknown) =>
        e instanceof CacheOpenError &&
        e.message === `cache database ${path}: file is not a database (SQLITE_NOTADB)`,
    );
  });

  it('names the file when it cannot be opened', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cbv-dir-'));
    const path = join(dir, 'is-a-directory');
    mkdirSync(path);
    assert.throws(
      () => SqliteCache.open(path),
      (e: unknown) => e instanceof CacheOpenError && e.message.startsWith(`cache database ${path}: `),
    );
  });

  it('lets the memory tier see a purge made by another process', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'cbv-tier-')), 'cbv.sqlite');
    const now = Date.now();
    let clock = 0;
    const daemon = new TieredCache(new MemoryCache(100), SqliteCache.open(path), 250, () => clock);
    await daemon.putAddress(entry('alice@shared.example', now));
    assert.ok(await daemon.getAddress('alice@shared.example', now));
    const cli = SqliteCache.open(path);
    assert.equal(await cli.purgeAddress('alice@shared.example'), 1);
    await cli.close();
    clock += 100;
    assert.ok(
      await daemon.getAddress('alice@shared.example', now),
      'within the recheck interval the memory tier still answers',
    );
    clock += 200;
    assert.equal(await daemon.getAddress('alice@shared.example', now), null);
    await daemon.close();
  });
});
