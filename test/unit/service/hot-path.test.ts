/**
 * The cache-hit hot path (issue 14): a hit in the memory tier is answered at once, without a
 * promise, by the same code that answers every other request, so it gives the same verdict and
 * is counted and observed once; SPF is waited for only when it can say something (a client IP,
 * a sender domain), so a hit without a client IP never touches SPF.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { buildService, openStores } from '../../../src/app/build.js';
import { parseConfig } from '../../../src/config/load.js';
import { entry } from '../../contract/verdict-cache.contract.js';
import { RecordingObserver } from '../../support/service.js';

const now = Date.now();
// A resolver port nothing listens on: any SPF lookup fails fast (ECONNREFUSED), never leaves loopback.
const config = parseConfig(
  {
    cache: { backend: 'memory' },
    dns: { servers: ['127.0.0.1:9'], query_timeout: 0.2, tries: 1 },
    spf: { enabled: true, timeout: 1 },
  },
  'test',
);
const stores = openStores(config);
const observer = new RecordingObserver();
const service = buildService(config, stores, observer);
after(async () => {
  await service.verifier.close(0);
  await stores.close();
});

/** Cached as deliverable a moment ago. */
async function cached(address: string): Promise<void> {
  await stores.cache.putAddress({ ...entry(address, now), expiresAt: now + 3_600_000, refreshAt: null });
}

it('answers a memory-tier hit at once, with the verdict verify() gives, observed once each', async () => {
  await cached('alice@hot.example');
  const before = observer.verdicts.length;
  const at = service.verifier.verifyNow('alice@hot.example');
  assert.ok(!(at instanceof Promise), 'no promise for a hit in memory');
  assert.equal(observer.verdicts.length, before + 1, 'observed before verifyNow returned');
  const later = await service.verifier.verify('alice@hot.example');
  assert.equal(observer.verdicts.length, before + 2);
  const { durationMs: _a, ...now1 } = at;
  const { durationMs: _b, ...now2 } = later;
  assert.deepEqual(now1, now2);
  assert.equal(at.cache.hit, true);
  assert.equal(at.reason, 'accepted');
});

it('never waits for SPF on a hit without a client IP, or from an address literal', async () => {
  await cached('bob@hot.example');
  await cached('bob@[192.0.2.1]');
  const noIp = service.decider.senderNow({ sender: 'bob@hot.example' });
  assert.ok(!(noIp instanceof Promise), 'no client IP: nothing for SPF to check');
  assert.equal(noIp.verdict?.spf, undefined);
  const literal = service.decider.senderNow({ sender: 'bob@[192.0.2.1]', clientIp: '192.0.2.7' });
  assert.ok(!(literal instanceof Promise), 'an address literal is no SPF identity');
});

it('checks SPF first when the request has a client IP and the sender a domain', async () => {
  await cached('carol@hot.example');
  const answer = service.decider.senderNow({ sender: 'carol@hot.example', clientIp: '192.0.2.7' });
  assert.ok(answer instanceof Promise, 'SPF is asked before the cache answers');
  const settled = await answer;
  const verdict = settled.verdict;
  assert.ok(verdict);
  // The resolver is unreachable: temperror, never a rejection; the cached verdict still stands.
  assert.equal(verdict.spf?.result, 'temperror');
  assert.equal(verdict.reason, 'accepted');
  assert.notEqual(settled.decision, 'reject');
});
