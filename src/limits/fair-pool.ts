/**
 * The global pool of SMTP sessions, shared fairly between destinations.
 *
 * A slot is taken only by a session about to connect, after its destination's
 * own limits let it (CalloutLimits.gate), so nobody holds a slot while queued
 * behind a slow destination. When the pool is full, a freed slot goes to the
 * waiting destination (an MX address) that holds the fewest slots, the longest
 * waiting first among equals: a destination with many sessions open cannot
 * queue ahead of one with none.
 */
import type { Release } from './semaphore.js';

interface Waiter {
  key: string;
  grant: (release: Release) => void;
}

export class FairPool {
  private inUse = 0;
  private readonly held = new Map<string, number>();
  private readonly waiting: Waiter[] = [];

  constructor(private readonly size: number) {}

  /** Resolves with a release function, or null when the signal aborts first. */
  acquire(key: string, signal: AbortSignal): Promise<Release | null> {
    if (this.inUse < this.size && this.waiting.length === 0) return Promise.resolve(this.take(key));
    if (signal.aborted) return Promise.resolve(null);
    return new Promise<Release | null>((resolve) => {
      const waiter: Waiter = {
        key,
        grant: (release) => {
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve(null);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Slots in use now, all destinations together. */
  get total(): number {
    return this.inUse;
  }

  /** Slots one destination holds now. */
  heldBy(key: string): number {
    return this.held.get(key) ?? 0;
  }

  private take(key: string): Release {
    this.inUse++;
    this.held.set(key, this.heldBy(key) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
      const left = this.heldBy(key) - 1;
      if (left > 0) this.held.set(key, left);
      else this.held.delete(key);
      this.grantNext();
    };
  }

  private grantNext(): void {
    if (this.inUse >= this.size || this.waiting.length === 0) return;
    let best = 0;
    for (let i = 1; i < this.waiting.length; i++) {
      const w = this.waiting[i];
      const b = this.waiting[best];
      if (w && b && this.heldBy(w.key) < this.heldBy(b.key)) best = i;
    }
    const [next] = this.waiting.splice(best, 1);
    next?.grant(this.take(next.key));
  }
}
