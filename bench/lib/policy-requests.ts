/**
 * The requests of the policy benchmarks (bench/policy-throughput.ts, bench/policy-hotpath.ts):
 * distinct messages (`instance`) from SENDERS known senders, so that each is a cache hit and
 * never a per-message memo hit, as Postfix sends them (RCPT stage, one recipient each).
 */
export const SENDERS = 2000;
export const REQUESTS = 50_000;

export function policyRequests(): Buffer[] {
  return Array.from({ length: REQUESTS }, (_, i) =>
    Buffer.from(
      [
        'request=smtpd_access_policy',
        'protocol_state=RCPT',
        'protocol_name=ESMTP',
        `client_address=192.0.2.${(i % 200) + 1}`,
        'client_name=mail.sender.example',
        'helo_name=mail.sender.example',
        `sender=user${i % SENDERS}@[127.0.0.1]`,
        `recipient=rcpt${i % 7}@local.example`,
        `instance=${i.toString(16)}.bench`,
        'sasl_username=',
        '',
        '',
      ].join('\n'),
    ),
  );
}
