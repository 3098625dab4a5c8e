/**
 * The one configuration schema. It holds every default, rejects unknown keys,
 * and is the source of `cbv config defaults` (descriptions included), so the
 * documentation and the validator cannot disagree. Durations are seconds, or
 * strings with a unit (90s, 5m, 4h, 7d).
 */
import { z } from 'zod';
import { isValidCidr } from '../core/target-safety.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
/** A duration: seconds as a number, or a string with a unit as Postfix writes them (90s, 5m, 4h, 7d). */
const duration = z.union(
  [
    z
      .number()
      .positive()
      .max(86_400 * 3650),
    z
      .string()
      .regex(/^\d+(\.\d+)?[smhd]$/, 'a number of seconds, or a duration such as 90s, 5m, 4h or 7d')
      .transform((t) => Number(t.slice(0, -1)) * (UNIT_SECONDS[t.slice(-1)] ?? 1)),
  ],
  { error: 'a number of seconds, or a duration such as 90s, 5m, 4h or 7d' },
);
const seconds = (def: number, what: string) => duration.default(def).describe(what);
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

const domainName = z.string().regex(/^[a-z0-9.-]+\.[a-z0-9-]+$/i, 'a domain name such as example.org');
const mailAddress = z.string().regex(/^[^\s@]+@[^\s@]+$/, 'an address such as user@example.org');

export const serviceSchema = z
  .strictObject({
    data_dir: z
      .string()
      .min(1)
      .default('data')
      .describe('Directory for the cache database (relative to the working directory unless absolute).'),
    inline_budget: seconds(
      20,
      'How long a request waits for a callout before getting `pending`; the callout finishes in the background',
    ),
    shutdown_grace: seconds(
      10,
      'On SIGTERM, how long in-flight callouts may finish before they are abandoned',
    ),
    skip_domains: z
      .array(domainName)
      .default([])
      .describe(
        'Domains never called out (answered `skipped`), e.g. providers that accept everything or asked not to be probed. Subdomains included.',
      ),
    skip_addresses: z
      .array(mailAddress)
      .default([])
      .describe('Addresses never called out (answered `skipped`).'),
  })
  .prefault({});

export const cacheSchema = z
  .strictObject({
    backend: z
      .enum(['sqlite', 'memory'])
      .default('sqlite')
      .describe('sqlite persists across restarts (embedded default); memory is lost on exit.'),
    path: z.string().nullable().default(null).describe('SQLite file; null means <data_dir>/cbv.sqlite.'),
    memory_entries: count(100_000, 'Hot entries kept in memory in front of SQLite.', 100_000_000),
    ttl: z
      .strictObject({
        deliverable: seconds(7 * 86_400, 'Keep an accepted address'),
        deliverable_refresh: seconds(
          86_400,
          'After this, serve the accepted entry but refresh it in the background; a failed refresh never replaces it',
        ),
        undeliverable: seconds(
          4 * 3600,
          'Keep user_unknown, mailbox_disabled, null_sender_rejected and the DNS verdicts',
        ),
        risky: seconds(3600, 'Keep catch_all and mailbox_full answers for an address'),
        no_information: seconds(3600, 'Keep policy_rejected, unsafe_target and protocol_error'),
        temporary: seconds(300, 'Keep temporary_failure, timeout, connection_failed, dns_error'),
        greylisted: seconds(
          120,
          "Keep greylisted, short so that the sender's retry gets a fresh callout past the greylisting delay",
        ),
      })
      .prefault({})
      .describe('How long each kind of per-address answer is kept.'),
    domain_ttl: z
      .strictObject({
        catch_all: seconds(86_400, 'The domain accepts any local part'),
        null_sender_rejected: seconds(86_400, 'The domain refuses MAIL FROM:<>'),
        refuses_us: seconds(6 * 3600, 'The MX refuses us at connect, HELO or MAIL (blocklist, policy)'),
        unreachable: seconds(300, 'No MX host could be connected to'),
      })
      .prefault({})
      .describe('How long each per-domain fact answers for every address of the domain.'),
  })
  .prefault({});

export const limitsSchema = z
  .strictObject({
    global_concurrency: count(100, 'Most callouts in flight at once, all destinations together.', 100_000),
    domain_concurrency: count(2, 'Most callouts in flight to one sender domain.', 1000),
    domain_rate: z
      .number()
      .positive()
      .max(100_000)
      .default(2)
      .describe('Callouts per second to one sender domain (token bucket rate).'),
    domain_burst: count(
      10,
      'Callouts to one domain allowed at once after a quiet spell (bucket size).',
      100_000,
    ),
    mx_concurrency: count(2, 'Most sessions in flight to one MX address.', 1000),
    mx_rate: z.number().positive().max(100_000).default(2).describe('Sessions per second to one MX address.'),
    mx_burst: count(10, 'Sessions to one MX address allowed at once after a quiet spell.', 100_000),
    flood_threshold: count(
      50,
      'Never-seen addresses at one domain within flood_window that trip the flood breaker.',
      1_000_000,
    ),
    flood_window: seconds(60, 'Window for counting never-seen addresses'),
    flood_cooldown: seconds(300, 'How long a tripped domain gets no callouts'),
  })
  .prefault({});

export const loggingSchema = z
  .strictObject({
    level: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('Log level; one JSON line per verification at info.'),
  })
  .prefault({});

export const configSchema = z.strictObject({
  verify: verifySchema.describe('The callout engine.'),
  dns: dnsSchema.describe('DNS resolution.'),
  service: serviceSchema.describe('The verification service (cbv serve).'),
  cache: cacheSchema.describe('The verdict cache.'),
  limits: limitsSchema.describe("Politeness: how hard cbv may press on other people's servers."),
  logging: loggingSchema.describe('Structured JSON logs on stdout.'),
});

export type Config = z.infer<typeof configSchema>;
