/**
 * docs/haraka.md's plugin install, run as written: `haraka -i` lays out a Haraka directory, then
 * the page's `cd /etc/haraka && npm install ... /opt/cbv/integrations/haraka` installs the plugin
 * from a copy of integrations/haraka as an installed /opt/cbv has it (no node_modules: the install
 * recipe runs npm in /opt/cbv alone). The plugin must then load from that Haraka directory with
 * its dependencies; a bare `npm install FOLDER` only links the folder and installs none of them,
 * and Haraka stopped with "Cannot find module 'haraka-constants'".
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { REPO } from '../support/scratch-copy.js';
import { harakaInstalled, PLUGIN_DIR } from '../support/testbed/haraka.js';

const PLUGIN_PATH = '/opt/cbv/integrations/haraka';
const HARAKA_BIN = join(PLUGIN_DIR, 'node_modules', 'Haraka', 'bin', 'haraka');

/** The `npm install ... /opt/cbv/integrations/haraka` of a page's shell blocks, without its comment. */
function pluginInstall(file: string): string {
  const text = readFileSync(join(REPO, file), 'utf8');
  const line = text
    .split('\n')
    .find((l) => /^(cd \/etc\/haraka && )?npm install .*\/opt\/cbv\/integrations\/haraka/.test(l));
  if (!line) throw new Error(`${file}: no npm install line for ${PLUGIN_PATH}`);
  return line.replace(/^cd \/etc\/haraka && /, '').replace(/\s+#.*$/, '');
}

describe("docs/haraka.md's plugin install", { timeout: 300_000 }, () => {
  const command = pluginInstall('docs/haraka.md');
  let haraka: string;

  before(() => {
    assert.ok(harakaInstalled(), `Haraka is not installed: run npm ci in ${PLUGIN_DIR} (npm test does it)`);
    const root = mkdtempSync(join(tmpdir(), 'cbv-haraka-install-'));
    // /opt/cbv/integrations/haraka as the install recipe leaves it: the tracked files only.
    const plugin = join(root, PLUGIN_PATH);
    mkdirSync(plugin, { recursive: true });
    for (const file of execFileSync('git', ['ls-files', '-z', '.'], { cwd: PLUGIN_DIR, encoding: 'utf8' })
      .split('\0')
      .filter(Boolean))
      cpSync(join(PLUGIN_DIR, file), join(plugin, file), { recursive: true });
    haraka = join(root, 'etc/haraka');
    execFileSync(process.execPath, [HARAKA_BIN, '-i', haraka], { encoding: 'utf8' });
    execFileSync('sh', ['-c', command.replace(PLUGIN_PATH, plugin)], {
      cwd: haraka,
      encoding: 'utf8',
      env: {
        ...process.env,
        npm_config_prefer_offline: 'true',
        npm_config_audit: 'false',
        npm_config_fund: 'false',
      },
    });
  });

  it('is the same command in the plugin README', () => {
    assert.equal(pluginInstall('integrations/haraka/README.md'), command);
  });

  it('leaves a plugin Haraka can load, with its dependencies', () => {
    // Haraka requires an npm plugin by its package name from its own directory.
    const out = execFileSync(
      process.execPath,
      ['-e', "const p = require('haraka-plugin-cbv'); process.stdout.write(typeof p.register);"],
      { cwd: haraka, encoding: 'utf8' },
    );
    assert.equal(out, 'function');
  });
});
