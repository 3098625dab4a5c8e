/**
 * Bytes per cached entry in Redis (fleet mode): N address entries written
 * exactly as RedisCache.putAddress writes them (compact encoding, native TTL),
 * into a fresh redis-server on loopback; then `MEMORY USAGE` on a sample of
 * keys and `INFO memory` for the whole set.
 *
 *   node --import tsx bench/redis-memory.ts [--entries 1000000] [--json FILE]
 *
 * The entries are realistic: accepted (7 days), user_unknown with Postfix's
 * and with Gmail's long multi-line text (4 hours), catch-all (1 hour), in the
 * proportions 70/15/5/10, over 5,000 domains.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { encodeAddressEntry } from '../src/cache/entry-codec.js';
import { RedisCache } from '../src/cache/redis-cache.js';
import type { AddressEntry, StoredVerdict } from '../src/cache/verdict-cache.js';
import { openLink } from '../test/support/redis-link.js';
import { startRedis } from '../test/support/redis-server.js';
import { machine } from './lib/stats.js';

const { values } = parseArgs({
  options: { entries: { type: 'string', default: '1000000' }, json: { type: 'string' } },
});
const N = Number(values.entries);

const GMAIL = [
  '5.1.1 The email account that you tried to reach does not exist. Please try',
  "5.1.1 double-checking the recipient's email address for typos or",
  '5.1.1 unnecessary spaces. For more information, go to',
  '5.1.1  https://support.google.com/mail/?p=NoSuchUser d2e1a72fcca58-7a3 - gsmtp',
].join('\n');

function verdict(i: number, address: string, domain: string): { v: StoredVerdict; ttl: number } {
  const base: StoredVerdict = {
    address,
    domain,
    result: 'deliverable',
    reason: 'accepted',
    temporary: false,
    rule: 'rcpt.2xx',
    message: '250 2.1.5 Ok',
    mx: { host: `mx${i % 3}.${domain}`, ip: `198.51.${i % 250}.${i % 200}`, preference: 10 },
    smtp: { stage: 'rcpt', code: 250, enhancedCode: '2.1.5', text: '2.1.5 Ok' },
    catchAllProbe: false,
    durationMs: 200 + (i % 900),
    attempts: [],
    cache: { hit: false, fact: null, ageSeconds: null },
  };
  const kind = i % 20;
  if (kind < 14) return { v: base, ttl: 7 * 86_400_000 };
  if (kind < 17) {
    const text = `5.1.1 <${address}>: Recipient address rejected: User unknown in local recipient table`;
    const smtp = { stage: 'rcpt' as const, code: 550, enhancedCode: '5.1.1', text };
    const v = {
      ...base,
      result: 'undeliverable' as const,
      reason: 'user_unknown' as const,
      rule: 'rcpt.bad-mailbox',
      smtp,
      message: `550 ${text}`,
    };
    return { v, ttl: 4 * 3_600_000 };
  }
  if (kind < 18) {
    const smtp = { stage: 'rcpt' as const, code: 550, enhancedCode: '5.1.1', text: GMAIL };
    const v = {
      ...base,
      result: 'undeliverable' as const,
      reason: 'user_unknown' as const,
      rule: 'rcpt.bad-mailbox',
      smtp,
      message: `550 ${GMAIL.split('\n').join(' ')}`,
    };
    return { v, ttl: 4 * 3_600_000 };
  }
  const v = {
    ...base,
    result: 'risky' as const,
    reason: 'catch_all' as const,
    rule: 'rcpt.random-accepted',
    catchAllProbe: true,
    message: 'the server accepts a random, non-existent local part too: no information',
  };
  return { v, ttl: 3_600_000 };
}

function entryFor(i: number, now: number): AddressEntry {
  const domain = `domain${i % 5000}.example`;
  const address = `user.${i}@${domain}`;
  const { v, ttl } = verdict(i, address, domain);
  return { address, domain, verdict: v, storedAt: now, expiresAt: now + ttl, refreshAt: null };
}

const redis = await startRedis();
try {
  const link = await openLink(redis, { prefix: 'cbv:', commandTimeoutMs: 30_000 });
  const cache = new RedisCache(link);
  const now = Date.now();
  const usedBefore = Number(/used_memory:(\d+)/.exec(await link.client.info('memory'))?.[1]);
  // Pipelined writes, in batches: the same SET ... PX the cache makes, just not awaited one by one.
  const batch = 5000;
  let jsonBytes = 0;
  let codecBytes = 0;
  for (let from = 0; from < N; from += batch) {
    const p = link.client.pipeline();
    for (let i = from; i < Math.min(N, from + batch); i++) {
      const e = entryFor(i, now);
      const value = encodeAddressEntry(e);
      if (i < 10_000) {
        jsonBytes += JSON.stringify(e).length;
        codecBytes += value.length;
      }
      p.set(`cbv:a:${e.address}`, value, 'PX', e.expiresAt - e.storedAt);
    }
    await p.exec();
  }
  // One through the real path, to show it is the same bytes.
  await cache.putAddress(entryFor(N, now));
  const info = await link.client.info('memory');
  const used = Number(/used_memory:(\d+)/.exec(info)?.[1]);
  const sample: number[] = [];
  // A stride prime to the 20-entry kind cycle, so the sample has every kind in its proportion.
  for (let i = 0; i < N; i += Math.floor(N / 1000) + 7) {
    sample.push(
      Number(await link.client.call('MEMORY', 'USAGE', `cbv:a:${entryFor(i, now).address}`, 'SAMPLES', '0')),
    );
  }
  sample.sort((a, b) => a - b);
  const mean = sample.reduce((a, b) => a + b, 0) / sample.length;
  const perEntry = (used - usedBefore) / (N + 1);
  const result = {
    machine: machine(),
    entries: N + 1,
    meanJsonBytes: Math.round(jsonBytes / Math.min(N, 10_000)),
    meanEncodedBytes: Math.round(codecBytes / Math.min(N, 10_000)),
    memoryUsage: {
      mean: Math.round(mean),
      p50: sample[Math.floor(sample.length / 2)],
      max: sample.at(-1),
      n: sample.length,
    },
    usedMemoryBytes: used,
    usedMemoryHuman: /used_memory_human:(\S+)/.exec(info)?.[1],
    bytesPerEntryInfo: Math.round(perEntry),
    entriesPerGiB: Math.floor(2 ** 30 / perEntry),
  };
  console.log(`entries                       ${result.entries.toLocaleString('en')}`);
  console.log(`verdict as JSON (mean)        ${result.meanJsonBytes} bytes`);
  console.log(`encoded value (mean)          ${result.meanEncodedBytes} bytes`);
  console.log(
    `MEMORY USAGE per key          mean ${result.memoryUsage.mean}, p50 ${result.memoryUsage.p50}, max ${result.memoryUsage.max} bytes (${sample.length} keys)`,
  );
  console.log(
    `INFO memory used_memory       ${result.usedMemoryHuman} => ${result.bytesPerEntryInfo} bytes per entry`,
  );
  console.log(`entries per GiB (INFO)        ${result.entriesPerGiB.toLocaleString('en')}`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  await link.close();
} finally {
  await redis.stop();
}
