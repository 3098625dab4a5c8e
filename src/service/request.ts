/**
 * A verification request: the sender to verify plus what the front-end knows
 * about the SMTP connection that offered it. The policy server fills it from
 * Postfix's attributes, the HTTP API from its query, the CLI from its flags;
 * the service decides from it (skip rules, SPF, the decision table) the same
 * way for all of them.
 */
import ipaddr from 'ipaddr.js';
import { isNullPath } from '../core/index.js';

/** Where in the SMTP dialogue the front-end asks (RFC 5321 commands; Postfix's protocol_state). */
export type ProtocolStage = 'connect' | 'helo' | 'mail' | 'rcpt' | 'data' | 'end_of_message' | 'unknown';

/** The connecting SMTP client, as the front-end saw it. Absent facts are null. */
export interface ClientFacts {
  /** The client's IP address, normalised (IPv4-mapped IPv6 becomes IPv4); null when unknown or invalid. */
  ip: string | null;
  /** The name the client gave in HELO/EHLO, as given. */
  helo: string | null;
  /** The client's verified reverse DNS name (Postfix's client_name), when the front-end knows it. */
  hostname: string | null;
}

export interface VerificationRequest {
  /** The envelope sender (MAIL FROM) as given; '' is the null sender (given as '' or `<>`). */
  sender: string;
  client: ClientFacts;
  /** The SASL login name of the client, when it authenticated (RFC 4954). */
  saslUser: string | null;
  stage: ProtocolStage;
}

/** What a front-end may give: the sender, and any connection facts it has. */
export interface RequestInput {
  sender: string;
  clientIp?: string | null | undefined;
  helo?: string | null | undefined;
  clientHostname?: string | null | undefined;
  saslUser?: string | null | undefined;
  stage?: ProtocolStage | undefined;
}

const nullAsEmpty = (sender: string): string => (isNullPath(sender) ? '' : sender);

const blankToNull = (s: string | null | undefined): string | null => {
  const t = s?.trim();
  return t ? t : null;
};

/**
 * The request as the service uses it: a bare address is a request without
 * connection facts; the client IP is normalised; empty strings are "unknown";
 * the null sender is '' however it was written (Postfix sends `sender=`, some
 * MTAs and scripts `sender=<>`).
 */
export function toRequest(input: string | RequestInput | VerificationRequest): VerificationRequest {
  if (typeof input === 'string')
    return {
      sender: nullAsEmpty(input),
      client: { ip: null, helo: null, hostname: null },
      saslUser: null,
      stage: 'unknown',
    };
  if ('client' in input) return input;
  return {
    sender: nullAsEmpty(input.sender),
    client: {
      ip: normaliseClientIp(input.clientIp),
      helo: blankToNull(input.helo),
      hostname: blankToNull(input.clientHostname),
    },
    saslUser: blankToNull(input.saslUser),
    stage: input.stage ?? 'unknown',
  };
}

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
/** A dotted-quad IPv4 address in its canonical form (decimal octets, no leading zeros). */
const DOTTED_QUAD = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/**
 * An IP address in its one canonical text form, or null when it is none.
 * Accepts what front-ends are given: `[1.2.3.4]`, `IPv6:...` (RFC 5321
 * address literals), zone ids, and IPv4-mapped IPv6 in any writing
 * (`::ffff:1.2.3.4`, `::FFFF:102:304`, `0:0:0:0:0:ffff:1.2.3.4`), which is
 * the IPv4 address itself (a dual-stack listener reports IPv4 clients so).
 */
export function normaliseClientIp(text: string | null | undefined): string | null {
  if (!text) return null;
  // What Postfix sends for an IPv4 client is already canonical: no parser needed.
  if (DOTTED_QUAD.test(text)) return text;
  let t = text.trim();
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  if (/^ipv6:/i.test(t)) t = t.slice(5);
  const zone = t.indexOf('%');
  if (zone >= 0) t = t.slice(0, zone);
  if (!ipaddr.isValid(t)) return null;
  // ipaddr.isValid accepts legacy IPv4 forms (octal, hex, 1-3 parts); a client IP is dotted quad or IPv6.
  if (!t.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(t)) return null;
  const parsed = ipaddr.parse(t);
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toRFC5952String();
  }
  return parsed.toString();
}

/** Postfix's protocol_state as a stage. */
export function stageFromPostfix(state: string | undefined): ProtocolStage {
  switch ((state ?? '').toUpperCase()) {
    case 'CONNECT':
      return 'connect';
    case 'EHLO':
    case 'HELO':
      return 'helo';
    case 'MAIL':
      return 'mail';
    case 'RCPT':
      return 'rcpt';
    case 'DATA':
    case 'BDAT':
      return 'data';
    case 'END-OF-MESSAGE':
      return 'end_of_message';
    default:
      return 'unknown';
  }
}
