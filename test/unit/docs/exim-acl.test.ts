/**
 * docs/exim.md's RCPT ACL statements are the ones test/interop/exim-policy.test.ts runs in a real
 * Exim (test/interop/fixtures/exim-cbv-rcpt-acl.conf): the page says the fixture "holds exactly
 * these lines", and an edit to either alone would leave an administrator copying untested lines.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const read = (path: string): string => readFileSync(new URL(path, import.meta.url), 'utf8');

describe('docs/exim.md', () => {
  it('shows the RCPT ACL the Exim interop test runs, byte for byte', () => {
    const blocks = [...read('../../../docs/exim.md').matchAll(/^```\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
    const acl = blocks.filter((block) => block?.includes('${readsocket{'));
    assert.equal(acl.length, 1, 'one block with the readsocket ACL');
    assert.equal(acl[0], read('../../interop/fixtures/exim-cbv-rcpt-acl.conf'));
  });
});
