/**
 * The mail test bed's addresses and DNS zone: which name leads to which kind of remote server,
 * and the DNS edge cases (Null MX, no MX, dangling MX, SERVFAIL, timeout, private address, IDN).
 */
import type { DnsRecord, DnsZone } from './dns.js';
import { DEFAULT_REMOTE_IPS, type RemoteKind } from './postfix-remotes.js';

export type TestbedRole = RemoteKind | 'exim' | 'dead';
export type TestbedIps = Record<TestbedRole, string>;

export const DEFAULT_IPS: TestbedIps = {
  ...DEFAULT_REMOTE_IPS,
  exim: '127.0.1.9',
  // Nothing ever listens here: the first MX of twomx.test, refusing connections.
  dead: '127.0.1.250',
};

/** Domain names in the default zone (all lower case; IDNs as A-labels). */
export const NAMES = {
  /** MX 10 mx.ok.test -> the rejecting Postfix. */
  ok: 'ok.test',
  catchall: 'catchall.test',
  grey: 'grey.test',
  /** Null sender refused, seen at RCPT (smtpd_delay_reject = yes). */
  nonull: 'nonull.test',
  /** Null sender refused at MAIL FROM (smtpd_delay_reject = no). */
  nonullmail: 'nonullmail.test',
  tls: 'tls.test',
  nopipe: 'nopipe.test',
  blocked: 'blocked.test',
  exim: 'exim.test',
  /** MX 10 dead.twomx.test (nothing listens), MX 20 mx.twomx.test (rejecting). */
  twomx: 'twomx.test',
  /** No MX; an A record (implicit MX) -> rejecting. */
  aonly: 'aonly.test',
  /** MX 0 . (RFC 7505). */
  nullmx: 'nullmx.test',
  /** Exists (TXT only): no MX, no A/AAAA. */
  nomail: 'nomail.test',
  /** MX 10 nowhere.dangling.test, which is NXDOMAIN. */
  dangling: 'dangling.test',
  /** MX 10 mx.private.test, A 10.0.0.25: a target cbv must refuse to contact. */
  private: 'private.test',
  /** bücher.test as served (A-label) -> rejecting. */
  idn: 'xn--bcher-kva.test',
  idnUnicode: 'bücher.test',
  /** Every lookup at or below it: SERVFAIL. */
  servfail: 'servfail.test',
  /** Every lookup at or below it: never answered (the client times out). */
  slow: 'slow.test',
  /** Six MX: preferences 10, 10, 20, 20, 30 name hosts that do not exist; 40 names the rejecting Postfix. */
  sixmx: 'sixmx.test',
  /** MX 10 under servfail.test (SERVFAIL), MX 20 nonexistent, MX 30 the rejecting Postfix. */
  mixmx: 'mixmx.test',
  /** MX 10 under servfail.test (SERVFAIL), MX 20 nonexistent: nothing resolves, partly for now. */
  halfmx: 'halfmx.test',
  /** Not defined: NXDOMAIN, like any other undefined name under .test. */
  nxdomain: 'nonexistent.test',
} as const;

export const PRIVATE_MX_ADDRESS = '10.0.0.25';

/** Domain -> the listener its single MX (mx.<domain>) points at. */
export const MX_DOMAINS: readonly [string, TestbedRole][] = [
  [NAMES.ok, 'rejecting'],
  [NAMES.catchall, 'catchall'],
  [NAMES.grey, 'greylisting'],
  [NAMES.nonull, 'nonull'],
  [NAMES.nonullmail, 'nonullmail'],
  [NAMES.tls, 'tlsrequired'],
  [NAMES.nopipe, 'nopipelining'],
  [NAMES.blocked, 'blocklist'],
  [NAMES.exim, 'exim'],
  [NAMES.idn, 'rejecting'],
];

export function defaultZone(ips: TestbedIps = DEFAULT_IPS, extra: readonly DnsRecord[] = []): DnsZone {
  const records: DnsRecord[] = MX_DOMAINS.flatMap(([domain, role]) => [
    { name: domain, type: 'MX', value: `10 mx.${domain}` },
    { name: `mx.${domain}`, type: 'A', value: ips[role] },
  ]);
  records.push(
    { name: NAMES.twomx, type: 'MX', value: `10 dead.${NAMES.twomx}` },
    { name: NAMES.twomx, type: 'MX', value: `20 mx.${NAMES.twomx}` },
    { name: `dead.${NAMES.twomx}`, type: 'A', value: ips.dead },
    { name: `mx.${NAMES.twomx}`, type: 'A', value: ips.rejecting },
    { name: NAMES.aonly, type: 'A', value: ips.rejecting },
    { name: NAMES.nullmx, type: 'MX', value: '0 .' },
    { name: NAMES.nomail, type: 'TXT', value: 'v=spf1 -all' },
    { name: NAMES.dangling, type: 'MX', value: `10 nowhere.${NAMES.dangling}` },
    { name: NAMES.private, type: 'MX', value: `10 mx.${NAMES.private}` },
    { name: `mx.${NAMES.private}`, type: 'A', value: PRIVATE_MX_ADDRESS },
    ...['10 a', '10 b', '20 c', '20 d', '30 e', '40 mx'].map((v): DnsRecord => ({
      name: NAMES.sixmx,
      type: 'MX',
      value: `${v}.${NAMES.sixmx}`,
    })),
    { name: `mx.${NAMES.sixmx}`, type: 'A', value: ips.rejecting },
    { name: NAMES.mixmx, type: 'MX', value: `10 mx.${NAMES.servfail}` },
    { name: NAMES.mixmx, type: 'MX', value: `20 gone.${NAMES.mixmx}` },
    { name: NAMES.mixmx, type: 'MX', value: `30 mx.${NAMES.mixmx}` },
    { name: `mx.${NAMES.mixmx}`, type: 'A', value: ips.rejecting },
    { name: NAMES.halfmx, type: 'MX', value: `10 mx.${NAMES.servfail}` },
    { name: NAMES.halfmx, type: 'MX', value: `20 gone.${NAMES.halfmx}` },
    ...extra,
  );
  return { records, servfail: [NAMES.servfail], timeout: [NAMES.slow] };
}

/**
 * SPF test zones (RFC 7208), for the SPF checks and Postfix-through-cbv tests. The SMTP clients are
 * loopback sources: 127.0.4.0/29 is authorised by spfpass.test, 127.0.5.0/29 by the partner that
 * spfinclude.test includes, and nothing authorises 127.0.6.0/29. Every domain's MX is ok.test's
 * (the rejecting listener: alice exists, nobody does), so a callout has something to say.
 */
export const SPF_CLIENTS = { listed: '127.0.4.1', partner: '127.0.5.1', stranger: '127.0.6.1' } as const;

export const SPF_NAMES = {
  /** ip4:127.0.4.0/29 -all */
  pass: 'spfpass.test',
  /** ip4:127.0.4.0/29 ~all */
  softfail: 'spfsoft.test',
  /** ip4:127.0.4.0/29 ?all */
  neutral: 'spfneutral.test',
  /** include:_spf.partner.test (ip4:127.0.5.0/29) -all */
  include: 'spfinclude.test',
  /** redirect=_spf.spfpass.test (ip4:127.0.4.0/29 -all) */
  redirect: 'spfredirect.test',
  /** Eleven a: mechanisms, one over RFC 7208's limit of ten DNS lookups: permerror. */
  overLimit: 'spflimit.test',
  /** No SPF record at all. */
  none: 'spfnone.test',
  /** include:_spf.servfail.test -all, whose name server fails (SERVFAIL): temperror, never fail. */
  brokenInclude: 'spfbroken.test',
  /** redirect=_spf.servfail.test, whose name server fails: temperror. */
  brokenRedirect: 'spfbrokenredirect.test',
  /** The record's TTL is 60 s, below cbv's cache maximum. */
  shortTtl: 'spfshort.test',
  /** exists:%{p}._allow.<itself> -all: the client's validated name, which cbv does not validate. */
  validatedName: 'spfpname.test',
  /** include:_spf.pvendor.test, whose record is ip4:127.0.5.0/29 exists:%{p}.ok.pvendor.test -all. */
  validatedNameInclude: 'spfpinclude.test',
} as const;

export function spfRecords(): DnsRecord[] {
  const mx = (name: string): DnsRecord => ({ name, type: 'MX', value: `10 mx.${NAMES.ok}` });
  const txt = (name: string, value: string, ttl?: number): DnsRecord => ({
    name,
    type: 'TXT',
    value,
    ...(ttl ? { ttl } : {}),
  });
  const limitHosts = Array.from({ length: 11 }, (_, i) => `a${i + 1}.${SPF_NAMES.overLimit}`);
  return [
    ...Object.values(SPF_NAMES).map(mx),
    txt(SPF_NAMES.pass, 'v=spf1 ip4:127.0.4.0/29 -all'),
    txt(SPF_NAMES.softfail, 'v=spf1 ip4:127.0.4.0/29 ~all'),
    txt(SPF_NAMES.neutral, 'v=spf1 ip4:127.0.4.0/29 ?all'),
    txt(SPF_NAMES.include, 'v=spf1 include:_spf.partner.test -all'),
    txt('_spf.partner.test', 'v=spf1 ip4:127.0.5.0/29 -all'),
    txt(SPF_NAMES.redirect, `v=spf1 redirect=_spf.${SPF_NAMES.pass}`),
    txt(`_spf.${SPF_NAMES.pass}`, 'v=spf1 ip4:127.0.4.0/29 -all'),
    txt(SPF_NAMES.overLimit, `v=spf1 ${limitHosts.map((h) => `a:${h}`).join(' ')} -all`),
    ...limitHosts.map((h, i): DnsRecord => ({ name: h, type: 'A', value: `192.0.2.${i + 1}` })),
    txt(SPF_NAMES.brokenInclude, `v=spf1 include:_spf.${NAMES.servfail} -all`),
    txt(SPF_NAMES.brokenRedirect, `v=spf1 redirect=_spf.${NAMES.servfail}`),
    txt(SPF_NAMES.shortTtl, 'v=spf1 ip4:127.0.4.0/29 -all', 60),
    txt(
      SPF_NAMES.validatedName,
      `v=spf1 ip4:127.0.4.0/29 exists:%{p}._allow.${SPF_NAMES.validatedName} -all`,
    ),
    // What mailauth 4.13 alone would look up for it (the sender's domain in place of %{p}): it exists.
    {
      name: `${SPF_NAMES.validatedName}._allow.${SPF_NAMES.validatedName}`,
      type: 'A',
      value: '127.0.0.2',
    },
    txt(SPF_NAMES.validatedNameInclude, 'v=spf1 include:_spf.pvendor.test -all'),
    txt('_spf.pvendor.test', 'v=spf1 ip4:127.0.5.0/29 exists:%{p}.ok.pvendor.test -all'),
  ];
}
