/**
 * The one configuration schema. It holds every default, rejects unknown keys,
 * and is the source of `cbv config defaults` (descriptions included), so the
 * documentation and the validator cannot disagree. Durations are in seconds.
 */
import { z } from 'zod';
import { isValidCidr } from '../core/target-safety.js';

const seconds = (def: number, what: string) =>
  z
    .number()
    .positive()
    .max(86_400 * 365)
    .default(def)
    .describe(what);
const count = (def: number, what: string, max = 1_000_000) =>
  z.number().int().min(1).max(max).default(def).describe(what);

const hostPort = z
  .string()
  .regex(
    /^(\[[0-9a-fA-F:.]+\]|[0-9.]+|[0-9a-fA-F:]+)(:\d{1,5})?$/,
    'an IP address with optional :port, e.g. 127.0.0.1:5353 or [::1]:53',
  );
const cidr = z.string().refine(isValidCidr, 'a CIDR such as 127.0.0.0/8 or 2001:db8::/32');
const heloName = z
  .string()
  .regex(
    /^([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$|^\[[0-9a-fA-F:.IPv]+\]$/,
    'a host name or address literal',
  );

export const verifySchema = z
  .strictObject({
    helo_name: heloName
      .nullable()
      .default(null)
      .describe("Name sent in EHLO/HELO; null means this machine's FQDN."),
    sender: z
      .string()
      .regex(
        /^$|^[^\s<>@]+@[^\s<>@]+$/,
        "'' for the null sender <>, or one address such as postmaster@example.org",
      )
      .default('')
      .describe("MAIL FROM address; '' sends the null sender <> as bounces do (recommended)."),
    port: z.number().int().min(1).max(65535).default(25).describe('TCP port of the remote mail exchangers.'),
    starttls: z
      .enum(['off', 'opportunistic', 'required'])
      .default('opportunistic')
      .describe('Use STARTTLS when offered (opportunistic), never (off) or insist on it (required).'),
    tls_verify: z
      .boolean()
      .default(false)
      .describe('Validate the server certificate after STARTTLS; MTAs do not (RFC 7435).'),
    catch_all_test: z
      .boolean()
      .default(true)
      .describe('Also ask for a random local part, to detect servers that accept everything.'),
    vrfy: z.boolean().default(false).describe('Try VRFY before RCPT (most servers disable it, RFC 2505).'),
    max_mx_hosts: count(5, 'Most MX hosts considered per domain.', 50),
    max_addresses: count(5, 'Most IP addresses tried per verification (Postfix smtp_mx_address_limit).', 50),
    max_sessions: count(2, 'Most SMTP sessions per verification (Postfix smtp_mx_session_limit).', 20),
    address_families: z
      .array(z.enum(['ipv4', 'ipv6']))
      .min(1)
      .default(['ipv4', 'ipv6'])
      .describe('Address families to connect over, in order of preference.'),
    allow_targets: z
      .array(cidr)
      .default([])
      .describe(
        'CIDRs that may be called although loopback/private/reserved (e.g. a lab network). Public unicast needs no entry.',
      ),
    bind_address: z
      .string()
      .nullable()
      .default(null)
      .describe('Local IP to connect from; null lets the kernel choose.'),
    budget: seconds(60, 'Overall time budget of one verification, DNS included.'),
    timeouts: z
      .strictObject({
        dns: seconds(10, 'All DNS lookups of one verification.'),
        connect: seconds(10, 'TCP connect.'),
        greeting: seconds(30, 'The 220 greeting (greet-pause servers wait before it).'),
        ehlo: seconds(15, 'Reply to EHLO/HELO.'),
        starttls: seconds(15, 'STARTTLS reply and TLS handshake.'),
        mail: seconds(15, 'Reply to MAIL FROM.'),
        rcpt: seconds(30, 'Reply to RCPT TO or VRFY (tarpits slow these).'),
        quit: seconds(5, 'RSET and QUIT after the decision.'),
      })
      .prefault({})
      .describe('Deadline of each SMTP phase.'),
    reply_limits: z
      .strictObject({
        max_line_length: count(2048, 'Longest reply line accepted, in octets.', 1_000_000),
        max_lines: count(100, 'Most lines in one multiline reply.', 100_000),
        max_reply_bytes: count(32_768, 'Most octets in one reply.', 10_000_000),
        max_session_bytes: count(262_144, 'Most octets accepted from one server per session.', 100_000_000),
      })
      .prefault({})
      .describe('Bounds on what a remote server may send.'),
  })
  .prefault({});

export const dnsSchema = z
  .strictObject({
    servers: z.array(hostPort).default([]).describe('Resolvers as host[:port]; empty uses /etc/resolv.conf.'),
    query_timeout: seconds(3, 'Timeout of one DNS query before retrying.'),
    tries: count(2, 'Attempts per query.', 10),
  })
  .prefault({});

export const configSchema = z.strictObject({
  verify: verifySchema.describe('The callout engine.'),
  dns: dnsSchema.describe('DNS resolution.'),
});

export type Config = z.infer<typeof configSchema>;
