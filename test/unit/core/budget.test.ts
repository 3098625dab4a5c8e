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
import type { DnsResolver } from '../../../src/core/dns/resolver.js';
import { TcpConnector } from '../../../src/core/smtp/connector.js';
import { VerificationEngine, defaultRandomLocalPart } from '../../../src/core/verify.js';
import { testEngineOptions } from '../../support/engine.js';

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

/** Holds the process open while `pending` settles: the engine's own timers do not (unref), and DNS that never answers has no socket. */
async function alive<T>(pending: Promise<T>): Promise<T> {
  const keep = setInterval(() => undefined, 1000);
  try {
    return await pending;
  } finally {
    clearInterval(keep);
  }
}

/** A resolver whose every lookup is still pending when the test ends: DNS that never answers. */
const silentDns: DnsResolver = {
  resolveMx: () => new Promise(() => undefined),
  resolve4: () => new Promise(() => undefined),
  resolve6: () => new Promise(() => undefined),
};

function engineWith(dnsTimeoutMs: number, budgetMs: number): VerificationEngine {
  return new VerificationEngine(
    { ...testEngineOptions(25), dnsTimeoutMs, budgetMs },
    { resolver: silentDns, connector: new TcpConnector() },
  );
}

describe('DNS that never answers ends in a verdict, whichever deadline comes first', () => {
  // The DNS deadline is min(dns timeout, budget), so the lookups end by their own timer even when
  // the budget is the shorter; only the caller's cancel ends them sooner (issue 14: the lookups
  // listen for the caller alone).
  it('the DNS deadline: dns_error, local.timeout.dns', async () => {
    const v = await alive(engineWith(30, 60_000).verify('alice@example.org'));
    assert.deepEqual([v.reason, v.rule, v.temporary], ['dns_error', 'local.timeout.dns', true]);
  });

  it('a budget shorter than the DNS deadline: dns_error, local.timeout.dns', async () => {
    const v = await alive(engineWith(60_000, 30).verify('alice@example.org'));
    assert.deepEqual([v.reason, v.rule, v.temporary], ['dns_error', 'local.timeout.dns', true]);
  });

  it('the caller cancelling during the lookups: timeout, local.aborted, its listener removed', async () => {
    const caller = new AbortController();
    const pending = engineWith(60_000, 60_000).verify('alice@example.org', { signal: caller.signal });
    setTimeout(() => caller.abort(), 20);
    const v = await alive(pending);
    assert.deepEqual([v.reason, v.rule, v.temporary], ['timeout', 'local.aborted', true]);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
  });

  it('a caller that cancelled before asking: local.aborted at once', async () => {
    const caller = new AbortController();
    caller.abort();
    const v = await alive(engineWith(60_000, 60_000).verify('alice@example.org', { signal: caller.signal }));
    assert.equal(v.rule, 'local.aborted');
  });
});
