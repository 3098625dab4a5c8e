/**
 * Every package `npm ci` installs runs on every Node cbv supports (package.json `engines.node`):
 * the lowest such version and the one running this test. A package that needs a newer Node makes
 * `npm ci` warn EBADENGINE, and may use what Node 20 lacks; when a dependency of a dependency
 * moves its floor, pin a version that still runs here (package.json `overrides`).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import semver from 'semver';

interface LockedPackage {
  version?: string;
  engines?: { node?: string } | string[];
  optional?: boolean;
}

const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
  packages: Record<string, LockedPackage>;
};

describe('engines', () => {
  const floor = semver.minVersion(manifest.engines.node)?.version ?? '';

  it(`package.json names a lowest supported Node (${floor}) that this Node satisfies`, () => {
    assert.ok(floor, manifest.engines.node);
    assert.ok(semver.satisfies(process.version, manifest.engines.node), process.version);
  });

  it('every locked package accepts that Node and this one', () => {
    const refused: string[] = [];
    for (const [path, pkg] of Object.entries(lock.packages)) {
      if (path === '' || Array.isArray(pkg.engines)) continue;
      const range = pkg.engines?.node;
      if (range === undefined) continue;
      for (const node of [floor, process.version])
        if (!semver.satisfies(node, range))
          refused.push(
            `${path.replace(/^.*node_modules\//, '')}@${pkg.version ?? '?'} needs node ${range}, not ${node}`,
          );
    }
    assert.deepEqual(refused, []);
  });
});
