/**
 * The one configuration schema. It holds every default, rejects unknown keys,
 * and is the source of `cbv config defaults` (descriptions included), so the
 * documentation and the validator cannot disagree. Durations are seconds, or
 * strings with a unit (90s, 5m, 4h, 7d).
 */
import * as z from 'zod';
import { parseMailbox, parseMailDomain, toALabels } from '../core/address.js';
import { isValidCidr } from '../core/target-safety.js';
import { isIP, isIPv4, isLoopbackHost, listenersCollide, parseEndpoint, type Endpoint } from './endpoints.js';
import { resolveId } from './system-ids.js';

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

/**
 * A `host:port` string checked with the one grammar of src/config/endpoints.ts (the same parse the
 * front-ends and engines use), so an address Node could not bind or connect to, or a port out of
 * range, is refused here and never at start-up.
 */
function endpoint(
  grammar: string,
  options: { portRequired: boolean; minPort: 0 | 1; names?: boolean },
): z.ZodString {
  return z.string().superRefine((text, ctx) => {
    const e = parseEndpoint(text, options.names);
    const range = `a port from ${options.minPort} to 65535${options.minPort === 0 ? ' (0: the kernel picks a free one)' : ''}`;
    const problem =
      e === null || (e.port === null && options.portRequired)
        ? grammar
        : e.port !== null && (e.port < options.minPort || e.port > 65535)
          ? range
          : null;
    if (problem) ctx.addIssue({ code: 'custom', input: text, message: problem });
  });
}
const hostPort = endpoint('an IP address with optional :port, e.g. 127.0.0.1:5353 or [::1]:53', {
  portRequired: false,
  minPort: 1,
});
/** Longest unix socket path Linux binds: sun_path is 108 bytes with its terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * An enabled front-end with nothing to listen on would start and serve nobody (Postfix would find
 * no policy server): refused, naming the key, so that it is turned off on purpose.
 */
function refuseListenerless(
  section: 'policy' | 'http',
  enabled: boolean,
  listen: readonly string[],
  unixSocket: string | null,
  ctx: z.RefinementCtx,
): void {
  if (!enabled || listen.length > 0 || unixSocket !== null) return;
  ctx.addIssue({
    code: 'custom',
    path: ['listen'],
    input: listen,
    message: `at least one address${section === 'policy' ? ' (or policy.unix_socket)' : ''} while ${section}.enabled is true; set ${section}.enabled: false to run without it`,
  });
}

/** The socket's owner and group must exist here: start-up gives the socket to them (socket-file.ts). */
function refuseUnknownIds(
  policy: { unix_socket_owner: string | null; unix_socket_group: string | null },
  ctx: z.RefinementCtx,
): void {
  const owner = policy.unix_socket_owner;
  if (owner !== null && resolveId(owner, '/etc/passwd') === null)
    ctx.addIssue({
      code: 'custom',
      path: ['unix_socket_owner'],
      input: owner,
      message: 'a user in /etc/passwd (or a numeric uid)',
    });
  const group = policy.unix_socket_group;
  if (group !== null && resolveId(group, '/etc/group') === null)
    ctx.addIssue({
      code: 'custom',
      path: ['unix_socket_group'],
      input: group,
      message: 'a group in /etc/group (or a numeric gid)',
    });
}

/** Where a front-end listens: an IP and a port, always both. */
const listenAddress = endpoint('IP:port, e.g. 127.0.0.1:10040 or [::1]:10040', {
  portRequired: true,
  minPort: 0,
});
/** http.listen: an IP, with the API's port 8040 unless one is given. */
const httpListenAddress = endpoint('an IP address with optional :port, e.g. 127.0.0.1:8040 or [::1]:8040', {
  portRequired: false,
  minPort: 0,
});
/** Whether a listen address (IP:port, IPv6 in brackets) is on loopback; 0.0.0.0 and :: are not. */
function isLoopbackListen(address: string): boolean {
  return isLoopbackHost(parseEndpoint(address)?.host ?? '');
}
const cidr = z.string().refine(isValidCidr, 'a CIDR such as 127.0.0.0/8 or 2001:db8::/32');
const heloName = z
  .string()
  .regex(
    /^([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$|^\[[0-9a-fA-F:.IPv]+\]$/,
    'a host name or address literal',
  )
  // An address literal holds an address (RFC 5321 4.1.3): [192.0.2.1] or [IPv6:2001:db8::1].
  .refine(
    (name) => !name.startsWith('[') || isAddressLiteral(name),
    'an address literal such as [192.0.2.1] or [IPv6:2001:db8::1] (RFC 5321 4.1.3)',
  );

function isAddressLiteral(name: string): boolean {
  const inner = name.slice(1, -1);
  if (/^IPv6:/i.test(inner)) return isIP(inner.slice(5)) && !isIPv4(inner.slice(5));
  return isIPv4(inner);
}

/*
 * Domains and addresses in configuration lists are written as people write them (U-labels or
 * A-labels, any case, an optional trailing dot) and normalised here, once, to the one form cbv
 * compares everywhere: A-labels, lower case, no trailing dot (src/core/address.ts). So
 * `bücher.example` in local_domains matches a sender at xn--bcher-kva.example, and the reverse.
 */
const DOMAIN_EXAMPLE = 'a domain such as example.org or bücher.example';
/** One domain in canonical form; `literals` also admits address literals such as [192.0.2.1]. */
function canonicalDomain(
  text: string,
  literals: boolean,
): { ok: true; value: string } | { ok: false; why: string } {
  if (!literals && text.startsWith('[')) return { ok: false, why: DOMAIN_EXAMPLE };
  const parsed = parseMailDomain(text);
  return parsed.ok
    ? { ok: true, value: parsed.domain }
    : { ok: false, why: `${DOMAIN_EXAMPLE} (${parsed.error})` };
}
/** One address in canonical form: local part as cbv sends it, domain as above. */
function canonicalAddress(text: string): { ok: true; value: string } | { ok: false; why: string } {
  const parsed = parseMailbox(text);
  return parsed.ok
    ? { ok: true, value: parsed.mailbox.address }
    : { ok: false, why: `an address such as user@example.org (${parsed.error})` };
}
type Canonical = (text: string) => { ok: true; value: string } | { ok: false; why: string };
const canonical = (normalise: Canonical) =>
  z.string().transform((text, ctx) => {
    const result = normalise(text);
    if (result.ok) return result.value;
    ctx.addIssue({ code: 'custom', message: result.why, input: text });
    return z.NEVER;
  });
const domainName = canonical((t) => canonicalDomain(t, false));
/**
 * An entry of allow_senders: a domain (with its subdomains), an address literal, or an address.
 * `@example.org` is the domain, as in Postfix's access maps (check_sender_access), not the
 * address with an empty local part that it would otherwise parse as; write that one `""@example.org`.
 */
const domainOrAddress = canonical((t) =>
  t.startsWith('@')
    ? canonicalDomain(t.slice(1), true)
    : t.includes('@')
      ? canonicalAddress(t)
      : canonicalDomain(t, true),
);
/** One address; `@example.org` (a whole domain, in Postfix's access maps) belongs in a domain list. */
const mailAddress = canonical((t) =>
  t.startsWith('@')
    ? { ok: false, why: 'an address such as user@example.org; a whole domain goes in service.skip_domains' }
    : canonicalAddress(t),
);

export const verifySchema = z
  .strictObject({
    helo_name: heloName
      .nullable()
      .default(null)
      .describe("Name sent in EHLO/HELO; null means this machine's FQDN."),
    sender: canonical((t) =>
      t === ''
        ? { ok: true, value: '' }
        : t.includes('<') || t.includes('>') || /\s/.test(t)
          ? { ok: false, why: "'' for the null sender <>, or one address such as postmaster@example.org" }
          : canonicalAddress(t),
    )
      .default('')
      .describe("MAIL FROM address; '' sends the null sender <> as bounces do (recommended)."),
    null_sender_recheck: z
      .boolean()
      .default(true)
      .describe(
        'When MAIL FROM:<> is refused without saying why, ask again after RSET with recheck_sender in the same session, to tell a refusal of bounces from a refusal of us (docs/classification.md). Off: such a refusal is policy_rejected.',
      ),
    recheck_sender: canonical((t) =>
      /[\s<>]/.test(t)
        ? { ok: false, why: 'one address such as postmaster@mx.example.org' }
        : canonicalAddress(t),
    )
      .nullable()
      .default(null)
      .describe('Reverse-path of that re-check; null means postmaster@ the HELO name.'),
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
    max_rcpt_per_session: z
      .number()
      .int()
      .min(2)
      .max(100)
      .default(8)
      .describe(
        "Most RCPT commands in one SMTP session, the catch-all probe included: addresses of one domain verified together share a session up to this. Keep it below the remote servers' error limits (Postfix smtpd_soft_error_limit is 10).",
      ),
    address_families: z
      .array(z.enum(['ipv4', 'ipv6']))
      .min(1)
      .default(['ipv4', 'ipv6'])
      .describe('Address families to connect over, in order of preference.'),
    allow_single_label_domains: z
      .boolean()
      .default(false)
      .describe(
        "Verify senders at a domain of one label (root@vm) instead of refusing them as invalid_syntax (550). For sites whose internal hosts send as such; a single-label domain the DNS has no mail host for is then unverifiable (DUNNO), never rejected. docs/verdicts.md, 'Single-label domains'.",
      ),
    allow_targets: z
      .array(cidr)
      .default([])
      .describe(
        'CIDRs that may be called although loopback/private/reserved (e.g. a lab network). Public unicast needs no entry.',
      ),
    bind_address: z
      .string()
      .refine(isIP, 'an IP address of this machine, such as 192.0.2.25 or 2001:db8::25')
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

/** host:port for a route; the host may be a name or an IP (IPv6 in brackets). */
const routeTarget = endpoint('host:port, e.g. 10.0.0.5:25 or mailstore.internal:25', {
  portRequired: true,
  minPort: 1,
  names: true,
});

export const serviceSchema = z
  .strictObject({
    data_dir: z
      .string()
      .min(1)
      .default('data')
      .describe(
        "Directory for the cache database. A relative path is relative to the config file's directory (to the working directory for the built-in defaults).",
      ),
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
        'Domains never called out (answered `skipped`), e.g. providers that accept everything or asked not to be probed. Subdomains included; U-labels or A-labels.',
      ),
    skip_addresses: z
      .array(mailAddress)
      .default([])
      .describe('Addresses never called out (answered `skipped`).'),
    routes: z
      .record(z.string(), routeTarget)
      .transform((routes, ctx) => {
        const out: Record<string, string> = {};
        for (const [key, target] of Object.entries(routes)) {
          const domain = canonicalDomain(key, false);
          if (!domain.ok) ctx.addIssue({ code: 'custom', message: domain.why, input: key, path: [key] });
          else if (domain.value in out)
            ctx.addIssue({
              code: 'custom',
              message: `each domain once (${domain.value} is listed twice, in two spellings)`,
              input: key,
              path: [key],
            });
          else out[domain.value] = target;
        }
        return out;
      })
      .default({})
      .describe(
        'Domains verified at a fixed internal host instead of their MX (call-forward for relay domains): domain (U-label or A-label) -> host:port. These hosts may be private addresses.',
      ),
  })
  .prefault({});

export const cacheSchema = z
  .strictObject({
    backend: z
      .enum(['sqlite', 'memory', 'redis'])
      .default('sqlite')
      .describe(
        'sqlite persists across restarts (embedded default); memory is lost on exit; redis is shared by a fleet of nodes (see the redis section and docs/fleet.md).',
      ),
    path: z
      .string()
      .nullable()
      .default(null)
      .describe("SQLite file; null means <data_dir>/cbv.sqlite. Relative to the config file's directory."),
    memory_entries: count(100_000, 'Hot entries kept in memory in front of SQLite or Redis.', 100_000_000),
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
    global_concurrency: count(
      100,
      'Most SMTP sessions in flight at once, all destinations together (the global pool). A session takes its slot only when its domain and MX address let it connect, so callouts queued behind a slow destination hold none.',
      100_000,
    ),
    domain_concurrency: count(
      2,
      "Most callouts in flight to one sender domain: the domain's share of the global pool (at most half of it).",
      1000,
    ),
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
    mx_concurrency: count(
      2,
      "Most sessions in flight to one MX address: the address's share of the global pool (at most half of it).",
      1000,
    ),
    mx_rate: z.number().positive().max(100_000).default(2).describe('Sessions per second to one MX address.'),
    mx_burst: count(10, 'Sessions to one MX address allowed at once after a quiet spell.', 100_000),
    mx_site_share: z
      .number()
      .gt(0)
      .max(0.5)
      .default(0.25)
      .describe(
        "The part of the global pool (0 to 0.5) the sessions to one MX site (the MX host's registrable domain: mx1..mx60.hoster.example are one) and to one network (IPv4 /24, IPv6 /48) may hold, never less than mx_concurrency: a provider or a forger with many MX addresses that stall holds this much, not the whole pool.",
      ),
    flood_threshold: count(
      5,
      "Distinct never-seen addresses at one site (registrable domain: a domain and its subdomains) that its MX answers user_unknown or with no information (a 4xx, greylisting, 421, a stall) within flood_window, and that outnumber those it confirms, that trip the flood breaker: a forged-sender flood's signature. A site whose new senders exist never trips. The same number of such sites at one MX address trips that address (a flood spread over many domains one provider hosts).",
      1_000_000,
    ),
    flood_window: seconds(
      60,
      'Window for counting never-seen addresses (and sites, per MX address) the MX did not confirm',
    ),
    flood_cooldown: seconds(
      300,
      'How long a tripped domain stays tripped after the last evidence: new senders are deferred (rate_limited), known ones answered from the cache',
    ),
    flood_trickle_interval: seconds(
      30,
      "While a domain is tripped, one callout session this often carries its deferred senders (up to verify.max_rcpt_per_session), so that real new senders are still verified during a long flood: the victim's cost is bounded by this. A tripped MX address gets one session this often for the sites it serves that are not tripped themselves",
    ),
  })
  .superRefine((limits, ctx) => {
    // A share is a part: one slow domain or MX address must always leave room for the others.
    for (const key of ['domain_concurrency', 'mx_concurrency'] as const) {
      const share = Math.max(1, Math.floor(limits.global_concurrency / 2));
      if (limits[key] <= share) continue;
      ctx.addIssue({
        code: 'custom',
        path: [key],
        input: limits[key],
        message: `at most half of limits.global_concurrency (${share}), so that one destination can never take the whole pool`,
      });
    }
  })
  .prefault({});

const ACTIONS = ['reject', 'defer', 'dunno'] as const;
const decision = (def: (typeof ACTIONS)[number]) => z.enum(ACTIONS).default(def);

export const policySchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe('Serve the Postfix policy delegation protocol (check_policy_service).'),
    listen: z
      .array(listenAddress)
      .default(['127.0.0.1:10040'])
      .describe(
        'TCP addresses as host:port, loopback only unless allow_network is set. 10023-10026 are left to postgrey and content filters.',
      ),
    allow_network: z
      .boolean()
      .default(false)
      .describe(
        'Allow policy.listen addresses beyond loopback (0.0.0.0, a LAN address). The protocol has no authentication: anyone who reaches the port can make cbv call out, so firewall it to your mail servers.',
      ),
    unix_socket: z
      .string()
      .refine(
        (path) => path !== '' && !path.endsWith('/'),
        'a file path for the socket (not empty, not a directory)',
      )
      .refine(
        (path) => Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES,
        `a path of at most ${MAX_SOCKET_PATH_BYTES} bytes (the kernel's limit for a unix socket)`,
      )
      .nullable()
      .default(null)
      .describe(
        "Also listen on this unix socket path (e.g. inside the Postfix chroot); relative to the config file's directory.",
      ),
    unix_socket_mode: z
      .string()
      .regex(/^0?[0-7]{3}$/, 'an octal file mode such as 0660')
      .default('0660')
      .describe(
        'Permissions of the unix socket. Connecting needs write permission: 0660 lets its owner and group in, as Postfix does for its private/ sockets.',
      ),
    unix_socket_owner: z
      .string()
      .regex(/^([A-Za-z_][A-Za-z0-9_.-]*\$?|\d+)$/, 'a user name or numeric uid')
      .nullable()
      .default(null)
      .describe(
        'User owning the unix socket (name or uid); null keeps the user cbv runs as (changing it needs root).',
      ),
    unix_socket_group: z
      .string()
      .regex(/^([A-Za-z_][A-Za-z0-9_.-]*\$?|\d+)$/, 'a group name or numeric gid')
      .nullable()
      .default(null)
      .describe(
        "Group of the unix socket (name or gid), e.g. postfix so that Postfix may connect; null keeps cbv's own group. cbv must be a member of it, or root.",
      ),
    mode: z
      .enum(['enforce', 'warn'])
      .default('enforce')
      .describe(
        'enforce rejects and defers; warn never does, it returns WARN (or PREPEND) so you can watch first.',
      ),
    fail_safe: z
      .enum(['DUNNO', 'DEFER_IF_PERMIT'])
      .default('DUNNO')
      .describe('Action when cbv itself fails or runs out of time: never a rejection.'),
    prepend_header: z
      .boolean()
      .default(false)
      .describe(
        'Add a header recording the verdict to accepted mail (PREPEND instead of DUNNO, once per message). With spf.received_spf_header too, it goes out at the next recipient or at DATA: ask cbv in smtpd_data_restrictions as well (docs/postfix.md).',
      ),
    header_name: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, 'a header field name such as X-Sender-Verification')
      .default('X-Sender-Verification')
      .describe('Name of the header added by prepend_header.'),
    decisions: z
      .strictObject({
        accepted: decision('dunno'),
        user_unknown: decision('reject'),
        mailbox_disabled: decision('reject'),
        mailbox_full: decision('dunno'),
        catch_all: decision('dunno'),
        null_sender_rejected: decision('reject'),
        no_such_domain: decision('reject'),
        no_mail_host: decision('reject'),
        null_mx: decision('reject'),
        policy_rejected: decision('dunno'),
        greylisted: decision('defer'),
        temporary_failure: decision('defer'),
        timeout: decision('defer'),
        connection_failed: decision('defer'),
        dns_error: decision('defer'),
        unsafe_target: decision('dunno'),
        invalid_syntax: decision('reject'),
        unverifiable: decision('dunno'),
        protocol_error: decision('dunno'),
        rate_limited: decision('defer'),
        pending: decision('defer'),
        skipped: decision('dunno'),
        spf_pass: decision('dunno'),
        spf_fail: decision('reject'),
      })
      .prefault({})
      .describe(
        'What to do for each verdict reason of a sender: reject (5xx), defer (4xx) or dunno (no opinion).',
      ),
    skip_client_cidrs: z
      .array(cidr)
      .default([])
      .describe('Clients whose senders are never verified (your own networks).'),
    allow_senders: z
      .array(domainOrAddress)
      .default([])
      .describe(
        'Sender domains (with subdomains; `example.org` or, as in Postfix access maps, `@example.org`) and addresses never verified. Domains in U-labels or A-labels.',
      ),
    local_domains: z
      .array(domainName)
      .default([])
      .describe(
        'The domains this mail system serves (U-labels or A-labels; subdomains included): their senders are not called back (check those with SASL/SPF).',
      ),
    verify_recipients: z
      .boolean()
      .default(true)
      .describe(
        'Call-forward: verify recipients at domains listed in service.routes, rejecting unknown ones with 550 5.1.1.',
      ),
    max_line_length: count(4096, 'Longest attribute line accepted, in octets.', 1_000_000),
    max_request_bytes: count(
      65_536,
      'Largest request accepted, in octets; beyond it the connection is closed.',
      10_000_000,
    ),
    idle_timeout: seconds(
      330,
      "Close a connection idle this long (longer than Postfix's 300 s smtpd_policy_service_max_idle)",
    ),
    request_timeout: seconds(
      10,
      'A request must arrive whole this long after its first byte (Postfix sends one in a single write); a client trickling bytes is closed',
    ),
    max_pipelined: count(
      16,
      'Requests read ahead of their answers on one connection; beyond it cbv stops reading, so a client that never reads its answers blocks in TCP instead of filling memory.',
      10_000,
    ),
    max_connections: count(
      1000,
      'Most policy connections open at once. When full, a new connection is let in and the least useful one closed (one trickling a request, then one that never sent a request, then the longest idle): Postfix sends its requests whole and reconnects by itself.',
      100_000,
    ),
    max_connections_per_client: count(
      300,
      "Most connections from one client address (all local clients share 127.0.0.1; the unix socket counts as one client). Postfix opens one per smtpd process: keep it above the sum of smtpd process limits in master.cf. Beyond it, that client's least useful connection is closed.",
      100_000,
    ),
  })
  .superRefine((policy, ctx) => {
    refuseListenerless('policy', policy.enabled, policy.listen, policy.unix_socket, ctx);
    if (policy.unix_socket !== null) refuseUnknownIds(policy, ctx);
    if (policy.allow_network) return;
    policy.listen.forEach((address, i) => {
      if (isLoopbackListen(address)) return;
      ctx.addIssue({
        code: 'custom',
        path: ['listen', i],
        input: address,
        message:
          'a loopback address (127.0.0.1 or [::1]): the policy protocol has no authentication; to listen beyond loopback, set policy.allow_network: true and firewall the port',
      });
    });
  })
  .prefault({});

/** What a result does: answer without a callout (skip or reject), or leave it to the callout. */
const spfAction = <T extends readonly [string, ...string[]]>(choices: T, def: T[number], what: string) =>
  z.enum(choices).default(def).describe(what);

export const spfSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'Check SPF (RFC 7208) before calling out, when the front-end gives the client IP (the policy server always does).',
      ),
    pass: spfAction(
      ['skip', 'callout'] as const,
      'skip',
      "The sender's domain authorises the client: skip the callout (reason spf_pass, a callout saved), or call out anyway.",
    ),
    fail: spfAction(
      ['reject', 'callout'] as const,
      'reject',
      'The domain forbids the client: reject without a callout (reason spf_fail, 550 5.7.23), or call out anyway.',
    ),
    softfail: spfAction(
      ['callout', 'reject'] as const,
      'callout',
      'The domain says the client is probably not allowed (~all): call out (RFC 7208 8.5 advises against rejecting).',
    ),
    neutral: spfAction(
      ['callout', 'skip'] as const,
      'callout',
      'The domain says nothing about the client (?all).',
    ),
    none: spfAction(['callout', 'skip'] as const, 'callout', 'The domain publishes no SPF record.'),
    permerror: spfAction(
      ['callout', 'skip'] as const,
      'callout',
      'The record is broken (or beyond the lookup limits): never a rejection on its own.',
    ),
    temperror: spfAction(
      ['callout_or_defer', 'callout'] as const,
      'callout_or_defer',
      'A DNS error: call out, and defer (4.7.24) when the callout does not show the address exists; or call out only. Never a rejection.',
    ),
    always_callout: z
      .boolean()
      .default(false)
      .describe(
        'Call out whatever SPF says (SPF then only adds Received-SPF and statistics): for measuring before trusting it.',
      ),
    received_spf_header: z
      .boolean()
      .default(false)
      .describe(
        'Add a Received-SPF header (RFC 7208 9.1) to accepted mail through PREPEND, as policyd-spf does (once per message).',
      ),
    timeout: seconds(10, 'Budget of one SPF evaluation, all its DNS lookups together; beyond it, temperror.'),
    max_lookups: count(10, 'DNS-querying mechanisms allowed per evaluation (RFC 7208 4.6.4 says 10).', 100),
    max_void_lookups: count(
      2,
      'Lookups with empty answers allowed per evaluation (RFC 7208 4.6.4 says 2).',
      100,
    ),
    cache_max_ttl: seconds(
      3600,
      "Keep an SPF result per (domain, client IP) for its records' TTL, at most this long",
    ),
  })
  .prefault({});

export const httpSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve the HTTP API, /metrics and the dashboard.'),
    listen: z
      .array(httpListenAddress)
      .default(['127.0.0.1:8040'])
      .describe('TCP addresses as host:port. Non-loopback requires tokens.'),
    allowed_hosts: z
      .array(
        z
          .string()
          // A U-label name is kept as its A-label, the form a browser puts in Host.
          .transform((t) => (/^[\x21-\x7e]*$/.test(t) ? t : toALabels(t.replace(/\.$/, ''))))
          .pipe(
            z
              .string()
              .regex(
                /^([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?|[0-9.]+|\[?[0-9a-fA-F:.]+\]?)$/,
                'a host name or IP address as a browser puts it in Host, e.g. cbv.example.org',
              ),
          ),
      )
      .default([])
      .describe(
        'Other names the API answers to (Host header), besides its listen addresses and `localhost`: e.g. the name of a reverse proxy in front of it (U-labels or A-labels). Any other Host is refused (421), so a DNS-rebinding page cannot reach the API.',
      ),
    tokens: z
      .array(
        z.strictObject({
          name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a short name for logs and metrics'),
          // What the API reads after `Bearer ` (one run of visible ASCII): any other token could never be presented.
          token: z
            .string()
            .min(16, 'at least 16 characters')
            .max(512)
            .regex(
              /^[\x21-\x7e]+$/,
              'visible ASCII characters only (no spaces), as an Authorization header carries it',
            ),
        }),
      )
      .default([])
      .describe(
        'Bearer tokens, each name and each token once; when any is set, every API call needs one. Required to listen beyond loopback.',
      ),
    token_rate: z
      .number()
      .positive()
      .max(100_000)
      .default(5)
      .describe('Verifications per second allowed per token (or per client address without tokens).'),
    token_burst: count(20, 'Verifications a token may make at once after a quiet spell.', 100_000),
    batch_max: count(
      20,
      'Most addresses in one POST /v1/verify (also bounded by token_burst: a batch is admitted whole).',
      10_000,
    ),
  })
  .superRefine((http, ctx) => {
    refuseListenerless('http', http.enabled, http.listen, null, ctx);
    refuseSharedTokens(http.tokens, ctx);
    // Beyond loopback without a token the API would be an anonymous address-harvesting tool.
    if (http.tokens.length > 0) return;
    http.listen.forEach((address, i) => {
      if (isLoopbackHost(parseEndpoint(address)?.host ?? '')) return;
      ctx.addIssue({
        code: 'custom',
        path: ['listen', i],
        input: address,
        message:
          'a loopback address (127.0.0.1 or [::1]) while http.tokens is empty: beyond loopback every API call needs a bearer token, so add one to http.tokens first',
      });
    });
  })
  .prefault({});

/**
 * Each API token and each token's name once: a call is logged and rate-limited under its token's
 * name, so a secret listed twice (under two names) or a name given to two secrets makes the log
 * say the wrong one. The secret itself is never put in the message (load.ts keeps it out too).
 */
function refuseSharedTokens(tokens: readonly { name: string; token: string }[], ctx: z.RefinementCtx): void {
  const bySecret = new Map<string, number>();
  const byName = new Map<string, number>();
  tokens.forEach(({ name, token }, i) => {
    const sameSecret = bySecret.get(token);
    if (sameSecret !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['tokens', i, 'token'],
        input: token,
        message: `a token of its own: it is the same as http.tokens.${sameSecret}'s, so calls would be logged under either name`,
      });
    const sameName = byName.get(name);
    if (sameName !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['tokens', i, 'name'],
        input: name,
        message: `a name of its own: http.tokens.${sameName} is already called that`,
      });
    bySecret.set(token, bySecret.get(token) ?? i);
    byName.set(name, byName.get(name) ?? i);
  });
}

export const loggingSchema = z
  .strictObject({
    level: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('Log level; one JSON line per verification at info.'),
  })
  .prefault({});

// --- Fleet mode (issue 11): one Redis shared by several cbv nodes. ----------------------------
/** host:port of a Sentinel or Cluster node; the host may be a name. */
const redisNode = routeTarget;

export const redisSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^rediss?:\/\/\S+$/, 'redis://[user:password@]host:port[/db], or rediss:// for TLS')
      .nullable()
      .default(null)
      .describe('A standalone Redis (or Valkey) server; used when cache.backend is redis.'),
    sentinels: z
      .array(redisNode)
      .default([])
      .describe('Sentinels as host:port, instead of url: the master named sentinel_name is asked of them.'),
    sentinel_name: z.string().min(1).default('mymaster').describe('Name of the master the sentinels watch.'),
    cluster: z
      .array(redisNode)
      .default([])
      .describe('Redis Cluster seed nodes as host:port, instead of url.'),
    password: z
      .string()
      .nullable()
      .default(null)
      .describe('Password for sentinels/cluster nodes (with url, put it in the url).'),
    tls: z.boolean().default(false).describe('TLS to sentinels/cluster nodes (with url, use rediss://).'),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9:_.{}-]{0,32}$/, 'up to 32 of A-Z a-z 0-9 : _ . { } -')
      .default('cbv:')
      .describe('Prefix of every key and channel, so several fleets can share one Redis.'),
    node_name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a short name such as mx1')
      .nullable()
      .default(null)
      .describe("This node's name in fleet statistics; null means the host name."),
    command_timeout: seconds(
      0.25,
      'Longest wait for one Redis reply; past it the call falls back to the local tier and limits',
    ),
    connect_timeout: seconds(2, 'Longest wait for a connection to Redis'),
    retry_after: seconds(5, 'After Redis failed or was slow, run locally this long before trying it again'),
    lock_ttl: seconds(
      10,
      'Lifetime of a fleet callout lock; its holder renews it while calling out, so a crashed node delays the others at most this long',
    ),
    lock_poll: seconds(
      0.5,
      "How often a node waiting for another node's callout looks for its result (pub/sub usually tells it first)",
    ),
  })
  .prefault({});

/** The TCP listeners the daemon would open, with the key that names each. */
function listeners(c: {
  policy: { enabled: boolean; listen: string[] };
  http: { enabled: boolean; listen: string[] };
}): { path: (string | number)[]; text: string; at: Endpoint }[] {
  const of = (section: 'policy' | 'http', defaultPort: number | null) =>
    c[section].enabled
      ? c[section].listen.flatMap((text, i) => {
          const e = parseEndpoint(text);
          return e
            ? [{ path: [section, 'listen', i], text, at: { host: e.host, port: e.port ?? defaultPort } }]
            : [];
        })
      : [];
  return [...of('policy', null), ...of('http', DEFAULT_HTTP_PORT)];
}

/**
 * Two listeners on the same port of the same address (or of a wildcard that covers it) cannot
 * both bind: the second would fail at start-up with EADDRINUSE. Known from the file alone.
 */
function refuseCollidingListeners(c: Parameters<typeof listeners>[0], ctx: z.RefinementCtx): void {
  const all = listeners(c);
  all.forEach((b, j) => {
    const a = all.slice(0, j).find((earlier) => listenersCollide(earlier.at, b.at));
    if (!a) return;
    ctx.addIssue({
      code: 'custom',
      path: b.path,
      input: b.text,
      message: `an address and port no other listener uses (${a.path.join('.')} is ${a.text})`,
    });
  });
}

/** The HTTP API's port when an http.listen entry names none. */
export const DEFAULT_HTTP_PORT = 8040;

export const configSchema = z
  .strictObject({
    verify: verifySchema.describe('The callout engine.'),
    dns: dnsSchema.describe('DNS resolution.'),
    service: serviceSchema.describe('The verification service (cbv serve).'),
    cache: cacheSchema.describe('The verdict cache.'),
    limits: limitsSchema.describe("Politeness: how hard cbv may press on other people's servers."),
    policy: policySchema.describe('The Postfix policy server front-end.'),
    spf: spfSchema.describe(
      'SPF before the callout: a sender whose domain authorises the client needs no callout, one it forbids is refused.',
    ),
    http: httpSchema.describe('The HTTP API, Prometheus metrics and dashboard front-end.'),
    logging: loggingSchema.describe('Structured JSON logs on stdout.'),
    redis: redisSchema.describe('Fleet mode: the Redis that several cbv nodes share (docs/fleet.md).'),
  })
  .superRefine((c, ctx) => {
    refuseCollidingListeners(c, ctx);
    // A daemon with no front-end starts, reports ready and answers nobody: systemd shows it
    // running while no mail is checked. That is a mistake in the file, not a mode.
    if (!c.policy.enabled && !c.http.enabled)
      ctx.addIssue({
        code: 'custom',
        path: ['policy', 'enabled'],
        input: false,
        message:
          'at least one front-end (policy.enabled or http.enabled true): with both false, cbv serve would answer nobody',
      });
    // Fleet mode needs exactly one way to reach Redis.
    const ways = [c.redis.url !== null, c.redis.sentinels.length > 0, c.redis.cluster.length > 0];
    const n = ways.filter(Boolean).length;
    if (c.cache.backend === 'redis' && n !== 1)
      ctx.addIssue({
        code: 'custom',
        path: ['redis', 'url'],
        message: 'cache.backend redis needs exactly one of redis.url, redis.sentinels or redis.cluster',
        input: c.redis.url,
      });
  });

export type Config = z.infer<typeof configSchema>;
