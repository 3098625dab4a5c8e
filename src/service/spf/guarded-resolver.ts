/**
 * The resolver cbv gives mailauth, with the guard rail mailauth 4.13 lacks.
 *
 * mailauth's resolver contract: `(name, rrtype) => records`, and a failure is
 * an Error whose `code` is node:dns's. It reads ENOTFOUND and ENODATA as void
 * lookups (RFC 7208 4.6.4), ETIMEOUT and EREFUSED as temperror, and passes any
 * other error on without a result; inside an `include:` or `redirect=` target
 * it then drops that error silently (lib/spf/spf-verify.js: `catch (err) { if
 * (err.spfResult) ... }`), so a record ending in `-all` gives `fail` during a
 * third party's SERVFAIL, where RFC 7208 5.2 and 6.1 say temperror.
 *
 * So every failure other than NXDOMAIN/NODATA leaves here carrying its
 * temperror result (`spfResult`, which mailauth returns as it is). Some of
 * mailauth's paths swallow an error even so (the address lookups of the
 * `ptr` mechanism's names are settled and the failed ones skipped), so the
 * wrapper also counts every failure that bears on the client (`failures`):
 * the checker never trusts a `fail` reached past one. No DNS error can ever
 * become `fail`.
 *
 * SPF records are handed over with their `%{d}` macros bound to their own
 * domain (domain-macro.ts), which mailauth gets wrong inside include/redirect,
 * and `%{p}` as `unknown` (RFC 7208 7.3's value when no name is validated).
 * The wrapper also keeps the smallest TTL of every answer (the evaluation's
 * lifetime, for the cache) and stops asking once the evaluation's budget is
 * spent.
 */
import { DnsQueryError, type SpfDnsClient, type SpfRecordType } from './dns-client.js';
import { bindDomainMacros, usesValidatedNameMacro } from './domain-macro.js';

const TYPES = new Set<string>(['TXT', 'A', 'AAAA', 'MX', 'PTR']);
/** A macro whose value is the sender's or the HELO name's (an escaped %% before it is no macro). */
const SENDERS_OWN_MACRO = /(?<!%)(?:%%)*%\{[slohSLOH]/;

/** An error in mailauth's terms: node:dns's code, and the SPF result it must give. */
export class SpfLookupError extends Error {
  readonly spfResult: { error: 'temperror'; text: string };
  constructor(
    readonly code: string,
    text: string,
  ) {
    super(text);
    this.spfResult = { error: 'temperror', text };
  }
}

export class GuardedSpfResolver {
  /** Smallest TTL (seconds) of every answer seen, positive or negative; Infinity before any. */
  minTtl = Infinity;
  /** How many queries went out (for the lookup budget's statistics). */
  queries = 0;
  /**
   * Lookups that bear on the client and ended in a DNS failure (SERVFAIL, REFUSED, timeout, a
   * bad or unreachable server), with what failed: whatever mailauth made of them, a `fail` reached
   * past one is not proven. Address lookups of the other family (AAAA for an IPv4 client) cannot
   * change the result and are not counted.
   */
  readonly failures: string[] = [];
  /**
   * True once an SPF record read uses a macro of the sender or the HELO name (RFC 7208 7.3: %{s},
   * %{l}, %{o}, %{h}): its result holds for that sender and HELO only, not for every sender of
   * the domain from this client, so it must not be cached per (domain, client IP).
   */
  sendersOwn = false;

  /**
   * Some record of the evaluation used `%{p}`, the client's validated name, which cbv does not
   * validate (domain-macro.ts): a `fail` it led to is no evidence.
   */
  validatedNameMacro = false;

  /**
   * @param clientFamily 4 or 6: the family of the client being checked, whose address lookups
   *   (A or AAAA) can change the result.
   */
  constructor(
    private readonly dns: SpfDnsClient,
    private readonly signal: AbortSignal,
    private readonly clientFamily: 4 | 6 = 4,
  ) {}

  /** mailauth's DNSResolver. */
  readonly resolve = async (name: string, rrtype: string): Promise<unknown[]> => {
    if (this.signal.aborted) throw new SpfLookupError('ETIMEOUT', 'SPF evaluation ran out of time');
    if (!TYPES.has(rrtype)) throw new SpfLookupError('ENOTIMP', `SPF does not look up ${rrtype} records`);
    this.queries++;
    try {
      const answer = await this.dns.query(name, rrtype as SpfRecordType, this.signal);
      this.minTtl = Math.min(this.minTtl, answer.ttl);
      if (rrtype !== 'TXT') return answer.records;
      // One string per record (RFC 7208 3.3 joins the strings), %{d} bound to the record's own name.
      return (answer.records as string[][]).map((chunks) => {
        const text = chunks.join('');
        if (!/^\s*v=spf1(\s|$)/i.test(text)) return [text];
        if (SENDERS_OWN_MACRO.test(text)) this.sendersOwn = true;
        if (usesValidatedNameMacro(text)) this.validatedNameMacro = true;
        return [bindDomainMacros(text, name)];
      });
    } catch (error) {
      if (error instanceof DnsQueryError && (error.code === 'ENOTFOUND' || error.code === 'ENODATA')) {
        if (error.ttl !== null) this.minTtl = Math.min(this.minTtl, error.ttl);
        // A fact about the name: mailauth counts it as a void lookup. Its code is all it reads.
        throw Object.assign(new Error(error.message), { code: error.code });
      }
      const code = error instanceof DnsQueryError ? error.code : 'EUNKNOWN';
      const otherFamily = rrtype === (this.clientFamily === 4 ? 'AAAA' : 'A');
      if (!otherFamily) this.failures.push(`${describe(code)} looking up ${rrtype} ${name}`);
      throw new SpfLookupError(code, `DNS ${describe(code)} looking up ${rrtype} ${name}`);
    }
  };
}

function describe(code: string): string {
  switch (code) {
    case 'ESERVFAIL':
      return 'server failure (SERVFAIL)';
    case 'ETIMEOUT':
      return 'timeout';
    case 'EREFUSED':
      return 'query refused';
    case 'ECONNREFUSED':
      return 'resolver unreachable';
    default:
      return `error ${code}`;
  }
}
