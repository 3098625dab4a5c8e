/**
 * Persistent daily counters (seed 002's WcSAP table). Counting happens in
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

  count(counter: string, n = 1): void {
    const iso = new Date(this.now()).toISOString();
    addInto(this.pending, iso.slice(0, 10), { [counter]: n });
    if (isHourly(counter)) addInto(this.pendingHours, iso.slice(0, 13), { [counter]: n });
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
