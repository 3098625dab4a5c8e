/**
 * Persistent daily counters (the WcSAP-style statistics table). Counting happens in
 * memory on the hot path and is flushed to the store every second and at
 * shutdown, so a verification costs no disk write for its statistics; a
 * killed process loses at most the last second of counts.
 */
export type Counts = Record<string, number>;

export interface StatsStore {
  /** Add to the counters of one UTC day (YYYY-MM-DD). */
  add(day: string, counts: Counts): Promise<void>;
  /** Sum of the counters over [since, until], inclusive UTC days. */
  sum(since: string, until: string): Promise<Counts>;
  /** Per-day counters over [since, until], for charts. */
  perDay(since: string, until: string): Promise<{ day: string; counts: Counts }[]>;
  /** Add to the hourly series (UTC hour as YYYY-MM-DDTHH); only `result.*` counters are kept per hour. */
  addHourly(hour: string, counts: Counts): Promise<void>;
  /** Hourly series over [since, until] hours, inclusive, for the dashboard's time chart. */
  perHour(since: string, until: string): Promise<{ hour: string; counts: Counts }[]>;
}

/** Counters kept per hour as well as per day: the results, for the time chart. */
export function isHourly(counter: string): boolean {
  return counter.startsWith('result.');
}

function addInto(map: Map<string, Counts>, key: string, counts: Counts): void {
  const d = map.get(key) ?? {};
  for (const [k, v] of Object.entries(counts)) d[k] = (d[k] ?? 0) + v;
  map.set(key, d);
}

/** Increment one counter in place (no intermediate objects: this runs per request). */
function bump(map: Map<string, Counts>, key: string, counter: string, n: number): void {
  let d = map.get(key);
  if (!d) {
    d = {};
    map.set(key, d);
  }
  d[counter] = (d[counter] ?? 0) + n;
}

function between(map: Map<string, Counts>, since: string, until: string): [string, Counts][] {
  return [...map]
    .filter(([key]) => key >= since && key <= until)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, counts]) => [key, { ...counts }]);
}

export class MemoryStatsStore implements StatsStore {
  private readonly days = new Map<string, Counts>();
  private readonly hours = new Map<string, Counts>();

  add(day: string, counts: Counts): Promise<void> {
    addInto(this.days, day, counts);
    return Promise.resolve();
  }

  addHourly(hour: string, counts: Counts): Promise<void> {
    addInto(this.hours, hour, counts);
    return Promise.resolve();
  }

  perHour(since: string, until: string): Promise<{ hour: string; counts: Counts }[]> {
    return Promise.resolve(between(this.hours, since, until).map(([hour, counts]) => ({ hour, counts })));
  }

  async sum(since: string, until: string): Promise<Counts> {
    const total: Counts = {};
    for (const { counts } of await this.perDay(since, until)) {
      for (const [k, v] of Object.entries(counts)) total[k] = (total[k] ?? 0) + v;
    }
    return total;
  }

  perDay(since: string, until: string): Promise<{ day: string; counts: Counts }[]> {
    return Promise.resolve(between(this.days, since, until).map(([day, counts]) => ({ day, counts })));
  }
}

/** Buffers increments in memory and flushes them to a store. */
export class StatsRecorder {
  private pending = new Map<string, Counts>();
  private pendingHours = new Map<string, Counts>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly store: StatsStore,
    private readonly flushMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }

  /** UTC day and hour keys, recomputed only when the hour changes: count() is on every request's path. */
  private keys = { day: '', hour: '', until: 0 };

  private currentKeys(): { day: string; hour: string } {
    const now = this.now();
    if (now >= this.keys.until || now < this.keys.until - 3_600_000) {
      const iso = new Date(now).toISOString();
      this.keys = {
        day: iso.slice(0, 10),
        hour: iso.slice(0, 13),
        until: Math.floor(now / 3_600_000 + 1) * 3_600_000,
      };
    }
    return this.keys;
  }

  count(counter: string, n = 1): void {
    const { day, hour } = this.currentKeys();
    bump(this.pending, day, counter, n);
    if (isHourly(counter)) bump(this.pendingHours, hour, counter, n);
  }

  /** count() of each counter once: the per-request counters, with the day and hour looked up once. */
  countAll(counters: readonly string[]): void {
    const { day, hour } = this.currentKeys();
    for (const counter of counters) {
      bump(this.pending, day, counter, 1);
      if (isHourly(counter)) bump(this.pendingHours, hour, counter, 1);
    }
  }

  async flush(): Promise<void> {
    const [days, hours] = [this.pending, this.pendingHours];
    this.pending = new Map();
    this.pendingHours = new Map();
    for (const [day, counts] of days) await this.store.add(day, counts);
    for (const [hour, counts] of hours) await this.store.addHourly(hour, counts);
  }

  async perHour(since: string, until: string): Promise<{ hour: string; counts: Counts }[]> {
    await this.flush();
    return this.store.perHour(since, until);
  }

  async perDay(since: string, until: string): Promise<{ day: string; counts: Counts }[]> {
    await this.flush();
    return this.store.perDay(since, until);
  }

  /** Counters including what is not flushed yet. */
  async sum(since: string, until: string): Promise<Counts> {
    await this.flush();
    return this.store.sum(since, until);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
