#!/usr/bin/env node
// Runs the test suite with node:test under tsx.
//   node scripts/run-tests.mjs                 every suite (unit, contract, interop)
//   node scripts/run-tests.mjs unit contract   only those folders under test/
// Interop suites need the Debian servers that .ci/install-system-deps installs; when they are
// missing we say so and stop, rather than skipping tests and reporting green.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const suites = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const folders = suites.length > 0 ? suites : ['unit', 'contract', 'interop'];

function findTests(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return findTests(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

if (folders.includes('interop')) {
  const check = spawnSync('bash', ['.ci/install-system-deps', '--check'], { stdio: 'inherit' });
  if (check.status !== 0) {
    if (process.getuid?.() === 0) {
      // As root (CI, a fresh test machine) the suite installs the servers it drives.
      console.error('Installing the Debian packages the interop tests drive (.ci/install-system-deps)...');
      const install = spawnSync('bash', ['.ci/install-system-deps'], { stdio: 'inherit' });
      if (install.status !== 0) process.exit(install.status ?? 1);
    } else {
      console.error(
        'Interop tests need Debian packages that are not installed, and root to run their servers.\n' +
          'Install them once with:  sudo bash .ci/install-system-deps\n' +
          'then run the suite as root; or run only the hermetic suites with: npm run test:unit',
      );
      process.exit(1);
    }
  }
}

// The Haraka interop suite drives the real Haraka from npm, a development dependency of the
// plugin package in integrations/haraka (its own package, as it is published on its own).
const HARAKA_PLUGIN = join('integrations', 'haraka');
if (
  folders.includes('interop') &&
  !existsSync(join(HARAKA_PLUGIN, 'node_modules', 'Haraka', 'package.json'))
) {
  console.error(`Installing ${HARAKA_PLUGIN}'s packages (Haraka) for the interop suite: npm ci there...`);
  const install = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], {
    cwd: HARAKA_PLUGIN,
    stdio: 'inherit',
  });
  if (install.status !== 0) process.exit(install.status ?? 1);
}

const files = folders.flatMap((f) => findTests(join('test', f))).sort();
if (files.length === 0) {
  console.error(`no test files under ${folders.map((f) => `test/${f}`).join(', ')}`);
  process.exit(1);
}
const reporter = process.env.CI ? ['--test-reporter=spec'] : [];
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', ...reporter, ...files],
  { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
process.exit(result.status ?? 1);
