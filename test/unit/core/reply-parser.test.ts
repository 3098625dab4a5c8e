import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isPrintable, printable } from '../../../src/core/printable.js';
import { ProtocolError } from '../../../src/core/errors.js';
import { ReplyParser, enhancedCodeOf, type SmtpReply } from '../../../src/core/smtp/reply-parser.js';
import { replyTextFromBytes } from '../../../src/core/smtp/reply-text.js';

function parseAll(chunks: Buffer[]): SmtpReply[] {
  const parser = new ReplyParser();
  return chunks.flatMap((c) => parser.push(c));
}

const EHLO = Buffer.from(
  '250-mx.example.org Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 SMTPUTF8\r\n550 5.1.1 <a@b>: Recipient address rejected: User unknown\r\n',
);

describe('ReplyParser', () => {
  it('parses multiline and single-line replies with enhanced codes', () => {
    const replies = parseAll([EHLO]);
    assert.equal(replies.length, 2);
    assert.deepEqual(replies[0], {
      code: 250,
      enhancedCode: null,
      lines: ['mx.example.org Hello', 'PIPELINING', 'SIZE 10240000', 'STARTTLS', 'SMTPUTF8'],
    });
    assert.equal(replies[1]?.enhancedCode, '5.1.1');
  });

  it('accepts bare LF and a code with no text', () => {
    assert.deepEqual(parseAll([Buffer.from('250\n')]), [{ code: 250, enhancedCode: null, lines: [''] }]);
  });

  it('parses identically when split at every byte boundary (property)', () => {
    const whole = parseAll([EHLO]);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: EHLO.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), EHLO.length];
        const chunks = points.slice(1).map((end, i) => EHLO.subarray(points[i], end));
        assert.deepEqual(parseAll(chunks), whole);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads a line as RFC 5321 4.2 writes it: three digits, the first 2-5, then space, hyphen or nothing (property)', () => {
    // The code is read from the octets, without a string or a regular expression (issue 14);
    // this is the grammar it must keep, over lines built from the octets that matter at each place.
    const grammar = /^[2-5][0-9][0-9](?:[ -].*)?$/s;
    const octet = fc.constantFrom(
      0x30,
      0x31,
      0x32,
      0x35,
      0x36,
      0x39,
      0x2f,
      0x3a,
      0x20,
      0x2d,
      0x09,
      0x00,
      0x41,
      0xb2,
    );
    fc.assert(
      fc.property(fc.array(octet, { maxLength: 6 }), (octets) => {
        const line = Buffer.from(octets);
        const text = line.toString('latin1');
        let replies: SmtpReply[] | undefined;
        try {
          replies = new ReplyParser().push(Buffer.concat([line, Buffer.from('\r\n')]));
        } catch (error) {
          assert.ok(error instanceof ProtocolError, String(error));
        }
        if (!grammar.test(text)) assert.equal(replies, undefined, `accepted ${JSON.stringify(text)}`);
        else if (text[3] === '-') assert.deepEqual(replies, [], JSON.stringify(text));
        else assert.equal(replies?.[0]?.code, Number(text.slice(0, 3)), JSON.stringify(text));
      }),
      { numRuns: 5000 },
    );
  });

  it('keeps the text after the code as reply-text.ts decodes it, ASCII or not (property)', () => {
    // ASCII lines are read without the decoder (issue 14): the text must be the decoder's.
    const text = fc
      .uint8Array({ maxLength: 40 })
      .map((bytes) => bytes.filter((b) => b !== 0x0a && b !== 0x0d));
    fc.assert(
      fc.property(text, fc.boolean(), (body, ascii) => {
        const bytes = (ascii ? body.map((b) => b & 0x7f) : body).filter((b) => b !== 0x0a && b !== 0x0d);
        const line = Buffer.concat([Buffer.from('550 '), bytes, Buffer.from('\r\n')]);
        const [reply] = new ReplyParser().push(line);
        assert.equal(reply?.lines[0], replyTextFromBytes(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  it('parses identically one byte at a time', () => {
    assert.deepEqual(parseAll([...EHLO].map((b) => Buffer.from([b]))), parseAll([EHLO]));
  });

  it('never lets anything but ProtocolError escape on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (chunks) => {
        const parser = new ReplyParser({ maxLineLength: 100, maxLines: 5, maxReplyBytes: 400 });
        try {
          for (const c of chunks) parser.push(Buffer.from(c));
        } catch (error) {
          assert.ok(error instanceof ProtocolError, String(error));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('never lets anything but ProtocolError escape on near-SMTP text (property)', () => {
    const line = fc.tuple(
      fc.constantFrom('220', '250', '450', '550', '2', '99', 'abc'),
      fc.constantFrom('-', ' ', '', 'x'),
      fc.string({ maxLength: 40 }),
      fc.constantFrom('\r\n', '\n', '\r', ''),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 10 }), (lines) => {
        const parser = new ReplyParser();
        try {
          parser.push(Buffer.from(lines.map((l) => l.join('')).join('')));
        } catch (error) {
          assert.ok(error instanceof ProtocolError, String(error));
        }
      }),
      { numRuns: 3000 },
    );
  });

  const limits = { maxLineLength: 50, maxLines: 3, maxReplyBytes: 120 };
  const refusals: [string, string, RegExp][] = [
    ['an oversized line, even before its LF arrives', `250 ${'x'.repeat(60)}`, /longer than 50/],
    ['too many lines', '250-a\r\n250-b\r\n250-c\r\n250 d\r\n', /more than 3 lines/],
    [
      'too many octets',
      `250-${'x'.repeat(45)}\r\n250-${'x'.repeat(45)}\r\n250 ${'x'.repeat(45)}\r\n`,
      /longer than 120 octets/,
    ],
    ['a changed code', '250-a\r\n251 b\r\n', /changed code/],
    ['a non-numeric code', 'abc hello\r\n', /malformed/],
    ['a code out of range', '199 hello\r\n', /malformed/],
    ['a code above the range', '650 hello\r\n', /malformed/],
    ['a code of two digits', '25\r\n', /malformed/],
    ['a code followed by a letter', '250x hello\r\n', /malformed/],
    ['a code followed by a tab', '250\thello\r\n', /malformed/],
    ['a code of four digits', '2500 hello\r\n', /malformed/],
    ['a NUL inside the code', '25\u00000 ok\r\n', /malformed/],
    ['an escape sequence in place of the separator', '550\u001b[31m no\r\n', /malformed/],
    ['binary garbage without a code', '\u0016\u0003\u0001\u0000\u00ff hello\r\n', /malformed/],
  ];
  for (const [name, input, pattern] of refusals) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => new ReplyParser(limits).push(Buffer.from(input)),
        (e) => e instanceof ProtocolError && pattern.test(e.message),
      );
    });
  }
});

describe('reply text that is not clean', () => {
  // A clean code (and enhanced code) is read by its code. The text is kept as the server sent it
  // where it is valid UTF-8 (printing escapes it, printable.ts); a byte that is not UTF-8 becomes
  // \xHH. Nothing here is a protocol error.
  const cases: [string, Buffer, number, string | null, string][] = [
    [
      'high-bit bytes and terminal escapes',
      Buffer.concat([
        Buffer.from('550 5.1.1 '),
        Buffer.from([0xff, 0xfe, 0x80, 0x1b]),
        Buffer.from('[2J\x1b]0;owned\x07\r\n'),
      ]),
      550,
      '5.1.1',
      '5.1.1 \\xff\\xfe\\x80\x1b[2J\x1b]0;owned\x07',
    ],
    ['a NUL and a bare CR', Buffer.from('250 a\u0000b\rc\r\n'), 250, null, 'a\u0000b\rc'],
    [
      'C1 controls and bidi overrides in valid UTF-8',
      Buffer.from('550 5.7.1 \u009b31m \u202eevil\u202c ok \u00e9\r\n'),
      550,
      '5.7.1',
      '5.7.1 \u009b31m \u202eevil\u202c ok \u00e9',
    ],
    [
      'a truncated UTF-8 sequence',
      Buffer.concat([Buffer.from('451 4.3.0 a'), Buffer.from([0xe2, 0x82]), Buffer.from('\r\n')]),
      451,
      '4.3.0',
      '4.3.0 a\\xe2\\x82',
    ],
  ];
  for (const [name, bytes, code, enhanced, text] of cases) {
    it(`reads ${name} by its code, and keeps the text`, () => {
      const [r] = new ReplyParser().push(bytes);
      assert.ok(r);
      assert.equal(r.code, code);
      assert.equal(r.enhancedCode, enhanced);
      assert.equal(r.lines[0], text);
      assert.ok(isPrintable(printable(r.lines.join(''))));
    });
  }
});

describe('truncatable replies (EHLO)', () => {
  const limits = { maxLineLength: 100, maxLines: 5, maxReplyBytes: 400 };
  it('keeps the first lines of a reply longer than the limits, reading it to its end', () => {
    const parser = new ReplyParser(limits, () => true);
    const lines = Array.from({ length: 3000 }, (_, i) => `250-EXT${i}\r\n`).join('') + '250 LAST\r\n';
    const replies = parser.push(Buffer.from(lines + '250 2.1.0 next\r\n'));
    assert.equal(replies.length, 2);
    assert.deepEqual(replies[0]?.lines, ['EXT0', 'EXT1', 'EXT2', 'EXT3', 'EXT4']);
    assert.equal(replies[0].droppedLines, 2996);
    assert.equal(replies[1]?.lines[0], '2.1.0 next');
  });

  it('still refuses a reply over the limits when it is not truncatable', () => {
    const parser = new ReplyParser(limits, () => false);
    assert.throws(() => parser.push(Buffer.from('250-a\r\n'.repeat(6) + '250 b\r\n')), ProtocolError);
  });

  it('still refuses an over-long line in a truncatable reply', () => {
    const parser = new ReplyParser(limits, () => true);
    assert.throws(() => parser.push(Buffer.from(`250-${'x'.repeat(200)}\r\n`)), ProtocolError);
  });
});

describe('enhancedCodeOf', () => {
  it('reads the code only when its class matches the reply', () => {
    assert.equal(enhancedCodeOf(550, '5.1.1 User unknown'), '5.1.1');
    assert.equal(enhancedCodeOf(550, '5.1.10 null MX'), '5.1.10');
    assert.equal(enhancedCodeOf(450, '5.1.1 mismatch'), null);
    assert.equal(enhancedCodeOf(250, '2.1.5Ok'), null);
    assert.equal(enhancedCodeOf(550, 'User unknown'), null);
  });
});
