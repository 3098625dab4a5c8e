/**
 * A compact binary encoding of cache entries, for stores where every byte is
 * multiplied by tens of millions of addresses (Redis). The JSON of a typical
 * entry is about 800 bytes; this is about a tenth of that.
 *
 * Layout (format 1):
 *   byte 0   format (1)
 *   byte 1   flags: bit 0 = body deflated with the preset dictionary,
 *                   bit 1 = body is the verdict as JSON (its shape was not the known one)
 *   varints  storedAt, expiresAt - storedAt, refreshAt - storedAt + 1 (0 = null)   [zigzag]
 *   body     the verdict: fixed field order, strings as varint length + UTF-8
 *
 * The address (and the domain, when it is the address's) is the store's key,
 * so it is left out and given back by the decoder. Any verdict field this
 * codec does not know goes into a JSON tail, so a field added to the verdict
 * later is never silently dropped. The dictionary is part of the format: a
 * different dictionary is a new format number.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { AddressEntry, DomainFact, StoredVerdict } from './verdict-cache.js';
import type { DomainFactKind } from '../service/verdict.js';

const FORMAT = 1;
const DEFLATED = 1;
const AS_JSON = 2;

/** Words that recur in verdicts: deflate finds them here instead of spelling them out. Fixed for format 1. */
const DICTIONARY = Buffer.from(
  [
    'Recipient address rejected: User unknown in local recipient table',
    'Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/',
    'User unknown; rejecting Unrouteable address Mailbox unavailable Mailbox full over quota',
    'No such user here mailbox unavailable Service unavailable Access denied Relay access denied',
    'temporary_failure connection_failed dns_error protocol_error unsafe_target policy_rejected',
    'rate_limited greylisted timeout null_sender_rejected no_such_domain no_mail_host null_mx',
    'mailbox_full mailbox_disabled user_unknown catch_all accepted invalid_syntax pending skipped',
    'deliverable undeliverable risky unknown rcpt_random rcpt greeting ehlo helo starttls mail vrfy',
    'rcpt.2xx rcpt.bad-mailbox rcpt.random-accepted rcpt.greylisted local. dns. service. cache.domain-fact.',
    'the server accepted the address the server rejected the address: ',
    "5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. For more information, go to https://support.google.com/mail/?p=NoSuchUser",
    '5.5.0 Requested action not taken: mailbox unavailable 5.4.1 Recipient address rejected: Access denied',
    '2.1.5 Ok 2.1.0 Ok 2.0.0 Ok 5.1.1 5.1.0 5.7.1 4.2.0 4.7.1 gmail.com outlook.com mx. mail. smtp. .com',
  ].join('\n'),
  'utf8',
);

// ---------------------------------------------------------------------------------------------
// Writer / reader of varints and strings.

class Writer {
  private buf = Buffer.allocUnsafe(256);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.length++] = b;
  }

  /** Unsigned varint (LEB128) of a non-negative safe integer. */
  uint(n: number): void {
    let v = n;
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }

  /**
   * A number: an integer of magnitude below 2^50 as a varint of its zigzag
   * value doubled (even); anything else as an odd marker and a float64.
   */
  num(n: number): void {
    if (Number.isInteger(n) && Math.abs(n) < 2 ** 50 && !Object.is(n, -0)) {
      this.uint((n >= 0 ? n * 2 : -n * 2 - 1) * 2);
    } else {
      this.byte(1);
      this.room(8);
      this.buf.writeDoubleLE(n, this.length);
      this.length += 8;
    }
  }

  /** A duration in ms: whole seconds (the usual TTLs) in fewer bytes. */
  ms(n: number): void {
    this.num(n % 1000 === 0 ? (n / 1000) * 2 : n * 2 + 1);
  }

  /** A string or null: length + 1 (0 = null), then UTF-8. */
  str(s: string | null): void {
    if (s === null) {
      this.byte(0);
      return;
    }
    const n = Buffer.byteLength(s);
    this.uint(n + 1);
    this.room(n);
    this.buf.write(s, this.length, 'utf8');
    this.length += n;
  }

  bytes(b: Buffer): void {
    this.room(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }

  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

export class CodecError extends Error {
  readonly code = 'CBV_ERR_CACHE_CODEC';
}

class Reader {
  at = 0;
  constructor(private readonly buf: Buffer) {}

  byte(): number {
    if (this.at >= this.buf.length) throw new CodecError('truncated entry');
    return this.buf[this.at++] ?? 0;
  }

  uint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new CodecError('varint too long');
    }
  }

  num(): number {
    const v = this.uint();
    if (v % 2 === 0) {
      const z = v / 2;
      return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    }
    if (v !== 1 || this.at + 8 > this.buf.length) throw new CodecError('bad number');
    const f = this.buf.readDoubleLE(this.at);
    this.at += 8;
    return f;
  }

  ms(): number {
    const n = this.num();
    return Math.abs(n) % 2 === 0 ? (n / 2) * 1000 : (n - 1) / 2;
  }

  str(): string | null {
    const n = this.uint();
    if (n === 0) return null;
    const end = this.at + n - 1;
    if (end > this.buf.length) throw new CodecError('truncated string');
    const s = this.buf.toString('utf8', this.at, end);
    this.at = end;
    return s;
  }

  text(): string {
    const s = this.str();
    if (s === null) throw new CodecError('null where a string is required');
    return s;
  }

  rest(): Buffer {
    return this.buf.subarray(this.at);
  }
}

// ---------------------------------------------------------------------------------------------
// The verdict body.

const KNOWN_TOP = new Set([
  'address',
  'domain',
  'result',
  'reason',
  'temporary',
  'rule',
  'message',
  'mx',
  'smtp',
  'catchAllProbe',
  'durationMs',
  'attempts',
  'cache',
]);
const sameKeys = (o: object, keys: readonly string[]): boolean => {
  const own = Object.keys(o);
  return own.length === keys.length && keys.every((k) => k in o);
};

/** Whether the nested objects have exactly the shape the positional body encodes. */
function knownShape(v: StoredVerdict): boolean {
  if (v.mx && !sameKeys(v.mx, ['host', 'ip', 'preference'])) return false;
  if (v.smtp && !sameKeys(v.smtp, ['stage', 'code', 'enhancedCode', 'text'])) return false;
  if (!sameKeys(v.cache, ['hit', 'fact', 'ageSeconds'])) return false;
  return v.attempts.every((a) => sameKeys(a, ['host', 'ip', 'reason', 'rule', 'stage']));
}

/** The message the engine writes for a deciding reply (src/core/smtp/probe.ts decideRcpt). */
const replyMessage = (r: { code: number; text: string }): string =>
  `${r.code} ${r.text.split('\n').join(' ')}`;

/** Reasons and results as one byte (index + 1); 0 then the string, for any not in these lists. Fixed for format 1. */
const REASONS = [
  'accepted',
  'user_unknown',
  'mailbox_disabled',
  'mailbox_full',
  'catch_all',
  'null_sender_rejected',
  'no_such_domain',
  'no_mail_host',
  'null_mx',
  'policy_rejected',
  'greylisted',
  'temporary_failure',
  'timeout',
  'connection_failed',
  'dns_error',
  'unsafe_target',
  'invalid_syntax',
  'protocol_error',
  'rate_limited',
  'pending',
  'skipped',
];
const RESULTS = ['deliverable', 'undeliverable', 'risky', 'unknown'];

function writeEnum(w: Writer, list: readonly string[], value: string): void {
  const i = list.indexOf(value);
  w.byte(i + 1);
  if (i < 0) w.str(value);
}

function readEnum(r: Reader, list: readonly string[]): string {
  const i = r.byte();
  return i === 0 ? r.text() : (list[i - 1] ?? '');
}

/** Replies quote the address ("550 5.1.1 <x@y>: ..."): it is the key, so it is written as this byte. */
const ADDRESS_MARK = '\u0001';
/** And MX host names and replies name the domain ("mx1.example.org"): written as this byte. */
const DOMAIN_MARK = '\u0002';

/** An IPv4 address in its canonical dotted form as 4 bytes; anything else as a string. */
function writeIp(w: Writer, ip: string): void {
  const parts = ip.split('.');
  const bytes = parts.map(Number);
  if (parts.length === 4 && bytes.every((b, i) => String(b) === parts[i] && b >= 0 && b <= 255)) {
    w.byte(4);
    for (const b of bytes) w.byte(b);
  } else {
    w.byte(0);
    w.str(ip);
  }
}

function readIp(r: Reader): string {
  return r.byte() === 4 ? [r.byte(), r.byte(), r.byte(), r.byte()].join('.') : r.text();
}

const tri = (b: boolean | null): number => (b === null ? 2 : b ? 1 : 0);
const fromTri = (n: number): boolean | null => (n === 2 ? null : n === 1);

function writeVerdict(w: Writer, v: StoredVerdict, keyAddress: string, keyDomain: string): void {
  w.str(v.address === keyAddress ? null : v.address);
  w.str(v.domain === keyDomain ? null : v.domain);
  writeEnum(w, REASONS, v.reason);
  writeEnum(w, RESULTS, v.result);
  const texts = [v.message, v.smtp?.text ?? '', v.mx?.host ?? ''];
  const marked =
    keyAddress !== '' &&
    keyDomain !== '' &&
    !texts.some((t) => t.includes(ADDRESS_MARK) || t.includes(DOMAIN_MARK));
  const mark = (t: string): string =>
    marked ? t.split(keyAddress).join(ADDRESS_MARK).split(keyDomain).join(DOMAIN_MARK) : t;
  w.byte((v.temporary ? 1 : 0) | (tri(v.catchAllProbe) << 1) | (v.cache.hit ? 8 : 0) | (marked ? 16 : 0));
  w.str(v.rule);
  // Most messages are the deciding reply itself ("550 5.1.1 ..."): null says so, and saves repeating it.
  w.str(v.smtp && v.message === replyMessage(v.smtp) ? null : mark(v.message));
  if (v.mx) {
    w.byte(1);
    w.str(mark(v.mx.host));
    writeIp(w, v.mx.ip);
    w.num(v.mx.preference);
  } else w.byte(0);
  if (v.smtp) {
    w.byte(1);
    w.str(v.smtp.stage);
    w.num(v.smtp.code);
    w.str(v.smtp.enhancedCode);
    w.str(mark(v.smtp.text));
  } else w.byte(0);
  w.num(v.durationMs);
  w.uint(v.attempts.length);
  for (const a of v.attempts) {
    w.str(a.host);
    w.str(a.ip);
    w.str(a.reason);
    w.str(a.rule);
    w.str(a.stage);
  }
  w.str(v.cache.fact);
  if (v.cache.ageSeconds === null) w.byte(0);
  else {
    w.byte(1);
    w.num(v.cache.ageSeconds);
  }
  const extra = Object.fromEntries(Object.entries(v).filter(([k]) => !KNOWN_TOP.has(k)));
  w.str(Object.keys(extra).length > 0 ? JSON.stringify(extra) : null);
}

function readVerdict(r: Reader, keyAddress: string, keyDomain: string): StoredVerdict {
  const address = r.str() ?? keyAddress;
  const domain = r.str() ?? keyDomain;
  const reason = readEnum(r, REASONS) as StoredVerdict['reason'];
  const result = readEnum(r, RESULTS) as StoredVerdict['result'];
  const bits = r.byte();
  const unmark = (t: string): string =>
    (bits & 16) !== 0 ? t.split(DOMAIN_MARK).join(keyDomain).split(ADDRESS_MARK).join(keyAddress) : t;
  const rule = r.text();
  const raw = r.str();
  const message = raw === null ? null : unmark(raw);
  const mx = r.byte() === 1 ? { host: unmark(r.text()), ip: readIp(r), preference: r.num() } : null;
  const smtp =
    r.byte() === 1
      ? {
          stage: r.text() as NonNullable<StoredVerdict['smtp']>['stage'],
          code: r.num(),
          enhancedCode: r.str(),
          text: unmark(r.text()),
        }
      : null;
  const durationMs = r.num();
  if (message === null && smtp === null) throw new CodecError('message refers to a missing reply');
  const attempts: StoredVerdict['attempts'] = [];
  for (let i = r.uint(); i > 0; i--) {
    attempts.push({
      host: r.text(),
      ip: r.text(),
      reason: r.text() as StoredVerdict['attempts'][number]['reason'],
      rule: r.text(),
      stage: r.str() as StoredVerdict['attempts'][number]['stage'],
    });
  }
  const fact = r.str() as DomainFactKind | null;
  const ageSeconds = r.byte() === 1 ? r.num() : null;
  const extra = r.str();
  return {
    address,
    domain,
    result,
    reason,
    temporary: (bits & 1) === 1,
    rule,
    message: message ?? replyMessage(smtp as NonNullable<typeof smtp>),
    mx,
    smtp,
    catchAllProbe: fromTri((bits >> 1) & 3),
    durationMs,
    attempts,
    cache: { hit: (bits & 8) === 8, fact, ageSeconds },
    ...(extra ? (JSON.parse(extra) as object) : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Entries.

interface Times {
  storedAt: number;
  expiresAt: number;
  refreshAt: number | null;
}

function encode(times: Times, verdict: StoredVerdict, keyAddress: string, keyDomain: string): Buffer {
  const body = new Writer();
  const shaped = knownShape(verdict);
  if (shaped) writeVerdict(body, verdict, keyAddress, keyDomain);
  else body.str(JSON.stringify(verdict));
  const plain = body.done();
  const packed = deflateRawSync(plain, { dictionary: DICTIONARY, level: 9 });
  const deflate = packed.length < plain.length;
  const w = new Writer();
  w.byte(FORMAT);
  w.byte((deflate ? DEFLATED : 0) | (shaped ? 0 : AS_JSON));
  w.num(times.storedAt);
  w.ms(times.expiresAt - times.storedAt);
  w.byte(times.refreshAt === null ? 0 : 1);
  if (times.refreshAt !== null) w.ms(times.refreshAt - times.storedAt);
  w.bytes(deflate ? packed : plain);
  return w.done();
}

function decode(buf: Buffer, keyAddress: string, keyDomain: string): Times & { verdict: StoredVerdict } {
  const r = new Reader(buf);
  const format = r.byte();
  if (format !== FORMAT) throw new CodecError(`unknown entry format ${format}`);
  const flags = r.byte();
  const storedAt = r.num();
  const expiresAt = storedAt + r.ms();
  const refreshAt = r.byte() === 1 ? storedAt + r.ms() : null;
  const raw = r.rest();
  const body = new Reader((flags & DEFLATED) !== 0 ? inflateRawSync(raw, { dictionary: DICTIONARY }) : raw);
  const verdict =
    (flags & AS_JSON) !== 0
      ? (JSON.parse(body.text()) as StoredVerdict)
      : readVerdict(body, keyAddress, keyDomain);
  return { storedAt, expiresAt, refreshAt, verdict };
}

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1);

/** Bytes for an address entry; the address itself is the key and is not repeated. */
export function encodeAddressEntry(e: AddressEntry): Buffer {
  // The decoder knows the key, so the domain is written only when it is not the address's own.
  return encode(e, e.verdict, e.address, domainOf(e.address));
}

/** The entry stored under `address` (throws CodecError on bytes it cannot read). */
export function decodeAddressEntry(address: string, buf: Buffer): AddressEntry {
  const domain = domainOf(address);
  const d = decode(buf, address, domain);
  return { address, domain: d.verdict.domain, ...d };
}

/** Bytes for a domain fact: its kind, then the entry. */
export function encodeDomainFact(f: DomainFact): Buffer {
  const w = new Writer();
  w.str(f.kind);
  w.bytes(encode({ ...f, refreshAt: null }, f.verdict, '', f.domain));
  return w.done();
}

export function decodeDomainFact(domain: string, buf: Buffer): DomainFact {
  const r = new Reader(buf);
  const kind = r.text() as DomainFactKind;
  const d = decode(r.rest(), '', domain);
  return { domain, kind, verdict: d.verdict, storedAt: d.storedAt, expiresAt: d.expiresAt };
}

/** A verdict alone (the fleet's "callout done" notification), with its address. */
export function encodeVerdict(v: StoredVerdict): Buffer {
  return encode({ storedAt: 0, expiresAt: 0, refreshAt: null }, v, '', '');
}

export function decodeVerdict(buf: Buffer): StoredVerdict {
  return decode(buf, '', '').verdict;
}
