/**
 * What `cbv config check` accepts, `cbv serve` starts; what it refuses, serve refuses with the
 * same line. Failures of the environment that no file check can foresee (an address in use, a
 * missing directory) stop serve with one line naming the listener or file and the cause, and an
 * exit status the systemd unit does not restart (69, 73, 78); `internal error` (70) never.
 * Every case runs both commands as child processes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cbv, type Run } from '../../support/cli.js';
import { startServeChild } from '../../support/serve-child.js';

const dir = mkdtempSync(join(tmpdir(), 'cbv-check-serve-'));
let n = 0;
/** A config file; every one keeps its data in its own scratch directory unless it says otherwise. */
function configFile(yaml: string): string {
  const path = join(dir, `c${++n}.yaml`);
  // (Not after a top-level list: the case of a file that is not a mapping must stay one.)
  const own = /^service:/m.test(yaml) || yaml.startsWith('- ');
  const data = own ? '' : `service:\n  data_dir: ${join(dir, `data${n}`)}\n`;
  writeFileSync(path, `${yaml}\n${data}`);
  return path;
}

const TOKEN = "tokens: [{ name: ops, token: 'a-token-of-sixteen-or-more' }]";
/** serve as far as it gets; the statuses the unit's RestartPreventExitStatus lists. */
const NO_RESTART = [69, 73, 78];

function lastLine(r: Run): string {
  return r.stderr.trimEnd().split('\n').at(-1) ?? '';
}

function assertNoBug(r: Run): void {
  assert.notEqual(r.code, 70, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, 'no internal error, no stack trace');
}

/** Schema-level problems: check and serve print the same one line and exit 78. */
const REFUSED: [string, string, RegExp][] = [
  ['an unknown key', 'policy:\n  modus: warn', /policy\.modus: unknown key/],
  ['a wrong type', 'verify:\n  port: twenty-five', /verify\.port: expected number/],
  ['a value outside an enum', 'policy:\n  mode: loud', /policy\.mode: got "loud", allowed/],
  ['a bad duration', 'service:\n  inline_budget: soon', /service\.inline_budget/],
  [
    'a policy port beyond 65535',
    "policy:\n  listen: ['127.0.0.1:99999']",
    /policy\.listen\.0: got "127\.0\.0\.1:99999", expected a port from 0 to 65535/,
  ],
  [
    'an http port beyond 65535',
    "http:\n  listen: ['127.0.0.1:70000']",
    /http\.listen\.0: .*a port from 0 to 65535/,
  ],
  [
    'a policy address that is no IP',
    "policy:\n  listen: ['999.0.0.1:10040']",
    /policy\.listen\.0: got "999\.0\.0\.1:10040", expected IP:port/,
  ],
  [
    'a short-form IPv4 address',
    "policy:\n  listen: ['127.1:10040']",
    /policy\.listen\.0: got "127\.1:10040", expected IP:port/,
  ],
  [
    'an http address that is no IP',
    "http:\n  listen: ['localhost:8040']",
    /http\.listen\.0: got "localhost:8040"/,
  ],
  [
    'a resolver at port 0',
    "dns:\n  servers: ['127.0.0.1:0']",
    /dns\.servers\.0: got "127\.0\.0\.1:0", expected a port from 1 to 65535/,
  ],
  [
    'a resolver that is no IP',
    "dns:\n  servers: ['300.1.1.1']",
    /dns\.servers\.0: got "300\.1\.1\.1", expected an IP address/,
  ],
  [
    'a route port beyond 65535',
    "service:\n  routes: { relay.example.org: '10.0.0.5:65536' }",
    /service\.routes\.relay\.example\.org: .*a port from 1 to 65535/,
  ],
  [
    'a bind address that is no IP',
    'verify:\n  bind_address: eth0',
    /verify\.bind_address: got "eth0", expected an IP address/,
  ],
  [
    'http on 0.0.0.0 without tokens',
    "http:\n  listen: ['0.0.0.0:8041']",
    /http\.listen\.0: got "0\.0\.0\.0:8041", expected a loopback address .*http\.tokens/,
  ],
  [
    'http on :: without tokens',
    "http:\n  listen: ['[::]:8041']",
    /http\.listen\.0: got "\[::\]:8041", expected a loopback address/,
  ],
  [
    'http on a LAN address without tokens',
    "http:\n  listen: ['192.0.2.10']",
    /http\.listen\.0: got "192\.0\.2\.10", expected a loopback address/,
  ],
  [
    'http on an IPv4-mapped LAN address without tokens',
    "http:\n  listen: ['[::ffff:10.0.0.1]:8041']",
    /http\.listen\.0: .*expected a loopback address/,
  ],
  [
    'the policy server beyond loopback',
    "policy:\n  listen: ['0.0.0.0:10040']",
    /policy\.listen\.0: got "0\.0\.0\.0:10040", expected a loopback address/,
  ],
  [
    'two listeners on one port',
    "policy:\n  listen: ['127.0.0.1:18041']\nhttp:\n  listen: ['127.0.0.1:18041']",
    /http\.listen\.0: got "127\.0\.0\.1:18041", expected an address and port no other listener uses \(policy\.listen\.0/,
  ],
  [
    'one listener twice',
    "policy:\n  listen: ['127.0.0.1:18042', '127.0.0.1:18042']",
    /policy\.listen\.1: .*no other listener uses \(policy\.listen\.0/,
  ],
  [
    'a wildcard over a loopback listener',
    `policy:\n  listen: ['127.0.0.1:18043']\nhttp:\n  listen: ['[::]:18043']\n  ${TOKEN}`,
    /http\.listen\.0: got "\[::\]:18043", expected an address and port no other listener uses/,
  ],
  [
    'the http default port taken by the policy server',
    "policy:\n  listen: ['127.0.0.1:8040']\nhttp:\n  listen: ['127.0.0.1']",
    /http\.listen\.0: got "127\.0\.0\.1", expected an address and port no other listener uses/,
  ],
  ['redis without a server', 'cache:\n  backend: redis', /redis\.url: .*needs exactly one of redis\.url/],
  [
    'a HELO address literal that holds no address',
    "verify:\n  helo_name: '[999.1.1.1]'",
    /verify\.helo_name: got "\[999\.1\.1\.1\]", expected an address literal such as \[192\.0\.2\.1\]/,
  ],
  [
    'an IPv6 literal that holds an IPv4 address',
    "verify:\n  helo_name: '[IPv6:192.0.2.1]'",
    /verify\.helo_name: got "\[IPv6:192\.0\.2\.1\]", expected an address literal/,
  ],
  // What serve could not bind or would bind uselessly, known from the file and this machine's users.
  [
    'an empty unix socket path',
    "policy:\n  unix_socket: ''",
    /policy\.unix_socket: got "", expected a file path for the socket \(not empty, not a directory\)$/m,
  ],
  [
    'a unix socket path naming a directory',
    `policy:\n  unix_socket: ${dir}/`,
    /policy\.unix_socket: got ".*\/", expected a file path for the socket/,
  ],
  [
    'a unix socket path beyond the kernel limit',
    `policy:\n  unix_socket: /run/${'s'.repeat(103)}`,
    /policy\.unix_socket: got "\/run\/s+.*expected a path of at most 107 bytes/,
  ],
  [
    'a relative unix socket path its directory makes too long',
    `policy:\n  unix_socket: ${'s'.repeat(100)}`,
    new RegExp(`policy\\.unix_socket: got "${dir}/s+", expected a path of at most 107 bytes`),
  ],
  [
    'a socket owner this machine does not have',
    `policy:\n  unix_socket: ${dir}/owner.sock\n  unix_socket_owner: no-such-user-cbv`,
    /policy\.unix_socket_owner: got "no-such-user-cbv", expected a user in \/etc\/passwd/,
  ],
  [
    'a socket group this machine does not have',
    `policy:\n  unix_socket: ${dir}/group.sock\n  unix_socket_group: no-such-group-cbv`,
    /policy\.unix_socket_group: got "no-such-group-cbv", expected a group in \/etc\/group/,
  ],
  [
    'the policy server with nothing to listen on',
    'policy:\n  listen: []',
    /policy\.listen: got \[\], expected at least one address \(or policy\.unix_socket\) while policy\.enabled is true/,
  ],
  [
    'the HTTP API with nothing to listen on',
    'http:\n  listen: []',
    /http\.listen: got \[\], expected at least one address while http\.enabled is true/,
  ],
  [
    'both front-ends disabled (a daemon that answers nobody)',
    'policy:\n  enabled: false\nhttp:\n  enabled: false',
    /policy\.enabled: got false, expected at least one front-end \(policy\.enabled or http\.enabled true\): with both false, cbv serve would answer nobody$/m,
  ],
  [
    'both front-ends disabled, with their listeners still written',
    "policy:\n  enabled: false\n  listen: ['127.0.0.1:0']\nhttp:\n  enabled: false\n  listen: ['127.0.0.1:0']",
    /policy\.enabled: got false, expected at least one front-end/,
  ],
  [
    'a token with a space (never presentable after "Bearer ")',
    "http:\n  tokens: [{ name: ops, token: 'a-token-of sixteen-or-more' }]",
    /http\.tokens\.0\.token: .*expected visible ASCII characters only/,
  ],
  [
    'a token with a control character',
    'http:\n  tokens: [{ name: ops, token: "a-token-of-sixteen\\tor-more" }]',
    /http\.tokens\.0\.token: .*expected visible ASCII characters only/,
  ],
  ['YAML that does not parse', 'policy: [\n', /not valid YAML, line/],
  ['a list at the top level', '- policy\n', /the top level must be a mapping/],
];

describe('config check and serve refuse the same files with the same line', { concurrency: 4 }, () => {
  for (const [what, yaml, pattern] of REFUSED) {
    it(what, async () => {
      const file = configFile(yaml);
      const [check, serve] = await Promise.all([
        cbv(['config', 'check', file]),
        cbv(['serve', '--config', file]),
      ]);
      assert.equal(check.code, 78, check.stderr);
      assert.match(check.stderr, pattern);
      assert.equal(check.stderr.split('\n').length, 2, 'one line');
      assert.equal(serve.code, 78, serve.stderr);
      assert.equal(serve.stderr, check.stderr, 'serve says what check said');
      assertNoBug(serve);
    });
  }

  it('a file that does not exist', async () => {
    const file = join(dir, 'missing.yaml');
    const [check, serve] = await Promise.all([
      cbv(['config', 'check', file]),
      cbv(['serve', '--config', file]),
    ]);
    assert.deepEqual([check.code, serve.code], [78, 78]);
    assert.equal(check.stderr, `cbv: ${file}: cannot read the file (ENOENT)\n`);
    assert.equal(serve.stderr, check.stderr);
  });
});

describe('what config check accepts, serve starts', { concurrency: 2 }, () => {
  const ACCEPTED: [string, string][] = [
    [
      'loopback listeners on free ports',
      "policy:\n  listen: ['127.0.0.1:0', '[::1]:0']\nhttp:\n  listen: ['127.0.0.1:0']",
    ],
    [
      'http beyond loopback with a token',
      `policy:\n  listen: ['127.0.0.1:0']\nhttp:\n  listen: ['0.0.0.0:0']\n  ${TOKEN}`,
    ],
    [
      'the policy server beyond loopback when allowed',
      "policy:\n  listen: ['0.0.0.0:0']\n  allow_network: true\nhttp:\n  enabled: false",
    ],
    [
      'a unix socket only, of a user and group this machine has, at the longest path the kernel binds',
      `policy:\n  listen: []\n  unix_socket: ${join(dir, 'u'.repeat(106 - dir.length))}\n  unix_socket_owner: root\n  unix_socket_group: '0'\nhttp:\n  enabled: false`,
    ],
    [
      'an IPv4-mapped loopback address',
      "policy:\n  listen: ['[::ffff:127.0.0.1]:0']\nhttp:\n  enabled: false",
    ],
  ];
  for (const [what, yaml] of ACCEPTED) {
    it(what, async () => {
      const file = configFile(yaml);
      const check = await cbv(['config', 'check', file]);
      assert.equal(check.code, 0, check.stderr);
      assert.equal(check.stdout, `${file}: ok\n`);
      const daemon = await startServeChild(['--config', file]);
      assert.ok(Object.values(daemon.listening).flat().length > 0);
      assert.equal(await daemon.stop(), 0);
    });
  }
});

describe('failures of the environment at start-up: one line, no restart loop', { concurrency: 2 }, () => {
  let taken: Server;
  let port: number;
  before(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    port = (taken.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => taken.close(() => resolve())));

  const cases: [string, () => string, number, () => RegExp][] = [
    [
      'the policy port is in use',
      () => `policy:\n  listen: ['127.0.0.1:${port}']\nhttp:\n  enabled: false`,
      73,
      () =>
        new RegExp(
          `^cbv: policy\\.listen 127\\.0\\.0\\.1:${port}: address already in use.* \\(EADDRINUSE\\)$`,
        ),
    ],
    [
      'the http port is in use',
      () => `policy:\n  listen: ['127.0.0.1:0']\nhttp:\n  listen: ['127.0.0.1:${port}']`,
      73,
      () =>
        new RegExp(`^cbv: http\\.listen 127\\.0\\.0\\.1:${port}: address already in use.* \\(EADDRINUSE\\)$`),
    ],
    [
      'the http address is not on this machine',
      () => `policy:\n  listen: ['127.0.0.1:0']\nhttp:\n  listen: ['192.0.2.77:0']\n  ${TOKEN}`,
      73,
      () => /^cbv: http\.listen 192\.0\.2\.77:0: .* \(EADDRNOTAVAIL\)$/,
    ],
    [
      "the unix socket's directory does not exist",
      () =>
        `policy:\n  listen: []\n  unix_socket: ${join(dir, 'no-such-dir', 'policy')}\nhttp:\n  enabled: false`,
      73,
      () =>
        new RegExp(
          `^cbv: policy\\.unix_socket ${join(dir, 'no-such-dir', 'policy')}: .* \\((ENOENT|EACCES)\\)$`,
        ),
    ],
    [
      'the data directory cannot be created',
      () => {
        writeFileSync(join(dir, 'a-file'), '');
        return `service:\n  data_dir: ${join(dir, 'a-file', 'data')}\npolicy:\n  listen: ['127.0.0.1:0']\nhttp:\n  enabled: false`;
      },
      69,
      () =>
        new RegExp(`^cbv: cache directory ${join(dir, 'a-file', 'data')}: cannot create it \\(ENOTDIR\\)$`),
    ],
  ];
  for (const [what, yaml, code, pattern] of cases) {
    it(what, async () => {
      const file = configFile(yaml());
      const check = await cbv(['config', 'check', file]);
      assert.equal(check.code, 0, `config check cannot know this: ${check.stderr}`);
      const serve = await cbv(['serve', '--config', file]);
      assert.equal(serve.code, code, serve.stderr);
      assert.ok(NO_RESTART.includes(serve.code));
      assert.match(lastLine(serve), pattern());
      assert.match(
        serve.stderr,
        /^cbv: config .* \(--config\), cache .*\n[^\n]+\n$/,
        'the config line, then one line',
      );
      assertNoBug(serve);
    });
  }
});
