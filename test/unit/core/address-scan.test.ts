/**
 * parseMailbox tests each part with one regular expression before it looks for the character
 * to name (issue 14's hot path): the verdict must be the one a character-by-character reading
 * of the rules gives, for any text (controls, C1, U+FFFD, lone and paired surrogates, quotes).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { parseMailbox } from '../../../src/core/index.js';

/** The rules, read one code point at a time. */
const forbidden = (cp: number): boolean =>
  cp === 0 || cp === 10 || cp === 13 || (cp >= 0xd800 && cp <= 0xdfff);
const unsendable = (cp: number): boolean => cp < 32 || (cp >= 127 && cp < 160) || cp === 0xfffd;
const points = (s: string): number[] => Array.from(s, (c) => c.codePointAt(0) ?? 0);

const unit = fc.oneof(
  fc.constantFrom('a', 'Z', '0', '.', '"', '\\', ' ', '+', '=', 'é', '日', '😀', '\u00a0'),
  fc.constantFrom('\x00', '\n', '\r', '\t', '\x1f', '\x7f', '\u0085', '\u009f', '\ufffd', '\ud800', '\udfff'),
);
const local = fc.string({ unit, maxLength: 20 });

it('refuses, flags or accepts a local part as the character-by-character rules say (property)', () => {
  fc.assert(
    fc.property(local, (lp) => {
      const r = parseMailbox(`${lp}@example.org`);
      const cps = points(lp);
      if (cps.some(forbidden)) {
        if (r.ok) assert.fail(`accepted ${JSON.stringify(lp)}`);
        assert.equal(r.kind, 'invalid');
        const bad = Array.from(`${lp}@example.org`).findIndex((c) => forbidden(c.codePointAt(0) ?? 0));
        assert.match(r.error, new RegExp(`at position ${bad + 1} is not allowed`));
      } else if (cps.some(unsendable)) {
        if (r.ok) assert.fail(`accepted ${JSON.stringify(lp)}`);
        assert.equal(r.kind, 'unverifiable', JSON.stringify(lp));
      } else if (r.ok) {
        assert.equal(r.mailbox.domain, 'example.org');
      }
    }),
    { numRuns: 2000 },
  );
});

it('refuses a domain with a character no domain holds, naming it', () => {
  for (const [domain, named] of [
    ['exa mple.org', 'space'],
    ['example.org\u0085', 'control character U+0085'],
    ['exam\ufffdple.org', 'replacement character U+FFFD'],
    ['ex,ample.org', "','"],
  ] as const) {
    const r = parseMailbox(`alice@${domain}`);
    if (r.ok) assert.fail(`accepted ${domain}`);
    assert.match(r.error, new RegExp(`^${named.replace(/[+.]/g, '\\$&')} at position \\d+`), domain);
  }
});
