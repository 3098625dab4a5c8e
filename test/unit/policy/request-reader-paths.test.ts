/**
 * The reader decodes a chunk that starts at a line and is ASCII in one piece, and anything else
 * line by line: both must read the same requests, whatever the segmentation and the content
 * (UTF-8 values, CRLF, lines without a name, empty requests, several requests per chunk).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { PolicyRequestReader, type ReadResult } from '../../../src/frontends/policy/request-reader.js';

const limits = { maxLineLength: 2048, maxRequestBytes: 64 * 1024 };

const line = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('request', 'sender', 'recipient', 'client_address', 'x.y-z_1'),
      fc.string({ unit: fc.constantFrom('a', '=', ' ', '\r', 'é', '😀', '@', '.', '\t'), maxLength: 30 }),
    )
    .map(([name, value]) => `${name}=${value}`),
  // Not attributes: no name, a bad name, no '='.
  fc.constantFrom('=value', 'bad name=1', 'just text', 'ü=1'),
);
const request = fc
  .tuple(fc.array(line, { maxLength: 6 }), fc.boolean())
  .map(([lines, crlf]) => `${lines.map((l) => `${l}${crlf ? '\r' : ''}\n`).join('')}${crlf ? '\r' : ''}\n`);

/** What a result says, in a comparable form. */
const view = (r: ReadResult): unknown => (r.kind === 'request' ? [...r.attrs] : r.problem);

it('reads the same requests whole and in any segmentation (property)', () => {
  fc.assert(
    fc.property(
      fc.array(request, { minLength: 1, maxLength: 4 }),
      fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 12 }),
      (requests, cuts) => {
        const bytes = Buffer.from(requests.join(''));
        const whole = new PolicyRequestReader(limits).push(bytes).map(view);
        assert.equal(whole.length, requests.length);
        const points = [...new Set(cuts.map((c) => c % bytes.length))].sort((a, b) => a - b);
        const reader = new PolicyRequestReader(limits);
        const pieces = [0, ...points, bytes.length]
          .slice(1)
          .flatMap((end, i, ends) => reader.push(bytes.subarray(i === 0 ? 0 : (ends[i - 1] ?? 0), end)))
          .map(view);
        assert.deepEqual(pieces, whole);
      },
    ),
    { numRuns: 500 },
  );
});

it('reads a UTF-8 value the same in an ASCII-only chunk and across a split inside its character', () => {
  const text = 'request=smtpd_access_policy\nsender=jöran@exämple.org\n\n';
  const bytes = Buffer.from(text);
  const at = bytes.indexOf(0xc3); // the first octet of ö
  const reader = new PolicyRequestReader(limits);
  const results = [...reader.push(bytes.subarray(0, at + 1)), ...reader.push(bytes.subarray(at + 1))];
  assert.equal(results.length, 1);
  assert.equal(results[0]?.kind === 'request' && results[0].attrs.get('sender'), 'jöran@exämple.org');
});
