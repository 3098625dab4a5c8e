/**
 * From one policy request to one action. The service decides (skip rules,
 * SPF, verification, decision table, reply text: src/service/decider.ts);
 * this file keeps only what is Postfix's:
 *
 *   not RCPT/MAIL -> DUNNO
 *   policy_context: which of sender and call-forward this list asks for
 *   one answer per message (`instance`), a header only once
 *   warn mode turns rejections and deferrals into WARN (or PREPEND)
 *
 * Never throws for anything a request can contain; the server still wraps
 * it in the service's fail-safe for bugs and budget overruns.
 */
import type { Config } from '../../config/schema.js';
import type { PolicyOutcome, Telemetry } from '../../observability/telemetry.js';
import type { Answer } from '../../service/answer.js';
import type { Decider } from '../../service/decider.js';
import { stageFromPostfix } from '../../service/request.js';
import type { ServiceVerdict } from '../../service/verdict.js';
import { BoundedMap } from '../../limits/bounded-map.js';
import type { PolicyRequest } from './request-reader.js';
import { enforcedAction, verdictHeader, warnInstead } from './replies.js';

type PolicyConfig = Config['policy'];

/** One reply and what decided it: what the server sends and records, once per request. */
export interface PolicyAnswer {
  action: string;
  kind: PolicyOutcome;
  verdict: ServiceVerdict | null;
}

/** An answer, and whether it stops the message. */
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
  /** Per message (`instance`): the sender's outcome, and whether its header has been given to Postfix. */
  private readonly memo = new BoundedMap<string, Outcome & { at: number; headerGiven?: boolean }>(MEMO_MAX);

  constructor(
    private readonly config: PolicyConfig,
    private readonly decider: Decider,
    private readonly telemetry: Telemetry,
  ) {}

  /**
   * The action for one well-formed request (without the `action=` prefix). Nothing is
   * recorded here: the server records the reply it actually sends, exactly once, which
   * is the fail-safe instead of this one when this one comes too late.
   */
  async decide(attrs: PolicyRequest): Promise<PolicyAnswer> {
    const { action, kind, verdict } = await this.outcome(attrs);
    return { action, kind, verdict };
  }

  /**
   * The server sends `action` as the answer to `attrs` (not the fail-safe): a PREPEND in it has
   * reached Postfix, so the message's next recipients need no header.
   */
  sent(attrs: PolicyRequest, action: string): void {
    if (action.startsWith('PREPEND ')) this.headerGiven(attrs.get('instance'));
  }

  /** The service's fail-safe as an action, for faults and overruns (never a 5xx). */
  failSafeAction(): string {
    const answer = this.decider.failSafe();
    return answer.reply ? `DEFER_IF_PERMIT ${answer.reply.enhanced} ${answer.reply.text}` : 'DUNNO';
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
      // The same message's next recipient: one verification per message, and a header only once:
      // again if the header has not reached Postfix yet (an earlier recipient got another answer).
      const given = memo.action.startsWith('PREPEND ') && memo.headerGiven === true;
      return { ...memo, action: given ? 'DUNNO' : memo.action };
    }
    const answer = await this.decider.sender({
      sender: attrs.get('sender') ?? '',
      clientIp: attrs.get('client_address'),
      helo: attrs.get('helo_name'),
      clientHostname: attrs.get('client_name'),
      saslUser: attrs.get('sasl_username'),
      stage: stageFromPostfix(attrs.get('protocol_state')),
    });
    const outcome = this.render(answer, wrapped);
    if (instance) this.memo.set(instance, { ...outcome, at: Date.now() });
    return outcome;
  }

  /** Call-forward: a recipient at a routed relay domain is verified at its internal host. */
  private async recipientOutcome(recipient: string, wrapped: boolean): Promise<Outcome | null> {
    const answer = await this.decider.recipient(recipient);
    return answer ? this.render(answer, wrapped) : null;
  }

  /** The answer as an action, honouring warn mode and prepend_header. */
  private render(answer: Answer, wrapped: boolean): Outcome {
    const v = answer.verdict;
    const kind: PolicyOutcome = answer.skipped ? 'skip' : answer.role;
    const header = this.config.prepend_header && answer.role === 'sender' && !answer.skipped && v !== null;
    if (answer.decision === 'dunno') {
      // Postfix takes one PREPEND per reply: the service's header (Received-SPF) comes first.
      const first = answer.headers[0];
      const action = first
        ? `PREPEND ${first}`
        : header
          ? verdictHeader(this.config.header_name, v, null)
          : 'DUNNO';
      return { action, final: false, kind, verdict: v };
    }
    const enforced = enforcedAction(answer, { wrapped });
    if (this.config.mode === 'enforce') return { action: enforced, final: true, kind, verdict: v };
    const watched = header
      ? verdictHeader(this.config.header_name, v, answer.decision)
      : warnInstead(enforced);
    return { action: watched, final: false, kind, verdict: v };
  }

  /**
   * The message's header went to Postfix in this answer. Postfix keeps a PREPEND for the
   * message even when it then refuses that recipient (measured with Postfix 3.7), so once
   * given it is never given again; until then, every recipient's answer carries it.
   */
  private headerGiven(instance: string | undefined): void {
    const memo = instance ? this.memo.get(instance) : undefined;
    if (memo) memo.headerGiven = true;
  }
}
