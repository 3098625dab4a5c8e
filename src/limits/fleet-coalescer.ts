/**
 * Coalescing across a fleet: of all the nodes that need a callout for one
 * address at the same time, one makes it and the others take its result.
 *
 *   1. SET <prefix>lock:<address> <token> NX PX lockTtl   (the holder renews it while it works)
 *   2. the holder looks once more for a result that landed meanwhile, calls out,
 *      publishes the verdict on <prefix>done and deletes its lock;
 *   3. the others wait for that message, and every `pollMs` look in the cache
 *      and at the lock: a holder that crashed stops renewing, its lock expires
 *      within lockTtl, and the next node to find it gone takes it over.
 *
 * Pub/sub is at most once, so a lost message costs a poll interval, never an
 * answer. With Redis down every node calls out alone (the local Coalescer in
 * the Verifier still joins requests within a node).
 */
import { randomBytes } from 'node:crypto';
import type { RedisLink } from '../redis/link.js';
import { decodeVerdict, encodeVerdict } from '../cache/entry-codec.js';
import type { StoredVerdict } from '../cache/verdict-cache.js';
import type { CalloutVerdict } from '../service/verifier.js';

/** What the Verifier hands the coordinator for one callout. */
export interface CalloutJob {
  /** The address; also the lock's name. */
  key: string;
  /** The callout itself (limits, engine, cache write). */
  work: () => Promise<CalloutVerdict>;
  /** A result another node stored since this job began, if any. */
  peek: () => Promise<CalloutVerdict | null>;
  /** Shutdown: stop waiting for others. */
  signal: AbortSignal;
}

/** Runs a callout once per fleet (or once per node, for the local implementation). */
export interface CalloutCoordinator {
  run(job: CalloutJob): Promise<CalloutVerdict>;
  close(): Promise<void>;
}

/** A single node: nothing to coordinate beyond the Verifier's own Coalescer. */
export class LocalCoordinator implements CalloutCoordinator {
  run(job: CalloutJob): Promise<CalloutVerdict> {
    return job.work();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

// Delete / renew the lock only while it is still ours (another node may hold it after expiry).
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/** How long a published verdict answers for a node that took the lock just after it was released. */
const RECENT_MS = 2000;

export interface FleetCoordinatorOptions {
  /** Lock lifetime in ms; the holder renews it every third of this while it works. */
  lockTtlMs: number;
  /** How often a waiting node looks in the cache and at the lock, in ms. */
  pollMs: number;
}

export class FleetCoordinator implements CalloutCoordinator {
  private readonly waiters = new Map<string, Set<(v: CalloutVerdict) => void>>();
  /** Verdicts other nodes published lately, by address (see recentlyTold). */
  private readonly recent = new Map<string, { verdict: CalloutVerdict; at: number }>();
  private readonly node = randomBytes(6).toString('base64url');
  private serial = 0;
  /** Settles once this node hears other nodes' results (false if it could not subscribe yet). */
  readonly listening: Promise<boolean>;

  constructor(
    private readonly link: RedisLink,
    private readonly options: FleetCoordinatorOptions,
  ) {
    const sub = link.subscriber();
    const channel = this.channel;
    sub.on('messageBuffer', (ch: Buffer, message: Buffer) => {
      if (ch.toString() === channel) this.delivered(message);
    });
    this.listening = link.listen(channel);
  }

  private get channel(): string {
    return `${this.link.prefix}done`;
  }

  private lockKey(key: string): string {
    return `${this.link.prefix}lock:${key}`;
  }

  private remember(key: string, verdict: CalloutVerdict): void {
    const now = Date.now();
    if (this.recent.size > 1000)
      for (const [k, r] of this.recent) if (now - r.at >= RECENT_MS) this.recent.delete(k);
    this.recent.set(key, { verdict, at: now });
  }

  private delivered(message: Buffer): void {
    let verdict: StoredVerdict;
    try {
      verdict = decodeVerdict(message);
    } catch {
      return; // from a newer version, or damaged: the poll will find the result in the cache
    }
    const { cache: _cache, ...rest } = verdict;
    const told = { ...rest, transcript: [] };
    this.remember(verdict.address, told);
    for (const resolve of this.waiters.get(verdict.address) ?? []) resolve(told);
  }

  async run(job: CalloutJob): Promise<CalloutVerdict> {
    const token = `${this.link.nodeName}:${this.node}:${++this.serial}`;
    const lockKey = this.lockKey(job.key);
    for (;;) {
      const taken = await this.link.call(
        'lock',
        (c) => c.set(lockKey, token, 'PX', this.options.lockTtlMs, 'NX'),
        'unavailable' as const,
      );
      if (taken === 'unavailable' || job.signal.aborted) return job.work();
      if (taken === 'OK') return this.hold(job, lockKey, token);
      const theirs = await this.waitForOthers(job);
      if (theirs) return theirs;
    }
  }

  /** We hold the lock: unless a result landed meanwhile, call out; then tell everyone and let go. */
  private async hold(job: CalloutJob, lockKey: string, token: string): Promise<CalloutVerdict> {
    const renew = setInterval(
      () =>
        void this.link.call('lock.renew', (c) => c.eval(RENEW, 1, lockKey, token, this.options.lockTtlMs), 0),
      Math.max(50, Math.floor(this.options.lockTtlMs / 3)),
    );
    renew.unref();
    try {
      const landed = this.recentlyTold(job.key) ?? (await job.peek());
      if (landed) return landed;
      const verdict = await job.work();
      const { transcript: _t, ...stored } = verdict;
      const message = encodeVerdict({ ...stored, cache: { hit: false, fact: null, ageSeconds: null } });
      await this.link.call('done', (c) => c.publish(this.channel, message), 0);
      return verdict;
    } finally {
      clearInterval(renew);
      await this.link.call('lock.release', (c) => c.eval(RELEASE, 1, lockKey, token), 0);
    }
  }

  /**
   * Another node holds the lock: its verdict by pub/sub, or a result in the
   * cache, or null once its lock is gone (finished without a result we saw, or
   * crashed and expired), so the caller tries to take the lock itself. The
   * node listens for the verdict the whole time, polls included.
   */
  private waitForOthers(job: CalloutJob): Promise<CalloutVerdict | null> {
    const lockKey = this.lockKey(job.key);
    return new Promise((resolve) => {
      let set = this.waiters.get(job.key);
      if (!set) {
        set = new Set();
        this.waiters.set(job.key, set);
      }
      const waiting = set;
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (v: CalloutVerdict | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        job.signal.removeEventListener('abort', onAbort);
        waiting.delete(finish);
        if (waiting.size === 0 && this.waiters.get(job.key) === waiting) this.waiters.delete(job.key);
        resolve(v);
      };
      const onAbort = (): void => finish(null);
      const poll = async (): Promise<void> => {
        const landed = await job.peek();
        if (landed) return finish(landed);
        const held = await this.link.call('lock.check', (c) => c.exists(lockKey), 0);
        if (held === 0) return finish(this.recentlyTold(job.key));
        if (!settled) timer = setTimeout(() => void poll(), this.options.pollMs);
      };
      job.signal.addEventListener('abort', onAbort, { once: true });
      waiting.add(finish);
      timer = setTimeout(() => void poll(), this.options.pollMs);
    });
  }

  /**
   * A verdict published for `key` in the last few seconds. The lock is deleted
   * after the verdict is published, but the two travel on different
   * connections: a node that finds the lock gone may get the message a moment later.
   */
  private recentlyTold(key: string): CalloutVerdict | null {
    const r = this.recent.get(key);
    return r && Date.now() - r.at < RECENT_MS ? r.verdict : null;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
