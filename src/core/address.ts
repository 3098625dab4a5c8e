/**
 * RFC 5321 mailbox parsing (section 4.1.2), with the RFC 6531 extension for
 * UTF-8 local parts. Whatever comes out of here is safe to put on the wire:
 * no control characters, no CR/LF, no unbalanced quotes, within the length
 * limits of section 4.5.3.1.
 */
import { domainToASCII } from 'node:url';
import { isIPv4, isIPv6 } from 'node:net';

export interface Mailbox {
  /** Local part in its canonical wire form (quoted only when it must be). */
  localPart: string;
  /** Domain as A-labels, lower case; or an address literal such as `[192.0.2.1]`. */
  domain: string;
  /** The IP inside an address literal, when the domain is one. */
  literalIp: string | null;
  /** `localPart@domain`, what goes inside `RCPT TO:<...>`. */
  address: string;
  /** The local part holds non-ASCII characters, so the server must offer SMTPUTF8. */
  needsSmtpUtf8: boolean;
}

export type ParseResult = { ok: true; mailbox: Mailbox } | { ok: false; error: string };

export const LIMITS = { localPart: 64, domain: 255, label: 63, path: 256 } as const;

const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]$/u;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const names: Record<number, string> = { 0: 'NUL', 9: 'TAB', 10: 'LF', 13: 'CR', 32: 'space', 127: 'DEL' };
  return (
    names[cp] ??
    (cp < 32 || (cp >= 127 && cp < 160)
      ? `control character U+${cp.toString(16).padStart(4, '0')}`
      : `'${ch}'`)
  );
}

/** True for C0, DEL and C1 controls, and for unpaired surrogates that cannot be encoded. */
function isForbidden(ch: string): boolean {
  const cp = ch.codePointAt(0) ?? 0;
  return cp < 32 || (cp >= 127 && cp < 160) || (cp >= 0xd800 && cp <= 0xdfff);
}

function fail(error: string): ParseResult {
  return { ok: false, error };
}

/** Parse `local@domain` (optionally wrapped in angle brackets). */
export function parseMailbox(input: string): ParseResult {
  const chars = Array.from(input);
  const bad = chars.findIndex(isForbidden);
  if (bad >= 0) return fail(`${describeChar(chars[bad] ?? '')} at position ${bad + 1} is not allowed`);
  let text = input;
  if (text.startsWith('<') || text.endsWith('>')) {
    if (!(text.startsWith('<') && text.endsWith('>') && text.length >= 2))
      return fail('unbalanced angle brackets');
    text = text.slice(1, -1);
  }
  if (text === '') return fail('empty address');
  const at = splitAtLastAt(text);
  if (at === null) return fail(`missing '@' between local part and domain`);
  const local = parseLocalPart(text.slice(0, at));
  if (!local.ok) return fail(local.error);
  const domain = parseDomain(text.slice(at + 1), at + 2);
  if (!domain.ok) return fail(domain.error);
  const address = `${local.value}@${domain.value}`;
  const localBytes = Buffer.byteLength(local.value, 'utf8');
  if (localBytes > LIMITS.localPart) {
    return fail(`local part is ${localBytes} octets, more than ${LIMITS.localPart}`);
  }
  // The path limit counts the angle brackets (RFC 5321 4.5.3.1.3).
  const pathBytes = Buffer.byteLength(address, 'utf8') + 2;
  if (pathBytes > LIMITS.path) return fail(`path is ${pathBytes} octets, more than ${LIMITS.path}`);
  return {
    ok: true,
    mailbox: {
      localPart: local.value,
      domain: domain.value,
      literalIp: domain.literalIp,
      address,
      needsSmtpUtf8: /[^\x00-\x7f]/.test(local.value),
    },
  };
}

/**
 * A mail domain alone (as a domain fact is keyed): the domain rules of
 * parseMailbox (A-labels, lower case, at most 255 octets, address literals),
 * without the path limit, which only a whole address has.
 */
export function parseMailDomain(input: string): { ok: true; domain: string } | { ok: false; error: string } {
  const chars = Array.from(input);
  const bad = chars.findIndex(isForbidden);
  if (bad >= 0)
    return { ok: false, error: `${describeChar(chars[bad] ?? '')} at position ${bad + 1} is not allowed` };
  const domain = parseDomain(input, 1);
  return domain.ok ? { ok: true, domain: domain.value } : domain;
}

/** The '@' that separates local part and domain: the last one outside a quoted string. */
function splitAtLastAt(text: string): number | null {
  let inQuotes = false;
  let last: number | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inQuotes && ch === '\\') i++;
    else if (ch === '"') inQuotes = !inQuotes;
    else if (ch === '@' && !inQuotes) last = i;
  }
  return last;
}

type Part = { ok: true; value: string } | { ok: false; error: string };

function parseLocalPart(raw: string): Part {
  if (raw === '') return { ok: false, error: 'empty local part' };
  if (raw.startsWith('"')) return parseQuotedLocalPart(raw);
  const chars = Array.from(raw);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] ?? '';
    if (ch === '.') {
      if (i === 0) return { ok: false, error: 'local part starts with a dot' };
      if (i === chars.length - 1) return { ok: false, error: 'local part ends with a dot' };
      if (chars[i + 1] === '.')
        return { ok: false, error: `two dots in a row in the local part at position ${i + 1}` };
    } else if (!ATEXT.test(ch)) {
      return {
        ok: false,
        error: `${describeChar(ch)} at position ${i + 1} is not allowed in an unquoted local part`,
      };
    }
  }
  return { ok: true, value: raw };
}

function parseQuotedLocalPart(raw: string): Part {
  const chars = Array.from(raw);
  let content = '';
  let i = 1;
  for (; i < chars.length; i++) {
    const ch = chars[i] ?? '';
    if (ch === '"') break;
    if (ch === '\\') {
      const next = chars[i + 1];
      if (next === undefined) return { ok: false, error: 'quoted local part ends inside an escape' };
      content += next;
      i++;
    } else {
      content += ch;
    }
  }
  if (i >= chars.length) return { ok: false, error: 'quoted local part has no closing quote' };
  if (i !== chars.length - 1) {
    return { ok: false, error: `unexpected ${describeChar(chars[i + 1] ?? '')} after the closing quote` };
  }
  return { ok: true, value: canonicalLocalPart(content) };
}

/** RFC 5321 4.1.2: a local part that can be a dot-string SHOULD be sent as one. */
function canonicalLocalPart(content: string): string {
  const dotString =
    content !== '' &&
    content.split('.').every((atom) => atom !== '' && Array.from(atom).every((c) => ATEXT.test(c)));
  if (dotString) return content;
  return `"${content.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

type DomainPart = { ok: true; value: string; literalIp: string | null } | { ok: false; error: string };

function parseDomain(raw: string, offset: number): DomainPart {
  if (raw === '') return { ok: false, error: 'empty domain' };
  if (raw.startsWith('[')) return parseAddressLiteral(raw);
  const badChar = Array.from(raw).findIndex((c) => /[\s"\\()<>[\],;:@]/u.test(c));
  if (badChar >= 0) {
    return {
      ok: false,
      error: `${describeChar(Array.from(raw)[badChar] ?? '')} at position ${offset + badChar} is not allowed in a domain`,
    };
  }
  if (raw.endsWith('.')) return { ok: false, error: 'domain ends with a dot' };
  if (raw.startsWith('.')) return { ok: false, error: 'domain starts with a dot' };
  if (raw.includes('..')) return { ok: false, error: 'empty label (two dots in a row) in the domain' };
  const ascii = domainToASCII(raw.normalize('NFC'));
  if (ascii === '')
    return { ok: false, error: `domain '${raw}' is not a valid internationalised domain name` };
  if (ascii.length > LIMITS.domain)
    return { ok: false, error: `domain is ${ascii.length} octets, more than ${LIMITS.domain}` };
  const labels = ascii.split('.');
  for (const label of labels) {
    if (label.length > LIMITS.label) {
      return {
        ok: false,
        error: `domain label '${label.slice(0, 20)}...' is ${label.length} octets, more than ${LIMITS.label}`,
      };
    }
    if (!LDH_LABEL.test(label)) {
      return { ok: false, error: `domain label '${label}' must be letters, digits and inner hyphens` };
    }
  }
  if (labels.length < 2)
    return { ok: false, error: `domain '${ascii}' has no dot; a mail domain needs at least two labels` };
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
  if (/^ipv6:/i.test(inner)) {
    const ip = inner.slice(5);
    if (isIPv6(ip)) return { ok: true, value: `[IPv6:${ip.toLowerCase()}]`, literalIp: ip.toLowerCase() };
    return { ok: false, error: `'${ip}' is not a valid IPv6 address literal` };
  }
  return { ok: false, error: `address literal '[${inner}]' is not an IPv4 address or IPv6:address` };
}
