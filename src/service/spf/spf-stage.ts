/**
 * SPF as a stage of verification: ask the checker about the request's client,
 * then say what the configured action for its result is. A pass may answer
 * for the sender (no callout), a fail may refuse it (no callout); the rest is
 * left to the callout. Errors never refuse: permerror and temperror can only
 * be `callout` or `skip` (the schema enforces it), and a temperror's deferral
 * is the decision layer's, after the callout.
 */
import type { VerificationRequest } from '../request.js';
import type { SpfOutcome, SpfResult } from './outcome.js';
import { isSpfDomain, type SpfChecker } from './spf-checker.js';

export type SpfAction = 'skip' | 'reject' | 'callout' | 'callout_or_defer';

export interface SpfPolicy {
  checker: SpfChecker;
  actions: Readonly<Record<SpfResult, SpfAction>>;
  /** Call out whatever SPF says: SPF only adds its header and statistics. */
  alwaysCallout: boolean;
}

export interface SpfStep {
  outcome: SpfOutcome;
  /** What SPF decides alone: answer as spf_pass (skip), refuse as spf_fail (reject), or null (call out). */
  answers: 'skip' | 'reject' | null;
}

function step(policy: SpfPolicy, outcome: SpfOutcome): SpfStep {
  const action = policy.actions[outcome.result];
  const answers = policy.alwaysCallout ? null : action === 'skip' || action === 'reject' ? action : null;
  return { outcome, answers };
}

/**
 * Whether SPF can say anything about this sender: there is a client IP to check and the
 * domain can be an SPF identity (not an address literal). When not, spfForSender is null.
 */
export function spfApplies(request: VerificationRequest, domain: string): boolean {
  return request.client.ip !== null && isSpfDomain(domain);
}

/** SPF for a sender's domain (the MAIL FROM identity); null when there is no client IP to check. */
export async function spfForSender(
  policy: SpfPolicy,
  request: VerificationRequest,
  address: string,
  domain: string,
): Promise<SpfStep | null> {
  const ip = request.client.ip;
  if (ip === null || !spfApplies(request, domain)) return null;
  const outcome = await policy.checker.check({
    identity: 'mailfrom',
    domain,
    sender: address,
    clientIp: ip,
    helo: request.client.helo,
  });
  return step(policy, outcome);
}

/**
 * SPF for the null sender: the HELO identity (RFC 7208 2.3), checked as
 * postmaster@<helo>. Null when the client IP or a HELO domain name is missing.
 */
export async function spfForHelo(policy: SpfPolicy, request: VerificationRequest): Promise<SpfStep | null> {
  const { ip, helo } = request.client;
  if (ip === null || helo === null || !isSpfDomain(helo)) return null;
  const domain = helo.toLowerCase().replace(/\.$/, '');
  const outcome = await policy.checker.check({
    identity: 'helo',
    domain,
    sender: `postmaster@${domain}`,
    clientIp: ip,
    helo,
  });
  return step(policy, outcome);
}
