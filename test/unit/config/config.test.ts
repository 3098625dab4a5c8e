/** Every documented configuration error path gives its one-line message. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { defaultsYaml } from '../../../src/config/defaults-yaml.js';
import { ConfigError, defaultConfig, loadConfigFile, parseConfig } from '../../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'cbv-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
function failsWith(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.message, message);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

describe('configuration', () => {
  it('has defaults for everything', () => {
    const c = defaultConfig();
    assert.equal(c.verify.port, 25);
    assert.equal(c.verify.starttls, 'opportunistic');
    assert.deepEqual(c.verify.allow_targets, []);
    assert.ok(Object.isFrozen(c.verify.timeouts));
  });

  it('prints defaults that parse back to the defaults', () => {
    assert.deepEqual(parseConfig(parse(defaultsYaml()), 'defaults'), defaultConfig());
    assert.match(defaultsYaml(), /# Use STARTTLS when offered/);
  });

  const cases: [string, string][] = [
    [
      'verify:\n  prot: 25\n',
      'unknown.yaml: verify.prot: unknown key; allowed here: helo_name, sender, null_sender_recheck, recheck_sender, port, starttls, tls_verify, catch_all_test, vrfy, max_mx_hosts, max_addresses, max_sessions, max_rcpt_per_session, address_families, allow_single_label_domains, allow_targets, bind_address, budget, timeouts, reply_limits',
    ],
    [
      'verfy: {}\n',
      'unknown.yaml: verfy: unknown key; allowed here: verify, dns, service, cache, limits, policy, spf, http, logging, redis',
    ],
    ['verify:\n  port: "twenty-five"\n', 'unknown.yaml: verify.port: expected number, got "twenty-five"'],
    ['verify:\n  port: 70000\n', 'unknown.yaml: verify.port: got 70000, must be <=65535'],
    [
      'verify:\n  starttls: sometimes\n',
      'unknown.yaml: verify.starttls: got "sometimes", allowed: "off" | "opportunistic" | "required"',
    ],
    ['verify:\n  timeouts:\n    rcpt: 0\n', 'unknown.yaml: verify.timeouts.rcpt: got 0, must be >0'],
    [
      'verify:\n  allow_targets: [10.0.0.0/40]\n',
      'unknown.yaml: verify.allow_targets.0: got "10.0.0.0/40", expected a CIDR such as 127.0.0.0/8 or 2001:db8::/32',
    ],
    [
      'dns:\n  servers: [resolver.example]\n',
      'unknown.yaml: dns.servers.0: got "resolver.example", expected an IP address with optional :port, e.g. 127.0.0.1:5353 or [::1]:53',
    ],
    [
      'verify:\n  sender: "not an address"\n',
      'unknown.yaml: verify.sender: got "not an address", expected \'\' for the null sender <>, or one address such as postmaster@example.org',
    ],
    [
      'verify:\n  port: x\n  vrfy: 3\n',
      'unknown.yaml: verify.port: expected number, got "x" (and 1 more problem(s))',
    ],
    [
      '- a\n- b\n',
      'unknown.yaml: the top level must be a mapping of sections (verify:, dns:, ...), got a list',
    ],
    [
      'verify: [\n',
      'unknown.yaml: not valid YAML, line 2: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
  ];
  for (const [yaml, message] of cases) {
    it(`reports ${JSON.stringify(yaml.split('\n')[0])}...`, () =>
      failsWith(() => loadConfigFile(file('unknown.yaml', yaml)), `${dir}/${message}`));
  }

  it('names an unreadable file', () =>
    failsWith(
      () => loadConfigFile(join(dir, 'missing.yaml')),
      `${join(dir, 'missing.yaml')}: cannot read the file (ENOENT)`,
    ));
  it('accepts an empty file as all defaults, its relative data_dir anchored at the file', () => {
    const loaded = loadConfigFile(file('empty.yaml', ''));
    assert.deepEqual({ ...loaded, service: { ...loaded.service, data_dir: 'data' } }, defaultConfig());
    assert.equal(loaded.service.data_dir, join(dir, 'data'));
  });

  it('anchors relative paths at the file, and leaves absolute ones', () => {
    const c = loadConfigFile(
      file(
        'paths.yaml',
        'service:\n  data_dir: /var/lib/cbv\ncache:\n  path: db/c.sqlite\npolicy:\n  unix_socket: ../s\n',
      ),
    );
    assert.equal(c.service.data_dir, '/var/lib/cbv');
    assert.equal(c.cache.path, join(dir, 'db/c.sqlite'));
    assert.equal(c.policy.unix_socket, join(dir, '../s'));
  });
});

describe('configuration errors never print a secret', () => {
  // Each value below is wrong, so the error names its key; the secret in it must not appear in
  // the one line that goes to stderr and the journal.
  const SECRET = 'Zq8-hunter2-secret';
  const cases: [string, unknown, RegExp][] = [
    [
      'a token too short',
      { http: { tokens: [{ name: 'ops', token: 'hunter2' }] } },
      /^x: http\.tokens\.0\.token: got a value of 7 characters \(a secret: not shown\)/,
    ],
    [
      'a token with a space',
      { http: { tokens: [{ name: 'ops', token: `${SECRET} x` }] } },
      /^x: http\.tokens\.0\.token: got a value of 20 characters/,
    ],
    [
      'a token written as a bare string',
      { http: { tokens: SECRET } },
      /^x: http\.tokens: expected array, got a value of 18 characters/,
    ],
    [
      'a token entry that is a string',
      { http: { tokens: [SECRET] } },
      /^x: http\.tokens\.0: expected object, got a value of 18 characters/,
    ],
    [
      'a Redis password of the wrong type',
      { redis: { password: [SECRET] } },
      /^x: redis\.password: expected string, got a list \(a secret: not shown\)/,
    ],
    [
      'redis.url with credentials, malformed',
      { redis: { url: `redis://cbv:${SECRET}@host name:6379` } },
      /^x: redis\.url: got "redis:\/\/\(credentials not shown\)@host name:6379"/,
    ],
    [
      'redis.url with credentials, beside a cluster',
      { cache: { backend: 'redis' }, redis: { url: `redis://:${SECRET}@h:6379`, cluster: ['h:7000'] } },
      /^x: redis\.url: got "redis:\/\/\(credentials not shown\)@h:6379"/,
    ],
  ];
  for (const [what, raw, expected] of cases)
    it(what, () => {
      assert.throws(
        () => parseConfig(raw, 'x'),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError, String(e));
          assert.match(e.message, expected);
          assert.ok(!e.message.includes('hunter2'), e.message);
          return true;
        },
      );
    });

  it('still shows what is no secret: a token name, a listen address', () => {
    failsWith(
      () => parseConfig({ http: { tokens: [{ name: 'bad name!', token: SECRET }] } }, 'x'),
      'x: http.tokens.0.name: got "bad name!", expected a short name for logs and metrics',
    );
  });
});

describe('API tokens: each secret and each name once', () => {
  const A = 'Zq8-first-secret-value';
  const B = 'Zq8-other-secret-value';
  it('refuses one secret under two names (calls would be logged under either), without printing it', () =>
    failsWith(
      () =>
        parseConfig(
          {
            http: {
              tokens: [
                { name: 'ops', token: A },
                { name: 'mon', token: B },
                { name: 'ci', token: A },
              ],
            },
          },
          'x',
        ),
      "x: http.tokens.2.token: got a value of 22 characters (a secret: not shown), expected a token of its own: it is the same as http.tokens.0's, so calls would be logged under either name",
    ));

  it('refuses one name for two secrets', () =>
    failsWith(
      () =>
        parseConfig(
          {
            http: {
              tokens: [
                { name: 'ops', token: A },
                { name: 'ops', token: B },
              ],
            },
          },
          'x',
        ),
      'x: http.tokens.1.name: got "ops", expected a name of its own: http.tokens.0 is already called that',
    ));

  it('accepts distinct names and secrets', () => {
    const c = parseConfig(
      {
        http: {
          tokens: [
            { name: 'ops', token: A },
            { name: 'mon', token: B },
          ],
        },
      },
      'x',
    );
    assert.deepEqual(
      c.http.tokens.map((t) => t.name),
      ['ops', 'mon'],
    );
  });
});
