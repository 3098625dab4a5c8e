/** The compact entry encoding: every verdict comes back intact, and typical ones are small. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeAddressEntry,
  decodeDomainFact,
  decodeVerdict,
  encodeAddressEntry,
  encodeDomainFact,
  encodeVerdict,
} from '../../../src/cache/entry-codec.js';
import type { AddressEntry, StoredVerdict } from '../../../src/cache/verdict-cache.js';
import { ENGINE_REASONS } from '../../../src/core/index.js';

/** Plain objects, as decoded ones are (deepEqual compares prototypes). */
const PLAIN = { noNullPrototype: true } as const;
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', 'Ok', '2.1.5 Ok'));
// Finite, and never -0: a verdict of an unknown shape travels as JSON, which has neither.
const number = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? 0 : n)),
  fc.constantFrom(0, -1, 2 ** 53 - 1),
);
const attempt = fc.record(
  {
    host: text,
    ip: text,
    reason: fc.constantFrom(...ENGINE_REASONS),
    rule: text,
    stage: fc.option(fc.constantFrom('connect', 'greeting', 'rcpt'), { nil: null }),
  },
  PLAIN,
);

/** Any verdict of the stored shape, including shapes the codec's compact path does not know. */
const verdictArb = (address: string, domain: string): fc.Arbitrary<StoredVerdict> =>
  fc
    .record(
      {
        address: fc.oneof(fc.constant(address), text),
        domain: fc.oneof(fc.constant(domain), text),
        result: fc.constantFrom('deliverable', 'undeliverable', 'risky', 'unknown'),
        reason: fc.constantFrom(...ENGINE_REASONS, 'pending', 'skipped'),
        temporary: fc.boolean(),
        rule: text,
        message: text,
        mx: fc.option(fc.record({ host: text, ip: text, preference: number }, PLAIN), { nil: null }),
        smtp: fc.option(
          fc.record(
            {
              stage: fc.constantFrom('rcpt', 'mail', 'greeting'),
              code: number,
              enhancedCode: fc.option(text, { nil: null }),
              text,
            },
            PLAIN,
          ),
          { nil: null },
        ),
        catchAllProbe: fc.option(fc.boolean(), { nil: null }),
        durationMs: number,
        attempts: fc.array(attempt, { maxLength: 4 }),
        cache: fc.record(
          {
            hit: fc.boolean(),
            fact: fc.option(fc.constantFrom('catch_all', 'unreachable'), { nil: null }),
            ageSeconds: fc.option(number, { nil: null }),
          },
          PLAIN,
        ),
      },
      PLAIN,
    )
    .chain((v) =>
      fc.oneof(
        fc.constant(v as StoredVerdict),
        // A field added to verdicts later, at the top level or inside a nested object.
        fc.constant({ ...v, futureField: { a: 1 } } as unknown as StoredVerdict),
        fc.constant(
          (v.mx ? { ...v, mx: { ...v.mx, weight: 3 } } : { ...v, smtp: null }) as unknown as StoredVerdict,
        ),
      ),
    );

const accepted: StoredVerdict = {
  address: 'john.smith@example.com',
  domain: 'example.com',
  result: 'deliverable',
  reason: 'accepted',
  temporary: false,
  rule: 'rcpt.2xx',
  message: '250 2.1.5 Ok',
  mx: { host: 'mx1.example.com', ip: '93.184.216.34', preference: 10 },
  smtp: { stage: 'rcpt', code: 250, enhancedCode: '2.1.5', text: '2.1.5 Ok' },
  catchAllProbe: false,
  durationMs: 412,
  attempts: [],
  cache: { hit: false, fact: null, ageSeconds: null },
};

const gmailText = [
  '5.1.1 The email account that you tried to reach does not exist. Please try',
  "5.1.1 double-checking the recipient's email address for typos or",
  '5.1.1 unnecessary spaces. For more information, go to',
  '5.1.1  https://support.google.com/mail/?p=NoSuchUser d2e1a72fcca58-7a3 - gsmtp',
].join('\n');

describe('entry codec', () => {
  it('gives back every address entry intact (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('a@b.example', 'Ünï.cödé@exämple.org', '"x y"@[192.0.2.1]'),
        fc.integer({ min: 0, max: 2 ** 45 }),
        fc.integer({ min: -1000, max: 10 ** 10 }),
        fc.option(fc.integer({ min: 0, max: 10 ** 10 }), { nil: null }),
        fc.gen(),
        (address, storedAt, ttl, refresh, gen) => {
          const domain = address.slice(address.lastIndexOf('@') + 1);
          const verdict = gen(() => verdictArb(address, domain));
          const e: AddressEntry = {
            address,
            domain: verdict.domain,
            verdict,
            storedAt,
            expiresAt: storedAt + ttl,
            refreshAt: refresh === null ? null : storedAt + refresh,
          };
          assert.deepEqual(decodeAddressEntry(address, encodeAddressEntry(e)), e);
        },
      ),
      { numRuns: 300, endOnFailure: true },
    );
  });

  it('gives back domain facts and bare verdicts intact', () => {
    const fact = {
      domain: 'catchall.example',
      kind: 'catch_all' as const,
      verdict: { ...accepted, address: 'who@catchall.example', domain: 'catchall.example' },
      storedAt: 1_800_000_000_000,
      expiresAt: 1_800_000_086_400,
    };
    assert.deepEqual(decodeDomainFact('catchall.example', encodeDomainFact(fact)), fact);
    assert.deepEqual(decodeVerdict(encodeVerdict(accepted)), accepted);
  });

  it('keeps a typical accepted entry under 100 bytes and a long Gmail refusal under 200', () => {
    const now = Date.now();
    const e: AddressEntry = {
      address: accepted.address,
      domain: accepted.domain,
      verdict: accepted,
      storedAt: now,
      expiresAt: now + 7 * 86_400_000,
      refreshAt: now + 86_400_000,
    };
    const refused: StoredVerdict = {
      ...accepted,
      result: 'undeliverable',
      reason: 'user_unknown',
      rule: 'rcpt.bad-mailbox',
      smtp: { stage: 'rcpt', code: 550, enhancedCode: '5.1.1', text: gmailText },
      message: `550 ${gmailText.split('\n').join(' ')}`,
    };
    const small = encodeAddressEntry(e).length;
    const long = encodeAddressEntry({ ...e, verdict: refused, refreshAt: null }).length;
    assert.ok(small < 100, `${small} bytes (JSON: ${JSON.stringify(e).length})`);
    assert.ok(long < 200, `${long} bytes (JSON: ${JSON.stringify({ ...e, verdict: refused }).length})`);
  });

  it('refuses bytes it cannot read with an error, never a wrong entry', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          const e = decodeAddressEntry('a@b.example', Buffer.from(bytes));
          // Random bytes that happen to decode must still be an entry of the right shape.
          assert.equal(e.address, 'a@b.example');
          assert.equal(typeof e.verdict.reason, 'string');
        } catch (error) {
          assert.ok(error instanceof Error);
        }
      }),
    );
    assert.throws(() => decodeAddressEntry('a@b.example', Buffer.from([9, 0, 0])), /unknown entry format 9/);
  });
});
