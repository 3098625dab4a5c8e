/**
 * One SMTP session with one mail host, for one or more addresses of a domain:
 *
 *   connect -> open (greeting, EHLO, STARTTLS) -> [VRFY] -> envelope -> answers -> close
 *
 * Never DATA. The outcome says, per address, what the host answered (only
 * replies proven in step count), or why the host gave no answer at all, and
 * what the caller should know for the next session: whether the catch-all
 * probe was answered, whether the server punished it, whether it limits
 * recipients per transaction. Every path releases the socket and the abort
 * listener, including a fault in cbv's own code.
 */
import type { Mailbox } from '../address.js';
import type { DecidingReply, MxTarget, Stage, TranscriptLine } from '../verdict.js';
import { catchAllFrom, decideMail, decideRcpt, isPositive, wantsRecheck } from './answers.js';
import { closePolitely } from './close.js';
import { ConnectionClosedError } from '../errors.js';
import { SmtpConnection } from './connection.js';
import type { Connector } from './connector.js';
import { Decided, decisionForError, next, nextFromReply, outOfStep, type Decision } from './decision.js';
import { classify, read, type Dialogue, type ProbeOptions } from './dialogue.js';
import { runEnvelope, type EnvelopeReplies, type RcptSlot } from './envelope.js';
import { openSession } from './open-session.js';
import { TicketStalls } from './ticket-stall.js';
import { verifyByVrfy } from './vrfy.js';

export type { PhaseTimeouts, ProbeOptions, TlsMode } from './dialogue.js';
export type { Decision } from './decision.js';

export interface SessionRequest {
  target: MxTarget;
  domain: string;
  /** The addresses to ask about, all of `domain`. */
  mailboxes: readonly Mailbox[];
  /**
   * Ask about a random local part too (the catch-all probe). Pipelined, it goes
   * first; in lockstep, last, so that a server that ends the session after
   * refusing it has already answered every address.
   */
  probe: boolean;
  /** The catch-all answer already known for this host, used when `probe` is false. */
  knownCatchAll: boolean | null;
  /** One command per write even if the server offers PIPELINING. */
  lockstep: boolean;
  /** Most RCPTs per transaction (the server's limit once it said "too many recipients"); null: all in one. */
  perTransaction: number | null;
  randomLocalPart: string;
  signal: AbortSignal;
  startedAt: number;
  budgetMs: number;
  /** Skip STARTTLS: set when retrying after a failed opportunistic handshake. */
  plainOnly: boolean;
  /** Keep the session's transcript (default true); false leaves SessionOutcome.transcript empty. */
  transcript?: boolean;
}

export interface SessionOutcome {
  /**
   * Set when the session answered nothing about any address: why. kind 'next'
   * (try another host), 'final' (the budget ran out or the caller cancelled),
   * or 'retry_plain' (the TLS handshake failed; reconnect without it).
   */
  failure: Decision | null;
  /** Per mailbox, in request order: the trusted answer, or null when it was not answered. */
  answers: (Decision | null)[];
  /** The random probe's trusted answer: true catch-all, false refused, null untested or inconclusive. */
  catchAll: boolean | null;
  /** The session died after the random RCPT was refused, before every address was answered. */
  probePunished: boolean;
  /** The unanswered addresses are worth asking this host again, in lockstep (the session was cut short). */
  retryHere: boolean;
  /** RCPTs the server took per transaction before saying "too many recipients" (452 4.5.3), when it did. */
  recipientLimit: number | null;
  /** Why the session left addresses unanswered when it was cut short (the 421, the lost connection, the timeout). */
  unanswered: Decision | null;
  /** Per mailbox: was it asked about (VRFY or RCPT written)? One never asked has not used up a session. */
  asked: boolean[];
  /** A TCP connection was made: the session counts against the session limit. */
  connected: boolean;
  /** The stage the session ended at. */
  stage: Stage | null;
  /** Resolves when the socket is closed (after RSET/QUIT when those follow the decision). */
  closed: Promise<void>;
  transcript: TranscriptLine[];
}

/** What the dialogue learnt that closing the session needs. */
interface Progress {
  pipelining: boolean;
  mailSent: boolean;
  quitSent: boolean;
}

type Answers = Omit<SessionOutcome, 'connected' | 'stage' | 'closed' | 'transcript'>;

function failed(decision: Decision, count: number): Answers {
  return {
    failure: decision,
    answers: Array.from({ length: count }, () => null),
    catchAll: null,
    probePunished: false,
    retryHere: false,
    recipientLimit: null,
    unanswered: null,
    asked: Array.from({ length: count }, () => true),
  };
}

function answered(answers: (Decision | null)[]): Answers {
  return {
    failure: null,
    answers,
    catchAll: null,
    probePunished: false,
    retryHere: false,
    recipientLimit: null,
    unanswered: null,
    asked: answers.map(() => true),
  };
}

export class Probe {
  constructor(
    private readonly connector: Connector,
    readonly options: ProbeOptions,
    /** What this probe's sessions learnt about hosts' TLS session tickets (ticket-stall.ts). */
    readonly ticketStalls: TicketStalls = new TicketStalls(),
  ) {}

  async session(req: SessionRequest): Promise<SessionOutcome> {
    const { target } = req;
    let conn: SmtpConnection;
    try {
      const socket = await this.connector.connect({
        ip: target.ip,
        port: this.options.port,
        deadlineMs: this.options.timeouts.connect,
        signal: req.signal,
      });
      conn = new SmtpConnection(
        socket,
        this.options.limits,
        req.signal,
        req.startedAt,
        req.budgetMs,
        req.transcript ?? true,
      );
    } catch (error) {
      const decision = decisionForError(error, 'connect');
      return {
        ...failed(decision, req.mailboxes.length),
        connected: false,
        stage: 'connect',
        closed: Promise.resolve(),
        transcript:
          (req.transcript ?? true)
            ? [{ t: Date.now() - req.startedAt, dir: '*', line: decision.message }]
            : [],
      };
    }
    if (conn.recording) conn.note('*', `connected to ${target.host} [${target.ip}]:${this.options.port}`);
    const d: Dialogue = { conn, options: this.options, ticketStalls: this.ticketStalls };
    const progress: Progress = { pipelining: false, mailSent: false, quitSent: false };
    let result: Answers;
    let polite = true;
    try {
      result = await this.converse(d, req, progress);
    } catch (error) {
      // A reply that ended the session cleanly (Decided) still earns RSET/QUIT; an error does not.
      if (!(error instanceof Decided)) polite = false;
      result = failed(
        error instanceof Decided ? error.decision : decisionForError(error, null),
        req.mailboxes.length,
      );
    }
    const closed =
      polite && !progress.quitSent
        ? closePolitely(conn, {
            pipelining: progress.pipelining,
            mailSent: progress.mailSent,
            deadlineMs: this.options.timeouts.quit,
          })
        : Promise.resolve(conn.destroy());
    const reply: DecidingReply | null = result.failure?.reply ?? null;
    return {
      ...result,
      connected: true,
      stage: result.failure ? (result.failure.stage ?? reply?.stage ?? null) : null,
      closed,
      transcript: conn.transcript,
    };
  }

  private async converse(d: Dialogue, req: SessionRequest, progress: Progress): Promise<Answers> {
    const extensions = await openSession(d, req.target, req.plainOnly);
    progress.pipelining = extensions.has('PIPELINING') && !req.lockstep;
    const answers: (Decision | null)[] = req.mailboxes.map((m) =>
      m.needsSmtpUtf8 && !extensions.has('SMTPUTF8')
        ? next(
            'protocol_error',
            'local.smtputf8-not-offered',
            'the address needs SMTPUTF8, which this server does not offer',
            null,
          )
        : null,
    );
    const random = `${req.randomLocalPart}@${req.domain}`;
    if (this.options.useVrfy) {
      const open = req.mailboxes.filter((_, i) => answers[i] === null);
      const byVrfy = await verifyByVrfy(d, open, req.probe ? random : null);
      let j = 0;
      req.mailboxes.forEach((_, i) => {
        if (answers[i] === null) answers[i] = byVrfy[j++] ?? null;
      });
    }
    const asking = req.mailboxes.flatMap((m, index) => (answers[index] === null ? [{ m, index }] : []));
    if (asking.length === 0) return answered(answers);
    progress.mailSent = true;
    const utf8 = asking.some(({ m }) => m.needsSmtpUtf8);
    const rcpts: RcptSlot[] = asking.map(({ m, index }) => ({ kind: 'address', index, address: m.address }));
    if (req.probe && progress.pipelining) rcpts.unshift({ kind: 'random', address: random });
    else if (req.probe) rcpts.push({ kind: 'random', address: random });
    const size = req.perTransaction ?? rcpts.length;
    const transactions: RcptSlot[][] = [];
    for (let i = 0; i < rcpts.length; i += size) transactions.push(rcpts.slice(i, i + size));
    const replies = await runEnvelope(d, {
      mailCommand: `MAIL FROM:<${this.options.sender}>${utf8 ? ' SMTPUTF8' : ''}`,
      transactions,
      pipelined: progress.pipelining,
    });
    progress.quitSent = replies.quitSent;
    return this.answer(d, req, replies, answers, transactions, progress);
  }

  /** Turn the envelope's replies into answers, trusting only replies proven in step. */
  private async answer(
    d: Dialogue,
    req: SessionRequest,
    replies: EnvelopeReplies,
    answers: (Decision | null)[],
    transactions: RcptSlot[][],
    progress: Progress,
  ): Promise<Answers> {
    const count = req.mailboxes.length;
    const asked = answers.map((a, i) => a !== null || replies.sent.has(i));
    if (replies.stepProblem) return failed(outOfStep(replies.stepProblem), count);
    const mail = replies.mails[0];
    if (!mail) return failed(this.cutDecision(d, replies, 'mail'), count);
    const randomRefused = replies.random !== null && replies.random.code >= 500;
    const rcptRepliesSeen = replies.rcpts.size + (replies.random ? 1 : 0);
    const cutWhy = replies.cut ? this.cutDecision(d, replies, 'rcpt') : null;
    // Only a session the server ended (421, close, reset) is worth asking again at
    // once; a slow or broken one is left for the next host.
    const died =
      replies.cut !== null &&
      (replies.cut.reply !== null || replies.cut.error instanceof ConnectionClosedError);
    if (!replies.inStep) {
      // Pipelined and cut short: nothing is proven, so nothing is trusted. If the
      // server answered RCPTs before it went, ask again one command at a time.
      if (cutWhy && (rcptRepliesSeen === 0 || !died)) return failed(cutWhy, count);
      return {
        ...answered(answers),
        probePunished: randomRefused,
        retryHere: true,
        unanswered: cutWhy,
        asked,
      };
    }
    if (!isPositive(mail)) {
      if (progress.quitSent && wantsRecheck(d, mail)) {
        // A bare refusal of MAIL FROM:<> is re-checked in its session, and this one has
        // already said QUIT (pipelined): ask again one command at a time.
        const why = await decideMail(d, mail, null);
        const pending: Decision = { ...why, kind: 'next', reason: 'temporary_failure' };
        return { ...answered(answers), retryHere: true, unanswered: pending, asked };
      }
      const channel = progress.quitSent
        ? null
        : { send: (command: string) => d.conn.send([command]), read: (stage: Stage) => read(d, stage) };
      const decision = await decideMail(d, mail, channel);
      if (decision.kind !== 'final') return failed(decision, count);
      return answered(answers.map((a) => a ?? decision));
    }
    const random = req.probe && replies.random ? classify(d, 'rcpt_random', replies.random) : null;
    const catchAll = !req.probe ? req.knownCatchAll : random ? catchAllFrom(random) : null;
    let recipientLimit: number | null = null;
    // The random probe refused as one recipient too many (452 4.5.3; it goes last without
    // PIPELINING): its answer is still owed, and until it comes an address's yes may be a
    // catch-all's. Such addresses are asked again, with the probe, within the server's limit.
    const probeOwed = random?.outcome === 'retry_alone';
    if (probeOwed) {
      d.conn.note(
        '*',
        'server refused the random probe as one recipient too many; asking again in a new transaction',
      );
      recipientLimit = this.acceptedBefore((slot) => slot.kind === 'random', transactions, replies);
    }
    for (const [index, { reply, mail: txMail }] of replies.rcpts) {
      if (!isPositive(txMail)) continue;
      const c = classify(d, 'rcpt', reply);
      if (c.outcome === 'retry_alone') {
        d.conn.note('*', 'server takes fewer recipients per transaction; asking again in a new transaction');
        const limit = this.acceptedBefore(
          (slot) => slot.kind === 'address' && slot.index === index,
          transactions,
          replies,
        );
        recipientLimit = Math.min(recipientLimit ?? limit, limit);
        continue;
      }
      if (probeOwed && c.outcome === 'accepted') continue;
      answers[index] = decideRcpt(d, reply, c, catchAll);
    }
    if (cutWhy && rcptRepliesSeen === 0) return failed(cutWhy, count);
    const open = cutWhy !== null && answers.some((a) => a === null);
    return {
      failure: null,
      answers,
      catchAll: req.probe ? catchAll : null,
      probePunished: open && randomRefused,
      retryHere: open && died,
      recipientLimit,
      unanswered: cutWhy,
      asked,
    };
  }

  /** How many RCPTs of its transaction came before the one refused as too many: the server's limit. */
  private acceptedBefore(
    refused: (slot: RcptSlot) => boolean,
    transactions: RcptSlot[][],
    replies: EnvelopeReplies,
  ): number {
    const tx = transactions.find((t) => t.some(refused)) ?? [];
    let n = 0;
    for (const slot of tx) {
      if (refused(slot)) break;
      const reply = slot.kind === 'random' ? replies.random : replies.rcpts.get(slot.index)?.reply;
      if (reply && reply.code !== 452) n++;
    }
    return Math.max(1, n);
  }

  /** The session ended before any RCPT was answered: why, as a host-level decision. */
  private cutDecision(d: Dialogue, replies: EnvelopeReplies, stage: Stage): Decision {
    const cut = replies.cut;
    const closing = cut?.reply ?? d.conn.closingReply;
    if (closing)
      return nextFromReply(cut?.stage ?? stage, closing, classify(d, cut?.stage ?? stage, closing));
    return decisionForError(cut?.error ?? null, cut?.stage ?? stage);
  }
}
