/**
 * The memory tier answers a hit without waiting (peekAddress); what only the persistent tier
 * holds is "cannot tell", never "not cached", and becomes a hit once a read brought it up.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { MemoryCache } from '../../../src/cache/memory-cache.js';
import { SqliteCache } from '../../../src/cache/sqlite-cache.js';
import { TieredCache } from '../../../src/cache/tiered-cache.js';
import { entry } from '../../contract/verdict-cache.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'cbv-peek-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const now = 1_800_000_000_000;

it('peeks a memory-tier hit, leaves what only SQLite holds to getAddress', async () => {
  const back = SqliteCache.open(join(dir, 'a.sqlite'));
  const tiered = new TieredCache(new MemoryCache(100), back);
  try {
    await back.putAddress(entry('alice@example.org', now)); // behind the memory tier's back
    assert.equal(tiered.peekAddress('alice@example.org', now + 1), undefined, 'cannot tell: not "none"');
    assert.notEqual(await tiered.getAddress('alice@example.org', now + 1), null);
    assert.deepEqual(tiered.peekAddress('alice@example.org', now + 2), entry('alice@example.org', now));
    assert.equal(tiered.peekAddress('alice@example.org', now + 60_000), undefined, 'expired in memory');
  } finally {
    await tiered.close();
  }
});

it('a memory cache alone knows its misses', () => {
  const memory = new MemoryCache(100);
  assert.equal(memory.peekAddress('bob@example.org', now), null);
});
