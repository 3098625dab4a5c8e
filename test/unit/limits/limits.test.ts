/** The politeness building blocks, with injected clocks where time matters. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedMap } from '../../../src/limits/bounded-map.js';
import { Coalescer } from '../../../src/limits/coalescer.js';
import { FloodBreaker, type FloodEvidence } from '../../../src/limits/flood-breaker.js';
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
  const breaker = (now: () => number) =>
    new FloodBreaker({ threshold: 3, windowMs: 1000, cooldownMs: 5000, now });
  /** Each local part dispatched, then answered. */
  const answer = (f: FloodBreaker, domain: string, local: string, evidence: FloodEvidence) => {
    f.dispatched(domain, [local]);
    return f.settle(domain, local, evidence);
  };

  it('trips on distinct never-seen local parts the MX does not know, and recovers after the cooldown', () => {
    let now = 0;
    const f = breaker(() => now);
    assert.deepEqual(
      ['a', 'b'].map((l) => answer(f, 'd', l, 'unknown')),
      ['ok', 'ok'],
    );
    assert.equal(answer(f, 'd', 'c', 'unknown'), 'tripped');
    assert.equal(f.state('d'), 'tripped');
    assert.equal(f.isTripped('other'), false);
    assert.deepEqual(f.tripped(), [{ domain: 'd', untilMs: 5000, suspects: 3 }]);
    now += 5001;
    assert.equal(f.isTripped('d'), false);
  });

  it('counts repeats of one local part once', () => {
    const f = breaker(() => 0);
    for (let i = 0; i < 50; i++) assert.equal(answer(f, 'd', 'same', 'unknown'), 'ok');
    assert.equal(f.isTripped('d'), false);
    assert.deepEqual(f.tripped(), []);
  });

  it('never trips a domain whose new senders exist, however many', () => {
    const f = breaker(() => 0);
    for (let i = 0; i < 500; i++) assert.equal(answer(f, 'busy', `user${i}`, 'exists'), 'ok');
    // A few typos among them do not outnumber the senders that exist.
    for (let i = 0; i < 10; i++) assert.equal(answer(f, 'busy', `typo${i}`, 'unknown'), 'ok');
    assert.equal(f.state('busy'), 'open');
  });

  it('holds a domain while its suspects are not outnumbered, or nothing answered with many in flight', () => {
    const f = breaker(() => 0);
    f.dispatched('d', ['a', 'b']);
    assert.equal(f.state('d'), 'open');
    f.dispatched('d', ['c']);
    assert.equal(f.state('d'), 'held', 'three never-seen parts in flight, nothing known yet');
    assert.equal(f.settle('d', 'a', 'exists'), 'ok');
    assert.equal(f.state('d'), 'open', 'one that exists: a real domain');
    f.settle('d', 'b', 'unknown');
    assert.equal(f.state('d'), 'held', 'one unknown, one known: not outnumbered');
    answer(f, 'd', 'e', 'exists');
    assert.equal(f.state('d'), 'open', 'two known, one unknown');
    const g = breaker(() => 0);
    g.dispatched('g', ['a', 'b', 'c']);
    g.settle('g', 'a', 'neither');
    g.settle('g', 'b', 'neither');
    g.settle('g', 'c', 'neither');
    assert.equal(g.state('g'), 'open', 'sessions that answered nothing leave nothing in flight');
  });

  it('does not trip on unknown local parts spread beyond the window', () => {
    let now = 0;
    const f = breaker(() => now);
    for (let i = 0; i < 20; i++) {
      assert.equal(answer(f, 'd', `r${i}`, 'unknown'), 'ok');
      now += 600; // never three within a second
    }
  });

  it('keeps a tripped domain tripped while fresh evidence comes in (the trickle)', () => {
    let now = 0;
    const f = breaker(() => now);
    for (const l of ['a', 'b', 'c']) answer(f, 'd', l, 'unknown');
    now = 4000;
    for (const l of ['e', 'f', 'g']) assert.equal(answer(f, 'd', l, 'unknown'), 'ok', 'already tripped');
    now = 8000;
    assert.equal(f.isTripped('d'), true, 're-armed at 4000 for 5000 ms');
    now = 9001;
    assert.equal(f.isTripped('d'), false);
  });
});
