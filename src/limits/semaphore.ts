/**
 * Counting semaphores per key, with a bounded wait: a caller that cannot get a
 * slot before its deadline (or abort) is told so, never queued forever.
 */
export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
}

class Semaphore {
  active = 0;
  readonly queue: Waiter[] = [];
}

export class KeyedSemaphore {
  private readonly sems = new Map<string, Semaphore>();

  constructor(private readonly limit: number) {}

  /** Resolves with a release function, or null if no slot came free in time. */
  acquire(key: string, signal: AbortSignal): Promise<Release | null> {
    let sem = this.sems.get(key);
    if (!sem) {
      sem = new Semaphore();
      this.sems.set(key, sem);
    }
    if (sem.active < this.limit) {
      sem.active++;
      return Promise.resolve(this.releaser(key, sem));
    }
    if (signal.aborted) return Promise.resolve(null);
    const s = sem;
    return new Promise<Release | null>((resolve) => {
      const waiter: Waiter = {
        grant: (release) => {
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      const onAbort = (): void => {
        const i = s.queue.indexOf(waiter);
        if (i >= 0) s.queue.splice(i, 1);
        resolve(null);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      s.queue.push(waiter);
    });
  }

  private releaser(key: string, sem: Semaphore): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = sem.queue.shift();
      if (next) {
        next.grant(this.releaser(key, sem));
        return;
      }
      sem.active--;
      if (sem.active === 0) this.sems.delete(key);
    };
  }

  inUse(key: string): number {
    return this.sems.get(key)?.active ?? 0;
  }

  get totalInUse(): number {
    let n = 0;
    for (const s of this.sems.values()) n += s.active;
    return n;
  }
}
