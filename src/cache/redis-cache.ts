/**
 * The fleet cache: entries and domain facts in one Redis shared by every cbv
 * node, each under its own key with a native TTL (Redis forgets expired
 * entries by itself; there is nothing to sweep), in the compact encoding of
 * entry-codec.ts. Used behind a memory tier (TieredCache).
 *
 *   <prefix>a:<address>   an address entry
 *   <prefix>f:<domain>    a domain fact
 *   <prefix>s:<domain> <client IP>   an SPF outcome (JSON: few, and short-lived)
 *   <prefix>invalidate    pub/sub channel: a purge somewhere, so memory tiers forget
 *
 * On the mail path nothing here throws: with Redis down or slow a read is a
 * miss and a write is skipped (the memory tier in front still has it). Purges
 * and statistics are administrators' commands and do say when Redis is away.
 */
import type { RedisClient, RedisLink } from '../redis/link.js';
import { decodeAddressEntry, decodeDomainFact, encodeAddressEntry, encodeDomainFact } from './entry-codec.js';
import type { AddressEntry, CacheStats, DomainFact, SpfEntry, VerdictCache } from './verdict-cache.js';

/** Above this many keys, `stats()` estimates from a sample instead of reading every entry. */
const EXACT_COUNT_MAX_KEYS = 200_000;
const SCAN_BATCH = 1000;

/** Escape Redis glob characters, so a domain is matched literally. */
const globLiteral = (s: string): string => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

/** The nodes a SCAN must visit: every master of a cluster, or the one server. */
function scanTargets(client: RedisClient): RedisClient[] {
  return 'nodes' in client && typeof client.nodes === 'function' ? client.nodes('master') : [client];
}

async function* scanKeys(client: RedisClient, pattern: string): AsyncGenerator<string[]> {
  for (const node of scanTargets(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}

/** Time to live in Redis: the entry's own lifetime (at least 1 ms; Redis refuses 0). */
const ttlMs = (storedAt: number, expiresAt: number): number => Math.max(1, Math.round(expiresAt - storedAt));

export class RedisCache implements VerdictCache {
  private invalidated = false;
  /** Settles once this node listens for other nodes' purges (false if it could not subscribe yet). */
  readonly listening: Promise<boolean>;

  constructor(private readonly link: RedisLink) {
    const sub = link.subscriber();
    const channel = this.invalidateChannel;
    sub.on('message', (ch: string) => {
      if (ch === channel) this.invalidated = true;
    });
    this.listening = link.listen(channel);
    // After an outage, forget what the memory tier learnt alone: purges may have happened meanwhile.
    link.watch({
      change: (up) => {
        if (up) this.invalidated = true;
      },
    });
  }

  private get invalidateChannel(): string {
    return `${this.link.prefix}invalidate`;
  }

  private addressKey(address: string): string {
    return `${this.link.prefix}a:${address}`;
  }

  private factKey(domain: string): string {
    return `${this.link.prefix}f:${domain}`;
  }

  async getAddress(address: string, now: number): Promise<AddressEntry | null> {
    const raw = await this.link.call('cache.get', (c) => c.getBuffer(this.addressKey(address)), null);
    if (!raw) return null;
    const e = this.decode(() => decodeAddressEntry(address, raw));
    return e && e.expiresAt > now ? e : null;
  }

  async putAddress(e: AddressEntry): Promise<void> {
    const value = encodeAddressEntry(e);
    await this.link.call(
      'cache.put',
      (c) => c.set(this.addressKey(e.address), value, 'PX', ttlMs(e.storedAt, e.expiresAt)),
      null,
    );
  }

  async getDomainFact(domain: string, now: number): Promise<DomainFact | null> {
    const raw = await this.link.call('cache.get_fact', (c) => c.getBuffer(this.factKey(domain)), null);
    if (!raw) return null;
    const f = this.decode(() => decodeDomainFact(domain, raw));
    return f && f.expiresAt > now ? f : null;
  }

  async putDomainFact(f: DomainFact): Promise<void> {
    const value = encodeDomainFact(f);
    await this.link.call(
      'cache.put_fact',
      (c) => c.set(this.factKey(f.domain), value, 'PX', ttlMs(f.storedAt, f.expiresAt)),
      null,
    );
  }

  private spfKey(domain: string, clientIp: string): string {
    return `${this.link.prefix}s:${domain} ${clientIp}`;
  }

  async getSpf(domain: string, clientIp: string, now: number): Promise<SpfEntry | null> {
    const raw = await this.link.call('cache.get_spf', (c) => c.get(this.spfKey(domain, clientIp)), null);
    if (!raw) return null;
    const e = this.decode(() => JSON.parse(raw) as Omit<SpfEntry, 'domain' | 'clientIp'>);
    return e && e.expiresAt > now
      ? { domain, clientIp, outcome: e.outcome, storedAt: e.storedAt, expiresAt: e.expiresAt }
      : null;
  }

  async putSpf(e: SpfEntry): Promise<void> {
    const value = JSON.stringify({ outcome: e.outcome, storedAt: e.storedAt, expiresAt: e.expiresAt });
    await this.link.call(
      'cache.put_spf',
      (c) => c.set(this.spfKey(e.domain, e.clientIp), value, 'PX', ttlMs(e.storedAt, e.expiresAt)),
      null,
    );
  }

  /** Bytes another version wrote, or damaged ones, are a miss, never an error on the mail path. */
  private decode<T>(fn: () => T): T | null {
    try {
      return fn();
    } catch {
      return null;
    }
  }

  async purgeAddress(address: string): Promise<number> {
    const n = await this.link.must('cache purge', (c) => c.del(this.addressKey(address)));
    await this.announcePurge();
    return n;
  }

  async purgeDomain(domain: string): Promise<number> {
    const patterns = [
      `${globLiteral(this.link.prefix)}a:*@${globLiteral(domain)}`,
      `${globLiteral(`${this.link.prefix}s:${domain} `)}*`,
    ];
    const n = await this.link.must('cache purge', async (c) => {
      let removed = await c.del(this.factKey(domain));
      for (const pattern of patterns) {
        for await (const keys of scanKeys(c, pattern)) {
          // One DEL per key: in a cluster the keys of one batch live on different slots.
          const replies = await Promise.all(keys.map((k) => c.del(k)));
          removed += replies.reduce((a, b) => a + b, 0);
        }
      }
      return removed;
    });
    await this.announcePurge();
    return n;
  }

  private async announcePurge(): Promise<void> {
    this.invalidated = true;
    await this.link.call('cache.invalidate', (c) => c.publish(this.invalidateChannel, '1'), 0);
  }

  changedElsewhere(): boolean {
    const changed = this.invalidated;
    this.invalidated = false;
    return changed;
  }

  /**
   * Live entries: exact (every entry read) up to EXACT_COUNT_MAX_KEYS keys in
   * Redis, beyond that estimated from a sample of keys (detail.counted says which).
   */
  async stats(now: number): Promise<CacheStats> {
    return this.link.must('cache stats', async (c) => {
      const nodes = scanTargets(c);
      const sizes = await Promise.all(nodes.map((n) => n.dbsize()));
      const keys = sizes.reduce((a, b) => a + b, 0);
      const memory = await Promise.all(nodes.map((n) => n.info('memory')));
      const usedMemory = memory
        .map((text) => Number(/used_memory:(\d+)/.exec(text)?.[1] ?? 0))
        .reduce((a, b) => a + b, 0);
      const detail = {
        backend: 'redis',
        node: this.link.nodeName,
        redisKeys: keys,
        redisUsedMemory: usedMemory,
      };
      if (keys <= EXACT_COUNT_MAX_KEYS) {
        const [addresses, domainFacts] = await Promise.all([
          this.countLive(c, 'a', now, (k, b) => decodeAddressEntry(k, b).expiresAt),
          this.countLive(c, 'f', now, (k, b) => decodeDomainFact(k, b).expiresAt),
        ]);
        return { addresses, domainFacts, detail: { ...detail, counted: 'exact' } };
      }
      const sample = await this.sampleShares(c);
      return {
        addresses: Math.round(keys * sample.a),
        domainFacts: Math.round(keys * sample.f),
        detail: { ...detail, counted: 'estimate' },
      };
    });
  }

  private async countLive(
    c: RedisClient,
    kind: 'a' | 'f',
    now: number,
    expiry: (key: string, value: Buffer) => number,
  ): Promise<number> {
    const head = `${this.link.prefix}${kind}:`;
    let live = 0;
    for await (const keys of scanKeys(c, `${globLiteral(head)}*`)) {
      const values = await Promise.all(keys.map((k) => c.getBuffer(k)));
      values.forEach((v, i) => {
        const key = (keys[i] ?? '').slice(head.length);
        if (v && (this.decode(() => expiry(key, v)) ?? 0) > now) live++;
      });
    }
    return live;
  }

  /** Shares of address and fact keys among about 10,000 keys of the keyspace. */
  private async sampleShares(c: RedisClient): Promise<{ a: number; f: number }> {
    let seen = 0;
    let a = 0;
    let f = 0;
    const head = this.link.prefix;
    for (const node of scanTargets(c)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'COUNT', SCAN_BATCH);
        cursor = next;
        for (const k of keys) {
          seen++;
          if (k.startsWith(`${head}a:`)) a++;
          else if (k.startsWith(`${head}f:`)) f++;
        }
      } while (cursor !== '0' && seen < 10_000);
    }
    return seen === 0 ? { a: 0, f: 0 } : { a: a / seen, f: f / seen };
  }

  close(): Promise<void> {
    // The link belongs to whoever built it (the fleet shares it): its owner closes it.
    return Promise.resolve();
  }
}
