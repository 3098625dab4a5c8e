/** The pure parts of the HTTP front-end's security: listen addresses, tokens, request budgets. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/config/load.js';
import { TokenAuth } from '../../../src/frontends/http/auth.js';
import { assertSafeListen, isLoopback, parseListen } from '../../../src/frontends/http/listen.js';
import { RequestBudget } from '../../../src/frontends/http/rate-limit.js';

describe('listen addresses', () => {
  it('parses IPv4, bracketed IPv6, port 0 and the default port', () => {
    assert.deepEqual(parseListen('127.0.0.1:8040'), { host: '127.0.0.1', port: 8040 });
    assert.deepEqual(parseListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
    assert.deepEqual(parseListen('127.0.0.2'), { host: '127.0.0.2', port: 8040 });
    assert.deepEqual(parseListen('::1'), { host: '::1', port: 8040 });
  });

  it('refuses a port beyond 65535', () => {
    assert.throws(() => parseListen('127.0.0.1:70000'), ConfigError);
  });

  it('knows loopback from the rest', () => {
    for (const ip of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1'])
      assert.equal(isLoopback(ip), true, ip);
    for (const ip of ['0.0.0.0', '::', '192.0.2.1', '10.0.0.1', '2001:db8::1', 'localhost'])
      assert.equal(isLoopback(ip), false, ip);
  });

  it('refuses a non-loopback address without tokens, and allows it with one', () => {
    const open = [parseListen('127.0.0.1:1'), parseListen('[::]:8040')];
    assert.throws(() => assertSafeListen(open, 0), /http\.listen: refusing to serve :: .*http\.tokens/);
    assert.doesNotThrow(() => assertSafeListen(open, 1));
    assert.doesNotThrow(() => assertSafeListen([parseListen('[::1]:1')], 0));
  });
});

describe('TokenAuth', () => {
  const auth = new TokenAuth([
    { name: 'one', token: 'first-token-0123456789' },
    { name: 'two', token: 'second-token-0123456789' },
  ]);

  it('names the token that matched', () => {
    assert.deepEqual(auth.check('Bearer second-token-0123456789', '127.0.0.1'), {
      ok: true,
      principal: 'token:two',
    });
    assert.deepEqual(auth.check('bearer  first-token-0123456789', '127.0.0.1'), {
      ok: true,
      principal: 'token:one',
    });
  });

  it('tells a missing token from a wrong one', () => {
    assert.deepEqual(auth.check(undefined, '127.0.0.1'), { ok: false, reason: 'missing' });
    assert.deepEqual(auth.check('Bearer', '127.0.0.1'), { ok: false, reason: 'missing' });
    assert.deepEqual(auth.check('Bearer first-token-012345678', '127.0.0.1'), { ok: false, reason: 'wrong' });
  });

  it('without tokens, lets everyone in under their client address', () => {
    assert.deepEqual(new TokenAuth([]).check(undefined, '::1'), { ok: true, principal: 'ip:::1' });
  });
});

describe('RequestBudget', () => {
  it('admits up to the burst, then tells how long to wait, then refills at the rate', () => {
    let now = 0;
    const budget = new RequestBudget({ rate: 2, burst: 4, now: () => now });
    assert.deepEqual(budget.take('a', 3), { ok: true });
    assert.deepEqual(budget.take('a', 3), { ok: false, retryAfterMs: 1000 });
    assert.deepEqual(budget.take('b', 4), { ok: true }, 'another principal has its own bucket');
    now = 1000;
    assert.deepEqual(budget.take('a', 3), { ok: true });
    assert.deepEqual(budget.take('a', 5), { ok: false, retryAfterMs: 2500 });
  });
});
