/**
 * Politeness counted across the fleet: what CalloutLimits enforces per node
 * (per-domain and per-MX concurrency and rates, the flood breaker) enforced
 * once more against counters in Redis that every node shares, so a fleet of
 * N nodes presses a remote domain no harder than one node may.
 *
 * - Concurrency: a semaphore with leases, a sorted set per key of holders
 *   scored by lease expiry (a small Lua script; no library does leased
 *   semaphores). A holder renews its lease while its callout runs; a crashed
 *   node's slots free themselves when their leases lapse. Waiting is a
 *   bounded poll, within the caller's signal.
 * - Rates: rate-limiter-flexible's RateLimiterRedis (fixed windows: `burst`
 *   callouts per `burst / rate` seconds).
 * - The flood breaker: distinct never-seen addresses per key (a site, or an MX
 *   address `mx:<ip>`) in a sliding window, one sorted set scored by time for
 *   each kind of evidence (unknown, silent, exists; another small Lua script: a
 *   rate limiter counts requests, and a hundred requests for one address are
 *   one address, not a flood); the same rule as the node's FloodBreaker trips
 *   the key fleet-wide for the cooldown, and a confirmed address lifts it as
 *   it lifts the node's (silence alone, or witnesses outnumbering the rest). A tripped MX address's one
 *   session per trickle interval is a key set with NX and an expiry.
 *
 * Whenever Redis is down or slow, every method answers 'local': the node's
 * own limits (which always run first) are then the only ones.
 */
import { randomBytes } from 'node:crypto';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RedisLink } from '../redis/link.js';
import type { Release } from './semaphore.js';

/** Which budget: one per sender domain, one per MX address. */
export type FleetScope = 'domain' | 'mx';

export interface FleetLimitOptions {
  domainConcurrency: number;
  domainRate: number;
  domainBurst: number;
  mxConcurrency: number;
  mxRate: number;
  mxBurst: number;
  flood: { threshold: number; windowMs: number; cooldownMs: number };
  /** Lease of a concurrency slot in ms; renewed every third of it while held. */
  leaseMs: number;
  /** How often a caller waiting for a slot or a token looks again, in ms (at most). */
  pollMs: number;
}

// KEYS[1] the holders (zset: member = holder id, score = lease end in ms of Redis' clock).
// ARGV: limit, lease ms, holder id. Redis' own clock, so the nodes' clocks need not agree.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return 1
end
return 0`;

// KEYS[1..3] the key's never-seen addresses answered unknown, silent, confirmed (zsets scored by
// time), KEYS[4] its tripped flag. ARGV: window ms, threshold, cooldown ms, address, evidence
// ('unknown' | 'silent' | 'exists'). The rule of FloodBreaker.settle: unconfirmed (unknown and
// silent) addresses at the threshold that outnumber the confirmed ones trip the key, fresh ones
// re-arm it; a confirmed one lifts it when no address was unknown (silence alone) or when the
// confirmed then outnumber the rest.
// Returns 0 ok, 1 tripped now, 2 tripped already, 3 lifted.
const FLOOD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, 3 do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - tonumber(ARGV[1])) end
local set = KEYS[3]
if ARGV[5] == 'unknown' then set = KEYS[1] elseif ARGV[5] == 'silent' then set = KEYS[2] end
redis.call('ZADD', set, now, ARGV[4])
redis.call('PEXPIRE', set, ARGV[1])
local unconfirmed = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2])
local witnesses = redis.call('ZCARD', KEYS[3])
local tripped = redis.call('EXISTS', KEYS[4]) == 1
if ARGV[5] == 'exists' then
  if tripped and (redis.call('ZCARD', KEYS[1]) == 0 or witnesses > unconfirmed) then
    redis.call('DEL', KEYS[4])
    return 3
  end
  if tripped then return 2 end
  return 0
end
if unconfirmed >= tonumber(ARGV[2]) and unconfirmed > witnesses then
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[3])
  if tripped then return 2 end
  return 1
end
if tripped then return 2 end
return 0`;

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

/** consume(): a refusal is an answer (a RateLimiterRes), any other rejection is Redis failing. */
async function consume(
  limiter: RateLimiterRedis,
  key: string,
): Promise<{ allowed: boolean; r: RateLimiterRes }> {
  try {
    return { allowed: true, r: await limiter.consume(key) };
  } catch (r) {
    if (r instanceof RateLimiterRes) return { allowed: false, r };
    throw r;
  }
}

/** ok, tripped (by this evidence), open (tripped already), lifted (by this evidence), local (no Redis). */
export type FleetFlood = 'ok' | 'tripped' | 'open' | 'lifted' | 'local';

export class FleetLimits {
  private readonly node = randomBytes(6).toString('base64url');
  private serial = 0;
  private readonly rates: Record<FleetScope, RateLimiterRedis>;

  constructor(
    private readonly link: RedisLink,
    private readonly options: FleetLimitOptions,
  ) {
    const limiter = (keyPrefix: string, points: number, durationS: number) =>
      new RateLimiterRedis({
        storeClient: link.client,
        keyPrefix: `${link.prefix}${keyPrefix}`,
        points,
        duration: durationS,
        // Never queue behind a disconnected client: the link answers 'local' instead.
        rejectIfRedisNotReady: true,
      });
    const window = (rate: number, burst: number): number => Math.max(1, Math.ceil(burst / rate));
    this.rates = {
      domain: limiter('rate:domain', options.domainBurst, window(options.domainRate, options.domainBurst)),
      mx: limiter('rate:mx', options.mxBurst, window(options.mxRate, options.mxBurst)),
    };
  }

  private key(scope: FleetScope, name: string): string {
    return `${this.link.prefix}slots:${scope}:${name}`;
  }

  private limit(scope: FleetScope): number {
    return scope === 'domain' ? this.options.domainConcurrency : this.options.mxConcurrency;
  }

  /**
   * A fleet-wide concurrency slot, waited for (bounded poll) while the signal
   * allows: its release, null when none came free in time, 'local' without Redis.
   */
  async slot(scope: FleetScope, name: string, signal: AbortSignal): Promise<Release | null | 'local'> {
    const key = this.key(scope, name);
    const id = `${this.link.nodeName}:${this.node}:${++this.serial}`;
    const { leaseMs, pollMs } = this.options;
    for (let wait = 10; ; wait = Math.min(wait * 2, pollMs)) {
      const got = await this.link.call(
        'limits.slot',
        (c) => c.eval(ACQUIRE, 1, key, this.limit(scope), leaseMs, id) as Promise<number>,
        -1,
      );
      if (got === -1) return 'local';
      if (got === 1) return this.holder(key, id);
      if (signal.aborted) return null;
      await sleep(wait, signal);
    }
  }

  /** The release of a held slot, renewing its lease until then. */
  private holder(key: string, id: string): Release {
    const { leaseMs } = this.options;
    const renew = setInterval(
      () => void this.link.call('limits.renew', (c) => c.eval(RENEW, 1, key, leaseMs, id), 0),
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    renew.unref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      clearInterval(renew);
      void this.link.call('limits.release', (c) => c.zrem(key, id), 0);
    };
  }

  /** A token of the fleet's rate for this key, waited for while the signal allows: true, false, or 'local'. */
  async token(scope: FleetScope, name: string, signal: AbortSignal): Promise<boolean | 'local'> {
    for (;;) {
      const res = await this.link.call('limits.rate', () => consume(this.rates[scope], name), null);
      if (res === null) return 'local';
      if (res.allowed) return true;
      if (signal.aborted) return false;
      await sleep(Math.min(Math.max(10, res.r.msBeforeNext), this.options.pollMs * 10), signal);
    }
  }

  /**
   * Count a never-seen address fleet-wide under `key` (a site, floodSite of its domain, as the
   * node's breaker counts; or `mx:<ip>`), each address once per window and kind of evidence:
   * 'tripped' for the evidence that trips the key, 'open' while it is tripped, 'lifted' for the
   * confirmation that lifts it, 'ok', or 'local' without Redis. The service counts only answers
   * from the MX (CalloutLimits.floodEvidence): the forged-flood signature, never mere volume.
   */
  async recordEvidence(
    key: string,
    address: string,
    evidence: 'unknown' | 'silent' | 'exists',
  ): Promise<FleetFlood> {
    const f = this.options.flood;
    // One hash tag per key: every key of the script in one Cluster slot, as a script needs.
    const head = this.floodHead(key);
    const r = await this.link.call(
      'limits.flood',
      (c) =>
        c.eval(
          FLOOD,
          4,
          `${head}:unknown`,
          `${head}:silent`,
          `${head}:exists`,
          `${head}:tripped`,
          f.windowMs,
          f.threshold,
          f.cooldownMs,
          address,
          evidence,
        ) as Promise<number>,
      -1,
    );
    return r === -1 ? 'local' : ((['ok', 'tripped', 'open', 'lifted'] as const)[r] ?? 'ok');
  }

  /** Whether the breaker holds `key` (a site or `mx:<ip>`) tripped fleet-wide (false without Redis). */
  async isFloodTripped(key: string): Promise<boolean> {
    return (await this.link.call('limits.flood', (c) => c.exists(`${this.floodHead(key)}:tripped`), 0)) === 1;
  }

  /**
   * A tripped key's one session per `intervalMs` across the fleet: true for the caller that takes
   * this interval's turn (true without Redis: the node's own interval then holds alone).
   */
  async trickleTurn(key: string, intervalMs: number): Promise<boolean> {
    const r = await this.link.call(
      'limits.flood',
      (c) => c.set(`${this.floodHead(key)}:trickle`, '1', 'PX', intervalMs, 'NX'),
      'OK',
    );
    return r === 'OK';
  }

  private floodHead(key: string): string {
    return `${this.link.prefix}flood:{${key}}`;
  }
}
