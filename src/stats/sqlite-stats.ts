/** Daily counters in the cache's SQLite file (table `stats`, created by openDatabase). */
import type Database from 'better-sqlite3';
import type { Counts, StatsStore } from './stats-store.js';

export class SqliteStatsStore implements StatsStore {
  private readonly upsert;
  private readonly sumQuery;
  private readonly dayQuery;

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
