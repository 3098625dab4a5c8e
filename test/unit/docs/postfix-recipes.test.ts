/**
 * Every Postfix recipe in docs/postfix.md that asks cbv from smtpd_sender_restrictions puts
 * reject_unlisted_recipient before it: cbv may answer DEFER_IF_PERMIT for the sender, and Postfix
 * applies that deferral before its own implicit unknown-recipient check, so without the explicit
 * check an unknown local recipient gets 450 instead of 550 (test/interop/postfix-policy.test.ts
 * shows both through a real Postfix, with the main recipe read from the page).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const doc = readFileSync(new URL('../../../docs/postfix.md', import.meta.url), 'utf8');

/** The text of every fenced block (``` ... ```), in order. */
function fencedBlocks(): string[] {
  const blocks: string[] = [];
  let current: string[] | null = null;
  for (const line of doc.split('\n')) {
    if (line.startsWith('```')) {
      if (current) blocks.push(current.join('\n'));
      current = current ? null : [];
    } else current?.push(line);
  }
  return blocks;
}

/** Each `smtpd_*_restrictions =` followed by indented lines, in every fenced block: [name, items]. */
function restrictionLists(): [string, string[]][] {
  const lists: [string, string[]][] = [];
  for (const block of fencedBlocks()) {
    for (const m of `${block}\n`.matchAll(/^(smtpd_\w+_restrictions) =\n((?:[ \t]+\S.*\n)+)/gm))
      lists.push([
        m[1] ?? '',
        (m[2] ?? '')
          .split(/,?\n/)
          .map((item) => item.trim())
          .filter(Boolean),
      ]);
  }
  return lists;
}

describe('docs/postfix.md recipes', () => {
  it('put reject_unlisted_recipient before every check_policy_service in the sender and recipient lists', () => {
    const lists = restrictionLists().filter(([name]) => /sender|recipient/.test(name));
    assert.ok(lists.length >= 4, `found ${lists.length} restriction lists`);
    for (const [name, items] of lists) {
      const cbv = items.findIndex((item) => item.startsWith('check_policy_service'));
      if (cbv < 0) continue;
      const unlisted = items.indexOf('reject_unlisted_recipient');
      assert.ok(unlisted >= 0 && unlisted < cbv, `${name}: ${items.join(', ')}`);
    }
  });
});
