/**
 * What the documentation names exists: every `cbv ...` command and its options, every `--option`,
 * and every dotted configuration key (`verify.helo_name`) in README.md and docs/*.md, checked
 * against the CLI's own help (run as a child process) and the configuration schema's defaults;
 * and every example configuration (```yaml blocks, deploy/cbv.yaml.example) passes
 * `cbv config check`, run as a child process as an administrator would.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { defaultConfig } from '../../../src/config/load.js';
import { EVENTS } from '../../../src/observability/events.js';
import { cbv } from '../../support/cli.js';
import { REPO } from '../../support/scratch-copy.js';

const DOCS = [
  'README.md',
  ...readdirSync(join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Backticked spans with where they are, outside fenced blocks (those are checked as examples). */
function spans(): { text: string; where: string }[] {
  const out: { text: string; where: string }[] = [];
  for (const file of DOCS) {
    let fenced = false;
    readFileSync(join(REPO, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/^\s*```/.test(line)) fenced = !fenced;
        if (fenced) return;
        for (const m of line.matchAll(/`([^`]+)`/g))
          out.push({ text: m[1] ?? '', where: `${file}:${i + 1}` });
      });
  }
  return out;
}

/** Subcommands and what follows them, as the CLI knows them. */
const COMMANDS: Record<string, readonly string[]> = {
  serve: [],
  verify: [],
  cache: ['get', 'purge', 'stats'],
  stats: [],
  config: ['check', 'defaults'],
};

let help: Record<string, string>;
before(async () => {
  help = {};
  for (const command of ['', ...Object.keys(COMMANDS)]) {
    const r = await cbv(command ? [command, '--help'] : ['--help']);
    assert.equal(r.code, 0, r.stderr);
    help[command] = r.stdout;
  }
});

const optionsIn = (text: string): string[] =>
  [...text.matchAll(/(?:^|[\s[(|])(--[a-z][a-z0-9-]*)/g)].map((m) => m[1] ?? '');

describe('what the docs mention exists', () => {
  it('every `cbv ...` command, with the options written after it', () => {
    const wrong: string[] = [];
    for (const { text, where } of spans()) {
      // A command, not a message that starts with the word (`cbv did not answer (...); accept`).
      if (!/^cbv(\s|$)/.test(text) || /[;()]/.test(text)) continue;
      const words = text.split(/\s+/).slice(1);
      const [command = '', sub] = words;
      if (command === '--version' || command === '--help' || command === '') continue;
      if (!(command in COMMANDS)) {
        wrong.push(`${where}: \`${text}\`: no command '${command}'`);
        continue;
      }
      const subs = COMMANDS[command] ?? [];
      if (subs.length > 0 && sub !== undefined && !sub.startsWith('-') && /^[a-z]+(\|[a-z]+)*$/.test(sub))
        for (const s of sub.split('|'))
          if (!subs.includes(s)) wrong.push(`${where}: \`${text}\`: no '${command} ${s}'`);
      for (const option of optionsIn(text))
        if (!optionsIn(help[command] ?? '').includes(option))
          wrong.push(`${where}: \`${text}\`: '${command}' has no ${option} (not in cbv ${command} --help)`);
    }
    assert.deepEqual(wrong, []);
  });

  it('every `--option` is an option of some command', () => {
    const all = new Set(Object.values(help).flatMap(optionsIn));
    const wrong = spans()
      .filter(({ text }) => /^--[a-z][a-z0-9-]*(?:[ =].*)?$/.test(text))
      .map(({ text, where }) => ({ option: text.split(/[ =]/)[0] ?? '', where }))
      .filter(({ option }) => !all.has(option))
      .map(({ option, where }) => `${where}: ${option}`);
    assert.deepEqual(wrong, []);
  });

  it('every dotted configuration key is in the schema', () => {
    const defaults = defaultConfig() as unknown as Record<string, unknown>;
    // Dotted names cbv emits rather than reads (event codes, rule ids such as service.limit.global)
    // are written as string literals in the source; file names (spf.ini) have an extension.
    const emitted = new Set<string>([...Object.values(EVENTS), ...dottedLiterals()]);
    const wrong: string[] = [];
    for (const { text, where } of spans()) {
      const key = text.replace(/:.*$/, '').trim();
      if (!/^[a-z_]+(\.[a-z0-9_]+)+$/.test(key)) continue;
      const [section = ''] = key.split('.');
      if (!(section in defaults) || emitted.has(key) || /\.(ini|ya?ml|json|md|sqlite|conf|js|ts)$/.test(key))
        continue;
      let node: unknown = defaults;
      for (const part of key.split('.')) {
        if (node === null || typeof node !== 'object' || Array.isArray(node)) break;
        const record = node as Record<string, unknown>;
        // A map the administrator fills (service.routes: domain -> host): its keys are theirs.
        if (!(part in record) && Object.keys(record).length === 0) break;
        if (!(part in record)) {
          wrong.push(`${where}: \`${text}\`: no key '${part}' in ${key}`);
          break;
        }
        node = record[part];
      }
    }
    assert.deepEqual(wrong, []);
  });
});

/** Dotted string literals in src/ ('service.limit.global'): names cbv writes into verdicts and logs. */
function dottedLiterals(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts'))
        for (const m of readFileSync(path, 'utf8').matchAll(/['"`]([a-z_]+(?:\.[a-z0-9_-]+)+)['"`]/g))
          out.push(m[1] ?? '');
    }
  };
  walk(join(REPO, 'src'));
  return out;
}

/**
 * Every ```yaml block of the docs that is a cbv configuration, with where it starts. A block whose
 * first line names another program's file (`# prometheus.yml`) is that program's.
 */
function yamlBlocks(): { yaml: string; where: string }[] {
  const out: { yaml: string; where: string }[] = [];
  for (const file of DOCS) {
    const lines = readFileSync(join(REPO, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!/^\s*```yaml\s*$/.test(lines[i] ?? '')) continue;
      const indent = /^(\s*)/.exec(lines[i] ?? '')?.[1]?.length ?? 0;
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !/^\s*```\s*$/.test(lines[j] ?? '')) {
        body.push((lines[j] ?? '').slice(indent));
        j++;
      }
      const first = body[0] ?? '';
      if (!/^#\s*\S+\.ya?ml\b/.test(first) || /cbv/.test(first))
        out.push({ yaml: body.join('\n'), where: `${file}:${i + 1}` });
      i = j;
    }
  }
  return out;
}

describe('every example configuration passes cbv config check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cbv-doc-yaml-'));
  const blocks = yamlBlocks();

  it('the docs have example configurations to check', () =>
    assert.ok(blocks.length >= 5, String(blocks.length)));

  for (const [n, { yaml, where }] of blocks.entries())
    it(where, async () => {
      const path = join(dir, `block-${n}.yaml`);
      writeFileSync(path, yaml);
      const r = await cbv(['config', 'check', path]);
      assert.equal(r.code, 0, `${where}:\n${yaml}\n${r.stderr}`);
      assert.match(r.stdout, /: ok\n$/);
    });

  it('deploy/cbv.yaml.example', async () => {
    const r = await cbv(['config', 'check', join(REPO, 'deploy/cbv.yaml.example')]);
    assert.equal(r.code, 0, r.stderr);
  });
});
