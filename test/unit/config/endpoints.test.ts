/** The one host:port grammar of the configuration, and which listeners collide at bind(). */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { isLoopbackHost, listenersCollide, parseEndpoint } from '../../../src/config/endpoints.js';

describe('parseEndpoint', () => {
  it('reads IPv4, bracketed IPv6, bare IPv6 (no port) and, when allowed, names', () => {
    assert.deepEqual(parseEndpoint('127.0.0.1:10040'), { host: '127.0.0.1', port: 10040 });
    assert.deepEqual(parseEndpoint('127.0.0.1'), { host: '127.0.0.1', port: null });
    assert.deepEqual(parseEndpoint('[::1]:53'), { host: '::1', port: 53 });
    assert.deepEqual(parseEndpoint('::1:8040'), { host: '::1:8040', port: null });
    assert.deepEqual(parseEndpoint('mail.internal:25', true), { host: 'mail.internal', port: 25 });
    assert.equal(parseEndpoint('mail.internal:25'), null);
  });

  it('refuses what Node cannot bind or connect to', () => {
    for (const text of [
      '999.0.0.1:1',
      '127.1:1',
      '0x7f.0.0.1:1',
      '[127.0.0.1]:1',
      '[::g]:1',
      'a b:1',
      '1.2.3.4:123456',
      '',
    ])
      assert.equal(parseEndpoint(text, true), null, text);
  });

  it('agrees with Node: every address it accepts binds, on loopback', async () => {
    for (const text of ['127.0.0.1:0', '127.0.0.2:0', '[::1]:0', '[::ffff:127.0.0.1]:0']) {
      const e = parseEndpoint(text);
      assert.ok(e && e.port !== null, text);
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: e.host, port: e.port ?? 0 }, resolve);
      });
      await new Promise<void>((resolve) => server.close(() => resolve()));
      assert.ok(isLoopbackHost(e.host), text);
    }
  });
});

describe('listenersCollide', () => {
  const at = (text: string) => parseEndpoint(text) ?? assert.fail(text);
  it('the same address and port, or a wildcard over it; never port 0', () => {
    assert.equal(listenersCollide(at('127.0.0.1:1'), at('127.0.0.1:1')), true);
    assert.equal(listenersCollide(at('0.0.0.0:1'), at('127.0.0.1:1')), true);
    assert.equal(listenersCollide(at('[::]:1'), at('127.0.0.1:1')), true, 'Node listens dual-stack on ::');
    assert.equal(listenersCollide(at('[::]:1'), at('[::1]:1')), true);
    assert.equal(listenersCollide(at('[::ffff:127.0.0.1]:1'), at('127.0.0.1:1')), true);
    assert.equal(listenersCollide(at('0.0.0.0:1'), at('[::1]:1')), false);
    assert.equal(listenersCollide(at('127.0.0.1:1'), at('127.0.0.2:1')), false);
    assert.equal(listenersCollide(at('127.0.0.1:1'), at('127.0.0.1:2')), false);
    assert.equal(listenersCollide(at('127.0.0.1:0'), at('127.0.0.1:0')), false);
  });

  it('agrees with the kernel: what it calls a collision fails to bind, on loopback', async () => {
    const pairs: [string, string][] = [
      ['127.0.0.1', '127.0.0.1'],
      ['127.0.0.1', '127.0.0.2'],
      ['::1', '127.0.0.1'],
      ['::ffff:127.0.0.1', '127.0.0.1'],
    ];
    for (const [a, b] of pairs) {
      const first = createServer();
      await new Promise<void>((resolve) => first.listen({ host: a, port: 0 }, resolve));
      const port = (first.address() as { port: number }).port;
      const second = createServer();
      const bound = await new Promise<boolean>((resolve) => {
        second.once('error', () => resolve(false));
        second.listen({ host: b, port }, () => resolve(true));
      });
      if (bound) await new Promise<void>((resolve) => second.close(() => resolve()));
      await new Promise<void>((resolve) => first.close(() => resolve()));
      assert.equal(listenersCollide({ host: a, port }, { host: b, port }), !bound, `${a} then ${b}`);
    }
  });
});
