/** The cbv command as a user runs it: a child process, real TCP to a loopback server. */
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CLOSE,
  RESET,
  STALL,
  startScriptedServer,
  type ScriptOptions,
  type ScriptedServer,
} from '../../support/scripted-smtp.js';
import { cbv } from '../../support/cli.js';

let s: ScriptedServer;
before(async () => {
  s = await startScriptedServer({
    replies: {
      RCPT: (line) => [
        /<(alice|bob)@/.test(line)
          ? '250 2.1.5 Ok\r\n'
          : '550 5.1.1 <x>: Recipient address rejected: User unknown\r\n',
      ],
    },
  });
});
after(() => s.close());

const loop = (): string[] => [
  '--allow-target',
  '127.0.0.0/8',
  '--port',
  String(s.port),
  '--helo',
  'cli.test',
];

describe('cbv verify', () => {
  it('prints a table and exits 0 when every address is deliverable', async () => {
    const r = await cbv(['verify', ...loop(), 'alice@[127.0.0.1]', 'bob@[127.0.0.1]']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ADDRESS\s+RESULT\s+REASON\s+RULE\s+MX/m);
    assert.match(r.stdout, /alice@\[127\.0\.0\.1\]\s+deliverable\s+accepted\s+rcpt\.2xx/);
  });

  it('prints one JSON verdict per line and exits 1 for an undeliverable address', async () => {
    const r = await cbv(['verify', '--json', ...loop(), 'alice@[127.0.0.1]', 'nobody@[127.0.0.1]']);
    assert.equal(r.code, 1);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((v) => v.reason),
      ['accepted', 'user_unknown'],
    );
    assert.deepEqual(lines[1]?.smtp, {
      stage: 'rcpt',
      code: 550,
      enhancedCode: '5.1.1',
      text: '5.1.1 <x>: Recipient address rejected: User unknown',
    });
    for (const key of [
      'address',
      'domain',
      'result',
      'reason',
      'temporary',
      'rule',
      'mx',
      'smtp',
      'durationMs',
    ])
      assert.ok(key in (lines[0] ?? {}), key);
  });

  it('prints the SMTP transcript with --trace, QUIT included', async () => {
    const r = await cbv(['verify', '--trace', ...loop(), 'alice@[127.0.0.1]']);
    assert.match(r.stdout, /C: EHLO cli\.test/);
    assert.match(r.stdout, /S: 250 2\.1\.5 Ok/);
    assert.match(r.stdout, /C: QUIT/);
  });

  // The kind: --trace of an address answered without an SMTP session (from the cache, by a
  // domain fact, by syntax or target safety) says why there is no transcript, instead of a
  // header over nothing; for the cache, how to get one.
  describe('--trace without an SMTP session', () => {
    const cache = (): string => join(mkdtempSync(join(tmpdir(), 'cbv-trace-')), 'cbv.sqlite');

    it('an address answered from the cache: no callout, and --no-cache calls out afresh', async () => {
      const db = cache();
      const first = await cbv(['verify', '--cache', db, ...loop(), 'nobody@[127.0.0.1]']);
      assert.equal(first.code, 1, first.stderr);
      const r = await cbv(['verify', '--trace', '--cache', db, ...loop(), 'nobody@[127.0.0.1]']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stdout,
        /^--- transcript for nobody@\[127\.0\.0\.1\]: none, answered from the cache, \d+ s old, so no callout was made \(--no-cache calls out afresh\)$/m,
      );
      const fresh = await cbv(['verify', '--trace', '--no-cache', ...loop(), 'nobody@[127.0.0.1]']);
      assert.match(fresh.stdout, /C: RCPT TO:<nobody@\[127\.0\.0\.1\]>/);
    });

    it('an address at a catch-all domain answered by the domain fact', async () => {
      const all = await startScriptedServer({ replies: { RCPT: () => ['250 2.1.5 Ok\r\n'] } });
      try {
        const db = cache();
        const flags = ['--cache', db, '--allow-target', '127.0.0.0/8', '--port', String(all.port)];
        const first = await cbv(['verify', ...flags, 'anyone@[127.0.0.1]']);
        assert.match(first.stdout, /catch_all/, first.stderr);
        const r = await cbv(['verify', '--trace', ...flags, 'someone-else@[127.0.0.1]']);
        assert.match(
          r.stdout,
          /^--- transcript for someone-else@\[127\.0\.0\.1\]: none, answered from the domain fact catch_all, \d+ s old, so no callout was made/m,
        );
      } finally {
        await all.close();
      }
    });

    it('an address refused on syntax: no SMTP session, and the reason', async () => {
      const r = await cbv(['verify', '--trace', '--no-cache', '--port', String(s.port), 'no-at-sign']);
      assert.ok(
        r.stdout.includes('--- transcript for no-at-sign: none, no SMTP session was made (invalid_syntax)\n'),
        r.stdout,
      );
    });
  });

  it('exits 3 for an unknown result (no information)', async () => {
    const r = await cbv(['verify', '--port', String(s.port), 'alice@[127.0.0.1]']);
    assert.equal(r.code, 3);
    assert.match(r.stdout, /unsafe_target/);
  });

  // The kind: a refusal by target safety must say what was refused and how to allow it, in the
  // table (which has no attempts column) as in --json, and following that advice must work.
  for (const address of ['alice@[127.0.0.1]', 'alice@[10.1.2.3]', 'alice@[IPv6:::1]', 'alice@[192.0.2.7]']) {
    it(`an unsafe target (${address}) says what was refused and how to allow it`, async () => {
      const r = await cbv(['verify', '--no-cache', '--port', String(s.port), address]);
      assert.equal(r.code, 3, r.stderr);
      const row = r.stdout.split('\n').find((l) => l.startsWith(address)) ?? '';
      assert.match(row, /unsafe_target/);
      const ip = /\[(?:IPv6:)?([^\]]+)\]/.exec(address)?.[1] ?? '';
      assert.ok(row.includes(`[${ip}] is `), row);
      assert.ok(row.includes('verify.allow_targets'), row);
      assert.ok(row.includes('--allow-target CIDR'), row);
      assert.doesNotMatch(row, /see attempts/);
      const json = await cbv(['verify', '--no-cache', '--json', '--port', String(s.port), address]);
      const v = JSON.parse(json.stdout) as { message: string; attempts: { reason: string }[] };
      assert.match(v.message, /--allow-target CIDR/);
      assert.deepEqual(
        v.attempts.map((a) => a.reason),
        ['unsafe_target'],
      );
    });
  }

  it('following the unsafe_target advice (--allow-target) reaches the server', async () => {
    const r = await cbv([
      'verify',
      '--no-cache',
      '--port',
      String(s.port),
      '--allow-target',
      '127.0.0.0/8',
      'alice@[127.0.0.1]',
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /deliverable\s+accepted/);
  });

  it('with connection facts, decides as the policy server would: the decision table on the callout', async () => {
    const r = await cbv([
      'verify',
      ...loop(),
      '--client-ip',
      '::ffff:192.0.2.7',
      'alice@[127.0.0.1]',
      'nobody@[127.0.0.1]',
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^ADDRESS\s+ACTION\s+SPF\s+RESULT\s+REASON\s+RULE\s+MS\s+REPLY \/ DETAIL$/m);
    assert.match(
      r.stdout,
      /^alice@\[127\.0\.0\.1\]\s+dunno\s+-\s+deliverable\s+accepted\s+rcpt\.2xx\s+\d+\s+250 2\.1\.5 Ok$/m,
    );
    assert.match(
      r.stdout,
      /^nobody@\[127\.0\.0\.1\]\s+reject\s+-\s+undeliverable\s+user_unknown\s+rcpt\.bad-mailbox\s+\d+\s+550 5\.1\.7 the mail server for \[127\.0\.0\.1\] says this mailbox does not exist$/m,
    );
    assert.match(r.stderr, /deciding as the policy server would/);
  });

  it('in warn mode, says that the actions are what enforce mode would do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cbv-cli-'));
    const path = join(dir, 'cbv.yaml');
    writeFileSync(path, `policy:\n  mode: warn\n`);
    const r = await cbv([
      'verify',
      '--config',
      path,
      ...loop(),
      '--client-ip',
      '192.0.2.7',
      'nobody@[127.0.0.1]',
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^nobody@\[127\.0\.0\.1\]\s+reject\s/m);
    assert.match(
      r.stderr,
      /deciding as the policy server would in enforce mode \(policy\.mode is warn: the policy server only logs these actions, as "cbv would have replied"\)$/m,
    );
    const enforce = await cbv(['verify', ...loop(), '--client-ip', '192.0.2.7', 'nobody@[127.0.0.1]']);
    assert.match(enforce.stderr, /deciding as the policy server would$/m);
  });

  it('with --sasl-user, an authenticated client: the sender is a skip, nobody is called, exit 0', async () => {
    const sessions = s.sessions.length;
    const r = await cbv(['verify', '--json', ...loop(), '--sasl-user', 'carol', 'nobody@[127.0.0.1]']);
    assert.equal(r.code, 0, r.stderr);
    const answer = JSON.parse(r.stdout) as {
      reason: string;
      rule: string;
      decision: Record<string, unknown>;
    };
    assert.deepEqual(
      [answer.reason, answer.rule, answer.decision],
      ['skipped', 'policy.skip.authenticated', { action: 'dunno', reply: null, skipped: true, headers: [] }],
    );
    assert.equal(s.sessions.length, sessions, 'no callout');
  });

  it('with a client in policy.skip_client_cidrs (from the config file): a skip, as the policy server would', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cbv-cli-'));
    const path = join(dir, 'cbv.yaml');
    writeFileSync(path, `policy:\n  skip_client_cidrs: ['192.0.2.0/24']\n`);
    const sessions = s.sessions.length;
    const r = await cbv([
      'verify',
      '--json',
      '--config',
      path,
      ...loop(),
      '--client-ip',
      '192.0.2.9',
      'nobody@[127.0.0.1]',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { rule: string }).rule, 'policy.skip.client');
    assert.equal(s.sessions.length, sessions, 'no callout');
  });

  it('takes -- to end the options', async () => {
    const r = await cbv(['verify', ...loop(), '--', '-alice@[127.0.0.1]']);
    assert.match(r.stdout, /-alice@\[127\.0\.0\.1\]/);
  });

  it('reads a config file and lets flags override it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cbv-cli-'));
    const path = join(dir, 'cbv.yaml');
    writeFileSync(path, `verify:\n  port: 1\n  allow_targets: ['127.0.0.0/8']\n  catch_all_test: false\n`);
    const r = await cbv([
      'verify',
      '--json',
      '--config',
      path,
      '--port',
      String(s.port),
      'alice@[127.0.0.1]',
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((JSON.parse(r.stdout) as { catchAllProbe: unknown }).catchAllProbe, null);
  });

  const help = " \\(try 'cbv verify --help'\\)\\n$";
  const usage: [string[], RegExp, number][] = [
    [['verify'], new RegExp(`^cbv: no address given${help}`), 64],
    [
      ['verify', '--port', 'abc', 'a@b.example'],
      new RegExp(`^cbv: --port: expected number, got "abc"${help}`),
      64,
    ],
    [
      ['verify', '--starttls', 'maybe', 'a@b.example'],
      new RegExp(`^cbv: --starttls: got "maybe", allowed: "off" \\| "opportunistic" \\| "required"${help}`),
      64,
    ],
    [
      ['verify', '--allow-target', '300.0.0.0/8', 'a@b.example'],
      /^cbv: --allow-target: got "300\.0\.0\.0\/8", expected a CIDR/,
      64,
    ],
    [
      ['verify', '--dns', 'my resolver', 'a@b.example'],
      /^cbv: --dns: got "my resolver", expected an IP address/,
      64,
    ],
    [['verify', '--timeout=-3', 'a@b.example'], new RegExp(`^cbv: --timeout: got -3, must be >0${help}`), 64],
    [
      ['verify', '--client-ip', '1.2.3', 'a@b.example'],
      new RegExp(`^cbv: --client-ip: '1\\.2\\.3' is not an IPv4 or IPv6 address${help}`),
      64,
    ],
    [['verify', '--client-helo=', 'a@b.example'], new RegExp(`^cbv: --client-helo: empty${help}`), 64],
    [['verify', '--frobnicate', 'a@b.example'], new RegExp(`^cbv: unknown option '--frobnicate'${help}`), 64],
    [
      ['verify', '--config', '/nonexistent/cbv.yaml', 'a@b.example'],
      /^cbv: \/nonexistent\/cbv\.yaml: cannot read the file \(ENOENT\)\n$/,
      78,
    ],
    [
      ['verify', '--timeout', '-3', 'a@b.example'],
      new RegExp(
        `^cbv: option '--timeout' needs a value; for one starting with '-', write --timeout=-VALUE${help}`,
      ),
      64,
    ],
    [
      ['verify', '--cache', 'x.sqlite', '--no-cache', 'a@b.example'],
      /^cbv: --cache and --no-cache exclude each other/,
      64,
    ],
    [['frobnicate'], /^cbv: unknown command 'frobnicate' \(try 'cbv --help'\)\n$/, 64],
  ];
  for (const [args, pattern, code] of usage) {
    it(`explains ${args.join(' ')} in one line (exit ${code})`, async () => {
      const r = await cbv(args);
      assert.equal(r.code, code);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    });
  }
});

describe('cbv config', () => {
  it('prints the defaults and checks a file', async () => {
    const d = await cbv(['config', 'defaults']);
    assert.equal(d.code, 0);
    assert.match(d.stdout, /^verify:$/m);
    const dir = mkdtempSync(join(tmpdir(), 'cbv-cli-'));
    writeFileSync(join(dir, 'good.yaml'), d.stdout);
    writeFileSync(join(dir, 'bad.yaml'), 'verify:\n  port: -1\n');
    assert.equal((await cbv(['config', 'check', join(dir, 'good.yaml')])).code, 0);
    const bad = await cbv(['config', 'check', join(dir, 'bad.yaml')]);
    assert.equal(bad.code, 78);
    assert.equal(bad.stderr, `cbv: ${join(dir, 'bad.yaml')}: verify.port: got -1, must be >=1\n`);
    const viaEnv = await cbv(['config', 'check'], { CBV_CONFIG: join(dir, 'bad.yaml') });
    assert.equal(viaEnv.code, 78);
    assert.equal(
      viaEnv.stderr,
      `cbv: ${join(dir, 'bad.yaml')} (from CBV_CONFIG): verify.port: got -1, must be >=1\n`,
    );
  });
});

/**
 * Every path through the dialogue settles, and the CLI prints a verdict for
 * every address (issue 9, item 7). The reported bug: after a STARTTLS 220 and a
 * hang-up, the plain-text retry answered, but `cbv verify --trace` printed
 * nothing and exited 0.
 */
describe('cbv verify always prints a verdict, whatever the server does', () => {
  const servers: ScriptedServer[] = [];
  after(async () => {
    await Promise.all(servers.map((x) => x.close()));
  });
  const TLS_EHLO = ['250-mx.test\r\n', '250-PIPELINING\r\n', '250 STARTTLS\r\n'];
  const KNOWN: ScriptOptions['replies'] = {
    RCPT: (line) => [line.includes('<alice@') ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'],
  };
  async function run(script: ScriptOptions, extra: string[] = []) {
    const server = await startScriptedServer(script);
    servers.push(server);
    const dir = mkdtempSync(join(tmpdir(), 'cbv-cli-'));
    const config = join(dir, 'cbv.yaml');
    // Short deadlines, so that stalls end quickly.
    writeFileSync(
      config,
      'verify:\n  timeouts: { greeting: 2, ehlo: 2, starttls: 2, mail: 2, rcpt: 2, quit: 1 }\n',
    );
    return cbv([
      'verify',
      '--config',
      config,
      '--allow-target',
      '127.0.0.0/8',
      '--port',
      String(server.port),
      '--helo',
      'cli.test',
      ...extra,
      'alice@[127.0.0.1]',
    ]);
  }

  const tlsHangups: [string, ScriptOptions['replies']][] = [
    [
      '220 Ready to start TLS, then close (issue example)',
      { STARTTLS: ['220 2.0.0 Ready to start TLS\r\n', CLOSE] },
    ],
    ['220 Ready to start TLS, then reset', { STARTTLS: ['220 2.0.0 Ready to start TLS\r\n', RESET] }],
    ['220, then no handshake at all', { STARTTLS: ['220 2.0.0 Ready to start TLS\r\n', STALL] }],
    [
      '220, then bytes that are not TLS',
      { STARTTLS: ['220 go ahead\r\n', { delay: 50 }, 'garbage\r\n', CLOSE] },
    ],
  ];
  for (const [name, replies] of tlsHangups) {
    it(`--trace: ${name}: the plain-text retry's verdict is printed, exit 0`, async () => {
      const r = await run({ replies: { EHLO: TLS_EHLO, ...KNOWN, ...replies } }, ['--trace']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /alice@\[127\.0\.0\.1\]\s+deliverable\s+accepted/);
      assert.match(r.stdout, /C: STARTTLS/);
      assert.match(r.stdout, /S: 250 2\.1\.5 Ok/);
    });
  }

  it('--json: the same, as one JSON line', async () => {
    const r = await run({ replies: { EHLO: TLS_EHLO, ...KNOWN, ...tlsHangups[0]?.[1] } }, ['--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { reason: string }).reason, 'accepted');
  });

  const hangups: [string, ScriptOptions, number, RegExp][] = [
    ['close instead of a greeting', { greeting: [CLOSE] }, 3, /unknown \(temp\)\s+connection_failed/],
    ['reset after EHLO', { replies: { EHLO: [RESET] } }, 3, /unknown \(temp\)\s+connection_failed/],
    ['close after MAIL', { replies: { MAIL: [CLOSE] } }, 3, /unknown \(temp\)\s+connection_failed/],
    // Pipelined, RSET's or QUIT's reply proves the replies in step: without either, no answer.
    [
      'no answer to RSET or QUIT',
      { replies: { ...KNOWN, RSET: [STALL], QUIT: [STALL] } },
      3,
      /unknown \(temp\)\s+timeout/,
    ],
    [
      'no answer to RSET or QUIT, without PIPELINING',
      { replies: { ...KNOWN, EHLO: ['250 mx.test\r\n'], RSET: [STALL], QUIT: [STALL] } },
      0,
      /deliverable\s+accepted/,
    ],
    [
      'close instead of answering QUIT',
      { replies: { ...KNOWN, QUIT: [CLOSE] } },
      0,
      /deliverable\s+accepted/,
    ],
  ];
  for (const [name, script, code, row] of hangups) {
    it(`--trace: ${name}: a verdict is printed, exit ${code}`, async () => {
      const r = await run(script, ['--trace']);
      assert.equal(r.code, code, r.stdout + r.stderr);
      assert.match(r.stdout, row);
    });
  }
});
