import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseMailbox } from '../../../src/core/address.js';

function ok(input: string) {
  const r = parseMailbox(input);
  if (!r.ok) assert.fail(`expected ${JSON.stringify(input)} to parse: ${r.error}`);
  return r.mailbox;
}
function bad(input: string, pattern: RegExp): void {
  const r = parseMailbox(input);
  assert.equal(r.ok, false, `expected ${JSON.stringify(input)} to be refused`);
  assert.match(r.error, pattern);
}

describe('parseMailbox', () => {
  it('accepts dot-atoms and lower-cases the domain only', () => {
    const m = ok('Alice.Smith+tag@Example.ORG');
    assert.equal(m.address, 'Alice.Smith+tag@example.org');
    assert.equal(m.localPart, 'Alice.Smith+tag');
    assert.equal(m.needsSmtpUtf8, false);
  });
  it('strips angle brackets', () => assert.equal(ok('<a@b.example>').address, 'a@b.example'));
  it('accepts every atext character', () =>
    assert.equal(ok("!#$%&'*+-/=?^_`{|}~@x.example").localPart, "!#$%&'*+-/=?^_`{|}~"));
  it('keeps quoted local parts that need quoting, minimally escaped', () => {
    assert.equal(ok('"john doe"@x.example').localPart, '"john doe"');
    assert.equal(ok('"a\\"b"@x.example').localPart, '"a\\"b"');
    assert.equal(ok('"a@b"@x.example').address, '"a@b"@x.example');
  });
  it('unquotes quoted local parts that are plain dot-atoms (RFC 5321 4.1.2)', () =>
    assert.equal(ok('"john.doe"@x.example').localPart, 'john.doe'));
  it('converts IDN domains to A-labels', () =>
    assert.equal(ok('info@bücher.example').domain, 'xn--bcher-kva.example'));
  it('flags UTF-8 local parts as needing SMTPUTF8', () => {
    const m = ok('jörg@example.org');
    assert.equal(m.needsSmtpUtf8, true);
  });
  it('accepts address literals', () => {
    assert.equal(ok('a@[192.0.2.1]').literalIp, '192.0.2.1');
    assert.equal(ok('a@[IPv6:2001:DB8::1]').domain, '[IPv6:2001:db8::1]');
  });
  it('enforces the length limits of RFC 5321 4.5.3.1', () => {
    ok(`${'a'.repeat(64)}@x.example`);
    bad(`${'a'.repeat(65)}@x.example`, /local part is 65 octets, more than 64/);
    bad(`a@${'b'.repeat(64)}.example`, /is 64 octets, more than 63/);
    const label = 'c'.repeat(63);
    bad(`a@${[label, label, label, label].join('.')}.ex`, /octets, more than 25[56]/);
    ok(`${'a'.repeat(64)}@${'d'.repeat(63)}.${'e'.repeat(63)}.${'f'.repeat(57)}.ex`);
  });
  it('counts octets, not characters, for UTF-8 local parts', () =>
    bad(`${'ö'.repeat(33)}@x.example`, /66 octets/));
  const refusals: [string, RegExp][] = [
    ['a\r\nRCPT TO:<x>@x.example', /CR at position 2/],
    ['a\n@x.example', /LF at position 2/],
    ['a\u0000@x.example', /NUL at position 2/],
    ['a\u0085@x.example', /control character U\+0085/],
    ['a@x.example\r', /CR at position 12/],
    ['plain', /missing '@'/],
    ['@x.example', /empty local part/],
    ['a@', /empty domain/],
    ['.a@x.example', /starts with a dot/],
    ['a.@x.example', /ends with a dot/],
    ['a..b@x.example', /two dots in a row/],
    ['a b@x.example', /space at position 2/],
    ['a(b)@x.example', /'\(' at position 2/],
    ['"unterminated@x.example', /no closing quote|missing '@'/],
    ['"a"b@x.example', /after the closing quote/],
    ['a@x..example', /empty label/],
    ['a@-x.example', /letters, digits and inner hyphens/],
    ['a@x_y.example', /letters, digits and inner hyphens|not allowed|not a valid/],
    ['a@localhost', /no dot/],
    ['a@x.example.', /ends with a dot/],
    ['a@192.0.2.1', /address literal/],
    ['a@[300.1.1.1]', /not an IPv4 address/],
    ['a@[IPv6:zz::1]', /not a valid IPv6/],
    ['<a@x.example', /unbalanced angle brackets/],
    ['', /empty address/],
  ];
  for (const [input, pattern] of refusals) it(`refuses ${JSON.stringify(input)}`, () => bad(input, pattern));

  it('never returns an address with controls, whatever the input (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (input) => {
        const r = parseMailbox(input);
        if (r.ok) assert.ok(!/[\x00-\x1f\x7f]/.test(r.mailbox.address));
      }),
      { numRuns: 3000 },
    );
  });
  it('round-trips its own output (property)', () => {
    const atom = fc.stringMatching(/^[a-z0-9!#$%&'*+/=?^_`{|}~-]{1,10}$/);
    fc.assert(
      fc.property(
        fc.array(atom, { minLength: 1, maxLength: 3 }),
        fc.stringMatching(/^[a-z][a-z0-9]{0,8}\.[a-z]{2,5}$/),
        (atoms, domain) => {
          const first = parseMailbox(`${atoms.join('.')}@${domain}`);
          assert.ok(first.ok);
          const again = parseMailbox(first.mailbox.address);
          assert.ok(again.ok);
          assert.equal(again.mailbox.address, first.mailbox.address);
        },
      ),
    );
  });
});
