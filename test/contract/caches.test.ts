/** The contract suite run against every VerdictCache implementation. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { SqliteCache } from '../../src/cache/sqlite-cache.js';
import { TieredCache } from '../../src/cache/tiered-cache.js';
import { runCacheContract } from './verdict-cache.contract.js';

function tempDb(): { path: string; cleanup: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'cbv-cache-'));
  return {
    path: join(dir, 'cbv.sqlite'),
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  };
}

runCacheContract('memory', () => Promise.resolve({ cache: new MemoryCache(10_000) }));

runCacheContract('sqlite', () => {
  const { path, cleanup } = tempDb();
  return Promise.resolve({ cache: SqliteCache.open(path), cleanup });
});

runCacheContract('memory in front of sqlite', () => {
  const { path, cleanup } = tempDb();
  return Promise.resolve({ cache: new TieredCache(new MemoryCache(100), SqliteCache.open(path)), cleanup });
});
