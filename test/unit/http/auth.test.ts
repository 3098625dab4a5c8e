/**
 * Security of the HTTP front-end: bearer tokens, per-token and per-client
 * rate limits, and the refusal to serve beyond loopback without a token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EVENTS } from '../../../src/observability/events.js';
import { at, json, startHttpDaemon, type HttpDaemon } from '../../support/http-daemon.js';

const ALPHA = 'alpha-token-0123456789';
const BETA = 'beta-token-0123456789ab';
const verifyPath = `/v1/verify?address=${encodeURIComponent(at('alice'))}`;

describe('with bearer tokens configured', () => {
  let d: HttpDaemon;
  before(async () => {
    // A burst of 3 and a refill of one token in ~3 hours: the fourth verification is refused.
    d = await startHttpDaemon({
      http: {
        tokens: [
          { name: 'alpha', token: ALPHA },
          { name: 'beta', token: BETA },
        ],
        token_burst: 3,
        token_rate: 0.0001,
      },
    });
  });
  after(() => d.close());

  it('refuses a request without a token with 401 and a WWW-Authenticate challenge, and logs it', async () => {
    const r = await d.get(verifyPath);
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="cbv"');
    assert.equal((await json(r)).error, 'unauthorized');
    const logged = d.logs.find((l) => l.event === EVENTS.httpAuthFailed && l.reason === 'missing');
    assert.ok(logged, 'an http.auth_failed line');
    assert.equal(logged.route, '/v1/verify');
  });

  it('refuses a wrong token, one that differs only in its last character, and one of another length', async () => {
    for (const token of ['wrong-token-0123456789', `${ALPHA.slice(0, -1)}X`, `${ALPHA}0`]) {
      const r = await d.get('/v1/stats', token);
      assert.equal(r.status, 401, token);
    }
    assert.ok(d.logs.some((l) => l.event === EVENTS.httpAuthFailed && l.reason === 'wrong'));
  });

  it('refuses a token sent with another scheme', async () => {
    const r = await fetch(`${d.base}/v1/stats`, { headers: { authorization: `Basic ${ALPHA}` } });
    assert.equal(r.status, 401);
  });

  it('guards the cache, statistics, activity and metrics too', async () => {
    for (const path of ['/v1/cache/a@b.example', '/v1/stats', '/v1/stats/series', '/v1/recent', '/metrics'])
      assert.equal((await d.get(path)).status, 401, path);
    assert.equal((await d.del('/v1/cache/domain/example.org')).status, 401);
  });

  it('leaves liveness, readiness, the OpenAPI document and the dashboard open', async () => {
    for (const path of ['/healthz', '/readyz', '/openapi.json', '/', '/assets/app.js'])
      assert.equal((await d.get(path)).status, 200, path);
  });

  it('accepts either token, and gives each its own rate limit', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await d.get(verifyPath, ALPHA)).status, 200, `alpha #${i + 1}`);
    const refused = await d.get(verifyPath, ALPHA);
    assert.equal(refused.status, 429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 60, `Retry-After ${retryAfter}`);
    const body = await json<{ error: string; retryAfterSeconds: number }>(refused);
    assert.deepEqual([body.error, body.retryAfterSeconds], ['rate_limited', retryAfter]);
    // beta's bucket is untouched by alpha's use.
    assert.equal((await d.get(verifyPath, BETA)).status, 200);
  });

  it('charges a batch one token per address, admitting it whole or not at all', async () => {
    // beta has 2 tokens left: a batch of 3 is refused whole, a batch of 2 passes.
    const three = await d.post('/v1/verify', { addresses: [at('alice'), at('bob'), at('carol')] }, BETA);
    assert.equal(three.status, 429);
    const two = await d.post('/v1/verify', { addresses: [at('alice'), at('carol')] }, BETA);
    assert.equal(two.status, 200);
    assert.equal((await d.get(verifyPath, BETA)).status, 429);
  });

  it('does not charge the rate limit for reading statistics', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await d.get('/v1/stats', ALPHA)).status, 200);
  });

  it('documents the bearer scheme and the 401 and 429 answers', async () => {
    const doc = await json<{
      components: { securitySchemes: Record<string, unknown> };
      paths: Record<
        string,
        Record<string, { security?: unknown; responses: Record<string, unknown> } | undefined>
      >;
    }>(await d.get('/openapi.json'));
    assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' });
    const get = doc.paths['/v1/verify']?.get;
    assert.ok(get);
    assert.deepEqual(get.security, [{ bearer: [] }]);
    assert.ok(get.responses['401'] && get.responses['429']);
    assert.equal(doc.paths['/healthz']?.get?.security, undefined);
  });
});

describe('without tokens', () => {
  let d: HttpDaemon;
  before(async () => {
    d = await startHttpDaemon({ http: { token_burst: 2, token_rate: 0.0001 } });
  });
  after(() => d.close());

  it('needs no token, and limits verifications per client address', async () => {
    assert.equal((await d.get('/v1/stats')).status, 200);
    assert.equal((await d.get(verifyPath)).status, 200);
    assert.equal((await d.get(verifyPath)).status, 200);
    const refused = await d.get(verifyPath);
    assert.equal(refused.status, 429);
    assert.match((await json<{ message: string }>(refused)).message, /this ip/);
  });
});

describe('listening beyond loopback', () => {
  it('is refused by the configuration without a token, naming http.listen and http.tokens', async () => {
    await assert.rejects(startHttpDaemon({ http: { listen: ['0.0.0.0:0'] } }), (error: Error) =>
      /^test: http\.listen\.0: got "0\.0\.0\.0:0", expected a loopback address .*http\.tokens/.test(
        error.message,
      ),
    );
  });
});
