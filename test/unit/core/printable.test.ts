/**
 * The one escaping rule for text from outside (src/core/printable.ts): which
 * characters are unsafe, how they are written, that JSON output stays the
 * same value, and that the dashboard's copy of the rule is the same rule.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { escapeJsonText, isPrintable, printable, safeJson, terminalSafe } from '../../../src/core/index.js';
import { createLogger, logEvent } from '../../../src/observability/logger.js';
import { EVENTS } from '../../../src/observability/events.js';

/** Every character the rule calls unsafe, by class. */
const C0 = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i));
const C1 = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(0x80 + i));
const BIDI = [
  0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069,
].map((c) => String.fromCharCode(c));
const SEPARATORS = ['\u2028', '\u2029'];
/** Characters that show as nothing, so that one address looks like another (paypal / pay\u200bpal). */
const INVISIBLE = [
  0x00ad, 0x034f, 0x115f, 0x180e, 0x200b, 0x200c, 0x200d, 0x2060, 0x2063, 0x3164, 0xfe0f, 0xfeff, 0xffa0,
  0xfff9, 0xfffb, 0xe0001, 0xe0041, 0xe007f,
].map((c) => String.fromCodePoint(c));
const UNSAFE = [...C0, '\x7f', ...C1, ...BIDI, ...SEPARATORS, ...INVISIBLE];

/** A raw unsafe character anywhere in the text (what a terminal or a page would act on, or hide). */
const RAW_UNSAFE =
  /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufff9-\ufffb\p{Default_Ignorable_Code_Point}]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u;

describe('printable()', () => {
  it('escapes every C0, DEL, C1, bidirectional, separator and invisible character, and nothing else', () => {
    for (const c of UNSAFE) {
      const shown = printable(`a${c}b`);
      assert.doesNotMatch(shown, RAW_UNSAFE, `U+${(c.codePointAt(0) ?? 0).toString(16)}`);
      assert.notEqual(shown, `a${c}b`);
      assert.equal(isPrintable(c), false);
    }
    assert.equal(printable('\x1b[31m'), '\\x1b[31m');
    assert.equal(printable('\u009b31m'), '\\u009b31m');
    assert.equal(printable('\u202emoc.elpmaxe@eve'), '\\u202emoc.elpmaxe@eve');
    assert.equal(printable('\u2066x\u2069\u200e\u200f\u061c'), '\\u2066x\\u2069\\u200e\\u200f\\u061c');
    // Invisible characters (were printed raw): zero-width space, BOM, a tag character.
    assert.equal(printable('pay\u200bpal@example.org'), 'pay\\u200bpal@example.org');
    assert.equal(printable('\ufeffa\u2060b'), '\\ufeffa\\u2060b');
    assert.equal(printable('x\u{e0041}y'), 'x\\udb40\\udc41y');
    for (const safe of ['josé@exämple.org', '用户@例子.广告', 'emoji 😀 ok', 'tab-free text', '\u00a0nbsp'])
      assert.equal(printable(safe), safe);
  });

  it('escapes unpaired surrogates but keeps a pair (one astral character) whole', () => {
    assert.equal(printable('x\ud800y'), 'x\\ud800y');
    assert.equal(printable('x\udc00'), 'x\\udc00');
    assert.equal(printable('\ud83d\ude00'), '\ud83d\ude00');
  });

  it('leaves no raw unsafe character in any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        assert.doesNotMatch(printable(s), RAW_UNSAFE);
        assert.doesNotMatch(terminalSafe(s).replaceAll('\n', ''), RAW_UNSAFE);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('safeJson() and the log', () => {
  it('is valid JSON with the same value, with no raw unsafe character (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: 'binary' }), (value, text) => {
        for (const v of [value, { text }, [text, value]]) {
          const json = safeJson(v);
          assert.doesNotMatch(json, RAW_UNSAFE);
          assert.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(v)));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('escapes invisible characters in JSON too, a tag character as its two UTF-16 escapes', () => {
    const text = 'pay\u200bpal\u{e0041}\ufeff';
    assert.equal(safeJson(text), '"pay\\u200bpal\\udb40\\udc41\\ufeff"');
    assert.equal(JSON.parse(safeJson(text)), text);
  });

  it('escapes what JSON.stringify leaves raw: C1, DEL, bidi, U+2028/9', () => {
    const text = `\u009b\x7f\u202e\u2067\u2028`;
    assert.match(JSON.stringify(text), RAW_UNSAFE, 'JSON.stringify alone would print them raw');
    assert.equal(safeJson(text), '"\\u009b\\u007f\\u202e\\u2067\\u2028"');
    assert.equal(escapeJsonText(JSON.stringify({ a: text })), `{"a":${safeJson(text)}}`);
  });

  it('log lines carry C1 and bidi characters from a sender or a reply as escapes', () => {
    let written = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        written += chunk.toString('utf8');
        done();
      },
    });
    const logger = createLogger('info', sink);
    const sender = 'eve\u202egro.elpmaxe@example.org';
    const reply = '550 5.1.1 \u009b2J\u2066User unknown';
    logEvent(logger, 'info', EVENTS.verifyResult, { address: sender, reply });
    assert.doesNotMatch(written.trimEnd(), RAW_UNSAFE);
    assert.match(written, /eve\\u202egro/);
    assert.match(written, /\\u009b2J\\u2066User/);
    const line = JSON.parse(written) as { address: string; reply: string };
    assert.equal(line.address, sender);
    assert.equal(line.reply, reply);
  });
});

describe("the dashboard's printable()", () => {
  it('is the same rule as the core one, for every code point and every lone surrogate', async () => {
    const url = new URL('../../../src/frontends/http/dashboard/dom.js', import.meta.url).href;
    const dom = (await import(url)) as { printable(text: string): string };
    for (let cp = 0; cp <= 0x10ffff; cp += cp < 0x3000 ? 1 : 97) {
      const c = String.fromCodePoint(cp);
      assert.equal(dom.printable(`x${c}y`), printable(`x${c}y`), `U+${cp.toString(16)}`);
    }
    for (const c of [...UNSAFE, '\ud800', '\udfff', '\ud83d\ude00'])
      assert.equal(dom.printable(c), printable(c));
  });
});
