/** The politeness building blocks, with injected clocks where time matters. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedMap } from '../../../src/limits/bounded-map.js';
import { Coalescer } from '../../../src/limits/coalescer.js';
import { FloodBreaker } from '../../../src/limits/flood-breaker.js';
import { KeyedSemaphore } from '../../../src/limits/semaphore.js';
import { TokenBuckets } from '../../../src/limits/token-bucket.js';

describe('BoundedMap', () => {
  it('keeps at most twice its bound and evicts the least recently used generation', () => {
    const m = new BoundedMap<number, number>(100);
    for (let i = 0; i < 1000; i++) m.set(i, i);
    assert.ok(m.size <= 200 && m.size >= 100, `size ${m.size}`);
    assert.equal(m.get(999), 999);
    assert.equal(m.get(0), undefined);
  });

  it('promotes what is read, so it survives the next eviction', () => {
    const m = new BoundedMap<string, number>(3);
    m.set('a', 1);
    m.set('b', 2);
    m.set('c', 3); // young full: a, b, c become old
    assert.equal(m.get('a'), 1); // promoted back to young
    m.set('d', 4);
    m.set('e', 5); // young full again (a, d, e): b and c are dropped
    assert.equal(m.get('a'), 1);
    assert.equal(m.get('b'), undefined);
    assert.equal(m.has('e'), true);
  });

  it('deletes from both generations', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    assert.equal(m.delete('a'), true);
    assert.equal(m.get('a'), undefined);
    assert.equal(m.delete('a'), false);
  });
});

describe('TokenBuckets', () => {
  it('allows a burst, then the rate', () => {
    let now = 0;
    const b = new TokenBuckets({ rate: 2, burst: 3, now: () => now });
    assert.deepEqual(
      [1, 2, 3, 4].map(() => b.tryTake('d')),
      [true, true, true, false],
    );
    assert.equal(b.waitMs('d'), 500);
    now += 500;
    assert.equal(b.tryTake('d'), true);
    assert.equal(b.tryTake('other'), true, 'keys are independent');
  });
});

describe('KeyedSemaphore', () => {
  it('admits up to the limit per key and hands slots on in order', async () => {
    const s = new KeyedSemaphore(2);
    const never = new AbortController().signal;
    const a = await s.acquire('k', never);
    const b = await s.acquire('k', never);
    assert.ok(a && b);
    let third = false;
    const waiting = s.acquire('k', never).then((r) => {
      third = r !== null;
      return r;
    });
    await Promise.resolve();
    assert.equal(third, false);
    a();
    const c = await waiting;
    assert.ok(c);
    assert.equal(s.inUse('k'), 2);
    b();
    c();
    assert.equal(s.inUse('k'), 0);
  });

  it('gives up when the signal aborts', async () => {
    const s = new KeyedSemaphore(1);
    const hold = await s.acquire('k', new AbortController().signal);
    assert.ok(hold);
    // A referenced timer: AbortSignal.timeout's is unref'd and would let the test's event loop end first.
    const giveUp = new AbortController();
    setTimeout(() => giveUp.abort(), 20);
    assert.equal(await s.acquire('k', giveUp.signal), null);
  });
});

describe('Coalescer', () => {
  it('runs identical work once', async () => {
    const c = new Coalescer<number>();
    let runs = 0;
    const work = async (): Promise<number> => {
      runs++;
      await new Promise((r) => setTimeout(r, 10));
      return 42;
    };
    const results = await Promise.all(Array.from({ length: 10 }, () => c.run('k', work).promise));
    assert.deepEqual(results, Array(10).fill(42));
    assert.equal(runs, 1);
    assert.equal(c.size, 0);
  });
});

describe('FloodBreaker', () => {
  it('trips after the threshold within the window, and recovers after the cooldown', () => {
    let now = 0;
    const f = new FloodBreaker({ threshold: 3, windowMs: 1000, cooldownMs: 5000, now: () => now });
    assert.deepEqual(
      [1, 2, 3].map(() => f.recordNewAddress('d')),
      ['ok', 'ok', 'ok'],
    );
    assert.equal(f.recordNewAddress('d'), 'tripped');
    assert.equal(f.recordNewAddress('d'), 'open');
    assert.equal(f.isTripped('d'), true);
    assert.equal(f.recordNewAddress('other'), 'ok');
    now += 5001;
    assert.equal(f.isTripped('d'), false);
    assert.equal(f.recordNewAddress('d'), 'ok');
  });

  it('does not trip on new addresses spread beyond the window', () => {
    let now = 0;
    const f = new FloodBreaker({ threshold: 3, windowMs: 1000, cooldownMs: 5000, now: () => now });
    for (let i = 0; i < 20; i++) {
      assert.equal(f.recordNewAddress('d'), 'ok');
      now += 400;
    }
  });
});
