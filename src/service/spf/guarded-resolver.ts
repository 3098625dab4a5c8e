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
 * temperror result (`spfResult`, which mailauth returns as it is): no DNS
 * error can ever become `fail`. The wrapper also keeps the smallest TTL of
 * every answer (the evaluation's lifetime, for the cache) and stops asking
 * once the evaluation's budget is spent.
 */
import { DnsQueryError, type SpfDnsClient, type SpfRecordType } from './dns-client.js';

const TYPES = new Set<string>(['TXT', 'A', 'AAAA', 'MX', 'PTR']);

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

  constructor(
    private readonly dns: SpfDnsClient,
    private readonly signal: AbortSignal,
  ) {}

  /** mailauth's DNSResolver. */
  readonly resolve = async (name: string, rrtype: string): Promise<unknown[]> => {
    if (this.signal.aborted) throw new SpfLookupError('ETIMEOUT', 'SPF evaluation ran out of time');
    if (!TYPES.has(rrtype)) throw new SpfLookupError('ENOTIMP', `SPF does not look up ${rrtype} records`);
    this.queries++;
    try {
      const answer = await this.dns.query(name, rrtype as SpfRecordType, this.signal);
      this.minTtl = Math.min(this.minTtl, answer.ttl);
      return answer.records;
    } catch (error) {
      if (error instanceof DnsQueryError && (error.code === 'ENOTFOUND' || error.code === 'ENODATA')) {
        if (error.ttl !== null) this.minTtl = Math.min(this.minTtl, error.ttl);
        // A fact about the name: mailauth counts it as a void lookup. Its code is all it reads.
        throw Object.assign(new Error(error.message), { code: error.code });
      }
      const code = error instanceof DnsQueryError ? error.code : 'EUNKNOWN';
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
