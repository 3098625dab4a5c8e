/**
 * What a bare refusal of MAIL FROM:<> is about, found out rather than guessed.
 *
 * A server that answers `MAIL FROM:<>` with a 5xx and no telling text may be
 * refusing bounces (against RFC 5321 4.5.5), or refusing *us* (our IP, our
 * network, our HELO name) in words that do not say so. The two mean opposite
 * things to the sender being verified: the first rejects every address of the
 * domain, the second says nothing about it. So, in the same session:
 *
 *   RSET -> MAIL FROM:<postmaster@our HELO name>
 *     2xx: only the null sender is refused    -> null_sender_rejected (recheck.null-sender-only)
 *     5xx: any sender from us is refused      -> policy_rejected, about us (recheck.any-sender-refused)
 *     4xx: nothing learnt                     -> temporary, next MX (recheck.inconclusive)
 *
 * The probe stops there and does not go on to RCPT under the postmaster
 * reverse-path: the verdict for every address of such a domain is already
 * decided by its refusal of bounces, and an RCPT asked with a real sender
 * would be a callout the operator did not configure (see docs/classification.md).
 */
import { SESSION_RULES } from '../classify/rules.js';
import type { Stage } from '../verdict.js';
import { deciding, final, next, type Decision } from './decision.js';
import type { SmtpReply } from './reply-parser.js';

/** The two things the re-check needs from the dialogue: send a command, read its reply (421 ends the session). */
export interface RecheckChannel {
  send(command: string): void;
  read(stage: Stage): Promise<SmtpReply>;
}

const isOk = (r: SmtpReply): boolean => r.code >= 200 && r.code < 300;
const show = (r: SmtpReply): string => `${r.code} ${r.lines.join(' ')}`;

/**
 * Re-asks MAIL with `sender` after RSET. `refusal` is the server's reply to MAIL FROM:<>, and
 * stays the verdict's deciding reply either way: it is what the verdict is about.
 */
export async function recheckNullSender(
  channel: RecheckChannel,
  sender: string,
  refusal: SmtpReply,
): Promise<Decision> {
  const first = deciding('mail', refusal);
  channel.send('RSET');
  const rset = await channel.read('mail');
  if (!isOk(rset)) {
    const { id } = SESSION_RULES.inconclusive;
    return next(
      'temporary_failure',
      id,
      `MAIL FROM:<> refused (${show(refusal)}); RSET refused (${show(rset)}): nothing learnt`,
      first,
    );
  }
  channel.send(`MAIL FROM:<${sender}>`);
  const second = await channel.read('mail');
  const both = `MAIL FROM:<> refused (${show(refusal)}); MAIL FROM:<${sender}> ${isOk(second) ? 'accepted' : `refused (${show(second)})`} in the same session`;
  if (isOk(second)) {
    const rule = SESSION_RULES.nullSenderOnly;
    return final(rule.outcome, rule.id, `${both}: the domain refuses the null sender <>`, first, null);
  }
  if (second.code >= 500) {
    const rule = SESSION_RULES.anySenderRefused;
    return final(rule.outcome, rule.id, `${both}: the refusal is about us, not about bounces`, first, null);
  }
  return next(
    SESSION_RULES.inconclusive.outcome,
    SESSION_RULES.inconclusive.id,
    `${both}: nothing learnt`,
    first,
  );
}
