/**
 * Memory LRU in front of a persistent cache: reads hit memory first, writes go
 * to both, purges to both. The memory tier only ever holds what the lower tier
 * has, so purging both keeps them consistent within this process.
 */
import type { AddressEntry, CacheStats, DomainFact, SpfEntry, VerdictCache } from './verdict-cache.js';

export class TieredCache implements VerdictCache {
  private checkedAt = -Infinity;

  /**
   * @param recheckMs How often to ask the persistent tier whether another process changed it
   *   (a SQLite query costs more than the memory hit it guards): a `cbv cache purge` next to the
   *   daemon takes effect within this time.
   */
  constructor(
    private readonly front: VerdictCache,
    private readonly back: VerdictCache,
    private readonly recheckMs = 250,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Drop the memory tier if another process wrote to the persistent one. */
  private syncFront(): void {
    const now = this.clock();
    if (now - this.checkedAt < this.recheckMs) return;
    this.checkedAt = now;
    if (this.back.changedElsewhere?.()) this.front.clear?.();
  }

  async getAddress(address: string, now: number): Promise<AddressEntry | null> {
    this.syncFront();
    const hot = await this.front.getAddress(address, now);
    if (hot) return hot;
    const cold = await this.back.getAddress(address, now);
    if (cold) await this.front.putAddress(cold);
    return cold;
  }

  /** A hit in the memory tier; undefined otherwise (only the persistent tier can tell). */
  peekAddress(address: string, now: number): AddressEntry | undefined {
    this.syncFront();
    return this.front.peekAddress?.(address, now) ?? undefined;
  }

  async putAddress(entry: AddressEntry): Promise<void> {
    await this.back.putAddress(entry);
    await this.front.putAddress(entry);
  }

  async getDomainFact(domain: string, now: number): Promise<DomainFact | null> {
    this.syncFront();
    const hot = await this.front.getDomainFact(domain, now);
    if (hot) return hot;
    const cold = await this.back.getDomainFact(domain, now);
    if (cold) await this.front.putDomainFact(cold);
    return cold;
  }

  async putDomainFact(fact: DomainFact): Promise<void> {
    await this.back.putDomainFact(fact);
    await this.front.putDomainFact(fact);
  }

  async getSpf(domain: string, clientIp: string, now: number): Promise<SpfEntry | null> {
    this.syncFront();
    const hot = await this.front.getSpf(domain, clientIp, now);
    if (hot) return hot;
    const cold = await this.back.getSpf(domain, clientIp, now);
    if (cold) await this.front.putSpf(cold);
    return cold;
  }

  async putSpf(entry: SpfEntry): Promise<void> {
    await this.back.putSpf(entry);
    await this.front.putSpf(entry);
  }

  async purgeAddress(address: string): Promise<number> {
    await this.front.purgeAddress(address);
    return this.back.purgeAddress(address);
  }

  async purgeDomain(domain: string): Promise<number> {
    await this.front.purgeDomain(domain);
    return this.back.purgeDomain(domain);
  }

  async stats(now: number): Promise<CacheStats> {
    const [front, back] = await Promise.all([this.front.stats(now), this.back.stats(now)]);
    return { ...back, detail: { ...back.detail, memoryEntries: front.addresses } };
  }

  async close(): Promise<void> {
    await this.front.close();
    await this.back.close();
  }
}
