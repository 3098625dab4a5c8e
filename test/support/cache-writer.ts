/**
 * A child process for the durability test: writes cache entries as fast as it
 * can and prints each address after its put has returned (i.e. committed).
 *
 * It waits for stdout to drain whenever the pipe is full: a loop that only
 * awaits already-settled promises never lets the event loop flush queued
 * writes, so on a loaded machine the parent would see nothing while the
 * database grew without end. It also stops by itself after MAX_ENTRIES.
 */
import { once } from 'node:events';
import { SqliteCache } from '../../src/cache/sqlite-cache.js';
import { entry } from '../contract/verdict-cache.contract.js';

const MAX_ENTRIES = 200_000;
const path = process.argv[2];
if (!path) throw new Error('usage: cache-writer PATH');
const cache = SqliteCache.open(path);
const now = Date.now();
for (let i = 0; i < MAX_ENTRIES; i++) {
  const address = `user${i}@durable.example`;
  await cache.putAddress(entry(address, now, 3_600_000));
  if (!process.stdout.write(`${address}\n`)) await once(process.stdout, 'drain');
}
await cache.close();
