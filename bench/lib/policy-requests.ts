/**
 * The requests of the policy benchmarks (bench/policy-throughput.ts, bench/policy-hotpath.ts):
 * distinct messages (`instance`) from SENDERS known senders, so that each is a cache hit and
 * never a per-message memo hit, as Postfix sends them (RCPT stage, one recipient each).
 */
export const SENDERS = 2000;
export const REQUESTS = 50_000;

/** One Postfix RCPT-stage request (SMTPD_POLICY_README) from `sender`; `tag` ends its `instance`. */
export function policyRequest(i: number, sender: string, tag = 'bench'): Buffer {
  return Buffer.from(
    [
      'request=smtpd_access_policy',
      'protocol_state=RCPT',
      'protocol_name=ESMTP',
      `client_address=192.0.2.${(i % 200) + 1}`,
      'client_name=mail.sender.example',
      'helo_name=mail.sender.example',
      `sender=${sender}`,
      `recipient=rcpt${i % 7}@local.example`,
      `instance=${i.toString(16)}.${tag}`,
      'sasl_username=',
      '',
      '',
    ].join('\n'),
  );
}

/** REQUESTS requests, cycling over SENDERS known senders. */
export function policyRequests(): Buffer[] {
  return Array.from({ length: REQUESTS }, (_, i) => policyRequest(i, `user${i % SENDERS}@[127.0.0.1]`));
}
