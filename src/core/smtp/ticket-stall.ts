/**
 * The EHLO after STARTTLS, timed around the server's TLS 1.3 session ticket.
 *
 * A TLS 1.3 server sends its NewSessionTicket (RFC 8446 4.6.1) as soon as it has read our
 * Finished, and our EHLO travels with that Finished. A server that leaves Nagle's algorithm on
 * (Postfix does; OpenSSL sends the ticket whatever the client says) then writes its small reply
 * to EHLO while the small ticket segment is still unacknowledged, so the kernel holds the reply
 * until the ticket's ACK arrives. We have nothing to send at that moment, so our kernel delays
 * that ACK (40 ms on Linux, up to 200 ms elsewhere): the reply comes one round trip plus the
 * delayed ACK after the ticket. Node cannot force an ACK (no TCP_QUICKACK) nor write a TLS
 * record that carries no SMTP (no empty records, no KeyUpdate); what it can do is send the EHLO
 * only once the ticket is in, so that the EHLO carries the ACK and the reply is not held.
 *
 * That costs a round trip against a server that sends no ticket, or sends it with its reply
 * (TCP_NODELAY), so it is done only for hosts seen to stall: the first session to a host sends
 * EHLO at once and measures how long the reply came after the ticket; a host that held it is
 * remembered (TicketStalls) and later sessions wait for its ticket, within a bound, before EHLO.
 * A host whose ticket does not come within the bound is forgotten.
 */
import type { SmtpConnection } from './connection.js';

/** Hosts (by IP address) seen to hold their reply to EHLO behind their TLS session ticket. */
export class TicketStalls {
  private readonly seen = new Map<string, number>();

  /**
   * @param maxHosts most hosts remembered; the oldest entry goes first.
   * @param ttlMs how long a host is remembered (ms) before its first session is measured again.
   * @param now clock in ms (tests pass their own).
   */
  constructor(
    private readonly maxHosts = 10_000,
    private readonly ttlMs = 3_600_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** True if the host was seen to stall, within the last ttlMs. */
  stalls(host: string): boolean {
    const at = this.seen.get(host);
    if (at === undefined) return false;
    if (this.now() - at <= this.ttlMs) return true;
    this.seen.delete(host);
    return false;
  }

  remember(host: string): void {
    this.seen.delete(host); // re-inserted last: Map order is age order
    this.seen.set(host, this.now());
    while (this.seen.size > this.maxHosts) {
      const oldest = this.seen.keys().next();
      if (oldest.done === true) break;
      this.seen.delete(oldest.value);
    }
  }

  forget(host: string): void {
    this.seen.delete(host);
  }

  get size(): number {
    return this.seen.size;
  }
}

/** When the TLS handshake and the ticket happened, in performance.now() milliseconds. */
export interface TicketTiming {
  /** ClientHello written -> handshake complete: about one round trip plus the server's crypto. */
  handshakeMs: number;
  /** The first session ticket arrived, or null if none arrived (yet). */
  ticketAt: number | null;
  /** The reply to the EHLO sent with our Finished arrived. */
  replyAt: number;
}

/**
 * Did the reply to EHLO wait behind the ticket? Yes when it came well after the ticket (at least
 * half a round trip, and at least 10 ms: a server that answers at once sends both in one flight)
 * but not so long after that the server was merely slow to answer (more than a round trip plus
 * 500 ms, beyond any delayed ACK).
 */
export function heldBehindTicket(t: TicketTiming): boolean {
  if (t.ticketAt === null || t.ticketAt > t.replyAt) return false;
  const gap = t.replyAt - t.ticketAt;
  return gap >= Math.max(10, t.handshakeMs / 2) && gap <= t.handshakeMs + 500;
}

/**
 * How long to wait for the ticket of a host known to stall before sending EHLO anyway: the ticket
 * comes one round trip after our Finished, and the handshake took about one round trip.
 */
export function ticketWaitMs(handshakeMs: number, deadlineMs: number): number {
  return Math.min(deadlineMs, Math.ceil(2 * handshakeMs) + 50);
}

/**
 * Before the EHLO after STARTTLS: for a host known to stall, wait for its ticket (bounded).
 * Returns true if this session waited (so there is nothing to measure after the EHLO).
 */
export async function beforeTlsEhlo(
  conn: SmtpConnection,
  stalls: TicketStalls | undefined,
  host: string,
  deadlineMs: number,
): Promise<boolean> {
  const timing = conn.tlsTiming;
  if (!stalls || !timing || conn.tlsProtocol !== 'TLSv1.3' || !stalls.stalls(host)) return false;
  const bound = ticketWaitMs(timing.handshakeMs, deadlineMs);
  if (await conn.awaitTicket(bound)) {
    conn.note('*', 'TLS session ticket in; EHLO now, so that it acknowledges the ticket');
  } else if (conn.ended) {
    // The session failed or was cancelled meanwhile: that says nothing about the host's tickets.
  } else {
    stalls.forget(host);
    conn.note('*', `no TLS session ticket within ${bound} ms; EHLO now`);
  }
  return true;
}

/** After the reply to an EHLO sent at once: remember the host if that reply waited behind the ticket. */
export function afterTlsEhlo(
  conn: SmtpConnection,
  stalls: TicketStalls | undefined,
  host: string,
  replyAt: number,
): void {
  const timing = conn.tlsTiming;
  if (!stalls || !timing || conn.tlsProtocol !== 'TLSv1.3') return;
  const t: TicketTiming = { ...timing, replyAt };
  if (!heldBehindTicket(t) || t.ticketAt === null) return;
  stalls.remember(host);
  conn.note(
    '*',
    `the reply to EHLO came ${Math.round(replyAt - t.ticketAt)} ms after the TLS session ticket (held until its ACK): later sessions send EHLO after the ticket`,
  );
}
