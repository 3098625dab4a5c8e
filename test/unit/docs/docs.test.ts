/** The reference docs match the code they describe. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { EVENTS } from '../../../src/observability/events.js';
import { generatedDocs } from '../../../scripts/gen-docs.js';
import { ENGINE_REASONS } from '../../../src/core/index.js';
import { defaultConfig } from '../../../src/config/load.js';
import { SERVICE_REASONS_EXTRA } from '../../../src/service/verdict.js';

const read = (path: string): string => readFileSync(path, 'utf8');

describe('generated docs are up to date (run `npm run docs`)', () => {
  for (const path of ['docs/verdicts.md', 'docs/classification.md', 'docs/config.md']) {
    it(path, async () => assert.equal(read(path), (await generatedDocs())[path]));
  }
});

describe('hand-written docs name everything', () => {
  it('docs/events.md lists every event code', () => {
    const doc = read('docs/events.md');
    const missing = Object.values(EVENTS).filter((code) => !doc.includes(`\`${code}\``));
    assert.deepEqual(missing, []);
  });

  it('the policy decision table has a default for every reason', () => {
    const reasons = [...ENGINE_REASONS, ...SERVICE_REASONS_EXTRA].sort();
    assert.deepEqual(Object.keys(defaultConfig().policy.decisions).sort(), reasons);
  });
});
