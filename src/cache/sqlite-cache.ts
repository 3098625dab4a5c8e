/**
 * The embedded persistent cache: one SQLite file in WAL mode. Every put is a
 * committed transaction, and WAL survives a killed process (only the OS
 * losing power can cost the last transactions, with synchronous=NORMAL).
 * Statistics counters live in the same file (sqlite-stats.ts).
 */
import { accessSync, constants } from 'node:fs';
import { hiddenBecause, presenceOf } from '../config/path-presence.js';
import Database from 'better-sqlite3';
import { makePrivateFile, tighten } from './private-files.js';
import {
  CacheOpenError,
  type AddressEntry,
  type CacheStats,
  type DomainFact,
  type SpfEntry,
  type StoredVerdict,
  type VerdictCache,
} from './verdict-cache.js';
import type { DomainFactKind } from '../service/verdict.js';

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS addresses (
  address TEXT PRIMARY KEY,
  domain TEXT NOT NULL,
  verdict TEXT NOT NULL,
  stored_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  refresh_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS addresses_domain ON addresses(domain);
CREATE INDEX IF NOT EXISTS addresses_expiry ON addresses(expires_at);
CREATE TABLE IF NOT EXISTS domain_facts (
  domain TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  verdict TEXT NOT NULL,
  stored_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spf_results (
  domain TEXT NOT NULL,
  client_ip TEXT NOT NULL,
  outcome TEXT NOT NULL,
  stored_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (domain, client_ip)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS spf_results_expiry ON spf_results(expires_at);
CREATE TABLE IF NOT EXISTS stats (
  day TEXT NOT NULL,
  counter TEXT NOT NULL,
  value INTEGER NOT NULL,
  PRIMARY KEY (day, counter)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stats_hourly (
  hour TEXT NOT NULL,
  counter TEXT NOT NULL,
  value INTEGER NOT NULL,
  PRIMARY KEY (hour, counter)
) WITHOUT ROWID;
`;

interface AddressRow {
  address: string;
  domain: string;
  verdict: string;
  stored_at: number;
  expires_at: number;
  refresh_at: number | null;
}
interface SpfRow {
  domain: string;
  client_ip: string;
  outcome: string;
  stored_at: number;
  expires_at: number;
}
interface FactRow {
  domain: string;
  kind: string;
  verdict: string;
  stored_at: number;
  expires_at: number;
}

/**
 * How a process opens the database: the daemon and `cbv verify --cache PATH` create it; commands
 * that act on the daemon's database (`cbv cache purge`, `cbv verify` with the config's cache) need
 * it to exist; reading commands (`cbv stats`, `cbv cache get|stats`) only read.
 */
export type DatabaseAccess = 'create' | 'existing' | 'readonly';

/**
 * Open the database, with a clear error naming the file when it cannot be used. Only `create`
 * makes a new file; the others fail when there is none (reading an empty new database would
 * report zeros as if they were the daemon's).
 */
export function openDatabase(path: string, access: DatabaseAccess = 'create'): Database.Database {
  const presence = access === 'create' ? null : presenceOf(path);
  if (presence?.state === 'absent')
    throw new CacheOpenError(
      `cache database ${path}: no such file (nothing was cached there yet, or the daemon uses another configuration)`,
    );
  if (presence?.state === 'hidden')
    throw new CacheOpenError(`cache database ${path}: ${hiddenBecause(presence.code)}`);
  let db: Database.Database | undefined;
  try {
    const file = path !== ':memory:' && path !== '';
    if (file && access === 'create') makePrivateFile(path);
    db = new Database(path, { readonly: access === 'readonly', fileMustExist: access !== 'create' });
    db.pragma('busy_timeout = 5000');
    // Before anything is written: a path that names some other program's database (a typo in
    // cache.path, a Postfix or Roundcube file) must be refused, not given cbv's tables.
    refuseForeignDatabase(db);
    if (access !== 'readonly') {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      // Created with the database's mode; left by an older cbv, they may be open to others.
      if (file) for (const suffix of ['-wal', '-shm']) tighten(path + suffix);
    }
    const hasMeta = db
      .prepare<[], number>("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'")
      .pluck()
      .get();
    // Only read-only opens get here without one: an empty file nothing has written to yet.
    if (!hasMeta) throw new Error('not a cbv cache database (it holds no tables)');
    const version = db
      .prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'")
      .get();
    if (!version && access !== 'readonly')
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    else if (version && Number(version.value) > SCHEMA_VERSION) {
      throw new Error(
        `schema version ${version.value} is newer than this cbv understands (${SCHEMA_VERSION})`,
      );
    }
    return db;
  } catch (error) {
    db?.close();
    const code = (error as { code?: string }).code;
    // SQLite says only "unable to open database file": tell a file this user may not open from others.
    const denied = code === 'SQLITE_CANTOPEN' ? deniedCode(path, access) : null;
    if (denied)
      throw new CacheOpenError(`cache database ${path}: ${hiddenBecause(denied)}`, { cause: error });
    throw new CacheOpenError(
      `cache database ${path}: ${(error as Error).message}${code ? ` (${code})` : ''}`,
      { cause: error },
    );
  }
}

/**
 * Throws unless the database is empty (no tables: a new file, or one cbv created and has not
 * filled yet) or is cbv's: a `meta` table whose `schema_version` row cbv wrote when it created
 * the schema. Anything else belongs to another program, and cbv neither reads nor writes it.
 */
function refuseForeignDatabase(db: Database.Database): void {
  const tables = db
    .prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .pluck()
    .all();
  if (tables.length === 0) return;
  let marked = false;
  if (tables.includes('meta')) {
    try {
      marked = db.prepare("SELECT 1 FROM meta WHERE key = 'schema_version'").get() !== undefined;
    } catch {
      marked = false; // a `meta` table of another shape: not cbv's
    }
  }
  if (marked) return;
  const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ', ...' : '');
  throw new Error(`not a cbv cache database (it holds other tables: ${shown}); cbv leaves it alone`);
}

/** The errno code when this user may not open `path` as `access` needs, else null. */
function deniedCode(path: string, access: DatabaseAccess): string | null {
  try {
    accessSync(path, access === 'readonly' ? constants.R_OK : constants.R_OK | constants.W_OK);
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? null;
    return code === 'ENOENT' ? null : code;
  }
}

export class SqliteCache implements VerdictCache {
  private readonly q;
  private readonly dataVersionQuery;

  constructor(
    readonly db: Database.Database,
    readonly path: string,
  ) {
    this.dataVersionQuery = db.prepare<[], number>('PRAGMA data_version').pluck();
    this.q = {
      getAddress: db.prepare<[string, number], AddressRow>(
        'SELECT * FROM addresses WHERE address = ? AND expires_at > ?',
      ),
      putAddress: db.prepare(
        'INSERT OR REPLACE INTO addresses (address, domain, verdict, stored_at, expires_at, refresh_at) VALUES (@address, @domain, @verdict, @stored_at, @expires_at, @refresh_at)',
      ),
      getFact: db.prepare<[string, number], FactRow>(
        'SELECT * FROM domain_facts WHERE domain = ? AND expires_at > ?',
      ),
      putFact: db.prepare(
        'INSERT OR REPLACE INTO domain_facts (domain, kind, verdict, stored_at, expires_at) VALUES (@domain, @kind, @verdict, @stored_at, @expires_at)',
      ),
      getSpf: db.prepare<[string, string, number], SpfRow>(
        'SELECT * FROM spf_results WHERE domain = ? AND client_ip = ? AND expires_at > ?',
      ),
      putSpf: db.prepare(
        'INSERT OR REPLACE INTO spf_results (domain, client_ip, outcome, stored_at, expires_at) VALUES (@domain, @client_ip, @outcome, @stored_at, @expires_at)',
      ),
      sweepSpf: db.prepare('DELETE FROM spf_results WHERE expires_at <= ?'),
      purgeSpf: db.prepare('DELETE FROM spf_results WHERE domain = ?'),
      purgeAddress: db.prepare('DELETE FROM addresses WHERE address = ?'),
      purgeDomainAddresses: db.prepare('DELETE FROM addresses WHERE domain = ?'),
      purgeFact: db.prepare('DELETE FROM domain_facts WHERE domain = ?'),
      countAddresses: db.prepare<[number], { n: number }>(
        'SELECT count(*) AS n FROM addresses WHERE expires_at > ?',
      ),
      countFacts: db.prepare<[number], { n: number }>(
        'SELECT count(*) AS n FROM domain_facts WHERE expires_at > ?',
      ),
      sweepAddresses: db.prepare(
        'DELETE FROM addresses WHERE address IN (SELECT address FROM addresses WHERE expires_at <= ? LIMIT ?)',
      ),
      sweepFacts: db.prepare('DELETE FROM domain_facts WHERE expires_at <= ?'),
    };
  }

  private dataVersion = -1;

  /** PRAGMA data_version changes only when another connection commits. Asked on every read: prepared once. */
  changedElsewhere(): boolean {
    const v = this.dataVersionQuery.get() ?? -1;
    const changed = this.dataVersion !== -1 && v !== this.dataVersion;
    this.dataVersion = v;
    return changed;
  }

  static open(path: string, access: DatabaseAccess = 'create'): SqliteCache {
    return new SqliteCache(openDatabase(path, access), path);
  }

  getAddress(address: string, now: number): Promise<AddressEntry | null> {
    const row = this.q.getAddress.get(address, now);
    return Promise.resolve(
      row
        ? {
            address: row.address,
            domain: row.domain,
            verdict: JSON.parse(row.verdict) as StoredVerdict,
            storedAt: row.stored_at,
            expiresAt: row.expires_at,
            refreshAt: row.refresh_at,
          }
        : null,
    );
  }

  putAddress(e: AddressEntry): Promise<void> {
    this.q.putAddress.run({
      address: e.address,
      domain: e.domain,
      verdict: JSON.stringify(e.verdict),
      stored_at: e.storedAt,
      expires_at: e.expiresAt,
      refresh_at: e.refreshAt,
    });
    return Promise.resolve();
  }

  getDomainFact(domain: string, now: number): Promise<DomainFact | null> {
    const row = this.q.getFact.get(domain, now);
    return Promise.resolve(
      row
        ? {
            domain: row.domain,
            kind: row.kind as DomainFactKind,
            verdict: JSON.parse(row.verdict) as StoredVerdict,
            storedAt: row.stored_at,
            expiresAt: row.expires_at,
          }
        : null,
    );
  }

  putDomainFact(f: DomainFact): Promise<void> {
    this.q.putFact.run({
      domain: f.domain,
      kind: f.kind,
      verdict: JSON.stringify(f.verdict),
      stored_at: f.storedAt,
      expires_at: f.expiresAt,
    });
    return Promise.resolve();
  }

  getSpf(domain: string, clientIp: string, now: number): Promise<SpfEntry | null> {
    const row = this.q.getSpf.get(domain, clientIp, now);
    return Promise.resolve(
      row
        ? {
            domain: row.domain,
            clientIp: row.client_ip,
            outcome: JSON.parse(row.outcome) as SpfEntry['outcome'],
            storedAt: row.stored_at,
            expiresAt: row.expires_at,
          }
        : null,
    );
  }

  putSpf(e: SpfEntry): Promise<void> {
    this.q.putSpf.run({
      domain: e.domain,
      client_ip: e.clientIp,
      outcome: JSON.stringify(e.outcome),
      stored_at: e.storedAt,
      expires_at: e.expiresAt,
    });
    return Promise.resolve();
  }

  purgeAddress(address: string): Promise<number> {
    return Promise.resolve(this.q.purgeAddress.run(address).changes);
  }

  purgeDomain(domain: string): Promise<number> {
    const purge = this.db.transaction(
      (d: string) =>
        this.q.purgeDomainAddresses.run(d).changes +
        this.q.purgeFact.run(d).changes +
        this.q.purgeSpf.run(d).changes,
    );
    return Promise.resolve(purge(domain));
  }

  /** Delete up to `limit` expired entries; returns how many. Called periodically by the service. */
  sweep(now: number, limit = 10_000): number {
    return (
      this.q.sweepAddresses.run(now, limit).changes +
      this.q.sweepFacts.run(now).changes +
      this.q.sweepSpf.run(now).changes
    );
  }

  stats(now: number): Promise<CacheStats> {
    const pageCount = this.db.pragma('page_count', { simple: true }) as number;
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    return Promise.resolve({
      addresses: this.q.countAddresses.get(now)?.n ?? 0,
      domainFacts: this.q.countFacts.get(now)?.n ?? 0,
      detail: { backend: 'sqlite', file: this.path, bytes: pageCount * pageSize },
    });
  }

  close(): Promise<void> {
    if (this.db.open) {
      if (!this.db.readonly) this.db.pragma('wal_checkpoint(TRUNCATE)');
      this.db.close();
    }
    return Promise.resolve();
  }
}
