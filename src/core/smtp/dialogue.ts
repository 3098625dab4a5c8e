/**
 * The primitives every stage of the dialogue shares: read the next reply
 * within its phase's deadline, classify it, and end the session on a reply
 * that closes it. The options the probe was built with live here too.
 */
import { classifyReply, type Classification } from '../classify/classify.js';
import type { Stage } from '../verdict.js';
import type { ConnectionLimits, SmtpConnection } from './connection.js';
import { Decided, nextFromReply, type Decision } from './decision.js';
import type { SmtpReply } from './reply-parser.js';
import type { TicketStalls } from './ticket-stall.js';

export type TlsMode = 'off' | 'opportunistic' | 'required';

export interface PhaseTimeouts {
  connect: number;
  greeting: number;
  ehlo: number;
  starttls: number;
  mail: number;
  rcpt: number;
  /** RSET and QUIT; bounded so a stalling server cannot hold a socket. */
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

/** One session's connection and the options it runs under. */
export interface Dialogue {
  conn: SmtpConnection;
  options: ProbeOptions;
  /** Hosts that hold their reply to EHLO behind their TLS session ticket (ticket-stall.ts), shared by the probe's sessions. */
  ticketStalls?: TicketStalls;
}

export function classify(d: Dialogue, stage: Stage, reply: SmtpReply): Classification {
  return classifyReply(stage, reply, { nullSender: d.options.sender === '' });
}

/** The next reply, within the stage's deadline. Throws ProbeError when the session fails. */
export function readRaw(d: Dialogue, stage: Stage): Promise<SmtpReply> {
  return d.conn.readReply(stage, d.options.timeouts[TIMEOUT_OF[stage]]);
}

/** The next reply. 421 at any stage means the server is closing the session (RFC 5321 3.8): try the next host. */
export async function read(d: Dialogue, stage: Stage): Promise<SmtpReply> {
  const reply = await readRaw(d, stage);
  if (reply.code === 421) throw new Decided(nextFromReply(stage, reply, classify(d, stage, reply)));
  return reply;
}

/** Send a command (unless null) and read one reply; a non-2xx ends the host with its classification. */
export async function expect2xx(d: Dialogue, stage: Stage, sent: string | null): Promise<SmtpReply> {
  if (sent !== null) d.conn.send([sent]);
  const reply = await read(d, stage);
  if (reply.code >= 200 && reply.code < 300) return reply;
  const c = classify(d, stage, reply);
  throw new Decided(noteHelo(d.options, nextFromReply(stage, reply, c), c));
}

/** A refusal of our HELO name says so, and names the setting that fixes it. */
export function noteHelo(options: ProbeOptions, decision: Decision, c: Classification): Decision {
  if (c.about !== 'helo') return decision;
  const note = `the server refused our HELO name "${options.heloName}" (set verify.helo_name to this host's fully qualified name)`;
  return { ...decision, message: `${note}: ${decision.message}` };
}
