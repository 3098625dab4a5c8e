/**
 * The request reader against the protocol's rules, written out plainly below (SMTPD_POLICY_README:
 * `name=value` lines, LF-terminated, a request ends with an empty line; cbv's own rules for CR,
 * bad lines, HTTP and limits). The reader recognises Postfix's attribute names in place and
 * decodes ASCII chunks whole; the reference reads the whole byte stream line by line, each line
 * decoded as UTF-8 and every name cut out and checked. Both must give the same requests and the
 * same refusals, whatever the segmentation (every split point, one byte at a time, random cuts)
 * and however many requests the caller lets it read at once (pipelining).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  PolicyLimitError,
  PolicyRequestReader,
  type ReadResult,
} from '../../../src/frontends/policy/request-reader.js';

const limits = { maxLineLength: 120, maxRequestBytes: 600 };
const NAME = /^[A-Za-z0-9_.-]+$/;
const HTTP_REQUEST_LINE = /^[A-Z]+ \S+ HTTP\/\d(?:\.\d)?$/;

/** A request as the reference reads it: its attributes (sorted by name), or the problem. */
type Read = { kind: 'request'; attrs: [string, string][] } | { kind: 'malformed'; problem: string };

/** The protocol's rules on a whole byte stream: the requests before the first refusal, and the refusal. */
function reference(bytes: Buffer): { reads: Read[]; refusal: string | null; pendingBytes: number } {
  const reads: Read[] = [];
  let attrs = new Map<string, string>();
  let problem: string | null = null;
  let requestBytes = 0;
  let start = 0;
  const tooLong = `attribute line longer than ${limits.maxLineLength} octets`;
  for (let nl = bytes.indexOf(0x0a); nl >= 0; nl = bytes.indexOf(0x0a, start)) {
    const octets = bytes.subarray(start, nl);
    start = nl + 1;
    if (octets.length > limits.maxLineLength) return { reads, refusal: tooLong, pendingBytes: 0 };
    requestBytes += octets.length + 1;
    if (requestBytes > limits.maxRequestBytes)
      return { reads, refusal: `request larger than ${limits.maxRequestBytes} octets`, pendingBytes: 0 };
    let line = octets.toString('utf8');
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') {
      if (problem !== null) reads.push({ kind: 'malformed', problem });
      else if (attrs.size === 0) reads.push({ kind: 'malformed', problem: 'empty request' });
      else reads.push({ kind: 'request', attrs: [...attrs].sort(byName) });
      attrs = new Map();
      problem = null;
      requestBytes = 0;
      continue;
    }
    const eq = line.indexOf('=');
    const name = eq > 0 ? line.slice(0, eq) : '';
    if (NAME.test(name)) attrs.set(name, line.slice(eq + 1));
    else if (HTTP_REQUEST_LINE.test(line))
      return {
        reads,
        refusal: `an HTTP request (${line.split(' ')[0] ?? ''}), not the policy protocol`,
        pendingBytes: 0,
      };
    else problem ??= `line without a name=value attribute: ${JSON.stringify(line.slice(0, 60))}`;
  }
  const rest = bytes.length - start;
  if (rest > limits.maxLineLength) return { reads, refusal: tooLong, pendingBytes: 0 };
  return { reads, refusal: null, pendingBytes: requestBytes + rest };
}

function byName(a: [string, string], b: [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function view(r: ReadResult): Read {
  if (r.kind === 'malformed') return r;
  const attrs = [...r.attrs].sort(byName);
  // The map's other views agree with its entries.
  assert.equal(r.attrs.size, attrs.length);
  for (const [name, value] of attrs) {
    assert.equal(r.attrs.get(name), value);
    assert.ok(r.attrs.has(name));
  }
  return { kind: 'request', attrs };
}

/**
 * The reader fed `chunks` as PolicyConnection feeds it: at most `pipelined` requests per read,
 * the bytes it did not consume handed back before the next chunk.
 */
function read(
  chunks: Buffer[],
  pipelined: number,
): { reads: Read[]; refusal: string | null; pendingBytes: number } {
  const reader = new PolicyRequestReader(limits);
  const reads: Read[] = [];
  const queue = [...chunks];
  try {
    for (let chunk = queue.shift(); chunk; chunk = queue.shift()) {
      const { results, consumed } = reader.read(chunk, pipelined);
      reads.push(...results.map(view));
      if (consumed < chunk.length) queue.unshift(chunk.subarray(consumed));
    }
  } catch (error) {
    if (!(error instanceof PolicyLimitError)) throw error;
    return { reads, refusal: error.message, pendingBytes: 0 };
  }
  return { reads, refusal: null, pendingBytes: reader.pendingBytes };
}

/** The reader agrees with the reference; a refusal may lose the requests of the chunk it is in (the connection closes). */
function agrees(bytes: Buffer, chunks: Buffer[], pipelined: number): void {
  const want = reference(bytes);
  const got = read(chunks, pipelined);
  assert.equal(got.refusal, want.refusal);
  if (want.refusal === null) {
    assert.deepEqual(got.reads, want.reads);
    assert.equal(got.pendingBytes, want.pendingBytes);
  } else assert.deepEqual(got.reads, want.reads.slice(0, got.reads.length));
}

const POSTFIX = [
  'request',
  'protocol_state',
  'protocol_name',
  'helo_name',
  'queue_id',
  'sender',
  'recipient',
  'recipient_count',
  'client_address',
  'client_name',
  'reverse_client_name',
  'instance',
  'sasl_method',
  'sasl_username',
  'sasl_sender',
  'size',
  'ccert_subject',
  'ccert_issuer',
  'ccert_fingerprint',
  'ccert_pubkey_fingerprint',
  'encryption_protocol',
  'encryption_cipher',
  'encryption_keysize',
  'etrn_domain',
  'stress',
  'server_address',
  'server_port',
  'client_port',
  'policy_context',
  'compatibility_level',
  'mail_version',
];
/** Names that are not Postfix's but look like them (a letter off, longer, shorter, case), and other valid names. */
const NEAR = [
  'sende',
  'senderx',
  'Sender',
  'SENDER',
  'recipienT',
  'client_addres',
  'client_address_',
  'instance.1',
  'x.y-z_1',
  '0',
  'size2',
  'stres',
  'requests',
  '__proto__',
  'constructor',
  'hasOwnProperty',
  'a'.repeat(41),
];
/** Not names: the reader must refuse or report them exactly as the reference does. */
const BAD_NAMES = ['', 'séndér', 'sender ', ' sender', 'send er', 'sender\t', 'ü', 'sen\u0000der'];

const octets = fc.oneof(
  fc
    .constantFrom('a', 'B', '@', '.', '=', ' ', '\t', '\r', 'é', '😀', '[127.0.0.1]')
    .map((s) => Buffer.from(s)),
  fc.constantFrom(0xff, 0xc3, 0x80, 0x00, 0x7f, 0xe2, 0x0d).map((b) => Buffer.from([b])),
);
const value = fc.array(octets, { maxLength: 12 }).map((parts) => Buffer.concat(parts));
const name = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...POSTFIX) },
  { weight: 3, arbitrary: fc.constantFrom(...NEAR) },
  { weight: 1, arbitrary: fc.constantFrom(...BAD_NAMES) },
);
const eol = fc.constantFrom('\n', '\r\n', '\r\r\n');
const line = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.tuple(name, value, eol).map(([n, v, e]) => [Buffer.from(`${n}=`), v, Buffer.from(e)]),
  },
  // Not attributes: no '=', a bare CR, an HTTP request line, text with an '=' on a later line.
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('just text', '\r', 'GET / HTTP/1.1', 'POST /x?a=b HTTP/1.0', 'get / http/1.1', '=', '==x')
      .map((t) => [Buffer.from(t), Buffer.from('\n')]),
  },
  // Around the line limit: exactly at it, and one octet over.
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(limits.maxLineLength - 7, limits.maxLineLength - 6, limits.maxLineLength - 5)
      .map((n) => [Buffer.from(`sender=${'x'.repeat(n)}`), Buffer.from('\n')]),
  },
);
const request = fc
  .tuple(fc.array(line, { maxLength: 8 }), eol)
  .map(([lines, end]) => Buffer.concat([...lines.flat(), Buffer.from(end)]));
/** Requests back to back (pipelined), sometimes with a request or a line left unfinished at the end. */
const stream = fc
  .tuple(fc.array(request, { minLength: 1, maxLength: 4 }), fc.option(line, { nil: undefined }))
  .map(([requests, tail]) => Buffer.concat([...requests, ...(tail ?? []).slice(0, -1)]));

describe('request reader against the protocol rules', () => {
  it('reads what the reference reads, whole, split at every point, one octet at a time (property)', () => {
    fc.assert(
      fc.property(stream, fc.integer({ min: 1, max: 3 }), (bytes, pipelined) => {
        agrees(bytes, [bytes], pipelined);
        agrees(bytes, [bytes], Infinity);
        for (let at = 1; at < bytes.length; at++)
          agrees(bytes, [bytes.subarray(0, at), bytes.subarray(at)], pipelined);
        agrees(
          bytes,
          Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)),
          pipelined,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('reads what the reference reads in random segmentations (property)', () => {
    fc.assert(
      fc.property(
        stream,
        fc.array(fc.integer({ min: 1, max: 2000 }), { maxLength: 10 }),
        fc.integer({ min: 1, max: 4 }),
        (bytes, cuts, pipelined) => {
          const points = [...new Set(cuts.map((c) => c % bytes.length))].sort((a, b) => a - b);
          const ends = [...points, bytes.length];
          agrees(
            bytes,
            ends.map((end, i) => bytes.subarray(i === 0 ? 0 : ends[i - 1], end)).filter((c) => c.length > 0),
            pipelined,
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('reads every Postfix attribute name and its near misses as the reference does', () => {
    for (const names of [POSTFIX.slice(0, 16), POSTFIX.slice(16), NEAR]) {
      const bytes = Buffer.from(`${names.map((n, i) => `${n}=v${i}\n`).join('')}\n`);
      agrees(bytes, [bytes], Infinity);
      const [got] = read([bytes], Infinity).reads;
      assert.equal(got?.kind === 'request' && got.attrs.length, names.length);
    }
  });

  it('keeps the last of duplicate names, Postfix names and others alike', () => {
    const bytes = Buffer.from('sender=a\nx=1\nsender=b\nx=2\nsender=\n\n');
    agrees(bytes, [bytes], Infinity);
    const [got] = new PolicyRequestReader(limits).push(bytes);
    assert.equal(got?.kind === 'request' && got.attrs.get('sender'), '');
    assert.equal(got?.kind === 'request' && got.attrs.get('x'), '2');
    assert.equal(got?.kind === 'request' && got.attrs.size, 2);
  });
});
