/** Config (seconds, snake_case, user-facing) -> the engine's options (ms, typed). */
import type { NodeDnsOptions } from '../core/dns/resolver.js';
import type { EngineOptions } from '../core/verify.js';
import { machineFqdn } from './helo-name.js';
import type { Config } from './schema.js';

const ms = (s: number): number => Math.round(s * 1000);

export function engineOptions(config: Config, fqdn: () => string = machineFqdn): EngineOptions {
  const v = config.verify;
  const heloName = v.helo_name ?? fqdn();
  return {
    probe: {
      port: v.port,
      heloName,
      recheckSender: v.null_sender_recheck ? (v.recheck_sender ?? `postmaster@${heloName}`) : null,
      sender: v.sender,
      starttls: v.starttls,
      tlsVerify: v.tls_verify,
      catchAllTest: v.catch_all_test,
      useVrfy: v.vrfy,
      timeouts: {
        connect: ms(v.timeouts.connect),
        greeting: ms(v.timeouts.greeting),
        ehlo: ms(v.timeouts.ehlo),
        starttls: ms(v.timeouts.starttls),
        mail: ms(v.timeouts.mail),
        rcpt: ms(v.timeouts.rcpt),
        quit: ms(v.timeouts.quit),
      },
      limits: {
        maxLineLength: v.reply_limits.max_line_length,
        maxLines: v.reply_limits.max_lines,
        maxReplyBytes: v.reply_limits.max_reply_bytes,
        maxSessionBytes: v.reply_limits.max_session_bytes,
      },
    },
    dnsTimeoutMs: ms(v.timeouts.dns),
    maxMxHosts: v.max_mx_hosts,
    maxAddresses: v.max_addresses,
    maxSessions: v.max_sessions,
    maxRcptPerSession: v.max_rcpt_per_session,
    addressFamilies: v.address_families,
    budgetMs: ms(v.budget),
    allowTargets: v.allow_targets,
    singleLabelDomains: v.allow_single_label_domains,
  };
}

export function dnsOptions(config: Config): NodeDnsOptions {
  return {
    servers: config.dns.servers,
    queryTimeoutMs: ms(config.dns.query_timeout),
    tries: config.dns.tries,
  };
}
