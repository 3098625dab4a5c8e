/**
 * The `%{d}` macro (RFC 7208 section 7.3), bound to the record's own domain.
 *
 * RFC 7208 7.3: `d` is "<domain>", the domain check_host() is evaluating at
 * that moment: inside an `include:` or `redirect=` target it is that target,
 * not the sender's domain. mailauth 4.13 expands `d` from the sender's
 * address everywhere, so a vendor record such as `v=spf1 a:mx.%{d} -all`
 * reached through `include:vendor.example` looks up `mx.<sender's domain>`,
 * finds nothing and ends in `-all`: a spurious `fail` (or permerror) for
 * mail the vendor does send. cbv's resolver therefore hands mailauth every
 * SPF record with its `%{d...}` macros already expanded to the name the
 * record was fetched from, which is the right value at any depth (and the
 * same value mailauth would use for the sender's own record).
 */

/** Macro tokens in the order RFC 7208 7.1's grammar reads them ("%%" is an escaped percent, not a macro). */
const TOKEN = /%%|%_|%-|%\{([^}]*)\}/g;
const D_MACRO = /^([dD])(\d*)(r?)([.\-+,/_=]*)$/i;

/** One `%{d<digits><r><delimiters>}` expansion of `domain` (RFC 7208 7.3), or null when the macro is malformed. */
function expandD(domain: string, spec: string): string | null {
  const m = D_MACRO.exec(spec);
  if (!m) return null;
  const [, letter = 'd', digits = '', reverse = '', delimiters = ''] = m;
  const split = new RegExp(`[${(delimiters || '.').replace(/[-\\\]^/]/g, '\\$&')}]`);
  let parts = domain.split(split);
  if (reverse) parts = parts.reverse();
  if (digits !== '') {
    const keep = Number(digits);
    // "%{d0}" is not a transformer RFC 7208 allows (7.3: the number must be nonzero): leave it to mailauth.
    if (keep === 0) return null;
    parts = parts.slice(-keep);
  }
  const value = parts.join('.');
  // An upper-case macro letter asks for the value URL-escaped (7.3); a domain name needs none.
  return letter === 'D' ? encodeURIComponent(value).replace(/%2E/gi, '.') : value;
}

/** A `%{p...}` macro: the validated domain name of the client (RFC 7208 7.3), with any transformers. */
const P_MACRO = /^[pP]\d*r?[.\-+,/_=]*$/;

/**
 * The SPF record text with every `%{d...}` macro replaced by its expansion for
 * `domain` (the name the TXT record was fetched from, without a trailing dot),
 * and every `%{p...}` macro by `unknown`. Other macros and escapes are left as
 * they are, for mailauth to expand.
 *
 * `p` is "the validated domain name of <ip>" (RFC 7208 7.3), found by the PTR
 * and forward lookups of 5.5; 7.3 says "unknown" is used when there is none.
 * cbv does not run that validation (7.3 itself says the macro "SHOULD NOT be
 * used"), and mailauth 4.13 puts the sender's domain there instead, which is
 * no name of the client at all. `unknown` is the value the RFC gives for "no
 * validated name"; the checker also refuses to treat a `fail` from such a
 * record as evidence (spf-checker.ts).
 */
export function bindDomainMacros(record: string, domain: string): string {
  const own = domain.replace(/\.$/, '');
  return record.replace(TOKEN, (token: string, spec: string | undefined) => {
    if (spec === undefined) return token;
    if (P_MACRO.test(spec)) return 'unknown';
    if (!/^[dD]/.test(spec)) return token;
    return expandD(own, spec) ?? token;
  });
}

/** Whether an SPF record uses the `%{p}` macro (an escaped `%%` before it is no macro). */
export function usesValidatedNameMacro(record: string): boolean {
  return /(?<!%)(?:%%)*%\{[pP]/.test(record);
}
