/**
 * Text from outside (a remote server's reply, a sender address) printed by
 * the cbv command: C1 controls (U+009B is CSI to a terminal) and bidirectional
 * overrides and isolates come out as escapes in the table, the transcript, the
 * JSON lines and `cbv cache get`, as C0 controls always did. JSON lines still
 * read back as the same text.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteCache } from '../../../src/cache/sqlite-cache.js';
import { enforcedAction, verdictHeader } from '../../../src/frontends/policy/replies.js';
import { localVerdict } from '../../../src/service/local-verdict.js';
import { entry } from '../../contract/verdict-cache.contract.js';
import { cbv } from '../../support/cli.js';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';

/** What a hostile server puts in its reply: CSI (C1), an override, an isolate, a mark, a separator. */
const HOSTILE = '\u009b2J\u009b31mUser \u202eknown\u2066 not\u2069\u200f\u061c\u2028 here';
const RAW_UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

let mx: ScriptedServer;
before(async () => {
  mx = await startScriptedServer({
    replies: {
      RCPT: (line) => [
        /<alice@/.test(line) ? '250 2.1.5 Ok\r\n' : Buffer.from(`550 5.1.1 ${HOSTILE}\r\n`, 'utf8'),
      ],
    },
  });
});
after(() => mx.close());

const flags = (): string[] => [
  '--allow-target',
  '127.0.0.0/8',
  '--port',
  String(mx.port),
  '--helo',
  'h.test',
];

describe('what the cbv command prints from outside', () => {
  it('verify --trace and the table show C1 and bidi characters of a reply as escapes', async () => {
    const r = await cbv(['verify', '--trace', ...flags(), 'nobody@[127.0.0.1]']);
    assert.equal(r.code, 1, r.stderr);
    assert.doesNotMatch(r.stdout, RAW_UNSAFE);
    // In the transcript, the whole reply line; in the table, its first 60 characters.
    assert.match(
      r.stdout,
      /S: 550 5\.1\.1 \\u009b2J\\u009b31mUser \\u202eknown\\u2066 not\\u2069\\u200f\\u061c\\u2028 here/,
    );
    assert.match(r.stdout, /nobody@\[127\.0\.0\.1\] +undeliverable +user_unknown .*550 5\.1\.1 \\u009b2J/);
  });

  it('verify prints a sender address holding an override escaped, in the table', async () => {
    const r = await cbv(['verify', ...flags(), 'eve\u202egro.elpmaxe@[127.0.0.1]']);
    assert.doesNotMatch(r.stdout, RAW_UNSAFE);
    assert.match(r.stdout, /^eve\\u202egro\.elpmaxe@\[127\.0\.0\.1\] /m);
  });

  it('verify --json escapes them too, and the line reads back as the reply itself', async () => {
    const r = await cbv(['verify', '--json', ...flags(), 'nobody@[127.0.0.1]']);
    assert.doesNotMatch(r.stdout.trimEnd(), RAW_UNSAFE);
    assert.match(r.stdout, /\\u009b2J\\u009b31mUser \\u202eknown/);
    const verdict = JSON.parse(r.stdout) as { smtp: { text: string } };
    assert.equal(verdict.smtp.text, `5.1.1 ${HOSTILE}`);
  });

  it('cache get shows a cached detail and address with escapes, as text and as JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cbv-hygiene-'));
    const db = join(dir, 'cbv.sqlite');
    const address = 'mallory\u202e@example.org';
    const cache = SqliteCache.open(db);
    const e = entry(address, Date.now(), 3_600_000, 'user_unknown');
    await cache.putAddress({ ...e, verdict: { ...e.verdict, message: `the server said ${HOSTILE}` } });
    await cache.close();
    const config = join(dir, 'cbv.yaml');
    writeFileSync(config, `cache:\n  path: ${db}\n`);

    const text = await cbv(['cache', 'get', '--config', config, address]);
    assert.equal(text.code, 0, text.stderr);
    assert.doesNotMatch(text.stdout, RAW_UNSAFE);
    assert.match(text.stdout, /^address mallory\\u202e@example\.org$/m);
    assert.match(text.stdout, /detail +the server said \\u009b2J\\u009b31mUser \\u202eknown\\u2066/);

    const json = await cbv(['cache', 'get', '--json', '--config', config, address]);
    assert.doesNotMatch(json.stdout.trimEnd(), RAW_UNSAFE);
    const found = JSON.parse(json.stdout) as { address: string; verdict: { message: string } };
    assert.equal(found.address, address);
    assert.equal(found.verdict.message, `the server said ${HOSTILE}`);
  });

  it('an error message quoting what the user typed is escaped on stderr', async () => {
    const r = await cbv(['stats', '--since', '2026-01-01\u202e\u009b']);
    assert.equal(r.code, 64);
    assert.doesNotMatch(r.stderr.trimEnd(), RAW_UNSAFE);
    assert.match(r.stderr, /got '2026-01-01\\u202e\\u009b'/);
  });
});

describe('what the policy server says back to Postfix', () => {
  // A UTF-8 local part (SMTPUTF8) may hold an override: the reply and the header show it escaped.
  const sender = 'eve\u202egro.elpmaxe@example.org';
  const verdict = localVerdict(sender, 'example.org', 'user_unknown', 'rcpt.bad-mailbox', 'no', 0);

  it('escapes a bidi override of the sender in a rejection and in the verdict header', () => {
    const action = enforcedAction(
      {
        decision: 'reject',
        role: 'sender',
        reply: { code: 550, enhanced: '5.1.7', text: 'the mailbox does not exist' },
        verdict,
        skipped: false,
        headers: [],
      },
      { wrapped: false },
    );
    assert.doesNotMatch(action, RAW_UNSAFE);
    assert.match(action, /^550 5\.1\.7 <eve\\u202egro\.elpmaxe@example\.org>: Sender address rejected: /);
    const header = verdictHeader('X-Sender-Verification', verdict, 'reject');
    assert.doesNotMatch(header, RAW_UNSAFE);
    assert.match(header, /sender=<eve\\u202egro\.elpmaxe@example\.org>$/);
  });
});
