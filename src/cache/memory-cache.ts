/**
 * In-memory LRU cache. Alone it serves tests and `cbv verify` runs; in front
 * of SQLite it keeps hot entries off the disk path. Bounded by entry count
 * (between memory_entries and twice that, see BoundedMap).
 */
import { BoundedMap } from '../limits/bounded-map.js';
import type { AddressEntry, CacheStats, DomainFact, SpfEntry, VerdictCache } from './verdict-cache.js';

const spfKey = (domain: string, clientIp: string): string => `${domain} ${clientIp}`;

export class MemoryCache implements VerdictCache {
  private readonly addresses: BoundedMap<string, AddressEntry>;
  private readonly facts: BoundedMap<string, DomainFact>;
  private readonly spf: BoundedMap<string, SpfEntry>;

  constructor(maxEntries = 100_000) {
    this.addresses = new BoundedMap(maxEntries);
    this.facts = new BoundedMap(Math.max(1000, Math.floor(maxEntries / 10)));
    this.spf = new BoundedMap(Math.max(1000, Math.floor(maxEntries / 4)));
  }

  getAddress(address: string, now: number): Promise<AddressEntry | null> {
    return Promise.resolve(this.peekAddress(address, now));
  }

  peekAddress(address: string, now: number): AddressEntry | null {
    const e = this.addresses.get(address);
    if (e && e.expiresAt <= now) this.addresses.delete(address);
    return e && e.expiresAt > now ? e : null;
  }

  putAddress(entry: AddressEntry): Promise<void> {
    this.addresses.set(entry.address, entry);
    return Promise.resolve();
  }

  getDomainFact(domain: string, now: number): Promise<DomainFact | null> {
    const f = this.facts.get(domain);
    if (f && f.expiresAt <= now) this.facts.delete(domain);
    return Promise.resolve(f && f.expiresAt > now ? f : null);
  }

  putDomainFact(fact: DomainFact): Promise<void> {
    this.facts.set(fact.domain, fact);
    return Promise.resolve();
  }

  getSpf(domain: string, clientIp: string, now: number): Promise<SpfEntry | null> {
    const key = spfKey(domain, clientIp);
    const e = this.spf.get(key);
    if (e && e.expiresAt <= now) this.spf.delete(key);
    return Promise.resolve(e && e.expiresAt > now ? e : null);
  }

  putSpf(entry: SpfEntry): Promise<void> {
    this.spf.set(spfKey(entry.domain, entry.clientIp), entry);
    return Promise.resolve();
  }

  purgeAddress(address: string): Promise<number> {
    return Promise.resolve(this.addresses.delete(address) ? 1 : 0);
  }

  purgeDomain(domain: string): Promise<number> {
    let n = this.facts.delete(domain) ? 1 : 0;
    for (const [key, e] of [...this.addresses.entries()]) {
      if (e.domain === domain && this.addresses.delete(key)) n++;
    }
    for (const [key, e] of [...this.spf.entries()]) {
      if (e.domain === domain && this.spf.delete(key)) n++;
    }
    return Promise.resolve(n);
  }

  stats(now: number): Promise<CacheStats> {
    let live = 0;
    for (const [, e] of this.addresses.entries()) if (e.expiresAt > now) live++;
    let facts = 0;
    for (const [, f] of this.facts.entries()) if (f.expiresAt > now) facts++;
    return Promise.resolve({
      addresses: live,
      domainFacts: facts,
      detail: { backend: 'memory', memoryEntries: this.addresses.size },
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  clear(): void {
    this.addresses.clear();
    this.facts.clear();
    this.spf.clear();
  }
}
