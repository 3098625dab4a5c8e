/**
 * TallyCounter counts per-request series in plain numbers and hands the totals to prom-client
 * when scraped: the exposition must be the one prom-client gives when every increment goes to it
 * (any label values: quotes, backslashes, newlines, non-ASCII; scraped between increments or not).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { Counter, Registry } from 'prom-client';
import { TallyCounter, actionLabel } from '../../../src/observability/metrics.js';

const value = fc.oneof(
  fc.constantFrom('deliverable', 'accepted', '', 'DUNNO'),
  fc.string({ unit: fc.constantFrom('a', '"', '\\', '\n', 'é', '😀', ' ', '{', '='), maxLength: 8 }),
);

/** The exposition's samples, in a comparable order (Prometheus gives series no order). */
async function samples(registry: Registry): Promise<string[]> {
  return (await registry.metrics()).split('\n').sort();
}

for (const labelNames of [['kind'], ['result', 'reason']] as const) {
  it(`exposes what prom-client's own counting exposes, ${labelNames.length} label(s) (property)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(value, value, fc.boolean()), { maxLength: 40 }),
        async (increments) => {
          const tallied = new Registry();
          const direct = new Registry();
          const tally = new TallyCounter(tallied, 'cbv_test_total', 'help', labelNames);
          const counter = new Counter({
            name: 'cbv_test_total',
            help: 'help',
            labelNames: [...labelNames],
            registers: [direct],
          });
          for (const [a, b, scrape] of increments) {
            if (labelNames.length === 1) {
              tally.inc(a);
              counter.inc({ kind: a });
            } else {
              tally.inc(a, b);
              counter.inc({ result: a, reason: b });
            }
            if (scrape) assert.deepEqual(await samples(tallied), await samples(direct));
          }
          assert.deepEqual(await samples(tallied), await samples(direct));
          assert.deepEqual(
            (await tallied.getMetricsAsJSON())[0]?.values.map((v) => v.value).sort(),
            (await direct.getMetricsAsJSON())[0]?.values.map((v) => v.value).sort(),
          );
        },
      ),
    );
  });
}

it('labels an action by its verb, DUNNO as the general rule does', () => {
  const general = (action: string): string =>
    (action.trim().split(/\s+/)[0] ?? '').toUpperCase().slice(0, 24) || 'NONE';
  for (const action of ['DUNNO', ' DUNNO', 'dunno', 'DUNNO ', 'REJECT 5.1.1 x', '', 'PREPEND X: y'])
    assert.equal(actionLabel(action), general(action));
});
