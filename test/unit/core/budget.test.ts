/**
 * The verification budget (src/core/budget.ts): one signal that aborts when verify.budget_ms runs
 * out (with the TimeoutError the connection reads as "budget exceeded") or when the caller
 * cancels (with the caller's reason), and that lets go of the caller's signal and its timer once
 * released.
 */
import assert from 'node:assert/strict';
import { getEventListeners, once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Budget } from '../../../src/core/budget.js';
import { defaultRandomLocalPart } from '../../../src/core/verify.js';

describe('Budget', () => {
  it('aborts with a TimeoutError DOMException when the budget runs out', async () => {
    const budget = new Budget(5);
    // The budget's timer does not hold the process open (unref): this one does, meanwhile.
    const alive = setTimeout(() => undefined, 10_000);
    await once(budget.signal, 'abort');
    clearTimeout(alive);
    const reason: unknown = budget.signal.reason;
    assert.ok(reason instanceof DOMException);
    assert.equal(reason.name, 'TimeoutError');
  });

  it("aborts with the caller's reason when the caller cancels, and stops listening to it", () => {
    const caller = new AbortController();
    const budget = new Budget(60_000, caller.signal);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 1);
    const why = new Error('shutting down');
    caller.abort(why);
    assert.equal(budget.signal.aborted, true);
    assert.equal(budget.signal.reason, why);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
    budget.release();
  });

  it('is aborted at once when the caller has already cancelled', () => {
    const caller = new AbortController();
    caller.abort(new Error('gone'));
    const budget = new Budget(60_000, caller.signal);
    assert.equal(budget.signal.aborted, true);
    assert.equal((budget.signal.reason as Error).message, 'gone');
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
    budget.release();
  });

  it("once released, neither its timer nor the caller's cancel aborts it", async () => {
    const caller = new AbortController();
    const budget = new Budget(5, caller.signal);
    budget.release();
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
    caller.abort();
    await sleep(30);
    assert.equal(budget.signal.aborted, false);
  });
});

describe('defaultRandomLocalPart', () => {
  // Drawn from a pool of CSPRNG octets (issue 14): 16 symbols of 32 (80 bits) each, every octet
  // used once, across many refills of the 4 KiB pool.
  it('gives distinct 16-symbol local parts over many refills of its pool', () => {
    const parts = Array.from({ length: 3000 }, defaultRandomLocalPart);
    for (const part of parts) assert.match(part, /^[a-z2-7]{16}$/);
    assert.equal(new Set(parts).size, parts.length);
    assert.equal(new Set(parts.join('')).size, 32, 'every symbol of the alphabet is drawn');
  });
});
