/**
 * RFC 5321 mailbox parsing (section 4.1.2), with the RFC 6531 extension for
 * UTF-8 local parts. Whatever comes out of here is safe to put on the wire:
 * no control characters, no CR/LF, no unbalanced quotes, no longer than
 * cbv's own bound on a path.
 *
 * It reads addresses as mail systems write them, not only as RFC 5321 draws
 * them, because cbv must never refuse what real mail systems accept
 * (docs/verdicts.md, "Addresses beyond RFC 5321"):
 *
 * - Postfix hands policy servers its internal form, unquoted: the sender
 *   `"john doe"@example.org` arrives as `john doe@example.org`. A local part
 *   that is neither a dot-string nor a quoted string is therefore taken as
 *   the content of one and quoted for the wire, as Postfix quotes it when it
 *   sends (`a..b`, `.a`, `a.` are real addresses at Japanese mobile carriers).
 * - RFC 5321's sizes (64-octet local part, 256-octet path) are what every
 *   implementation must accept, not what they refuse: SRS and VERP senders
 *   exceed them and Postfix and the large providers accept them. They are
 *   verified, with a note in the verdict, up to cbv's own bound.
 * - A trailing dot (the absolute form of a domain) names the same domain;
 *   underscores are accepted in labels, as Postfix accepts them.
 * - A path in angle brackets may carry a source route (`<@relay:user@example.org>`,
 *   RFC 5321 4.1.2's A-d-l), which RFC 5321 (C, 3.6.1) says to accept and ignore:
 *   Postfix strips it before a policy server sees the sender. Without brackets the
 *   same text is Postfix's internal form of the quoted local part `"@relay:user"`.
 * - An address literal has one canonical form (IPv6 as RFC 5952 writes it), so
 *   lists and caches match it however it is spelled; one Postfix accepts but that
 *   cannot be read without guessing (`[192.0.2.010]`: octal or decimal?) is not
 *   verified, never refused.
 *
 * Refused as invalid only what Postfix itself refuses, or what no mail can
 * ever reach (no domain, a name the DNS cannot hold). Not verified, but not
 * refused either, what cbv cannot put on the wire although an MTA accepted
 * it: control characters, paths beyond cbv's bound.
 */
import { domainToASCII } from 'node:url';
import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface Mailbox {
  /** Local part in its canonical wire form (quoted only when it must be). */
  localPart: string;
  /** Domain as A-labels, lower case, no trailing dot; or an address literal such as `[192.0.2.1]`. */
  domain: string;
  /** The IP inside an address literal, when the domain is one. */
  literalIp: string | null;
  /** `localPart@domain`, what goes inside `RCPT TO:<...>`. */
  address: string;
  /** The local part holds non-ASCII characters, so the server must offer SMTPUTF8. */
  needsSmtpUtf8: boolean;
  /** Where the address goes beyond RFC 5321 though mail systems accept it (said in the verdict); usually empty. */
  notes: string[];
}

/**
 * Why an address was not parsed:
 * - `invalid`: no mail can reach it, or Postfix refuses it itself (`invalid_syntax`);
 * - `unverifiable`: an MTA may accept it, but cbv cannot put it on the wire (`unverifiable`).
 */
export type ParseFailure = 'invalid' | 'unverifiable';

export type ParseResult = { ok: true; mailbox: Mailbox } | { ok: false; kind: ParseFailure; error: string };

/**
 * RFC 5321 4.5.3.1 sizes. The local-part and path sizes are the least every
 * implementation must accept (and real SRS/VERP addresses exceed them); the
 * domain and label sizes are the DNS's own (RFC 1035 2.3.4), which no name can exceed.
 */
export const LIMITS = { localPart: 64, domain: 255, label: 63, path: 256 } as const;

/**
 * cbv's own bound on a path it sends (with its angle brackets), in octets: RFC 5321's
 * longest text line (4.5.3.1.6), and half of the 2048-octet command line Postfix accepts,
 * so any MX that takes such a sender's bounces takes cbv's RCPT as well.
 */
export const MAX_PATH_OCTETS = 1000;

const ATEXT = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~\\u0080-\\u{10FFFF}]";
/** A dot-string (RFC 5321 4.1.2): atoms of atext characters (UTF-8 ones too, RFC 6531) joined by single dots. */
const DOT_STRING = new RegExp(`^${ATEXT}+(?:\\.${ATEXT}+)*$`, 'u');
/**
 * One test for the whole text before the character-by-character search that names the culprit
 * (most addresses have none): what isForbidden, isUnsendable and the domain's own rule refuse.
 * With the u flag a surrogate range matches only unpaired surrogates, as isForbidden does.
 */
const ANY_FORBIDDEN = /[\0\n\r\uD800-\uDFFF]/u;
const ANY_UNSENDABLE = /[\x00-\x1f\x7f-\x9f\uFFFD]/u;
const ANY_NOT_IN_DOMAIN = /[\s"\\()<>[\],;:@\x00-\x1f\x7f-\x9f\uFFFD]/u;
/** A DNS label as mail systems accept it: letters, digits, underscores, inner hyphens. */
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;

function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const names: Record<number, string> = { 0: 'NUL', 9: 'TAB', 10: 'LF', 13: 'CR', 32: 'space', 127: 'DEL' };
  return (
    names[cp] ??
    (cp < 32 || (cp >= 127 && cp < 160) || cp === 0xfffd
      ? `${cp === 0xfffd ? 'replacement character' : 'control character'} U+${cp.toString(16).padStart(4, '0').toUpperCase()}`
      : `'${ch}'`)
  );
}

/** Characters no SMTP command can carry (NUL, CR, LF) and unpaired surrogates, which have no UTF-8 form. */
function isForbidden(ch: string): boolean {
  const cp = ch.codePointAt(0) ?? 0;
  return cp === 0 || cp === 10 || cp === 13 || (cp >= 0xd800 && cp <= 0xdfff);
}

/**
 * Control characters an MTA may still accept in a local part (Postfix does), and U+FFFD,
 * which stands for octets that were not UTF-8: cbv never sends either.
 */
function isUnsendable(ch: string): boolean {
  const cp = ch.codePointAt(0) ?? 0;
  return cp < 32 || (cp >= 127 && cp < 160) || cp === 0xfffd;
}

function fail(kind: ParseFailure, error: string): ParseResult {
  return { ok: false, kind, error };
}

/**
 * True for the null reverse-path as it is written in requests: empty, or `<>` (RFC 5321 4.5.5),
 * with any white space around or inside the brackets (`< >`, as scripts and RFC 5322's CFWS write
 * it): nothing in it names a mailbox, so it is never grounds for a reject.
 */
export function isNullPath(input: string): boolean {
  return /^\s*(?:<\s*>)?\s*$/.test(input);
}

/** How strict the parser is where sites differ. */
export interface ParseOptions {
  /**
   * Accept a domain of one label (`root@vm`), as a site whose internal hosts send as such may want
   * (`verify.allow_single_label_domains`). Off by default: from a stranger no reply can reach such a
   * domain (RFC 5321 2.3.5 wants fully qualified names), so it is `invalid_syntax`.
   */
  singleLabelDomains?: boolean;
}

/** True for a domain of one label (`vm`, `localhost`); never for an address literal. */
export function isSingleLabel(domain: string): boolean {
  return !domain.startsWith('[') && !domain.includes('.');
}

/** Parse `local@domain` (optionally wrapped in angle brackets), in RFC 5321 form or Postfix's internal form. */
export function parseMailbox(input: string, options: ParseOptions = {}): ParseResult {
  if (ANY_FORBIDDEN.test(input)) {
    const chars = Array.from(input);
    const bad = chars.findIndex(isForbidden);
    return fail('invalid', `${describeChar(chars[bad] ?? '')} at position ${bad + 1} is not allowed`);
  }
  let text = withoutOuterSpace(input);
  if (text.startsWith('<') || text.endsWith('>')) {
    if (!(text.startsWith('<') && text.endsWith('>') && text.length >= 2))
      return fail('invalid', 'unbalanced angle brackets');
    text = withoutSourceRoute(text.slice(1, -1).replace(/^[ \t]+|[ \t]+$/g, ''));
  }
  if (text === '') return fail('invalid', 'empty address');
  const at = splitAtLastAt(text);
  if (at === null) return fail('invalid', `missing '@' between local part and domain`);
  const domain = parseDomain(text.slice(at + 1), at + 2, options);
  if (!domain.ok) return fail(domain.kind ?? 'invalid', domain.error);
  const local = parseLocalPart(text.slice(0, at));
  if (!local.ok) return fail(local.kind, local.error);
  const address = `${local.value}@${domain.value}`;
  return withinLimits({
    localPart: local.value,
    domain: domain.value,
    literalIp: domain.literalIp,
    address,
    needsSmtpUtf8: /[^\x00-\x7f]/.test(local.value),
    notes: [],
  });
}

/** RFC 5321's sizes are noted when exceeded; cbv's own bound is where verification stops. */
function withinLimits(mailbox: Mailbox): ParseResult {
  // The path counts its angle brackets (RFC 5321 4.5.3.1.3).
  const pathBytes = Buffer.byteLength(mailbox.address, 'utf8') + 2;
  if (pathBytes > MAX_PATH_OCTETS) {
    return fail(
      'unverifiable',
      `path is ${pathBytes} octets, longer than the ${MAX_PATH_OCTETS} cbv sends; not verified`,
    );
  }
  const localBytes = Buffer.byteLength(mailbox.localPart, 'utf8');
  if (localBytes > LIMITS.localPart)
    mailbox.notes.push(
      `the local part is ${localBytes} octets, beyond RFC 5321's ${LIMITS.localPart} (4.5.3.1.1), as SRS and VERP senders are; verified anyway`,
    );
  if (pathBytes > LIMITS.path)
    mailbox.notes.push(
      `the path is ${pathBytes} octets, beyond RFC 5321's ${LIMITS.path} (4.5.3.1.3); verified anyway`,
    );
  return { ok: true, mailbox };
}

/**
 * A mail domain alone (as configuration lists and domain facts hold it): A-labels,
 * lower case, no trailing dot, or an address literal; the domain rules of parseMailbox.
 */
export function parseMailDomain(
  input: string,
  options: ParseOptions = {},
): { ok: true; domain: string } | { ok: false; error: string } {
  const chars = Array.from(input);
  const bad = chars.findIndex((c) => isForbidden(c) || isUnsendable(c));
  if (bad >= 0)
    return { ok: false, error: `${describeChar(chars[bad] ?? '')} at position ${bad + 1} is not allowed` };
  const domain = parseDomain(input, 1, options);
  return domain.ok ? { ok: true, domain: domain.value } : domain;
}

/**
 * The address without the white space a script or MTA wrote around it (`sender= <a@b.example>`,
 * `a@b.example `, `< a@b.example >`, as isNullPath reads `< >`): none is part of the address.
 * After the address it never is (no domain ends with a space); before it only when a path in
 * angle brackets follows, since bare, a leading space is Postfix's internal form of the quoted
 * local part `" a"`.
 */
function withoutOuterSpace(input: string): string {
  const text = input.replace(/[ \t]+$/, '');
  return /^[ \t]+</.test(text) ? text.replace(/^[ \t]+/, '') : text;
}

/**
 * A path without its source route (RFC 5321 4.1.2: `Path = "<" [ A-d-l ":" ] Mailbox ">"`,
 * A-d-l = `@domain` joined by commas), which RFC 5321 C and 3.6.1 say to accept and ignore,
 * as Postfix does. Only inside angle brackets: bare, `@a:u@example.org` is Postfix's
 * internal form of the quoted local part `"@a:u"`, so it is read as that.
 */
function withoutSourceRoute(path: string): string {
  return path.replace(/^@[^\s@:,"<>]*(?:,@[^\s@:,"<>]*)*:(?=[^@]*@|"[^"]*"@)/, '');
}

/**
 * The '@' that separates local part and domain: the last one outside a quoted string,
 * or, when quotes do not pair up (Postfix's internal form has none to pair), the last one.
 */
function splitAtLastAt(text: string): number | null {
  let inQuotes = false;
  let last: number | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inQuotes && ch === '\\') i++;
    else if (ch === '"') inQuotes = !inQuotes;
    else if (ch === '@' && !inQuotes) last = i;
  }
  if (inQuotes || last === null) {
    const any = text.lastIndexOf('@');
    return any >= 0 ? any : null;
  }
  return last;
}

type Part = { ok: true; value: string } | { ok: false; kind: ParseFailure; error: string };

/**
 * A dot-string stays as it is; a quoted string is reduced to its canonical form; anything
 * else is the content of a quoted string written without its quotes (Postfix's internal
 * form, or RFC 5322's obsolete dots), quoted for the wire.
 */
function parseLocalPart(raw: string): Part {
  // An empty local part is the empty quoted string "" (valid in RFC 5321; Postfix accepts
  // MAIL FROM:<""@example.org> and hands policy servers "@example.org").
  if (ANY_UNSENDABLE.test(raw)) {
    const chars = Array.from(raw);
    const unsendable = chars.findIndex(isUnsendable);
    return {
      ok: false,
      kind: 'unverifiable',
      error: `${describeChar(chars[unsendable] ?? '')} at position ${unsendable + 1} of the local part: cbv never sends control characters; not verified`,
    };
  }
  if (isDotString(raw)) return { ok: true, value: raw };
  const quoted = quotedContent(Array.from(raw));
  return { ok: true, value: canonicalLocalPart(quoted ?? raw) };
}

function isDotString(text: string): boolean {
  return DOT_STRING.test(text);
}

/** The content of an RFC 5321 quoted string that is the whole of `chars`, or null if it is not one. */
function quotedContent(chars: readonly string[]): string | null {
  if (chars.length < 2 || chars[0] !== '"' || chars[chars.length - 1] !== '"') return null;
  let content = '';
  for (let i = 1; i < chars.length - 1; i++) {
    const ch = chars[i] ?? '';
    if (ch === '"') return null;
    if (ch === '\\') {
      if (i + 1 >= chars.length - 1) return null;
      content += chars[++i] ?? '';
    } else {
      content += ch;
    }
  }
  return content;
}

/** RFC 5321 4.1.2: a local part that can be a dot-string SHOULD be sent as one; otherwise quoted, minimally escaped. */
function canonicalLocalPart(content: string): string {
  if (isDotString(content)) return content;
  return `"${content.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * A domain name in A-labels and lower case ('' when a U-label cannot be converted, RFC 5891).
 * ASCII names are taken as the DNS holds them: Postfix does not check IDNA either.
 */
export function toALabels(name: string): string {
  return /^[\x21-\x7e]+$/.test(name) ? name.toLowerCase() : domainToASCII(name.normalize('NFC'));
}

type DomainPart =
  { ok: true; value: string; literalIp: string | null } | { ok: false; error: string; kind?: ParseFailure };

/** Label separators besides '.' (RFC 3490 3.1; UTS 46 maps them to '.'): ideographic and full-width stops. */
const IDN_DOTS = /[\u3002\uff0e\uff61]/g;

function parseDomain(input: string, offset: number, options: ParseOptions): DomainPart {
  if (input === '') return { ok: false, error: 'empty domain' };
  if (input.startsWith('[')) return parseAddressLiteral(input);
  // Read as dots before the dot rules, so `bücher。example。` is the absolute form of bücher.example.
  const raw = input.replace(IDN_DOTS, '.');
  // The absolute form (example.org.) names the same domain.
  const name = raw.endsWith('.') && !raw.endsWith('..') ? raw.slice(0, -1) : raw;
  const badChar = ANY_NOT_IN_DOMAIN.test(name)
    ? Array.from(name).findIndex((c) => /[\s"\\()<>[\],;:@]/u.test(c) || isUnsendable(c))
    : -1;
  if (badChar >= 0) {
    return {
      ok: false,
      error: `${describeChar(Array.from(name)[badChar] ?? '')} at position ${offset + badChar} is not allowed in a domain`,
    };
  }
  if (name === '' || name.startsWith('.')) return { ok: false, error: 'domain starts with a dot' };
  if (name.includes('..') || name.endsWith('.'))
    return { ok: false, error: 'empty label (two dots in a row) in the domain' };
  const ascii = toALabels(name);
  if (ascii === '')
    return { ok: false, error: `domain '${raw}' is not a valid internationalised domain name` };
  if (ascii.length > LIMITS.domain)
    return {
      ok: false,
      error: `domain is ${ascii.length} octets, more than the DNS allows (${LIMITS.domain})`,
    };
  const labels = ascii.split('.');
  for (const label of labels) {
    if (label.length > LIMITS.label) {
      return {
        ok: false,
        error: `domain label '${label.slice(0, 20)}...' is ${label.length} octets, more than the DNS allows (${LIMITS.label})`,
      };
    }
    if (!LABEL.test(label)) {
      return {
        ok: false,
        error: `domain label '${label}' must be letters, digits, underscores and inner hyphens`,
      };
    }
  }
  if (labels.length < 2 && !options.singleLabelDomains)
    return {
      ok: false,
      error: `domain '${ascii}' has no dot; a mail domain from outside needs at least two labels (RFC 5321 2.3.5; verify.allow_single_label_domains accepts it)`,
    };
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) {
    return {
      ok: false,
      error: `domain '${ascii}' looks like a bare IP address; write it as an address literal [${ascii}]`,
    };
  }
  return { ok: true, value: ascii, literalIp: null };
}

function parseAddressLiteral(raw: string): DomainPart {
  if (!raw.endsWith(']')) return { ok: false, error: 'address literal has no closing bracket' };
  const inner = raw.slice(1, -1);
  if (isIPv4(inner)) return { ok: true, value: `[${inner}]`, literalIp: inner };
  if (/^[0-9]+(?:\.[0-9]+){3}$/.test(inner) && inner.split('.').every((o) => Number(o) <= 255))
    // Postfix accepts a leading zero; the C library reads 010 as octal 8, a person as decimal 10.
    return {
      ok: false,
      kind: 'unverifiable',
      error: `address literal '[${inner}]' has an octet with a leading zero, which may be octal or decimal; not verified`,
    };
  if (/^ipv6:/i.test(inner)) {
    const ip = canonicalIpv6(inner.slice(5));
    if (ip) return { ok: true, value: `[IPv6:${ip}]`, literalIp: ip };
    return { ok: false, error: `'${inner.slice(5)}' is not a valid IPv6 address literal` };
  }
  return { ok: false, error: `address literal '[${inner}]' is not an IPv4 address or IPv6:address` };
}

/**
 * An IPv6 address in RFC 5952's form (lower case, longest zero run compressed; an IPv4-mapped
 * address in mixed notation, 5.), or null when it is none. A zone (`fe80::1%eth0`) is no part
 * of RFC 5321's IPv6-addr, and Postfix refuses it.
 */
function canonicalIpv6(text: string): string | null {
  if (!/^[0-9a-f:.]+$/i.test(text) || !ipaddr.IPv6.isValid(text)) return null;
  const ip = ipaddr.IPv6.parse(text);
  return ip.isIPv4MappedAddress() ? `::ffff:${ip.toIPv4Address().toString()}` : ip.toRFC5952String();
}
