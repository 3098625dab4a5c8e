/** Fleet-mode configuration: Redis is reached one way, and start-up and `config check` agree (one schema). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redisLinkOptions } from '../../../src/app/build.js';
import { ConfigError, parseConfig } from '../../../src/config/load.js';

const parse = (raw: Record<string, unknown>) => parseConfig(raw, 'test');

describe('fleet configuration', () => {
  it('cache.backend redis needs exactly one of redis.url, redis.sentinels, redis.cluster', () => {
    assert.throws(
      () => parse({ cache: { backend: 'redis' } }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.key, 'redis.url');
        assert.match(e.message, /exactly one of redis.url, redis.sentinels or redis.cluster/);
        return true;
      },
    );
    assert.throws(
      () =>
        parse({
          cache: { backend: 'redis' },
          redis: { url: 'redis://127.0.0.1:6379', cluster: ['10.0.0.1:7000'] },
        }),
      ConfigError,
    );
    assert.equal(
      parse({ cache: { backend: 'redis' }, redis: { url: 'redis://r:6379' } }).cache.backend,
      'redis',
    );
    assert.equal(
      parse({ cache: { backend: 'redis' }, redis: { sentinels: ['s1:26379'] } }).redis.sentinel_name,
      'mymaster',
    );
  });

  it('a single node needs no Redis, and the defaults are a single node on SQLite', () => {
    const c = parse({});
    assert.equal(c.cache.backend, 'sqlite');
    assert.equal(c.redis.url, null);
  });

  it('normalises once: milliseconds, parsed nodes, the node name', () => {
    const o = redisLinkOptions(
      parse({
        cache: { backend: 'redis' },
        redis: { cluster: ['10.0.0.1:7000', '[2001:db8::1]:7001'], command_timeout: '2s', node_name: 'mx1' },
      }),
    );
    assert.deepEqual(o.cluster, [
      { host: '10.0.0.1', port: 7000 },
      { host: '2001:db8::1', port: 7001 },
    ]);
    assert.equal(o.commandTimeoutMs, 2000);
    assert.equal(o.nodeName, 'mx1');
    assert.throws(() => parse({ redis: { url: 'http://nope' } }), /redis\.url/);
    assert.throws(() => parse({ redis: { prefix: 'has space' } }), /redis\.prefix/);
  });
});
