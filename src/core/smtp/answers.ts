/**
 * What a reply says about an address, once it is trusted: MAIL FROM's reply
 * (about the whole transaction), the random recipient's (catch-all or not),
 * and each real recipient's.
 */
import type { Classification } from '../classify/classify.js';
import { REASON_MEANING } from '../verdict.js';
import { asReason, deciding, final, next, type Decision } from './decision.js';
import { classify, noteHelo, type Dialogue } from './dialogue.js';
import type { SmtpReply } from './reply-parser.js';
import { recheckNullSender, type RecheckChannel } from './sender-recheck.js';

export function isPositive(reply: SmtpReply): boolean {
  return reply.code >= 200 && reply.code < 300;
}

/**
 * A refused MAIL FROM. Temporary (a 4xx, or a throttling 5xx) is about this
 * host now: another MX may take it. A refusal of MAIL FROM:<> that does not say
 * why is found out rather than guessed (sender-recheck.ts), when the session is
 * still open for it (`channel`); otherwise it is never read as a refusal of bounces.
 */
export async function decideMail(
  d: Dialogue,
  mail: SmtpReply,
  channel: RecheckChannel | null,
): Promise<Decision> {
  const c = classify(d, 'mail', mail);
  const text = `MAIL FROM refused: ${mail.code} ${mail.lines.join(' ')}`;
  if (c.outcome === 'recheck_sender') {
    const sender = d.options.recheckSender;
    if (sender && channel) return recheckNullSender(channel, sender, mail);
    const off = sender ? 'not re-checked in this session' : 'verify.null_sender_recheck is off';
    const why = `${text}; a refusal that does not say why is not read as a refusal of bounces (${off})`;
    return final('policy_rejected', c.rule, why, deciding('mail', mail), null);
  }
  const reason = asReason(c.outcome);
  const decision = REASON_MEANING[reason].temporary
    ? next(reason, c.rule, text, deciding('mail', mail))
    : final(reason, c.rule, text, deciding('mail', mail), null);
  return noteHelo(d.options, decision, c);
}

/** True when a refused MAIL FROM would be re-checked in the session (so the session must stay open for it). */
export function wantsRecheck(d: Dialogue, mail: SmtpReply): boolean {
  return Boolean(d.options.recheckSender) && classify(d, 'mail', mail).outcome === 'recheck_sender';
}

/**
 * The random recipient: accepted = catch-all; refused as unknown = not;
 * anything else (a 4xx, an inconclusive 252, a policy refusal) tells nothing.
 * Shared by the RCPT and the VRFY probe, so that both read a reply alike.
 */
export function catchAllFrom(c: Classification): boolean | null {
  if (c.outcome === 'accepted') return true;
  if (c.outcome === 'user_unknown' || c.outcome === 'mailbox_disabled') return false;
  return null;
}

/** The real recipient's reply, read in the light of the random probe. */
export function decideRcpt(
  d: Dialogue,
  rcpt: SmtpReply,
  c: Classification,
  catchAllProbe: boolean | null,
): Decision {
  const reply = deciding('rcpt', rcpt);
  if (c.outcome === 'accepted' && catchAllProbe === true) {
    return final(
      'catch_all',
      'rcpt.random-accepted',
      'the server accepts a random, non-existent local part too: no information',
      reply,
      true,
    );
  }
  return noteHelo(
    d.options,
    final(asReason(c.outcome), c.rule, `${rcpt.code} ${rcpt.lines.join(' ')}`, reply, catchAllProbe),
    c,
  );
}
