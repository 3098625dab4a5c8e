/**
 * Verdict -> counters, modelled on WcSAP's statistics: how many
 * requests, how many skipped or answered from cache, what DNS said, how many
 * connections failed, how many SMTP sessions and at which command the remote
 * server refused.
 */
import { isAboutHelo } from '../core/index.js';
import type { ServiceVerdict } from '../service/verdict.js';

/**
 * `result.<result>` and `reason.<reason>`, each made once: results and reasons are closed sets,
 * and a name made anew on every request would be hashed anew where it is counted.
 */
const resultNames = new Map<string, string>();
const reasonNames = new Map<string, string>();
function named(names: Map<string, string>, prefix: string, value: string): string {
  let name = names.get(value);
  if (name === undefined) {
    name = `${prefix}.${value}`;
    names.set(value, name);
  }
  return name;
}

/** Counted once per request, however it was answered. */
export function requestCounters(v: Pick<ServiceVerdict, 'reason' | 'result' | 'cache' | 'spf'>): string[] {
  const out = ['requests', named(resultNames, 'result', v.result), named(reasonNames, 'reason', v.reason)];
  if (v.reason === 'skipped') out.push('skips');
  if (v.cache.hit) out.push(v.cache.fact ? 'cache_hits_domain' : 'cache_hits');
  if (v.spf) out.push(...spfCounters(v));
  return out;
}

/**
 * What SPF said for this request, and whether it saved a callout: a sender
 * (not the null sender, which is never called back) that SPF answered for alone.
 */
function spfCounters(v: Pick<ServiceVerdict, 'reason' | 'spf'>): string[] {
  if (!v.spf) return [];
  const out = ['spf_checks', `spf.${v.spf.result}`];
  if (v.spf.result === 'temperror' || v.spf.result === 'permerror') out.push('spf.errors');
  if ((v.reason === 'spf_pass' || v.reason === 'spf_fail') && v.spf.identity === 'mailfrom')
    out.push('spf_callouts_avoided');
  return out;
}

/** Counted once per callout (coalesced requests share one): what DNS and SMTP said. */
export function calloutCounters(v: Pick<ServiceVerdict, 'reason' | 'attempts'>): string[] {
  const out = ['callouts'];
  if (v.reason === 'no_such_domain') out.push('bad_domain');
  if (v.reason === 'no_mail_host') out.push('no_mail_host');
  if (v.reason === 'null_mx') out.push('null_mx');
  if (v.reason === 'dns_error') out.push('dns_errors');
  for (const a of v.attempts) {
    if (a.reason === 'unsafe_target') out.push('unsafe_targets');
    else if (a.reason === 'rate_limited') continue;
    else if (a.stage === 'connect') out.push('bad_connects');
    else {
      out.push('smtp_sessions');
      // A HELO refusal that Postfix reports at RCPT (smtpd_delay_reject) is still a refusal of our HELO.
      const refused = isAboutHelo(a.rule) ? 'refused_helo' : refusedAt(a.stage, a.reason);
      if (refused) out.push(refused);
    }
  }
  return out;
}

function refusedAt(stage: string | null, reason: string): string | null {
  if (reason === 'timeout' || reason === 'connection_failed' || reason === 'protocol_error')
    return 'session_failures';
  switch (stage) {
    case 'greeting':
      return 'refused_greeting';
    case 'ehlo':
    case 'helo':
      return 'refused_helo';
    case 'starttls':
      return 'refused_starttls';
    case 'mail':
      return 'refused_mail_from';
    case 'rcpt':
    case 'vrfy':
      return reason === 'accepted' || reason === 'catch_all' ? null : 'refused_rcpt_to';
    default:
      return null;
  }
}
