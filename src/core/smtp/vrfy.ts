/**
 * VRFY (RFC 5321 3.5.1), when enabled: asked for each address before any
 * transaction. It decides only on an explicit answer; anything else (252
 * "cannot verify", a 4xx, a refusal of VRFY itself) falls through to RCPT.
 */
import type { Mailbox } from '../address.js';
import { catchAllFrom } from './answers.js';
import { deciding, final, type Decision } from './decision.js';
import { classify, read, type Dialogue } from './dialogue.js';

/** One decision (or null: ask by RCPT) per mailbox, in order. */
export async function verifyByVrfy(
  d: Dialogue,
  mailboxes: readonly Mailbox[],
  randomAddress: string | null,
): Promise<(Decision | null)[]> {
  const confirmed: number[] = [];
  const decisions: (Decision | null)[] = [];
  for (const [i, mailbox] of mailboxes.entries()) {
    d.conn.send([`VRFY ${mailbox.address}`]);
    const reply = await read(d, 'vrfy');
    const c = classify(d, 'vrfy', reply);
    if (c.outcome === 'user_unknown') {
      decisions.push(
        final(c.outcome, c.rule, `VRFY: ${reply.lines.join(' ')}`, deciding('vrfy', reply), null),
      );
    } else if (c.outcome === 'accepted') {
      decisions.push(final('accepted', c.rule, 'VRFY confirmed the mailbox', deciding('vrfy', reply), null));
      confirmed.push(i);
    } else decisions.push(null);
  }
  if (confirmed.length === 0 || randomAddress === null) return decisions;
  d.conn.send([`VRFY ${randomAddress}`]);
  const random = await read(d, 'vrfy');
  const catchAll = catchAllFrom(classify(d, 'vrfy', random));
  for (const i of confirmed) {
    const confirmation = decisions[i];
    if (!confirmation) continue;
    decisions[i] =
      catchAll === true
        ? final(
            'catch_all',
            'vrfy.random-accepted',
            'VRFY confirms any local part, even a random one',
            deciding('vrfy', random),
            true,
          )
        : {
            ...confirmation,
            catchAllProbe: catchAll,
            message:
              catchAll === false
                ? 'VRFY confirmed the mailbox and denied a random one'
                : 'VRFY confirmed the mailbox; the random one was neither confirmed nor denied',
          };
  }
  return decisions;
}
