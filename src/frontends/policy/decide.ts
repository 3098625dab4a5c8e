/**
 * From one policy request to one action:
 *
 *   not RCPT/MAIL -> DUNNO
 *   sender: skip rules -> verify (once per message: `instance`) -> decision table
 *   recipient at a routed relay domain: call-forward -> 550 5.1.1 / defer / DUNNO
 *   warn mode turns rejections and deferrals into WARN (or PREPEND)
 *
 * Never throws for anything a request can contain; the server still wraps
 * it in a fail-safe for bugs and budget overruns.
 */
import { CidrList } from '../../core/index.js';
import type { Config } from '../../config/schema.js';
import type { PolicyOutcome, Telemetry } from '../../observability/telemetry.js';
import type { Verifier } from '../../service/verifier.js';
import type { ServiceVerdict } from '../../service/verdict.js';
import { SkipList } from '../../service/skip-list.js';
import { BoundedMap } from '../../limits/bounded-map.js';
import type { PolicyRequest } from './request-reader.js';
import {
  recipientDefer,
  recipientReject,
  senderDefer,
  senderReject,
  verdictHeader,
  warnInstead,
} from './replies.js';

type PolicyConfig = Config['policy'];
type Decision = 'reject' | 'defer' | 'dunno';

/** One reply and what decided it: what the telemetry records, once per request. */
interface Outcome {
  action: string;
  /** The action stops the message (reject/defer in enforce mode): recipients need no check. */
  final: boolean;
  kind: PolicyOutcome;
  verdict: ServiceVerdict | null;
}

const MEMO_MAX = 10_000;
const MEMO_TTL_MS = 3_600_000;

export class PolicyDecider {
  private readonly memo = new BoundedMap<string, Outcome & { at: number }>(MEMO_MAX);
  private readonly skipClients: CidrList;
  private readonly allowList: SkipList;
  private readonly localDomains: SkipList;

  constructor(
    private readonly config: PolicyConfig,
    private readonly verifier: Verifier,
    private readonly telemetry: Telemetry,
    private readonly routedDomains: ReadonlySet<string>,
  ) {
    this.skipClients = new CidrList(config.skip_client_cidrs);
    this.allowList = new SkipList(
      config.allow_senders.filter((s) => !s.includes('@')),
      config.allow_senders.filter((s) => s.includes('@')),
    );
    this.localDomains = new SkipList(config.local_domains, []);
  }

  /** The action for one well-formed request (without the `action=` prefix). */
  async decide(attrs: PolicyRequest): Promise<string> {
    const outcome = await this.outcome(attrs);
    this.telemetry.policyDecision(outcome.action, outcome.kind, outcome.verdict);
    return outcome.action;
  }

  /**
   * policy_context (Postfix 3.1+, set per check_policy_service) says which list asks:
   * `sender` checks only the sender, `recipient` only call-forward; absent, both.
   */
  private async outcome(attrs: PolicyRequest): Promise<Outcome> {
    if (attrs.get('request') !== 'smtpd_access_policy')
      return { action: 'DUNNO', final: true, kind: 'malformed', verdict: null };
    const state = (attrs.get('protocol_state') ?? '').toUpperCase();
    if (state !== 'RCPT' && state !== 'MAIL')
      return { action: 'DUNNO', final: true, kind: 'skip', verdict: null };
    const context = attrs.get('policy_context') ?? '';
    const wrapped = context === 'sender' || context === 'recipient';
    const recipientOnly = context === 'recipient';
    const sender = recipientOnly ? null : await this.senderOutcome(attrs, wrapped);
    if (sender && (sender.final || state !== 'RCPT' || context === 'sender')) return sender;
    const recipient = await this.recipientOutcome(attrs.get('recipient') ?? '', wrapped);
    return recipient ?? sender ?? { action: 'DUNNO', final: false, kind: 'skip', verdict: null };
  }

  private async senderOutcome(attrs: PolicyRequest, wrapped: boolean): Promise<Outcome> {
    const instance = attrs.get('instance');
    const memo = instance ? this.memo.get(instance) : undefined;
    if (memo && Date.now() - memo.at < MEMO_TTL_MS) {
      // The same message's next recipient: one verification per message, and a header only once.
      return { ...memo, action: memo.action.startsWith('PREPEND ') ? 'DUNNO' : memo.action };
    }
    const outcome = await this.decideSender(attrs, wrapped);
    if (instance) this.remember(instance, outcome);
    return outcome;
  }

  private async decideSender(attrs: PolicyRequest, wrapped: boolean): Promise<Outcome> {
    const sender = attrs.get('sender') ?? '';
    const skip = this.skipReason(sender, attrs);
    if (skip)
      return { action: 'DUNNO', final: false, kind: 'skip', verdict: this.verifier.recordSkip(sender, skip) };
    const v = await this.verifier.verify(sender);
    return this.apply(this.config.decisions[v.reason], v, 'sender', wrapped);
  }

  /** Call-forward: a recipient at a routed relay domain is verified at its internal host. */
  private async recipientOutcome(recipient: string, wrapped: boolean): Promise<Outcome | null> {
    if (!this.config.verify_recipients || !recipient.includes('@')) return null;
    const domain = recipient.slice(recipient.lastIndexOf('@') + 1).toLowerCase();
    if (!this.routedDomains.has(domain)) return null;
    const v = await this.verifier.verify(recipient);
    const decision: Decision =
      v.reason === 'user_unknown' || v.reason === 'mailbox_disabled'
        ? 'reject'
        : v.temporary
          ? 'defer'
          : 'dunno';
    return decision === 'dunno' ? null : this.apply(decision, v, 'recipient', wrapped);
  }

  /** The decision as an action, honouring warn mode and prepend_header. */
  private apply(
    decision: Decision,
    v: ServiceVerdict,
    kind: 'sender' | 'recipient',
    wrapped: boolean,
  ): Outcome {
    const header = this.config.prepend_header && kind === 'sender';
    if (decision === 'dunno') {
      const action = header ? verdictHeader(this.config.header_name, v, null) : 'DUNNO';
      return { action, final: false, kind, verdict: v };
    }
    const [reject, defer] =
      kind === 'sender' ? [senderReject, senderDefer] : [recipientReject, recipientDefer];
    const enforced = (decision === 'reject' ? reject : defer)(v, { wrapped });
    if (this.config.mode === 'enforce') return { action: enforced, final: true, kind, verdict: v };
    const watched = header ? verdictHeader(this.config.header_name, v, decision) : warnInstead(enforced);
    return { action: watched, final: false, kind, verdict: v };
  }

  /** Why this sender is not verified, or null to verify it. */
  private skipReason(sender: string, attrs: PolicyRequest): string | null {
    if (sender === '') return 'policy.skip.null-sender';
    if ((attrs.get('sasl_username') ?? '') !== '') return 'policy.skip.authenticated';
    if (this.skipClients.contains(attrs.get('client_address') ?? '')) return 'policy.skip.client';
    const lower = sender.toLowerCase();
    const domain = lower.slice(lower.lastIndexOf('@') + 1);
    if (this.allowList.matches(lower, domain)) return 'policy.skip.allow-list';
    if (this.localDomains.matches(lower, domain)) return 'policy.skip.local-domain';
    return null;
  }

  private remember(instance: string, outcome: Outcome): void {
    this.memo.set(instance, { ...outcome, at: Date.now() });
  }
}
