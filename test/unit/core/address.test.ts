import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isNullPath, parseMailbox } from '../../../src/core/address.js';

function ok(input: string) {
  const r = parseMailbox(input);
  if (!r.ok) assert.fail(`expected ${JSON.stringify(input)} to parse: ${r.error}`);
  return r.mailbox;
}
function bad(input: string, pattern: RegExp): void {
  const r = parseMailbox(input);
  assert.equal(r.ok, false, `expected ${JSON.stringify(input)} to be refused`);
  assert.equal(r.kind, 'invalid', r.error);
  assert.match(r.error, pattern);
}
function unverifiable(input: string, pattern: RegExp): void {
  const r = parseMailbox(input);
  assert.equal(r.ok, false, `expected ${JSON.stringify(input)} to be left unverified`);
  assert.equal(r.kind, 'unverifiable', r.error);
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
  it('verifies local parts and paths beyond RFC 5321 sizes, and says so (SRS, VERP)', () => {
    const srs = 'SRS0=HHH=TT=mail.some-long-sender-domain.example=firstname.lastname1@forwarder.example';
    assert.equal(Buffer.byteLength(srs.split('@')[0] ?? ''), 68);
    const m = ok(srs);
    assert.equal(m.address, srs);
    assert.match(m.notes.join(), /local part is 68 octets, beyond RFC 5321's 64 \(4\.5\.3\.1\.1\)/);
    assert.deepEqual(ok(`${'a'.repeat(64)}@x.example`).notes, []);
    const long = ok(`${'v'.repeat(200)}@${'d'.repeat(63)}.${'e'.repeat(60)}.example`);
    assert.match(long.notes.join(), /path is 335 octets, beyond RFC 5321's 256/);
  });
  it('counts octets, not characters, for UTF-8 local parts', () =>
    assert.match(ok(`${'ö'.repeat(33)}@x.example`).notes.join(), /66 octets/));
  it("lets through, unverified, a path longer than cbv's own bound", () => {
    unverifiable(`${'a'.repeat(1000)}@x.example`, /path is 1012 octets, longer than the 1000 cbv sends/);
    assert.equal(ok(`${'a'.repeat(988)}@x.example`).address.length, 998); // 1000 octets with <>
  });
  it("keeps the DNS's own limits on a domain: no name can exceed them", () => {
    bad(`a@${'b'.repeat(64)}.example`, /is 64 octets, more than the DNS allows \(63\)/);
    const label = 'c'.repeat(63);
    bad(`a@${[label, label, label, label].join('.')}.ex`, /octets, more than the DNS allows \(255\)/);
  });
  it("reads Postfix's internal (unquoted) form and quotes for the wire what needs it", () => {
    // What Postfix hands a policy server for MAIL FROM:<"john doe"@x.example>, <"a@b"@x.example>, <"a\"b"@...>.
    assert.equal(ok('john doe@x.example').address, '"john doe"@x.example');
    assert.equal(ok('a@b@x.example').address, '"a@b"@x.example');
    assert.equal(ok('a"b@x.example').address, '"a\\"b"@x.example');
    // RFC 5322's obsolete dots, real at Japanese mobile carriers: Postfix accepts and quotes them.
    for (const local of ['a..b', '.a', 'a.']) assert.equal(ok(`${local}@x.example`).localPart, `"${local}"`);
    // The empty quoted string, valid in RFC 5321, arrives from Postfix as nothing at all.
    assert.equal(ok('@x.example').address, '""@x.example');
    assert.equal(ok('""@x.example').address, '""@x.example');
    // The same mailbox however it was written.
    assert.equal(ok('"a..b"@x.example').address, ok('a..b@x.example').address);
  });
  it('takes a trailing dot and underscores in a domain, as Postfix does', () => {
    assert.equal(ok('a@X.Example.').domain, 'x.example');
    assert.equal(ok('a@x_y.example').domain, 'x_y.example');
    assert.equal(ok('a@xn--zz.example').domain, 'xn--zz.example');
  });
  it('lets through, unverified, control characters an MTA accepted (cbv never sends them)', () => {
    unverifiable('a\u0001b@x.example', /control character U\+0001 at position 2 of the local part/);
    unverifiable('a\u007fb@x.example', /DEL at position 2/);
    unverifiable('a\u0085@x.example', /control character U\+0085/);
    unverifiable('a\tb@x.example', /TAB/);
    unverifiable('\ufffd@x.example', /replacement character U\+FFFD/);
  });
  it('ignores the source route of a path in angle brackets (RFC 5321 4.1.2, C), as Postfix does', () => {
    for (const path of [
      '<@relay.example:alice@example.org>',
      '<@a.example,@b.example:alice@example.org>',
      '<@[192.0.2.1]:alice@Example.ORG>',
      '<@Relay.EXAMPLE,@xn--bcher-kva.example:alice@example.org.>',
    ])
      assert.equal(ok(path).address, 'alice@example.org', path);
    assert.equal(ok('<@relay.example:"john doe"@example.org>').address, '"john doe"@example.org');
    // Bare, the same text is Postfix's internal form of a quoted local part: MAIL FROM:<"@a:u"@example.org>.
    assert.equal(ok('@a.example:u@example.org').address, '"@a.example:u"@example.org');
    assert.equal(ok('<"@a.example:u"@example.org>').address, '"@a.example:u"@example.org');
  });

  it('reads ideographic and full-width stops as dots before the dot rules (RFC 3490 3.1)', () => {
    for (const domain of [
      'bücher。example。',
      'bücher．example.',
      'BÜCHER｡EXAMPLE',
      'xn--bcher-kva。example',
    ])
      assert.equal(ok(`u@${domain}`).domain, 'xn--bcher-kva.example', domain);
    bad('u@bücher。。example', /empty label/);
    bad('u@。bücher.example', /starts with a dot/);
  });

  it('reads a path with white space around it or inside its brackets as the path (was 550 invalid_syntax)', () => {
    for (const written of [
      ' <alice@example.org>',
      '<alice@example.org> ',
      'alice@example.org ',
      'alice@example.org\t',
      '\t<alice@example.org>\t',
      '< alice@example.org >',
      '<alice@example.org >',
    ])
      assert.equal(ok(written).address, 'alice@example.org', JSON.stringify(written));
    // Bare, a leading space is Postfix's internal form of a quoted local part: MAIL FROM:<" a"@example.org>.
    assert.equal(ok(' a@example.org').address, '" a"@example.org');
    assert.equal(ok('< " a"@example.org>').address, '" a"@example.org');
  });

  it('writes an address literal one way, however it is spelled (RFC 5952 for IPv6)', () => {
    for (const spelling of [
      '[IPv6:2001:DB8:0::1]',
      '[ipv6:2001:0db8:0000:0000:0000:0000:0000:0001]',
      '[IPV6:2001:db8::0:1]',
    ])
      assert.deepEqual(
        [ok(`u@${spelling}`).address, ok(`u@${spelling}`).literalIp],
        ['u@[IPv6:2001:db8::1]', '2001:db8::1'],
      );
    assert.equal(ok('u@[IPv6:0:0::1]').address, 'u@[IPv6:::1]');
    assert.equal(ok('u@[IPv6:::FFFF:7F00:1]').address, 'u@[IPv6:::ffff:127.0.0.1]');
    assert.equal(ok('u@[IPv6:2001:db8:0:0:1:0:0:1]').address, 'u@[IPv6:2001:db8::1:0:0:1]');
  });

  it('lets through, unverified, an IPv4 literal with a leading zero, which Postfix accepts (was invalid_syntax)', () => {
    for (const literal of ['[192.0.2.010]', '[192.0.2.01]', '[010.0.0.1]', '[127.000.0.1]'])
      unverifiable(`u@${literal}`, /leading zero/);
    bad('u@[192.0.2.256]', /not an IPv4 address/);
    bad('u@[IPv6:fe80::1%eth0]', /not a valid IPv6 address literal/);
    bad('u@[IPv6:192.0.2.1]', /not a valid IPv6 address literal/);
  });

  it('recognises the null path in both spellings', () => {
    assert.equal(isNullPath(''), true);
    assert.equal(isNullPath('<>'), true);
    assert.equal(isNullPath('< >'), true);
    assert.equal(isNullPath('<\t >'), true);
    assert.equal(isNullPath('< a@b.example >'), false);
    assert.equal(isNullPath('a@b.example'), false);
  });
  const refusals: [string, RegExp][] = [
    // Characters no SMTP command can carry.
    ['a\r\nRCPT TO:<x>@x.example', /CR at position 2/],
    ['a\n@x.example', /LF at position 2/],
    ['a\u0000@x.example', /NUL at position 2/],
    ['a@x.example\r', /CR at position 12/],
    ['a\ud800@x.example', /control character U\+D800|position 2/],
    // No mail can reach these.
    ['plain', /missing '@'/],
    ['a@', /empty domain/],
    ['a@localhost', /no dot/],
    ['', /empty address/],
    ['<>', /empty address/],
    ['<a@x.example', /unbalanced angle brackets/],
    // Domains Postfix itself refuses (501 5.1.7 Bad sender address syntax).
    ['a@x..example', /empty label/],
    ['a@.x.example', /starts with a dot/],
    ['a@x.example..', /empty label/],
    ['a@-x.example', /letters, digits, underscores and inner hyphens/],
    ['a@x-.example', /letters, digits, underscores and inner hyphens/],
    ['a@x y.example', /space at position 4 is not allowed in a domain/],
    ['a@192.0.2.1', /address literal/],
    ['a@[300.1.1.1]', /not an IPv4 address/],
    ['a@[IPv6:zz::1]', /not a valid IPv6/],
    ['a@x\u0001.example', /control character U\+0001 at position 4 is not allowed in a domain/],
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
  it('its output always parses back to itself, whatever the input (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 60 }),
        fc.constantFrom('@x.example', '@[127.0.0.1]'),
        (local, domain) => {
          const r = parseMailbox(`${local}${domain}`);
          if (!r.ok) return;
          const again = parseMailbox(r.mailbox.address);
          assert.ok(again.ok, `${r.mailbox.address}: ${again.ok ? '' : again.error}`);
          assert.equal(again.mailbox.address, r.mailbox.address);
        },
      ),
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

describe('single-label domains (verify.allow_single_label_domains)', () => {
  const allow = { singleLabelDomains: true };
  for (const input of ['root@vm', 'a@localhost', 'nagios@Monitor', 'x@vm.', 'x@xn--bcher-kva', 'x@bücher'])
    it(`${input}: refused by default, parsed when allowed`, () => {
      const strict = parseMailbox(input);
      assert.match(strict.ok ? 'parsed' : strict.error, /verify\.allow_single_label_domains/);
      const r = parseMailbox(input, allow);
      assert.doesNotMatch(r.ok ? r.mailbox.domain : 'not parsed.', /\.|[A-Z]/);
    });

  for (const input of ['a@123', 'a@-vm', 'a@v_m-', 'a@', 'a@.vm', 'a@vm..'])
    it(`${input}: still invalid when single labels are allowed`, () => {
      assert.equal(parseMailbox(input, allow).ok, false);
    });
});
