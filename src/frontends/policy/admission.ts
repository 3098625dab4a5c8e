/**
 * Which connection gives way when the policy server is full. Postfix opens a
 * connection when an smtpd process has a request, sends it whole at once, and
 * may keep the connection idle between messages (it reconnects by itself when
 * the connection was closed meanwhile). A client that opens connections and
 * sends nothing, or trickles bytes, is the opposite. So when the server, or one
 * client's share of it, is full, a new connection is let in and the least
 * useful existing one closed:
 *
 *   1. one with part of a request that has not arrived whole (the oldest first);
 *   2. one that has never sent a whole request (the oldest first);
 *   3. the one whose last request is the oldest.
 *
 * A connection whose request is being decided is never closed for room: that
 * would turn a verdict into the client's default action.
 */
import type { Socket } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface Evictable {
  readonly openedAt: number;
  readonly lastRequestAt: number | null;
  readonly busy: boolean;
  readonly midRequest: boolean;
}

/** The key a connection's share is counted under: its client IP (IPv4-mapped unwrapped), or 'unix'. */
export function clientOf(socket: Socket): string {
  const ip = socket.remoteAddress;
  if (!ip) return 'unix';
  return ipaddr.isValid(ip) ? ipaddr.process(ip).toString() : ip;
}

/** Lower ranks give way first (see the list above). */
function rank(c: Evictable): [number, number] {
  if (c.midRequest) return [0, c.openedAt];
  if (c.lastRequestAt === null) return [1, c.openedAt];
  return [2, c.lastRequestAt];
}

/** The connection to close to make room, or null when all of them are busy. */
export function leastUseful<T extends Evictable>(connections: Iterable<T>): T | null {
  let victim: T | null = null;
  let best: [number, number] = [Infinity, Infinity];
  for (const c of connections) {
    if (c.busy) continue;
    const r = rank(c);
    if (r[0] < best[0] || (r[0] === best[0] && r[1] < best[1])) {
      victim = c;
      best = r;
    }
  }
  return victim;
}
