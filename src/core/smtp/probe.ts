/**
 * The callout dialogue with one mail host:
 *
 *   connect -> greeting -> EHLO (or HELO) -> [STARTTLS -> EHLO] -> [VRFY]
 *   -> MAIL FROM:<> + RCPT TO:<random> + RCPT TO:<address>  (one write when PIPELINING)
 *   -> decide -> RSET + QUIT in the background. Never DATA.
 *
 * Each stage is a small function; probeHost() reads as the list of them.
 * The outcome says whether the answer is authoritative for the address
 * ('final') or whether the next MX should be tried ('next').
 */
import type { Mailbox } from '../address.js';
import { classifyReply, type Classification } from '../classify/classify.js';
import { ProtocolError, TlsError } from '../errors.js';
import {
  REASON_MEANING,
  type DecidingReply,
  type EngineReason,
  type MxTarget,
  type Stage,
} from '../verdict.js';
import {
  Decided,
  asReason,
  deciding,
  decisionForError,
  final,
  next,
  nextFromReply,
  type Decision,
} from './decision.js';
import { SmtpConnection, type ConnectionLimits } from './connection.js';
import { recheckNullSender } from './sender-recheck.js';
import type { Connector } from './connector.js';
import type { SmtpReply } from './reply-parser.js';

export type TlsMode = 'off' | 'opportunistic' | 'required';

export interface PhaseTimeouts {
  connect: number;
  greeting: number;
  ehlo: number;
  starttls: number;
  mail: number;
  rcpt: number;
  /** RSET and QUIT after the decision; bounded so a stalling server cannot hold a socket. */
  quit: number;
}

export interface ProbeOptions {
  port: number;
  heloName: string;
  /** Envelope sender for MAIL FROM; '' sends the null sender <>. */
  sender: string;
  starttls: TlsMode;
  /** Validate the server certificate after STARTTLS (MTAs do not by default: RFC 7435). */
  tlsVerify: boolean;
  catchAllTest: boolean;
  useVrfy: boolean;
  timeouts: PhaseTimeouts;
  limits: ConnectionLimits;
  /**
   * Reverse-path for the re-check after a refusal of MAIL FROM:<> that does not say why
   * (sender-recheck.ts), e.g. postmaster@<HELO name>; null or absent: no re-check, and such a
   * refusal is policy_rejected.
   */
  recheckSender?: string | null;
}

export interface ProbeRequest {
  target: MxTarget;
  mailbox: Mailbox;
  randomLocalPart: string;
  signal: AbortSignal;
  startedAt: number;
  budgetMs: number;
  /** Skip STARTTLS: set when retrying after a failed opportunistic handshake. */
  plainOnly?: boolean;
}

export interface HostOutcome {
  /** final: authoritative for the address, stop. next: try the next host. retry_plain: reconnect without TLS. */
  kind: 'final' | 'next' | 'retry_plain';
  reason: EngineReason;
  rule: string;
  message: string;
  reply: DecidingReply | null;
  /** The stage the session ended at (the deciding reply's, or where an error struck). */
  stage: Stage | null;
  catchAllProbe: boolean | null;
  /** Resolves when RSET/QUIT finished and the socket is closed. */
  closed: Promise<void>;
  transcript: SmtpConnection['transcript'];
}

const TIMEOUT_OF: Record<Stage, keyof PhaseTimeouts> = {
  dns: 'connect',
  connect: 'connect',
  greeting: 'greeting',
  ehlo: 'ehlo',
  helo: 'ehlo',
  starttls: 'starttls',
  mail: 'mail',
  rcpt_random: 'rcpt',
  rcpt: 'rcpt',
  vrfy: 'rcpt',
  quit: 'quit',
};

/** What the dialogue learnt that closing the session needs. */
interface Session {
  conn: SmtpConnection;
  pipelining: boolean;
  mailSent: boolean;
}

export class Probe {
  constructor(
    private readonly connector: Connector,
    private readonly options: ProbeOptions,
  ) {}

  async probeHost(req: ProbeRequest): Promise<HostOutcome> {
    const { target } = req;
    let conn: SmtpConnection;
    try {
      const socket = await this.connector.connect({
        ip: target.ip,
        port: this.options.port,
        deadlineMs: this.options.timeouts.connect,
        signal: req.signal,
      });
      conn = new SmtpConnection(socket, this.options.limits, req.signal, req.startedAt, req.budgetMs);
    } catch (error) {
      const decision = decisionForError(error, 'connect');
      return {
        ...decision,
        stage: 'connect',
        closed: Promise.resolve(),
        transcript: [{ t: Date.now() - req.startedAt, dir: '*', line: decision.message }],
      };
    }
    conn.note('*', `connected to ${target.host} [${target.ip}]:${this.options.port}`);
    const session: Session = { conn, pipelining: false, mailSent: false };
    let decision: Decision;
    let polite = true;
    try {
      decision = await this.dialogue(session, req);
    } catch (error) {
      if (error instanceof Decided) decision = error.decision;
      else {
        decision = decisionForError(error, null);
        polite = false;
      }
    }
    const closed = polite ? this.closePolitely(session) : Promise.resolve(conn.destroy());
    return {
      ...decision,
      stage: decision.stage ?? decision.reply?.stage ?? null,
      closed,
      transcript: conn.transcript,
    };
  }

  private async dialogue(session: Session, req: ProbeRequest): Promise<Decision> {
    const { conn } = session;
    await this.expect2xx(conn, 'greeting', null);
    let extensions = await this.hello(conn);
    extensions = await this.maybeStartTls(conn, req, extensions);
    session.pipelining = extensions.has('PIPELINING');
    if (req.mailbox.needsSmtpUtf8 && !extensions.has('SMTPUTF8')) {
      return next(
        'protocol_error',
        'local.smtputf8-not-offered',
        'the address needs SMTPUTF8, which this server does not offer',
        null,
      );
    }
    if (this.options.useVrfy) {
      const vrfy = await this.tryVrfy(conn, req);
      if (vrfy) return vrfy;
    }
    session.mailSent = true;
    return this.envelope(conn, req, extensions);
  }

  /** Read one reply; a non-2xx ends the host with its classification. */
  private async expect2xx(conn: SmtpConnection, stage: Stage, sent: string | null): Promise<SmtpReply> {
    if (sent !== null) conn.send([sent]);
    const reply = await this.read(conn, stage);
    if (reply.code >= 200 && reply.code < 300) return reply;
    const c = this.classify(stage, reply);
    throw new Decided(this.noteHelo(nextFromReply(stage, reply, c), c));
  }

  /** The next reply. 421 at any stage means the server is closing the session (RFC 5321 3.8): try the next host. */
  private async read(conn: SmtpConnection, stage: Stage): Promise<SmtpReply> {
    const reply = await conn.readReply(stage, this.options.timeouts[TIMEOUT_OF[stage]]);
    if (reply.code === 421) throw new Decided(nextFromReply(stage, reply, this.classify(stage, reply)));
    return reply;
  }

  private classify(stage: Stage, reply: SmtpReply): Classification {
    return classifyReply(stage, reply, { nullSender: this.options.sender === '' });
  }

  /** A refusal of our HELO name says so, and names the setting that fixes it. */
  private noteHelo(decision: Decision, c: Classification): Decision {
    if (c.about !== 'helo') return decision;
    const note = `the server refused our HELO name "${this.options.heloName}" (set verify.helo_name to this host's fully qualified name)`;
    return { ...decision, message: `${note}: ${decision.message}` };
  }

  /** EHLO, falling back to HELO when EHLO is refused with 5xx (RFC 5321 4.1.4). Returns the extension keywords. */
  private async hello(conn: SmtpConnection): Promise<Set<string>> {
    conn.send([`EHLO ${this.options.heloName}`]);
    const reply = await this.read(conn, 'ehlo');
    if (reply.code >= 200 && reply.code < 300) {
      return new Set(reply.lines.slice(1).map((l) => (l.trim().split(/\s+/)[0] ?? '').toUpperCase()));
    }
    if (reply.code < 500) throw new Decided(nextFromReply('ehlo', reply, this.classify('ehlo', reply)));
    await this.expect2xx(conn, 'helo', `HELO ${this.options.heloName}`);
    return new Set();
  }

  private async maybeStartTls(
    conn: SmtpConnection,
    req: ProbeRequest,
    extensions: Set<string>,
  ): Promise<Set<string>> {
    const mode = req.plainOnly ? 'off' : this.options.starttls;
    if (this.options.starttls === 'required' && !extensions.has('STARTTLS')) {
      throw new Decided(
        next(
          'temporary_failure',
          'local.tls-required-not-offered',
          'TLS is required but the server does not offer STARTTLS',
          null,
        ),
      );
    }
    if (mode === 'off' || !extensions.has('STARTTLS')) return extensions;
    conn.send(['STARTTLS']);
    const reply = await this.read(conn, 'starttls');
    if (reply.code !== 220) {
      if (mode === 'required')
        throw new Decided(nextFromReply('starttls', reply, this.classify('starttls', reply)));
      conn.note('*', 'STARTTLS refused; continuing without TLS');
      return extensions;
    }
    try {
      await conn.startTls(
        isIpLiteral(req.target.host) ? undefined : req.target.host,
        this.options.timeouts.starttls,
        this.options.tlsVerify,
      );
    } catch (error) {
      if (error instanceof TlsError && mode === 'opportunistic') {
        throw new Decided({
          kind: 'retry_plain',
          reason: 'protocol_error',
          rule: 'local.tls-handshake-failed',
          message: `${error.message}; retrying without TLS`,
          reply: null,
          catchAllProbe: null,
        });
      }
      throw error;
    }
    // RFC 3207 4.2: forget everything learnt before TLS and say EHLO again.
    return this.hello(conn);
  }

  /** VRFY only decides on an explicit answer; anything else falls through to RCPT. */
  private async tryVrfy(conn: SmtpConnection, req: ProbeRequest): Promise<Decision | null> {
    conn.send([`VRFY ${req.mailbox.address}`]);
    const reply = await this.read(conn, 'vrfy');
    const c = this.classify('vrfy', reply);
    if (c.outcome === 'user_unknown')
      return final(c.outcome, c.rule, `VRFY: ${reply.lines.join(' ')}`, deciding('vrfy', reply), null);
    if (c.outcome !== 'accepted' || !this.options.catchAllTest) {
      return c.outcome === 'accepted'
        ? final('accepted', c.rule, 'VRFY confirmed the mailbox', deciding('vrfy', reply), null)
        : null;
    }
    conn.send([`VRFY ${req.randomLocalPart}@${req.mailbox.domain}`]);
    const random = await this.read(conn, 'vrfy');
    const catchAll = this.classify('vrfy', random).outcome === 'accepted';
    return catchAll
      ? final(
          'catch_all',
          'vrfy.random-accepted',
          'VRFY confirms any local part, even a random one',
          deciding('vrfy', random),
          true,
        )
      : final(
          'accepted',
          c.rule,
          'VRFY confirmed the mailbox and denied a random one',
          deciding('vrfy', reply),
          false,
        );
  }

  /** MAIL, the random RCPT and the real RCPT; pipelined in one write when the server allows (RFC 2920). */
  private async envelope(
    conn: SmtpConnection,
    req: ProbeRequest,
    extensions: Set<string>,
  ): Promise<Decision> {
    const mailCommand = `MAIL FROM:<${this.options.sender}>${req.mailbox.needsSmtpUtf8 ? ' SMTPUTF8' : ''}`;
    const steps: { stage: Stage; command: string }[] = [{ stage: 'mail', command: mailCommand }];
    if (this.options.catchAllTest)
      steps.push({ stage: 'rcpt_random', command: `RCPT TO:<${req.randomLocalPart}@${req.mailbox.domain}>` });
    steps.push({ stage: 'rcpt', command: `RCPT TO:<${req.mailbox.address}>` });
    const replies = await this.exchange(conn, steps, extensions.has('PIPELINING'));
    const mail = replies.get('mail');
    if (!mail) throw new ProtocolError('no reply to MAIL FROM');
    if (mail.code < 200 || mail.code >= 300) return this.decideMail(conn, mail);
    const random = replies.get('rcpt_random');
    const catchAllProbe = random ? this.randomVerdict(random) : null;
    let rcpt = replies.get('rcpt');
    if (!rcpt) throw new ProtocolError('no reply to RCPT TO');
    if (this.classify('rcpt', rcpt).outcome === 'retry_alone') {
      conn.note('*', 'server takes one recipient per bounce; retrying the address in its own transaction');
      rcpt = await this.retryAlone(conn, mailCommand, req, extensions.has('PIPELINING'));
    }
    return this.decideRcpt(rcpt, catchAllProbe);
  }

  /** Send the steps (all at once if pipelining) and collect replies; stops early after a refused MAIL when not pipelining. */
  private async exchange(
    conn: SmtpConnection,
    steps: { stage: Stage; command: string }[],
    pipelining: boolean,
  ): Promise<Map<Stage, SmtpReply>> {
    const replies = new Map<Stage, SmtpReply>();
    if (pipelining) {
      conn.send(steps.map((s) => s.command));
      for (const step of steps) replies.set(step.stage, await this.read(conn, step.stage));
      return replies;
    }
    for (const step of steps) {
      conn.send([step.command]);
      const reply = await this.read(conn, step.stage);
      replies.set(step.stage, reply);
      if (step.stage === 'mail' && (reply.code < 200 || reply.code >= 300)) break;
    }
    return replies;
  }

  private async retryAlone(
    conn: SmtpConnection,
    mailCommand: string,
    req: ProbeRequest,
    pipelining: boolean,
  ): Promise<SmtpReply> {
    await this.expect2xx(conn, 'mail', 'RSET');
    const replies = await this.exchange(
      conn,
      [
        { stage: 'mail', command: mailCommand },
        { stage: 'rcpt', command: `RCPT TO:<${req.mailbox.address}>` },
      ],
      pipelining,
    );
    const mail = replies.get('mail');
    if (mail && (mail.code < 200 || mail.code >= 300)) throw new Decided(await this.decideMail(conn, mail));
    const rcpt = replies.get('rcpt');
    if (!rcpt) throw new ProtocolError('no reply to RCPT TO');
    return rcpt;
  }

  private async decideMail(conn: SmtpConnection, mail: SmtpReply): Promise<Decision> {
    const c = this.classify('mail', mail);
    const text = `MAIL FROM refused: ${mail.code} ${mail.lines.join(' ')}`;
    if (c.outcome === 'recheck_sender') {
      const sender = this.options.recheckSender;
      if (sender) {
        const channel = {
          send: (command: string) => conn.send([command]),
          read: (stage: Stage) => this.read(conn, stage),
        };
        return recheckNullSender(channel, sender, mail);
      }
      const why = `${text}; a refusal that does not say why is not read as a refusal of bounces (verify.null_sender_recheck is off)`;
      return final('policy_rejected', c.rule, why, deciding('mail', mail), null);
    }
    const reason = asReason(c.outcome);
    // A temporary refusal of MAIL (4xx, or a throttling 5xx) is about this host now; another MX may take it.
    const decision = REASON_MEANING[reason].temporary
      ? next(reason, c.rule, text, deciding('mail', mail))
      : final(reason, c.rule, text, deciding('mail', mail), null);
    return this.noteHelo(decision, c);
  }

  /** The random recipient: accepted = catch-all; refused as unknown = not; anything else tells nothing. */
  private randomVerdict(reply: SmtpReply): boolean | null {
    const outcome = this.classify('rcpt_random', reply).outcome;
    if (outcome === 'accepted') return true;
    if (outcome === 'user_unknown' || outcome === 'mailbox_disabled') return false;
    return null;
  }

  private decideRcpt(rcpt: SmtpReply, catchAllProbe: boolean | null): Decision {
    const c = this.classify('rcpt', rcpt);
    const reply = deciding('rcpt', rcpt);
    const text = `${rcpt.code} ${rcpt.lines.join(' ')}`;
    if (c.outcome === 'accepted' && catchAllProbe === true) {
      return final(
        'catch_all',
        'rcpt.random-accepted',
        'the server accepts a random, non-existent local part too: no information',
        reply,
        true,
      );
    }
    return this.noteHelo(
      final(
        asReason(c.outcome === 'retry_alone' ? 'temporary_failure' : c.outcome),
        c.rule,
        text,
        reply,
        catchAllProbe,
      ),
      c,
    );
  }

  /**
   * RSET (when a transaction was opened) then QUIT, RFC 5321 4.1.1.5 and 4.1.1.10;
   * pipelined only when the server offered PIPELINING. Bounded by the quit deadline; never throws.
   */
  private async closePolitely({ conn, pipelining, mailSent }: Session): Promise<void> {
    const deadline = this.options.timeouts.quit;
    const commands = mailSent ? ['RSET', 'QUIT'] : ['QUIT'];
    try {
      if (pipelining) conn.send(commands);
      for (const command of commands) {
        if (!pipelining) conn.send([command]);
        await conn.readReply('quit', deadline);
      }
    } catch {
      // The server may close first or say nothing more; either way we are done.
    } finally {
      conn.destroy();
    }
  }
}

function isIpLiteral(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
