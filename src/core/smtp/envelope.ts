/**
 * The envelope: MAIL FROM and the RCPTs of one session, in one or more
 * transactions, and never DATA.
 *
 * Pipelined (RFC 2920), the whole session's commands go in one write:
 *
 *   MAIL, RCPT..., RSET, [MAIL, RCPT..., RSET,] QUIT
 *
 * and the replies prove themselves in step: the reply counted as QUIT's must
 * be 221, which no MAIL, RCPT or RSET reply can be (or, from a server that
 * closes instead of answering QUIT, the one counted as RSET's must be 250). A
 * server whose reply to one command splits into two (an injected CR LF:
 * `550 no` then `250 ok`) shifts every later reply, and the shift lands a
 * wrong reply in those slots. So the proof costs no round trip: RSET and QUIT
 * would be sent anyway. Until it holds, no pipelined reply is trusted.
 *
 * In lockstep (no PIPELINING, or after a pipelined session was cut short), one
 * command per write; a stray reply then arrives while nothing is owed, and the
 * connection marks the session out of step.
 */
import type { Stage } from '../verdict.js';
import { readRaw, type Dialogue } from './dialogue.js';
import { isPositive } from './answers.js';
import type { SmtpReply } from './reply-parser.js';

/** One RCPT: the random probe, or the real address with its index in the session's mailboxes. */
export type RcptSlot =
  { kind: 'random'; address: string } | { kind: 'address'; index: number; address: string };

export interface EnvelopePlan {
  mailCommand: string;
  /** The RCPTs of each transaction, in order. */
  transactions: readonly (readonly RcptSlot[])[];
  pipelined: boolean;
}

export interface EnvelopeReplies {
  /** MAIL FROM's reply in each transaction read so far. */
  mails: SmtpReply[];
  random: SmtpReply | null;
  /** Per mailbox index: its RCPT reply, when read, and the MAIL reply of its transaction. */
  rcpts: Map<number, { reply: SmtpReply; mail: SmtpReply }>;
  /** Mailbox indexes whose RCPT was written (all of them when pipelined). */
  sent: Set<number>;
  /** Every reply is proven to answer the command it is counted against. */
  inStep: boolean;
  /** Why not in step, for the message. */
  stepProblem: string | null;
  /** What cut the envelope short (the error, or the 421 as a reply), if anything did. */
  cut: { error: unknown; reply: SmtpReply | null; stage: Stage } | null;
  /** RSET and QUIT went with the pipelined group: nothing is left to close politely. */
  quitSent: boolean;
}

type Slot =
  | { stage: 'mail'; transaction: number }
  | { stage: 'rcpt_random' | 'rcpt'; transaction: number; rcpt: RcptSlot }
  | { stage: 'quit'; expect: 'rset' | 'quit' };

function slotsOf(plan: EnvelopePlan, withQuit: boolean): Slot[] {
  const slots: Slot[] = [];
  plan.transactions.forEach((rcpts, transaction) => {
    slots.push({ stage: 'mail', transaction });
    for (const rcpt of rcpts)
      slots.push({ stage: rcpt.kind === 'random' ? 'rcpt_random' : 'rcpt', transaction, rcpt });
    if (withQuit || transaction < plan.transactions.length - 1) slots.push({ stage: 'quit', expect: 'rset' });
  });
  if (withQuit) slots.push({ stage: 'quit', expect: 'quit' });
  return slots;
}

function commandOf(slot: Slot, plan: EnvelopePlan): string {
  if (slot.stage === 'mail') return plan.mailCommand;
  if (slot.stage === 'quit') return slot.expect === 'rset' ? 'RSET' : 'QUIT';
  return `RCPT TO:<${slot.rcpt.address}>`;
}

function emptyReplies(): EnvelopeReplies {
  return {
    mails: [],
    random: null,
    rcpts: new Map(),
    sent: new Set(),
    inStep: false,
    stepProblem: null,
    cut: null,
    quitSent: false,
  };
}

/** Record a MAIL or RCPT reply where it belongs. */
function record(out: EnvelopeReplies, slot: Slot, reply: SmtpReply): void {
  if (slot.stage === 'mail') out.mails[slot.transaction] = reply;
  else if (slot.stage !== 'quit') {
    if (slot.rcpt.kind === 'random') out.random = reply;
    else {
      const mail = out.mails[slot.transaction];
      if (mail) out.rcpts.set(slot.rcpt.index, { reply, mail });
    }
  }
}

export function runEnvelope(d: Dialogue, plan: EnvelopePlan): Promise<EnvelopeReplies> {
  return plan.pipelined ? pipelined(d, plan) : lockstep(d, plan);
}

async function pipelined(d: Dialogue, plan: EnvelopePlan): Promise<EnvelopeReplies> {
  const out = emptyReplies();
  const slots = slotsOf(plan, true);
  d.conn.send(slots.map((s) => commandOf(s, plan)));
  for (const slot of slots) if ('rcpt' in slot && slot.rcpt.kind === 'address') out.sent.add(slot.rcpt.index);
  out.quitSent = true;
  let lastRset: SmtpReply | null = null;
  let quit: SmtpReply | null = null;
  for (const slot of slots) {
    let reply: SmtpReply;
    try {
      reply = await readRaw(d, slot.stage);
    } catch (error) {
      // A server that closes instead of answering QUIT has still said everything before it.
      if (!(slot.stage === 'quit' && slot.expect === 'quit'))
        out.cut = { error, reply: null, stage: slot.stage };
      break;
    }
    if (reply.code === 421 && !(slot.stage === 'quit' && slot.expect === 'quit')) {
      out.cut = { error: null, reply, stage: slot.stage };
      break;
    }
    if (slot.stage !== 'quit') record(out, slot, reply);
    else if (slot.expect === 'rset') lastRset = reply;
    else quit = reply;
  }
  out.stepProblem = out.cut ? null : stepProblem(d, lastRset, quit);
  out.inStep = !out.cut && !out.stepProblem;
  return out;
}

/**
 * The proof that a pipelined group stayed in step. QUIT's 221 is a code no MAIL,
 * RCPT or RSET reply has, so a 221 in QUIT's slot proves the count (RSET itself
 * may be refused: Postfix says 530 to it before STARTTLS when TLS is required).
 * A server that closed without answering QUIT proves it by RSET's 250 instead.
 */
function stepProblem(d: Dialogue, rset: SmtpReply | null, quit: SmtpReply | null): string | null {
  if (d.conn.outOfStep) return 'the server sent a reply nobody asked for';
  if (quit)
    return quit.code === 221 ? null : `the reply counted as QUIT's was ${quit.code} ${quit.lines[0] ?? ''}`;
  if (rset && rset.code !== 250) return `the reply counted as RSET's was ${rset.code} ${rset.lines[0] ?? ''}`;
  return null;
}

async function lockstep(d: Dialogue, plan: EnvelopePlan): Promise<EnvelopeReplies> {
  const out = emptyReplies();
  const slots = slotsOf(plan, false);
  for (const slot of slots) {
    let reply: SmtpReply;
    try {
      d.conn.send([commandOf(slot, plan)]);
      if ('rcpt' in slot && slot.rcpt.kind === 'address') out.sent.add(slot.rcpt.index);
      reply = await readRaw(d, slot.stage);
    } catch (error) {
      out.cut = { error, reply: null, stage: slot.stage };
      break;
    }
    if (reply.code === 421) {
      out.cut = { error: null, reply, stage: slot.stage };
      break;
    }
    if (slot.stage === 'quit') continue;
    record(out, slot, reply);
    // A refused MAIL ends the envelope: its RCPTs would only earn 503s.
    if (slot.stage === 'mail' && !isPositive(reply)) break;
  }
  // Replies read one at a time are in step unless a stray one arrived: the
  // connection sees it, since nothing was owed when it came.
  if (d.conn.outOfStep) out.stepProblem = 'the server sent a reply nobody asked for';
  out.inStep = !out.stepProblem;
  return out;
}
