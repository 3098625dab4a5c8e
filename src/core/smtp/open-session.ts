/**
 * Opening a session, up to the point where the envelope can begin:
 *
 *   greeting -> EHLO (or HELO) -> [STARTTLS -> EHLO]
 *
 * Returns the extension keywords the server offered; anything else ends the
 * session with a Decision (thrown as Decided).
 */
import { PhaseTimeoutError, TlsError } from '../errors.js';
import type { MxTarget } from '../verdict.js';
import { Decided, next, nextFromReply } from './decision.js';
import { classify, expect2xx, read, type Dialogue } from './dialogue.js';
import { afterTlsEhlo, beforeTlsEhlo } from './ticket-stall.js';

export async function openSession(d: Dialogue, target: MxTarget, plainOnly: boolean): Promise<Set<string>> {
  await expect2xx(d, 'greeting', null);
  const extensions = await hello(d);
  return maybeStartTls(d, target, plainOnly, extensions);
}

/**
 * EHLO, falling back to HELO when EHLO is refused with 5xx (RFC 5321 4.1.4).
 * Returns the extension keywords. The EHLO reply may be cut to the reply
 * limits: a server listing thousands of extensions still says what we need first.
 */
async function hello(d: Dialogue): Promise<Set<string>> {
  d.conn.send([`EHLO ${d.options.heloName}`], true);
  const reply = await read(d, 'ehlo');
  if (reply.code >= 200 && reply.code < 300) {
    return new Set(reply.lines.slice(1).map((l) => (l.trim().split(/\s+/)[0] ?? '').toUpperCase()));
  }
  if (reply.code < 500) throw new Decided(nextFromReply('ehlo', reply, classify(d, 'ehlo', reply)));
  await expect2xx(d, 'helo', `HELO ${d.options.heloName}`);
  return new Set();
}

async function maybeStartTls(
  d: Dialogue,
  target: MxTarget,
  plainOnly: boolean,
  extensions: Set<string>,
): Promise<Set<string>> {
  const configured = d.options.starttls;
  const mode = plainOnly ? 'off' : configured;
  if (configured === 'required' && !extensions.has('STARTTLS')) {
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
  d.conn.send(['STARTTLS']);
  const reply = await read(d, 'starttls');
  if (reply.code !== 220) {
    if (mode === 'required')
      throw new Decided(nextFromReply('starttls', reply, classify(d, 'starttls', reply)));
    d.conn.note('*', 'STARTTLS refused; continuing without TLS');
    return extensions;
  }
  try {
    await d.conn.startTls(
      isIpLiteral(target.host) ? undefined : target.host,
      d.options.timeouts.starttls,
      d.options.tlsVerify,
    );
  } catch (error) {
    // Opportunistic TLS (RFC 7435): a handshake that fails or never completes is retried in plain text.
    if ((error instanceof TlsError || error instanceof PhaseTimeoutError) && mode === 'opportunistic') {
      throw new Decided({
        kind: 'retry_plain',
        reason: 'temporary_failure',
        rule: 'local.tls-handshake-failed',
        message: `${error.message}; retrying without TLS`,
        reply: null,
        catchAllProbe: null,
        stage: 'starttls',
      });
    }
    throw error;
  }
  // RFC 3207 4.2: forget everything learnt before TLS and say EHLO again; timed around the
  // server's session ticket when this host is known to hold its reply behind it.
  const waited = await beforeTlsEhlo(d.conn, d.ticketStalls, target.ip, d.options.timeouts.starttls);
  const secured = await hello(d);
  if (!waited) afterTlsEhlo(d.conn, d.ticketStalls, target.ip, performance.now());
  return secured;
}

function isIpLiteral(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
