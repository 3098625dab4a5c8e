import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PolicyLimitError, PolicyRequestReader } from '../../../src/frontends/policy/request-reader.js';

const limits = { maxLineLength: 100, maxRequestBytes: 400 };
const REQUEST = Buffer.from(
  'request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@b.example\ninstance=1.2\n\n',
);

describe('PolicyRequestReader', () => {
  it('reads attributes up to the empty line', () => {
    const results = new PolicyRequestReader(limits).push(REQUEST);
    assert.deepEqual(
      results.map((r) => (r.kind === 'request' ? r.attrs.get('sender') : r.problem)),
      ['a@b.example'],
    );
  });

  it('reads the same request whatever the segmentation (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: REQUEST.length - 1 }), { maxLength: 10 }),
        (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), REQUEST.length];
          const reader = new PolicyRequestReader(limits);
          const results = points.slice(1).flatMap((end, i) => reader.push(REQUEST.subarray(points[i], end)));
          assert.equal(results.length, 1);
        },
      ),
    );
  });

  it('reads several requests from one segment', () => {
    assert.equal(new PolicyRequestReader(limits).push(Buffer.concat([REQUEST, REQUEST, REQUEST])).length, 3);
  });

  it('reports a line without = as malformed, at the end of its request, and goes on', () => {
    const reader = new PolicyRequestReader(limits);
    const results = reader.push(Buffer.from('request=smtpd_access_policy\nthis is not an attribute\n\n'));
    assert.equal(results[0]?.kind, 'malformed');
    assert.equal(reader.push(REQUEST)[0]?.kind, 'request');
  });

  it('refuses an HTTP request line (a browser sent it), but not HTTP text inside an attribute', () => {
    for (const line of [
      'POST / HTTP/1.1',
      'GET /?request=smtpd_access_policy HTTP/1.1',
      'OPTIONS * HTTP/1.0',
    ]) {
      assert.throws(
        () => new PolicyRequestReader(limits).push(Buffer.from(`${line}\r\nHost: 127.0.0.1\r\n\r\n`)),
        PolicyLimitError,
        line,
      );
    }
    const reader = new PolicyRequestReader(limits);
    assert.equal(reader.push(Buffer.from('helo_name=GET / HTTP/1.1\n\n'))[0]?.kind, 'request');
    assert.equal(reader.push(Buffer.from('get / http/1.1\n\n'))[0]?.kind, 'malformed');
  });

  it('reports an empty request as malformed', () => {
    assert.deepEqual(new PolicyRequestReader(limits).push(Buffer.from('\n')), [
      { kind: 'malformed', problem: 'empty request' },
    ]);
  });

  it('refuses an oversized line, even before its newline arrives', () => {
    assert.throws(
      () => new PolicyRequestReader(limits).push(Buffer.from(`sender=${'x'.repeat(200)}`)),
      PolicyLimitError,
    );
  });

  it('refuses an oversized request', () => {
    const many = Array.from({ length: 20 }, (_, i) => `attr${i}=${'y'.repeat(30)}\n`).join('');
    assert.throws(() => new PolicyRequestReader(limits).push(Buffer.from(many)), PolicyLimitError);
  });

  it('never throws anything but PolicyLimitError on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }), (chunks) => {
        const reader = new PolicyRequestReader(limits);
        try {
          for (const c of chunks) reader.push(Buffer.from(c));
        } catch (error) {
          assert.ok(error instanceof PolicyLimitError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
