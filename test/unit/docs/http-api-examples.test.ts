/**
 * Every `curl` line of docs/http-api.md, run by sh as written, with `$CBV` and `$AUTH` set as the
 * page sets them (its first shell block), against a daemon that requires a token. The page's
 * `$AUTH` was once `-H "Authorization: Bearer $TOKEN"`, which the shell splits at its spaces and
 * quotes into curl's arguments: every example then got 401.
 *
 * Nothing leaves loopback: the example domains are routed (service.routes) to a scripted SMTP
 * server on 127.0.0.1, and DNS (SPF, with client_ip) goes to a loopback port where nothing answers.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../../support/daemon.js';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';

const TOKEN = 'docs-example-token-0123456789';
const doc = readFileSync(new URL('../../../docs/http-api.md', import.meta.url), 'utf8');

/** The page's ```sh blocks, continuation lines joined. */
const shellBlocks = [...doc.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) =>
  (m[1] ?? '').replace(/\\\n\s*/g, ''),
);
/** The block that sets CBV and AUTH, as the page gives it. */
const setup = shellBlocks.find((block) => /^CBV=/m.test(block) && /^AUTH=/m.test(block)) ?? '';
const curls = shellBlocks.flatMap((block) => block.split('\n').filter((line) => line.startsWith('curl ')));

/** Runs one line in sh after the page's setup, pointed at this daemon; the body and the status. */
function run(base: string, line: string): Promise<{ status: number; body: string; stderr: string }> {
  const script = `${setup.replace('http://127.0.0.1:8040', base)}\n${line.replace(/\s+#.*$/, '')} -w '\\n%{http_code}'`;
  return new Promise((resolve) => {
    execFile(
      'sh',
      ['-c', script],
      { env: { ...process.env, TOKEN }, timeout: 30_000 },
      (_error, stdout, stderr) => {
        const at = stdout.lastIndexOf('\n');
        resolve({ status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at), stderr });
      },
    );
  });
}

let smtp: ScriptedServer;
let cbv: TestDaemon;
let base: string;
before(async () => {
  smtp = await startScriptedServer({
    replies: {
      RCPT: (line) => [/<alice@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'],
    },
  });
  const route = `127.0.0.1:${smtp.port}`;
  cbv = await startTestDaemon({
    dns: { servers: ['127.0.0.1:9'], query_timeout: 1, tries: 1 },
    service: { routes: { 'example.org': route, 'example.net': route, 'example.com': route } },
    http: { enabled: true, listen: ['127.0.0.1:0'], tokens: [{ name: 'docs', token: TOKEN }] },
  });
  base = `http://${cbv.listening.http?.[0] ?? ''}`;
});
after(async () => {
  await cbv.stop('test');
  await smtp.close();
});

describe('docs/http-api.md examples, run as written', () => {
  it('sets $CBV and $AUTH in a shell block, and has curl lines', () => {
    assert.match(setup, /^CBV=http:\/\/127\.0\.0\.1:8040$/m);
    assert.ok(curls.length >= 10, `${curls.length} curl lines`);
  });

  it('every curl line is answered, none refused for the token or the request', async () => {
    const wrong: string[] = [];
    for (const line of curls) {
      const r = await run(base, line);
      // A lookup of something that is not there (a decision id, an uncached entry) is a 404
      // not_found; anything else is a 2xx.
      const ok = (r.status >= 200 && r.status < 300) || (r.status === 404 && r.body.includes('"not_found"'));
      if (!ok) wrong.push(`${line}\n  -> ${r.status} ${r.body.slice(0, 200)} ${r.stderr}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('the verification examples verify (at the loopback routes), with the token', async () => {
    const line = curls.find((l) => l.includes('/v1/verify?address=alice@example.org"')) ?? '';
    const r = await run(base, line);
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /"result":"deliverable"/);
  });
});
