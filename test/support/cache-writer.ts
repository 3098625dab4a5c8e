/**
 * A child process for the durability test: writes cache entries as fast as it
 * can and prints each address after its put has returned (i.e. committed).
 */
import { SqliteCache } from '../../src/cache/sqlite-cache.js';
import { entry } from '../contract/verdict-cache.contract.js';

const path = process.argv[2];
if (!path) throw new Error('usage: cache-writer PATH');
const cache = SqliteCache.open(path);
const now = Date.now();
for (let i = 0; ; i++) {
  const address = `user${i}@durable.example`;
  await cache.putAddress(entry(address, now, 3_600_000));
  process.stdout.write(`${address}\n`);
}
