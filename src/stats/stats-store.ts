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
}

export class MemoryStatsStore implements StatsStore {
  private readonly days = new Map<string, Counts>();

  add(day: string, counts: Counts): Promise<void> {
    const d = this.days.get(day) ?? {};
    for (const [k, v] of Object.entries(counts)) d[k] = (d[k] ?? 0) + v;
    this.days.set(day, d);
    return Promise.resolve();
  }

  async sum(since: string, until: string): Promise<Counts> {
    const total: Counts = {};
    for (const { counts } of await this.perDay(since, until)) {
      for (const [k, v] of Object.entries(counts)) total[k] = (total[k] ?? 0) + v;
    }
    return total;
  }

  perDay(since: string, until: string): Promise<{ day: string; counts: Counts }[]> {
    return Promise.resolve(
      [...this.days]
        .filter(([day]) => day >= since && day <= until)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([day, counts]) => ({ day, counts: { ...counts } })),
    );
  }
}

/** Buffers increments in memory and flushes them to a store. */
export class StatsRecorder {
  private pending = new Map<string, Counts>();
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
    const day = new Date(this.now()).toISOString().slice(0, 10);
    const d = this.pending.get(day) ?? {};
    d[counter] = (d[counter] ?? 0) + n;
    this.pending.set(day, d);
  }

  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    for (const [day, counts] of batch) await this.store.add(day, counts);
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
