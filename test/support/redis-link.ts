/** A RedisLink to a test redis-server, with its own key prefix so tests never share keys. */
import { RedisLink, type RedisLinkOptions } from '../../src/redis/link.js';
import type { TestRedis } from './redis-server.js';

let serial = 0;

export function linkOptions(redis: TestRedis, extra: Partial<RedisLinkOptions> = {}): RedisLinkOptions {
  return {
    url: redis.url,
    sentinels: [],
    sentinelName: 'mymaster',
    cluster: [],
    password: null,
    tls: false,
    prefix: `t${process.pid}.${++serial}:`,
    nodeName: 'node',
    commandTimeoutMs: 1000,
    connectTimeoutMs: 2000,
    retryAfterMs: 500,
    ...extra,
  };
}

/** A connected link (throws if the server does not answer). */
export async function openLink(redis: TestRedis, extra: Partial<RedisLinkOptions> = {}): Promise<RedisLink> {
  const link = new RedisLink(linkOptions(redis, extra));
  if (!(await link.ready())) throw new Error(`redis-server at ${redis.url} not reachable`);
  return link;
}
