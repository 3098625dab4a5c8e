/**
 * The VerdictCache contract against a real redis-server (Debian's), started
 * on loopback with its own directory and port: Redis alone, and with the
 * memory tier in front as `cache.backend: redis` runs it. Each test gets its
 * own key prefix, so tests never see each other's keys.
 */
import { after } from 'node:test';
import { MemoryCache } from '../../src/cache/memory-cache.js';
import { RedisCache } from '../../src/cache/redis-cache.js';
import { TieredCache } from '../../src/cache/tiered-cache.js';
import { openLink } from '../support/redis-link.js';
import { startRedis } from '../support/redis-server.js';
import { runCacheContract } from './verdict-cache.contract.js';

const redis = await startRedis();
after(() => redis.stop());

runCacheContract('redis', async () => {
  const l = await openLink(redis);
  return { cache: new RedisCache(l), cleanup: () => l.close() };
});

runCacheContract('memory in front of redis', async () => {
  const l = await openLink(redis);
  return { cache: new TieredCache(new MemoryCache(100), new RedisCache(l)), cleanup: () => l.close() };
});
