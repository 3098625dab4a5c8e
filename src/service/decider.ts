/**
 * The one decision path every front-end shares: from a verification request
 * to an Answer.
 *
 *   sender:    skip rules -> verify (SPF, cache, callout) -> decision table -> reply
 *   recipient: call-forward at a routed relay domain -> 550 5.1.1 / defer / nothing
 *   fail-safe: what to answer when cbv itself fails or runs out of time
 *
 * Front-ends keep only their protocol: when to ask (Postfix's protocol_state,
 * per-message memo), and how to write the Answer (warn mode, PREPEND, JSON).
 */
import { CidrList } from '../core/index.js';
import type { Answer, Decision, DecisionTable } from './answer.js';
import { FAIL_SAFE_REPLY, replyFor, spfTemperrorReply } from './reply-text.js';
import { receivedSpf } from './spf/received-spf.js';
import { toRequest, type RequestInput, type VerificationRequest } from './request.js';
import { SkipList, domainOf, parseListed } from './skip-list.js';
import type { ServiceVerdict } from './verdict.js';
import type { RequestOptions, Verifier } from './verifier.js';

export interface DeciderOptions {
  decisions: DecisionTable;
  /** Clients whose senders are never verified (CIDRs). */
  skipClientCidrs: readonly string[];
  /** Sender domains (with subdomains) and addresses never verified. */
  allowSenders: readonly string[];
  /** The domains this mail system serves: their senders are not called back. */
  localDomains: readonly string[];
  /** Domains verified at a fixed internal host (service.routes): call-forward applies to their recipients. */
  routedDomains: readonly string[];
  /** Call-forward: verify recipients at routed domains. */
  verifyRecipients: boolean;
  /** What to answer when cbv itself fails: never a rejection. */
  failSafe: 'dunno' | 'defer';
  /** SPF temperror: defer when the callout does not show the address exists (spf.temperror = callout_or_defer). */
  spfTemperrorDefers: boolean;
  /** Add Received-SPF (RFC 7208 9.1) naming this receiver; null leaves it out. */
  receivedSpf: { receiver: string } | null;
}

export class Decider {
  private readonly skipClients: CidrList;
  private readonly allowList: SkipList;
  private readonly localDomains: SkipList;
  private readonly routed: ReadonlySet<string>;

  constructor(
    private readonly options: DeciderOptions,
    private readonly verifier: Verifier,
  ) {
    this.skipClients = new CidrList(options.skipClientCidrs);
    this.allowList = new SkipList(
      options.allowSenders.filter((s) => !s.includes('@')),
      options.allowSenders.filter((s) => s.includes('@')),
    );
    this.localDomains = new SkipList(options.localDomains, []);
    // Canonical already (A-labels, lower case): the schema normalises service.routes.
    this.routed = new Set(options.routedDomains);
  }

  /** The answer about a message's sender. Never throws for anything a request can contain. */
  async sender(
    input: string | RequestInput | VerificationRequest,
    opts: RequestOptions = {},
  ): Promise<Answer> {
    return this.senderNow(input, opts);
  }

  /**
   * The same answer as sender(), returned as it is when nothing has to be waited for (a skip
   * rule, a hit in the memory tier), a promise otherwise: the policy server's hot path.
   */
  senderNow(
    input: string | RequestInput | VerificationRequest,
    opts: RequestOptions = {},
  ): Answer | Promise<Answer> {
    const request = toRequest(input);
    if (request.sender === '') return this.nullSender(request);
    const skip = this.skipReason(request);
    if (skip) return this.skipped(request, skip);
    const verdict = this.verifier.verifyNow(request, opts);
    return verdict instanceof Promise
      ? verdict.then((v) => this.senderAnswer(v, request))
      : this.senderAnswer(verdict, request);
  }

  /** The null sender: only SPF's HELO check can say anything (RFC 7208 2.3); else a skip. */
  private async nullSender(request: VerificationRequest): Promise<Answer> {
    const helo = await this.verifier.verifyNullSender(request);
    return helo ? this.senderAnswer(helo, request) : this.skipped(request, 'policy.skip.null-sender');
  }

  private skipped(request: VerificationRequest, rule: string): Answer {
    const verdict = this.verifier.recordSkip(request.sender, rule);
    return { decision: 'dunno', role: 'sender', reply: null, verdict, skipped: true, headers: [] };
  }

  /** The decision table, SPF's temperror rule, and the Received-SPF header. */
  private senderAnswer(verdict: ServiceVerdict, request: VerificationRequest): Answer {
    let decision = this.options.decisions[verdict.reason];
    let reply = replyFor(decision, verdict, 'sender');
    if (
      verdict.spf?.result === 'temperror' &&
      this.options.spfTemperrorDefers &&
      decision === 'dunno' &&
      verdict.result !== 'deliverable'
    ) {
      // SPF could not be evaluated and the callout did not show the address exists: ask again later.
      decision = 'defer';
      reply = spfTemperrorReply(verdict);
    }
    const headers =
      verdict.spf && this.options.receivedSpf && decision === 'dunno'
        ? [
            receivedSpf(verdict.spf, {
              sender: request.sender,
              helo: request.client.helo,
              receiver: this.options.receivedSpf.receiver,
            }),
          ]
        : [];
    const skipped = verdict.reason === 'spf_pass';
    return { decision, role: 'sender', reply, verdict, skipped, headers };
  }

  /**
   * Call-forward: the answer about a recipient at a routed relay domain, or
   * null when cbv has nothing to say about this recipient.
   */
  async recipient(address: string): Promise<Answer | null> {
    return this.recipientNow(address);
  }

  /** recipient(), with its usual answer (nothing to say: not a routed domain) returned at once. */
  recipientNow(address: string): Answer | null | Promise<Answer | null> {
    if (!this.options.verifyRecipients || this.routed.size === 0) return null;
    const domain = domainOf(address);
    if (domain === null || !this.routed.has(domain)) return null;
    return this.verifier.verify(address).then((verdict) => {
      const decision: Decision =
        verdict.reason === 'user_unknown' || verdict.reason === 'mailbox_disabled'
          ? 'reject'
          : verdict.temporary
            ? 'defer'
            : 'dunno';
      return decision === 'dunno' ? null : this.answer(decision, verdict, 'recipient');
    });
  }

  /** The answer when cbv itself failed or ran out of time: no opinion, or a deferral; never a rejection. */
  failSafe(): Answer {
    const decision = this.options.failSafe;
    return {
      decision,
      role: 'sender',
      reply: decision === 'defer' ? FAIL_SAFE_REPLY : null,
      verdict: null,
      skipped: false,
      headers: [],
    };
  }

  private answer(decision: Decision, verdict: ServiceVerdict, role: Answer['role']): Answer {
    return { decision, role, reply: replyFor(decision, verdict, role), verdict, skipped: false, headers: [] };
  }

  /** Why this sender is not verified, or null to verify it. */
  private skipReason(request: VerificationRequest): string | null {
    const sender = request.sender;
    if (sender === '') return 'policy.skip.null-sender';
    if (request.saslUser !== null) return 'policy.skip.authenticated';
    if (request.client.ip !== null && this.skipClients.contains(request.client.ip))
      return 'policy.skip.client';
    if (this.allowList.empty && this.localDomains.empty) return null;
    const parsed = parseListed(sender);
    if (this.allowList.matchesParsed(parsed, sender)) return 'policy.skip.allow-list';
    if (this.localDomains.matchesParsed(parsed, sender)) return 'policy.skip.local-domain';
    return null;
  }
}
