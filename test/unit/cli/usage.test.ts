/**
 * Every subcommand words its usage errors alike (one line, lower case, a pointer to its help,
 * exit 64), answers --help on stdout, and `cbv --version` prints the package's version.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { cbv } from '../../support/cli.js';

/** Each subcommand as a user would type it correctly, and the help it points to. */
const COMMANDS: { args: string[]; help: string }[] = [
  { args: ['serve'], help: 'cbv serve --help' },
  { args: ['verify', 'alice@example.org'], help: 'cbv verify --help' },
  { args: ['cache', 'get', 'alice@example.org'], help: 'cbv cache --help' },
  { args: ['cache', 'purge', 'example.org'], help: 'cbv cache --help' },
  { args: ['cache', 'stats'], help: 'cbv cache --help' },
  { args: ['stats'], help: 'cbv stats --help' },
  { args: ['config', 'check', 'cbv.yaml'], help: 'cbv config --help' },
  { args: ['config', 'defaults'], help: 'cbv config --help' },
  { args: [], help: 'cbv --help' },
];

function expectUsage(r: { code: number; stdout: string; stderr: string }, line: string): void {
  assert.equal(r.stderr, `cbv: ${line}\n`);
  assert.equal(r.code, 64);
  assert.equal(r.stdout, '');
}

describe('usage errors read alike in every subcommand', () => {
  for (const { args, help } of COMMANDS) {
    it(`cbv ${[...args, '--frobnicate'].join(' ')}`, async () => {
      expectUsage(await cbv([...args, '--frobnicate']), `unknown option '--frobnicate' (try '${help}')`);
    });
  }

  // Other members of the kind: a short option, an option with a value, an option before the
  // subcommand's words, a near miss of a real option.
  for (const { args, help } of COMMANDS) {
    for (const bad of ['-Z', '--frobnicate=1', '--jsn', '--Config']) {
      it(`cbv ${bad} ${args.join(' ')}`, async () => {
        const [first, ...more] = args;
        const argv = first === undefined ? [bad] : [first, bad, ...more];
        const name = bad.split('=')[0] ?? bad;
        expectUsage(await cbv(argv), `unknown option '${name}' (try '${help}')`);
      });
    }
  }

  for (const extra of ['--frobnicate', 'now']) {
    for (const first of ['--version', '--help', '-h']) {
      it(`cbv ${first} ${extra}`, async () => {
        const what = extra.startsWith('-') ? 'unknown option' : 'unexpected argument';
        expectUsage(await cbv([first, extra]), `${what} '${extra}' (try 'cbv --help')`);
      });
    }
  }

  for (const args of [['serve'], ['stats'], ['cache', 'stats'], ['verify', 'a@example.org']]) {
    it(`cbv ${args.join(' ')} --config (no value)`, async () => {
      const help = `cbv ${args[0] ?? ''} --help`;
      const argv = args[0] === 'verify' ? ['verify', 'a@example.org', '--config'] : [...args, '--config'];
      expectUsage(await cbv(argv), `option '--config' needs a value (try '${help}')`);
    });
  }

  // Every command that reads the configuration names its file the same way: `--config FILE`
  // (config check also takes it as its one argument), and finds the same file.
  for (const args of [
    ['serve'],
    ['stats'],
    ['cache', 'stats'],
    ['cache', 'get', 'a@example.org'],
    ['cache', 'purge', 'example.org'],
    ['verify', 'a@example.org'],
    ['config', 'check'],
  ]) {
    it(`cbv ${args.join(' ')} --config FILE reads FILE`, async () => {
      const file = '/nonexistent-cbv-dir/cbv.yaml';
      const r = await cbv([...args, '--config', file]);
      assert.equal(r.code, 78, r.stderr);
      assert.match(r.stderr, /^cbv: \/nonexistent-cbv-dir\/cbv\.yaml: cannot read the file \(ENOENT\)$/m);
    });
  }

  it('config check with both FILE and --config FILE', async () =>
    expectUsage(
      await cbv(['config', 'check', 'a.yaml', '--config', 'b.yaml']),
      `two files to check: give FILE or --config FILE, not both (try 'cbv config --help')`,
    ));

  it('a value given to a flag that takes none', async () =>
    expectUsage(
      await cbv(['stats', '--json=yes']),
      `option '--json' takes no value (try 'cbv stats --help')`,
    ));

  it('an argument a command does not take', async () =>
    expectUsage(await cbv(['serve', 'now']), `unexpected argument 'now' (try 'cbv serve --help')`));

  it('an unknown command', async () =>
    expectUsage(await cbv(['frobnicate']), `unknown command 'frobnicate' (try 'cbv --help')`));
});

describe('help and version', () => {
  for (const args of [
    ['--help'],
    ['serve', '--help'],
    ['verify', '--help'],
    ['cache', '--help'],
    ['stats', '-h'],
    ['config', '--help'],
  ]) {
    it(`cbv ${args.join(' ')} prints its usage on stdout, exit 0`, async () => {
      const r = await cbv(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^usage: cbv /);
      assert.equal(r.stderr, '');
    });
  }

  it('cbv --version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const r = await cbv(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `cbv ${version}\n`);
  });
});
