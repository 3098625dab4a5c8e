/**
 * Fleet statistics in Redis: every node adds its counters to the fleet's
 * totals and to its own, so `cbv stats --fleet`, `/v1/stats?scope=fleet` and
 * the dashboard show the whole fleet while each node keeps its own counts too.
 *
 *   <prefix>{stats}:d:<YYYY-MM-DD>             hash counter -> fleet total of the day
 *   <prefix>{stats}:d:<YYYY-MM-DD>:n:<node>    hash counter -> one node's count of the day
 *   <prefix>{stats}:h:<YYYY-MM-DDTHH>          hash counter -> fleet total of the hour (results only)
 *
 * The `{stats}` hash tag keeps them in one Redis Cluster slot, so one pipeline
 * writes a flush. Day keys live 400 days and hour keys 10, like the local store's horizon.
 */
import type { RedisClient, RedisLink } from '../redis/link.js';
import type { Counts, StatsStore } from './stats-store.js';

const DAY_TTL_S = 400 * 86_400;
const HOUR_TTL_S = 10 * 86_400;

/** Every UTC day from since to until (YYYY-MM-DD), inclusive; at most ~11 years. */
export function daysBetween(since: string, until: string): string[] {
  const out: string[] = [];
  const end = Date.parse(`${until}T00:00:00Z`);
  for (let t = Date.parse(`${since}T00:00:00Z`); t <= end && out.length < 4000; t += 86_400_000)
    out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

/** Every UTC hour from since to until (YYYY-MM-DDTHH), inclusive; at most 400 days of them. */
function hoursBetween(since: string, until: string): string[] {
  const out: string[] = [];
  const end = Date.parse(`${until}:00:00Z`);
  for (let t = Date.parse(`${since}:00:00Z`); t <= end && out.length < 9600; t += 3_600_000)
    out.push(new Date(t).toISOString().slice(0, 13));
  return out;
}

const numbers = (h: Record<string, string>): Counts =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Number(v)]));

export class RedisStatsStore implements StatsStore {
  constructor(private readonly link: RedisLink) {}

  private key(kind: 'd' | 'h', when: string): string {
    return `${this.link.prefix}{stats}:${kind}:${when}`;
  }

  private nodeKey(day: string): string {
    return `${this.key('d', day)}:n:${this.link.nodeName}`;
  }

  /** Add to the fleet's and this node's counters; false (nothing written) when Redis is away. */
  async tryAdd(day: string, counts: Counts): Promise<boolean> {
    return this.link.call(
      'stats.add',
      async (c) => {
        const p = c.pipeline();
        for (const [k, v] of Object.entries(counts)) {
          p.hincrby(this.key('d', day), k, v);
          p.hincrby(this.nodeKey(day), k, v);
        }
        p.expire(this.key('d', day), DAY_TTL_S);
        p.expire(this.nodeKey(day), DAY_TTL_S);
        await exec(p);
        return true;
      },
      false,
    );
  }

  async tryAddHourly(hour: string, counts: Counts): Promise<boolean> {
    return this.link.call(
      'stats.add',
      async (c) => {
        const p = c.pipeline();
        for (const [k, v] of Object.entries(counts)) p.hincrby(this.key('h', hour), k, v);
        p.expire(this.key('h', hour), HOUR_TTL_S);
        await exec(p);
        return true;
      },
      false,
    );
  }

  async add(day: string, counts: Counts): Promise<void> {
    await this.tryAdd(day, counts);
  }

  async addHourly(hour: string, counts: Counts): Promise<void> {
    await this.tryAddHourly(hour, counts);
  }

  private async hashes(keys: string[]): Promise<Counts[]> {
    return this.link.must('fleet statistics', async (c) => {
      const p = c.pipeline();
      for (const k of keys) p.hgetall(k);
      const replies = await exec(p);
      return replies.map((r) => numbers(r as Record<string, string>));
    });
  }

  async sum(since: string, until: string): Promise<Counts> {
    const total: Counts = {};
    for (const { counts } of await this.perDay(since, until))
      for (const [k, v] of Object.entries(counts)) total[k] = (total[k] ?? 0) + v;
    return total;
  }

  async perDay(since: string, until: string): Promise<{ day: string; counts: Counts }[]> {
    const days = daysBetween(since, until);
    const found = await this.hashes(days.map((d) => this.key('d', d)));
    return days
      .map((day, i) => ({ day, counts: found[i] ?? {} }))
      .filter((d) => Object.keys(d.counts).length > 0);
  }

  async perHour(since: string, until: string): Promise<{ hour: string; counts: Counts }[]> {
    const hours = hoursBetween(since, until);
    const found = await this.hashes(hours.map((h) => this.key('h', h)));
    return hours
      .map((hour, i) => ({ hour, counts: found[i] ?? {} }))
      .filter((h) => Object.keys(h.counts).length > 0);
  }

  /** The nodes that counted anything in [since, until] (for the fleet report's header). */
  async nodes(since: string, until: string): Promise<string[]> {
    return this.link.must('fleet statistics', async (c) => {
      const names = new Set<string>();
      for (const day of daysBetween(since, until)) {
        const head = `${this.key('d', day)}:n:`;
        let cursor = '0';
        do {
          const [next, keys] = await scanOne(c, cursor, `${head.replace(/[*?[\]\\{}]/g, (m) => `\\${m}`)}*`);
          cursor = next;
          for (const k of keys) names.add(k.slice(head.length));
        } while (cursor !== '0');
      }
      return [...names].sort();
    });
  }
}

/** SCAN on the node that holds the {stats} slot (any node for a standalone server). */
function scanOne(c: RedisClient, cursor: string, pattern: string): Promise<[string, string[]]> {
  return c.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
}

type Pipe = ReturnType<RedisClient['pipeline']>;

/** exec() a pipeline; any command's error fails the whole call (the link then falls back). */
async function exec(p: Pipe): Promise<unknown[]> {
  const replies = (await p.exec()) ?? [];
  return replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

/**
 * The node's statistics store in fleet mode: its own (local) store first, and
 * the fleet's in Redis as well. Counts Redis could not take are kept and added
 * on the next flush after it returns, so an outage loses none.
 */
export class FleetMirrorStats implements StatsStore {
  /** Counts Redis has not taken yet, by day and by hour. */
  private readonly retained = { days: new Map<string, Counts>(), hours: new Map<string, Counts>() };

  constructor(
    private readonly local: StatsStore,
    readonly fleet: RedisStatsStore,
  ) {}

  async add(day: string, counts: Counts): Promise<void> {
    await this.local.add(day, counts);
    mergeInto(this.retained.days, day, counts);
    await this.mirror();
  }

  async addHourly(hour: string, counts: Counts): Promise<void> {
    await this.local.addHourly(hour, counts);
    mergeInto(this.retained.hours, hour, counts);
    await this.mirror();
  }

  /** Send everything Redis has not taken yet, days and hours; keep what it still refuses. */
  private async mirror(): Promise<void> {
    // Take what is retained now (a concurrent flush then finds nothing to send twice).
    const { days, hours } = this.retained;
    this.retained.days = new Map();
    this.retained.hours = new Map();
    for (const [k, c] of days) if (!(await this.fleet.tryAdd(k, c))) mergeInto(this.retained.days, k, c);
    for (const [k, c] of hours)
      if (!(await this.fleet.tryAddHourly(k, c))) mergeInto(this.retained.hours, k, c);
  }

  sum(since: string, until: string): Promise<Counts> {
    return this.local.sum(since, until);
  }

  perDay(since: string, until: string): Promise<{ day: string; counts: Counts }[]> {
    return this.local.perDay(since, until);
  }

  perHour(since: string, until: string): Promise<{ hour: string; counts: Counts }[]> {
    return this.local.perHour(since, until);
  }
}

function mergeInto(map: Map<string, Counts>, key: string, counts: Counts): void {
  const into = map.get(key) ?? {};
  for (const [k, v] of Object.entries(counts)) into[k] = (into[k] ?? 0) + v;
  map.set(key, into);
}
