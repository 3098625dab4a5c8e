/**
 * /openapi.json is a valid OpenAPI 3.1 document, and it tells the truth: real
 * responses validate against the schemas it documents, and the request
 * schemas it documents are the ones the server enforces.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { at, json, startHttpDaemon, type HttpDaemon } from '../../support/http-daemon.js';

type Operation = {
  parameters: { name: string; in: string; required: boolean }[];
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
};
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };

describe('OpenAPI document', () => {
  let d: HttpDaemon;
  let doc: Doc;
  before(async () => {
    d = await startHttpDaemon({ http: { tokens: [{ name: 'ci', token: 'ci-token-0123456789' }] } });
    doc = await json<Doc>(await d.get('/openapi.json'));
  });
  after(() => d.close());

  it('is valid OpenAPI 3.1', async () => {
    // The document as served, untyped: the validator decides what it is.
    const served = await json(await d.get('/openapi.json'));
    const result = await new Validator().validate(served);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.equal(doc.openapi, '3.1.0');
  });

  it('documents every API endpoint', () => {
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    assert.deepEqual(operations.sort(), [
      'DELETE /v1/cache/domain/{domain}',
      'DELETE /v1/cache/{address}',
      'GET /healthz',
      'GET /metrics',
      'GET /openapi.json',
      'GET /readyz',
      'GET /v1/cache/domain/{domain}',
      'GET /v1/cache/{address}',
      'GET /v1/flood',
      'GET /v1/recent',
      'GET /v1/recent/{id}/transcript',
      'GET /v1/stats',
      'GET /v1/stats/series',
      'GET /v1/verify',
      'POST /v1/verify',
    ]);
  });

  it('describes the parameters the server requires', () => {
    const params = doc.paths['/v1/verify']?.get?.parameters ?? [];
    assert.deepEqual(
      params.map((p) => [p.name, p.in, p.required]),
      [
        ['address', 'query', true],
        ['client_ip', 'query', false],
        ['helo', 'query', false],
        ['client_name', 'query', false],
        ['sasl_user', 'query', false],
        ['transcript', 'query', false],
      ],
    );
  });

  it('matches real responses: each validates against its documented schema', async () => {
    const token = 'ci-token-0123456789';
    await d.get(`/v1/verify?address=${encodeURIComponent(at('carol'))}`, token);
    const calls: [string, string, Response][] = [
      [
        '/v1/verify',
        'get',
        await d.get(`/v1/verify?address=${encodeURIComponent(at('alice'))}&transcript=true`, token),
      ],
      ['/v1/verify', 'post', await d.post('/v1/verify', { addresses: [at('bob'), 'x'] }, token)],
      [
        '/v1/verify',
        'get',
        await d.get(
          `/v1/verify?address=${encodeURIComponent(at('bob'))}&client_ip=::ffff:7f00:1&helo=mx.test`,
          token,
        ),
      ],
      ['/v1/verify', 'get', await d.get('/v1/verify', token)],
      ['/v1/stats', 'get', await d.get('/v1/stats', token)],
      ['/v1/stats/series', 'get', await d.get('/v1/stats/series?granularity=day&count=3', token)],
      ['/v1/recent', 'get', await d.get('/v1/recent', token)],
      ['/v1/recent/{id}/transcript', 'get', await d.get('/v1/recent/1/transcript', token)],
      ['/v1/cache/{address}', 'get', await d.get(`/v1/cache/${encodeURIComponent(at('carol'))}`, token)],
      ['/v1/cache/{address}', 'delete', await d.del(`/v1/cache/${encodeURIComponent(at('carol'))}`, token)],
      ['/v1/cache/{address}', 'get', await d.get(`/v1/cache/${encodeURIComponent(at('carol'))}`, token)],
      ['/v1/cache/domain/{domain}', 'delete', await d.del('/v1/cache/domain/example.org', token)],
      ['/v1/stats', 'get', await d.get('/v1/stats')],
      ['/readyz', 'get', await d.get('/readyz')],
    ];
    const ajv = new Ajv2020({ strict: false });
    for (const [path, method, response] of calls) {
      const documented = doc.paths[path]?.[method]?.responses[String(response.status)];
      assert.ok(documented, `${method} ${path}: status ${response.status} is not documented`);
      const schema = documented.content?.['application/json']?.schema;
      assert.ok(schema, `${method} ${path} ${response.status}: no JSON schema`);
      const validate = ajv.compile(schema);
      assert.ok(
        validate(await response.json()),
        `${method} ${path} ${response.status}: ${ajv.errorsText(validate.errors)}`,
      );
    }
  });
});
