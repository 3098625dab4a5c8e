/**
 * The HTTP API against browsers it must not obey, and the shape of every
 * error: a real daemon on loopback, raw HTTP requests (fetch may not forge
 * Host), no token configured (the loopback default, where these matter most).
 */
import assert from 'node:assert/strict';
import { request as httpRequest, Agent } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HostAllowList, crossSite, hostName } from '../../../src/frontends/http/site-guard.js';
import { parseListen } from '../../../src/frontends/http/listen.js';
import { at, startHttpDaemon, type HttpDaemon } from '../../support/http-daemon.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
  text: string;
}

const agent = new Agent({ keepAlive: false });

function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + path, { method, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // Left empty: the assertions say what was expected.
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Bytes straight onto the socket, for what an HTTP client library would refuse to send. */
function raw(base: string, bytes: string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    socket.write(bytes);
  });
}

/** cbv's documented error shape: {error, message, field?} and nothing else. */
function assertShape(a: Answer, status: number, error: string): void {
  assert.equal(a.status, status, a.text);
  assert.equal(a.body.error, error, a.text);
  assert.equal(typeof a.body.message, 'string', a.text);
  for (const key of Object.keys(a.body)) assert.ok(['error', 'message', 'field'].includes(key), a.text);
  assert.match(String(a.headers['content-type']), /^application\/json/);
}

let d: HttpDaemon;
before(async () => {
  d = await startHttpDaemon({ http: { allowed_hosts: ['cbv.example.org'] } });
});
after(() => d.close());

const smtpSessions = (): number => d.smtp.sessions.length;

describe('DNS rebinding: only the daemon own names are served', () => {
  it('refuses a forged Host (a rebound name resolving to 127.0.0.1) with 421, reading nothing', async () => {
    assert.equal((await d.get(`/v1/verify?address=${encodeURIComponent(at('alice'))}`)).status, 200);
    const port = new URL(d.base).port;
    for (const host of [
      `rebind.attacker.example:${port}`,
      'attacker.example',
      '127.0.0.2',
      'localhost.attacker',
    ]) {
      const recent = await send(d.base, 'GET', '/v1/recent', { host });
      assertShape(recent, 421, 'misdirected_request');
      assert.doesNotMatch(recent.text, /alice/, 'no decision leaks');
      assertShape(await send(d.base, 'GET', '/', { host }), 421, 'misdirected_request');
      assertShape(await send(d.base, 'GET', '/metrics', { host }), 421, 'misdirected_request');
    }
    const logged = d.logs.filter((l) => l.event === 'http.refused' && l.reason === 'host');
    assert.ok(logged.length >= 4);
  });

  it('refuses a rebound request that would verify or purge, before any callout', async () => {
    const before = smtpSessions();
    const host = 'rebind.attacker.example';
    const verify = await send(d.base, 'GET', `/v1/verify?address=${encodeURIComponent(at('rebound'))}`, {
      host,
    });
    assertShape(verify, 421, 'misdirected_request');
    const purge = await send(d.base, 'DELETE', `/v1/cache/domain/example.org`, { host });
    assertShape(purge, 421, 'misdirected_request');
    assert.equal(smtpSessions(), before);
  });

  it('serves its listen address, localhost and http.allowed_hosts, in any case and with a port', async () => {
    const port = new URL(d.base).port;
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      'LOCALHOST',
      'cbv.example.org',
      'CBV.Example.Org.:443',
    ])
      assert.equal((await send(d.base, 'GET', '/v1/recent', { host })).status, 200, host);
  });

  it('takes names apart as a Host header holds them', () => {
    assert.equal(hostName('Example.ORG:8040'), 'example.org');
    assert.equal(hostName('[::1]:8040'), '::1');
    assert.equal(hostName('example.org.'), 'example.org');
    const wildcard = new HostAllowList([parseListen('0.0.0.0:8040')], []);
    assert.equal(wildcard.allows('192.0.2.7:8040'), true, 'any IP literal: it cannot be rebound');
    assert.equal(wildcard.allows('[2001:db8::1]:8040'), true);
    assert.equal(wildcard.allows('mail.example.org'), false, 'a name must be listed');
    const v6 = new HostAllowList([parseListen('[::1]:8040')], []);
    assert.equal(v6.allows('[::1]:8040'), true);
    assert.equal(v6.allows('localhost'), true);
    assert.equal(v6.allows('127.0.0.1'), false);
    assert.equal(v6.allows('127.1'), false);
  });
});

/** A raw answer split into status, headers and parsed body. */
function parseRaw(text: string): Answer {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const [statusLine = '', ...fields] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const f of fields)
    headers[f.slice(0, f.indexOf(':')).toLowerCase()] = f.slice(f.indexOf(':') + 1).trim();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(body) as Record<string, unknown>;
  } catch {
    // Left empty: the assertions say what was expected.
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: parsed, text };
}

describe('the authority a request is for, read as RFC 9112 3.2 reads it', () => {
  const own = (): string => new URL(d.base).host;
  const verifyPath = (local: string): string => `/v1/verify?address=${encodeURIComponent(at(local))}`;

  it('an absolute-form target names the authority, whatever Host says (was served from Host alone)', async () => {
    const before = smtpSessions();
    for (const [method, target] of [
      ['GET', 'http://rebind.attacker.example/v1/recent'],
      ['GET', `http://rebind.attacker.example:${new URL(d.base).port}${verifyPath('absolute')}`],
      ['DELETE', 'HTTP://ATTACKER.example/v1/cache/domain/example.org'],
      ['GET', 'https://127.0.0.2/metrics'],
    ] as const) {
      const a = parseRaw(
        await raw(d.base, `${method} ${target} HTTP/1.1\r\nHost: ${own()}\r\nConnection: close\r\n\r\n`),
      );
      assertShape(a, 421, 'misdirected_request');
      assert.doesNotMatch(a.text, /alice/);
    }
    assert.equal(smtpSessions(), before, 'no callout');
    // Its own authority in absolute form is served, as any HTTP/1.1 server must (RFC 9112 3.2.2).
    const mine = parseRaw(
      await raw(
        d.base,
        `GET http://${own()}/healthz HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n`,
      ),
    );
    assert.equal(mine.status, 200, mine.text);
  });

  it('two Host fields, in either order, are 400 in cbv shape (was the first one served)', async () => {
    for (const [first, second] of [
      [own(), 'rebind.attacker.example'],
      ['rebind.attacker.example', own()],
      [own(), own()],
    ]) {
      const a = parseRaw(
        await raw(
          d.base,
          `GET /v1/recent HTTP/1.1\r\nHost: ${first}\r\nhost: ${second}\r\nConnection: close\r\n\r\n`,
        ),
      );
      assertShape(a, 400, 'invalid_request');
      assert.equal(a.body.field, 'host');
    }
  });

  it('a Host that is not host[:port] is 400; an HTTP/1.1 request without Host is 400 in cbv shape (was an empty body)', async () => {
    const port = new URL(d.base).port;
    for (const host of [
      `127.0.0.1:x${port}`,
      `evil@127.0.0.1:${port}`,
      `127.0.0.1 evil`,
      'a.example, 127.0.0.1',
      `127.0.0.1:${port}/x`,
    ])
      assertShape(
        parseRaw(await raw(d.base, `GET /v1/recent HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)),
        400,
        'invalid_request',
      );
    const missing = parseRaw(await raw(d.base, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'));
    assertShape(missing, 400, 'invalid_request');
    // HTTP/1.0 had no Host: such a client is no browser, and is served.
    assert.equal(parseRaw(await raw(d.base, 'GET /healthz HTTP/1.0\r\n\r\n')).status, 200);
  });

  it('the dashboard and the API still work through the IPv6 name, in upper case and with a final dot', async () => {
    const v6 = await startHttpDaemon({ http: { listen: ['[::1]:0'] } });
    try {
      const port = new URL(v6.base).port;
      for (const host of [`[::1]:${port}`, `[0:0::1]:${port}`, `LOCALHOST.:${port}`]) {
        assert.equal((await send(v6.base, 'GET', '/', { host })).status, 200, host);
        const verified = await send(v6.base, 'GET', verifyPath('alice'), {
          host,
          'sec-fetch-site': 'same-origin',
          origin: `http://${host.toLowerCase()}`,
        });
        assert.equal(verified.status, 200, `${host}: ${verified.text}`);
      }
      assertShape(
        await send(v6.base, 'GET', '/v1/recent', { host: `127.0.0.1:${port}` }),
        421,
        'misdirected_request',
      );
    } finally {
      await v6.close();
    }
  });
});

describe('cross-site browser requests may not verify or change anything', () => {
  it('refuses an image-tag style GET /v1/verify from another site (Sec-Fetch-Site), with no callout', async () => {
    const before = smtpSessions();
    const path = `/v1/verify?address=${encodeURIComponent(at('crosssite'))}`;
    for (const site of ['cross-site', 'same-site']) {
      const a = await send(d.base, 'GET', path, { 'sec-fetch-site': site, 'sec-fetch-dest': 'image' });
      assertShape(a, 403, 'cross_site');
    }
    assert.equal(smtpSessions(), before);
    assert.ok(d.logs.some((l) => l.event === 'http.refused' && l.reason === 'cross_site'));
  });

  it('refuses POST and DELETE whose Origin is another site, or null', async () => {
    const body = JSON.stringify({ addresses: [at('crosssite')] });
    for (const origin of ['http://attacker.example', 'null', `http://localhost:1`]) {
      const post = await send(
        d.base,
        'POST',
        '/v1/verify',
        { origin, 'content-type': 'application/json' },
        body,
      );
      assertShape(post, 403, 'cross_site');
      assertShape(
        await send(d.base, 'DELETE', '/v1/cache/domain/example.org', { origin }),
        403,
        'cross_site',
      );
    }
  });

  it('serves the same requests from the dashboard itself, from the address bar, and from non-browsers', async () => {
    const path = `/v1/verify?address=${encodeURIComponent(at('alice'))}`;
    const origin = d.base;
    assert.equal((await send(d.base, 'GET', path, { 'sec-fetch-site': 'same-origin' })).status, 200);
    assert.equal((await send(d.base, 'GET', path, { 'sec-fetch-site': 'none' })).status, 200);
    assert.equal((await send(d.base, 'GET', path, { origin })).status, 200);
    assert.equal((await send(d.base, 'GET', path)).status, 200);
    const del = await send(d.base, 'DELETE', '/v1/cache/domain/example.org', {
      origin,
      'sec-fetch-site': 'same-origin',
    });
    assert.equal(del.status, 200);
  });

  it('lets reads through from anywhere (a cross-site page cannot read them without CORS)', async () => {
    const a = await send(d.base, 'GET', '/v1/recent', { 'sec-fetch-site': 'cross-site' });
    assert.equal(a.status, 200);
    assert.equal(a.headers['access-control-allow-origin'], undefined);
  });

  it('decides from Fetch Metadata first, then Origin', () => {
    assert.equal(crossSite({ 'sec-fetch-site': 'same-origin', origin: 'http://x.example' }), null);
    assert.match(crossSite({ 'sec-fetch-site': 'cross-site' }) ?? '', /cross-site/);
    assert.equal(crossSite({ host: 'cbv.example.org', origin: 'https://cbv.example.org' }), null);
    assert.match(
      crossSite({ host: 'cbv.example.org:8040', origin: 'https://cbv.example.org' }) ?? '',
      /Origin/,
    );
    assert.equal(crossSite({}), null);
  });
});

describe('long path parameters and every error in cbv shape', () => {
  const label = 'a'.repeat(63);
  const longest = [label, label, label, label].join('.'); // 255 octets, RFC 5321's limit

  it('looks up and purges a domain of 255 characters', async () => {
    assert.equal(longest.length, 255);
    const got = await send(d.base, 'GET', `/v1/cache/domain/${longest}`);
    assertShape(got, 404, 'not_found');
    assert.match(String(got.body.message), new RegExp(`^${longest}: no domain fact`));
    const del = await send(d.base, 'DELETE', `/v1/cache/domain/${longest.toUpperCase()}`);
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.body, { removed: 0 });
  });

  it('answers a domain over 255 octets and a percent-encoded 64-octet local part in cbv shape', async () => {
    const tooLong = await send(d.base, 'GET', `/v1/cache/domain/${longest}.a`);
    assertShape(tooLong, 400, 'invalid_request');
    assert.equal(tooLong.body.field, 'domain');
    const local = encodeURIComponent('é'.repeat(32)); // 64 octets, 192 characters encoded
    const address = await send(d.base, 'GET', `/v1/cache/${local}@example.org`);
    assertShape(address, 404, 'not_found');
    const huge = await send(d.base, 'GET', `/v1/cache/domain/${'a'.repeat(5000)}`);
    assertShape(huge, 414, 'invalid_request');
  });

  it('verifies an SRS sender beyond 512 characters, as the policy server does, and answers a verdict up to 2048 (was 400)', async () => {
    // A forwarder's SRS sender of 700 octets: within cbv's own bound of 1000, so verified.
    const srs = at(`SRS0=${'h'.repeat(690)}`);
    const one = await send(d.base, 'GET', `/v1/verify?address=${encodeURIComponent(srs)}`);
    assert.equal(one.status, 200, one.text);
    assert.deepEqual([one.body.address, one.body.reason], [srs, 'user_unknown']);
    const cached = await send(d.base, 'GET', `/v1/cache/${encodeURIComponent(srs)}`);
    assert.equal(cached.status, 200, cached.text);
    const json = { 'content-type': 'application/json' };
    const batch = await send(d.base, 'POST', '/v1/verify', json, JSON.stringify({ addresses: [srs] }));
    assert.equal(batch.status, 200, batch.text);
    // Beyond what cbv sends but not beyond what an MTA hands over: a verdict, not an error.
    const beyond = at('v'.repeat(1500));
    const long = await send(d.base, 'GET', `/v1/verify?address=${encodeURIComponent(beyond)}`);
    assert.equal(long.status, 200, long.text);
    assert.equal(long.body.reason, 'unverifiable');
    const tooLong = await send(d.base, 'GET', `/v1/verify?address=${'w'.repeat(2049)}`);
    assertShape(tooLong, 400, 'invalid_request');
    assert.equal(tooLong.body.field, 'address');
  });

  it('answers 404, 405 (with Allow), 413, 415 and malformed JSON and URLs in cbv shape', async () => {
    assertShape(await send(d.base, 'GET', '/nowhere'), 404, 'not_found');
    const put = await send(d.base, 'PUT', '/v1/verify');
    assertShape(put, 405, 'method_not_allowed');
    assert.equal(put.headers.allow, 'GET, HEAD, POST');
    const patch = await send(d.base, 'PATCH', `/v1/cache/domain/example.org`);
    assertShape(patch, 405, 'method_not_allowed');
    assert.equal(patch.headers.allow, 'DELETE, GET, HEAD');
    assertShape(await send(d.base, 'DELETE', '/'), 405, 'method_not_allowed');
    const json = { 'content-type': 'application/json' };
    const big = JSON.stringify({ addresses: ['a'.repeat(300_000)] });
    assertShape(await send(d.base, 'POST', '/v1/verify', json, big), 413, 'invalid_request');
    assertShape(
      await send(d.base, 'POST', '/v1/verify', { 'content-type': 'application/xml' }, '<a/>'),
      415,
      'invalid_request',
    );
    assertShape(await send(d.base, 'POST', '/v1/verify', json, '{"addresses": ['), 400, 'invalid_request');
    assertShape(await send(d.base, 'GET', '/v1/cache/%E0%A4%A'), 400, 'invalid_request');
    assertShape(await send(d.base, 'GET', '/%'), 400, 'invalid_request');
  });

  it('answers what the HTTP parser refuses (bad request line, huge headers) in cbv shape', async () => {
    for (const bytes of [
      'GARBAGE\r\n\r\n',
      `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    ]) {
      const text = await raw(d.base, bytes);
      const [head = '', body = ''] = text.split('\r\n\r\n');
      assert.match(head, /^HTTP\/1\.1 4\d\d /);
      assert.match(head, /content-type: application\/json/i);
      const parsed = JSON.parse(body) as Record<string, unknown>;
      assert.equal(parsed.error, 'invalid_request');
      assert.equal(typeof parsed.message, 'string');
    }
  });
});
