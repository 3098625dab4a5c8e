/**
 * From one policy request to one action. The service decides (skip rules,
 * SPF, verification, decision table, reply text: src/service/decider.ts);
 * this file keeps only what is Postfix's:
 *
 *   RCPT/MAIL: the sender (once per message, by `instance`) and call-forward
 *   DATA/BDAT: the message's header fields not yet given (smtpd_data_restrictions)
 *   anything else -> DUNNO
 *   policy_context: which of sender and call-forward this list asks for
 *   warn mode turns rejections and deferrals into WARN (or PREPEND)
 *
 * Header fields (Received-SPF, the verdict header) go out as PREPEND, one per
 * reply: Postfix reads a single action from a policy reply (SMTPD_POLICY_README),
 * and access(5) PREPEND executes before the message content, at RCPT or DATA but
 * not at END-OF-MESSAGE. So a message's fields are queued and each reply about
 * it that has no other word to say carries the next one: its recipients' RCPTs,
 * then its DATA (or first BDAT). Each field reaches Postfix once.
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
  /** The answer when no header field is due: DUNNO, WARN, or a rejection or deferral. */
  action: string;
  /** The action stops the message (reject/defer in enforce mode): recipients need no check. */
  final: boolean;
  kind: PolicyOutcome;
  verdict: ServiceVerdict | null;
  /** The message's header fields as PREPEND actions, in the order they go out (never for a final action). */
  prepends: readonly string[];
}

/** A message's sender outcome, and how many of its header fields have reached Postfix. */
type Memo = Outcome & { at: number; given: number };

/** No header fields to give (shared: never modified). */
const NO_PREPENDS: readonly string[] = Object.freeze([]);

/** No opinion, and nothing to add. */
const NOTHING: Outcome = { action: 'DUNNO', final: true, kind: 'skip', verdict: null, prepends: NO_PREPENDS };

/** What the server sends and records of an outcome. */
function asAnswer({ action, kind, verdict }: Outcome): PolicyAnswer {
  return { action, kind, verdict };
}

const MEMO_MAX = 10_000;
const MEMO_TTL_MS = 3_600_000;

export class PolicyDecider {
  /** Per message (`instance`): the sender's outcome, and how many of its header fields Postfix has. */
  private readonly memo = new BoundedMap<string, Memo>(MEMO_MAX);

  constructor(
    private readonly config: PolicyConfig,
    private readonly decider: Decider,
    private readonly telemetry: Telemetry,
  ) {}

  /**
   * The action for one well-formed request (without the `action=` prefix): the answer itself
   * when nothing had to be waited for (a cache hit, a skip), else a promise of it. Nothing is
   * recorded here: the server records the reply it actually sends, exactly once, which
   * is the fail-safe instead of this one when this one comes too late.
   */
  decide(attrs: PolicyRequest): PolicyAnswer | Promise<PolicyAnswer> {
    const outcome = this.outcome(attrs);
    return outcome instanceof Promise ? outcome.then(asAnswer) : asAnswer(outcome);
  }

  /**
   * The server sends `action` as the answer to `attrs` (not the fail-safe): a PREPEND in it has
   * reached Postfix, so the message's next replies carry its next header field, if any. Postfix
   * keeps a PREPEND for the message even when it then refuses that recipient (measured with
   * Postfix 3.7), so a field once given is never given again.
   */
  sent(attrs: PolicyRequest, action: string): void {
    if (!action.startsWith('PREPEND ')) return;
    const instance = attrs.get('instance');
    const memo = instance ? this.memo.get(instance) : undefined;
    if (memo && memo.prepends[memo.given] === action) memo.given++;
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
  private outcome(attrs: PolicyRequest): Outcome | Promise<Outcome> {
    if (attrs.get('request') !== 'smtpd_access_policy') return { ...NOTHING, kind: 'malformed' };
    const state = (attrs.get('protocol_state') ?? '').toUpperCase();
    if (state === 'DATA' || state === 'BDAT') return this.dataOutcome(attrs.get('instance'));
    if (state !== 'RCPT' && state !== 'MAIL') return NOTHING;
    const context = attrs.get('policy_context') ?? '';
    const wrapped = context === 'sender' || context === 'recipient';
    const recipientOnly = context === 'recipient';
    const sender = recipientOnly ? null : this.senderOutcome(attrs, wrapped);
    // Each step goes on at once when its answer is known, after it when it takes time (no
    // closure is made for the answer known at once: this runs on every request).
    return sender instanceof Promise
      ? sender.then((s) => this.afterSender(s, attrs, state, context, wrapped))
      : this.afterSender(sender, attrs, state, context, wrapped);
  }

  /** The sender's outcome stands, or call-forward has its say about the recipient. */
  private afterSender(
    s: Outcome | null,
    attrs: PolicyRequest,
    state: string,
    context: string,
    wrapped: boolean,
  ): Outcome | Promise<Outcome> {
    if (s && (s.final || state !== 'RCPT' || context === 'sender')) return s;
    const recipient = this.recipientOutcome(attrs.get('recipient') ?? '', wrapped);
    return recipient instanceof Promise
      ? recipient.then((r) => r ?? s ?? { ...NOTHING, final: false })
      : (recipient ?? s ?? { ...NOTHING, final: false });
  }

  /**
   * DATA (or the first BDAT, which Postfix treats as DATA): the message's header fields its
   * RCPT replies could not carry, e.g. the second of Received-SPF and the verdict header on a
   * message with one recipient. Nothing to say about a message cbv was not asked about.
   */
  private dataOutcome(instance: string | undefined): Outcome {
    const memo = this.current(instance);
    if (!memo || memo.final) return NOTHING;
    return { ...NOTHING, action: memo.prepends[memo.given] ?? 'DUNNO' };
  }

  /** The message's memo, while it is fresh. */
  private current(instance: string | undefined): Memo | undefined {
    const memo = instance ? this.memo.get(instance) : undefined;
    return memo && Date.now() - memo.at < MEMO_TTL_MS ? memo : undefined;
  }

  /** What to answer for a message's sender now: its next header field while one is due, else its action. */
  private reply(memo: Memo): Outcome {
    const action = memo.final ? memo.action : (memo.prepends[memo.given] ?? memo.action);
    // The memo itself when its action is the answer (the usual case): no copy per request.
    return action === memo.action ? memo : { ...memo, action };
  }

  private senderOutcome(attrs: PolicyRequest, wrapped: boolean): Outcome | Promise<Outcome> {
    const instance = attrs.get('instance');
    // The same message's next recipient: one verification per message, and its header fields
    // each once: the next one not yet given (an earlier recipient may have got another answer).
    const memo = this.current(instance);
    if (memo) return this.reply(memo);
    const answer = this.decider.senderNow({
      sender: attrs.get('sender') ?? '',
      clientIp: attrs.get('client_address'),
      helo: attrs.get('helo_name'),
      clientHostname: attrs.get('client_name'),
      saslUser: attrs.get('sasl_username'),
      stage: stageFromPostfix(attrs.get('protocol_state')),
    });
    return answer instanceof Promise
      ? answer.then((a) => this.remember(a, instance, wrapped))
      : this.remember(answer, instance, wrapped);
  }

  /** The sender's answer, kept for the message's next requests (by `instance`). */
  private remember(a: Answer, instance: string | undefined, wrapped: boolean): Outcome {
    const { action, final, kind, verdict, prepends } = this.render(a, wrapped);
    const fresh: Memo = { action, final, kind, verdict, prepends, at: Date.now(), given: 0 };
    if (instance) this.memo.set(instance, fresh);
    return this.reply(fresh);
  }

  /** Call-forward: a recipient at a routed relay domain is verified at its internal host. */
  private recipientOutcome(recipient: string, wrapped: boolean): Outcome | null | Promise<Outcome | null> {
    const answer = this.decider.recipientNow(recipient);
    const render = (a: Answer | null): Outcome | null => (a ? this.render(a, wrapped) : null);
    return answer instanceof Promise ? answer.then(render) : render(answer);
  }

  /** The answer as an action and the message's header fields, honouring warn mode and prepend_header. */
  private render(answer: Answer, wrapped: boolean): Outcome {
    const v = answer.verdict;
    const kind: PolicyOutcome = answer.skipped ? 'skip' : answer.role;
    const header = this.config.prepend_header && answer.role === 'sender' && !answer.skipped && v !== null;
    if (answer.decision === 'dunno') {
      // The service's fields (Received-SPF) first, then the verdict header.
      const prepends =
        answer.headers.length === 0 && !header
          ? NO_PREPENDS
          : [
              ...answer.headers.map((h) => `PREPEND ${h}`),
              ...(header ? [verdictHeader(this.config.header_name, v, null)] : []),
            ];
      return { action: 'DUNNO', final: false, kind, verdict: v, prepends };
    }
    const enforced = enforcedAction(answer, { wrapped });
    if (this.config.mode === 'enforce')
      return { action: enforced, final: true, kind, verdict: v, prepends: [] };
    // Warn mode: the header says what enforce mode would have done; without it, Postfix logs a WARN.
    return header
      ? {
          action: 'DUNNO',
          final: false,
          kind,
          verdict: v,
          prepends: [verdictHeader(this.config.header_name, v, answer.decision)],
        }
      : { action: warnInstead(enforced), final: false, kind, verdict: v, prepends: [] };
  }
}
