/**
 * One install recipe: every place that tells an administrator how to install cbv in /opt/cbv
 * (docs, the systemd unit's comment, the README) gives the commands docs/postfix.md gives, which
 * test/interop/install-recipe.test.ts runs. A recipe that differs (`npm ci --omit=dev && npm run
 * build`, which has no TypeScript to build with) fails here.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { INSTALL_DIR_PREFIX, installRecipe } from '../../support/install-recipe.js';
import { REPO } from '../../support/scratch-copy.js';

/** Tracked documentation and deployment files an administrator reads. */
function readerFiles(): string[] {
  return execFileSync(
    'git',
    ['ls-files', '-z', 'README.md', 'docs', 'deploy', 'integrations/haraka/README.md'],
    {
      cwd: REPO,
      encoding: 'utf8',
    },
  )
    .split('\0')
    .filter((f) => f !== '' && !f.endsWith('.json'));
}

describe('the install recipe', () => {
  const recipe = installRecipe();

  it('builds with the development packages and removes them after', () => {
    const steps = recipe.split(/\s*&&\s*/);
    assert.deepEqual(steps.slice(0, 2), ['npm ci', 'npm run build'], recipe);
    assert.ok(!/npm ci --omit|--production/.test(steps[0] ?? ''), recipe);
  });

  it('is the same wherever an install in /opt/cbv is described', () => {
    const places: string[] = [];
    for (const file of readerFiles()) {
      readFileSync(join(REPO, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const at = line.indexOf(INSTALL_DIR_PREFIX);
          if (at >= 0 && /npm /.test(line)) {
            places.push(`${file}:${i + 1}`);
            const commands = line.slice(at + INSTALL_DIR_PREFIX.length).replace(/\s+#.*$/, '');
            assert.equal(commands, recipe, `${file}:${i + 1}`);
          }
          // Any other install line that builds without the development packages.
          assert.doesNotMatch(line, /npm ci --omit=dev|npm ci --production/, `${file}:${i + 1}`);
        });
    }
    for (const must of ['docs/postfix.md', 'deploy/cbv.service', 'docs/haraka.md'])
      assert.ok(
        places.some((p) => p.startsWith(`${must}:`)),
        `${must} gives the recipe (${places.join(', ')})`,
      );
  });
});
