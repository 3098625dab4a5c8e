/** Daily counters in the cache's SQLite file (table `stats`, created by openDatabase). */
import type Database from 'better-sqlite3';
import type { Counts, StatsStore } from './stats-store.js';

export class SqliteStatsStore implements StatsStore {
  private readonly upsert;
  private readonly sumQuery;
  private readonly dayQuery;
  private readonly hourUpsert;
  private readonly hourQuery;

  constructor(private readonly db: Database.Database) {
    this.upsert = db.prepare(
      'INSERT INTO stats (day, counter, value) VALUES (?, ?, ?) ON CONFLICT (day, counter) DO UPDATE SET value = value + excluded.value',
    );
    this.sumQuery = db.prepare<[string, string], { counter: string; total: number }>(
      'SELECT counter, sum(value) AS total FROM stats WHERE day >= ? AND day <= ? GROUP BY counter',
    );
    this.dayQuery = db.prepare<[string, string], { day: string; counter: string; value: number }>(
      'SELECT day, counter, value FROM stats WHERE day >= ? AND day <= ? ORDER BY day',
    );
    this.hourUpsert = db.prepare(
      'INSERT INTO stats_hourly (hour, counter, value) VALUES (?, ?, ?) ON CONFLICT (hour, counter) DO UPDATE SET value = value + excluded.value',
    );
    this.hourQuery = db.prepare<[string, string], { hour: string; counter: string; value: number }>(
      'SELECT hour, counter, value FROM stats_hourly WHERE hour >= ? AND hour <= ? ORDER BY hour',
    );
  }

  addHourly(hour: string, counts: Counts): Promise<void> {
    this.db.transaction(() => {
      for (const [counter, value] of Object.entries(counts)) this.hourUpsert.run(hour, counter, value);
    })();
    return Promise.resolve();
  }

  perHour(since: string, until: string): Promise<{ hour: string; counts: Counts }[]> {
    const hours = new Map<string, Counts>();
    for (const r of this.hourQuery.all(since, until)) {
      const h = hours.get(r.hour) ?? {};
      h[r.counter] = r.value;
      hours.set(r.hour, h);
    }
    return Promise.resolve([...hours].map(([hour, counts]) => ({ hour, counts })));
  }

  add(day: string, counts: Counts): Promise<void> {
    const write = this.db.transaction(() => {
      for (const [counter, value] of Object.entries(counts)) this.upsert.run(day, counter, value);
    });
    write();
    return Promise.resolve();
  }

  sum(since: string, until: string): Promise<Counts> {
    return Promise.resolve(
      Object.fromEntries(this.sumQuery.all(since, until).map((r) => [r.counter, r.total])),
    );
  }

  perDay(since: string, until: string): Promise<{ day: string; counts: Counts }[]> {
    const days = new Map<string, Counts>();
    for (const r of this.dayQuery.all(since, until)) {
      const d = days.get(r.day) ?? {};
      d[r.counter] = r.value;
      days.set(r.day, d);
    }
    return Promise.resolve([...days].map(([day, counts]) => ({ day, counts })));
  }
}
