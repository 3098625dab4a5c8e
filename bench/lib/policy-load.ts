/**
 * A closed-loop load generator for the Postfix policy protocol: N persistent
 * connections, each sending one request and waiting for its reply before the
 * next, as Postfix's smtpd processes do. Requests are prebuilt so the
 * generator spends its time on the wire, not on formatting.
 */
import { connect, type Socket } from 'node:net';

export interface LoadOptions {
  host: string;
  port: number;
  connections: number;
  durationMs: number;
  /** Requests to cycle through (complete, each ending in an empty line). */
  requests: readonly Buffer[];
  /** Unmeasured time first (JIT, caches, socket buffers). */
  warmupMs?: number;
  /** The server's cumulative CPU time in microseconds (user + system), read when measuring starts and ends. */
  serverCpuUs?: () => number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  perSecond: number;
  /** Latency samples in microseconds. */
  latenciesUs: Float64Array;
  /** Replies that were not `action=...`. */
  errors: number;
  /** First word of each action, with counts. */
  actions: Record<string, number>;
  /** When measuring started and stopped: monotonic microseconds (as in a V8 CPU profile). */
  window: { fromUs: number; toUs: number };
  /** The server's CPU time per measured request (us), when `serverCpuUs` was given. */
  serverCpuPerRequestUs: number | null;
}

function open(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Drive one connection: `next()` gives the request to send (or null to stop),
 * `onReply` sees each reply with its latency in microseconds.
 */
function drive(
  socket: Socket,
  next: () => Buffer | null,
  onReply: (reply: string, us: number) => void,
): Promise<void> {
  return new Promise((resolve) => {
    let buffer = '';
    let sentAt = 0n;
    const send = (): void => {
      const request = next();
      if (!request) {
        resolve();
        return;
      }
      sentAt = process.hrtime.bigint();
      socket.write(request);
    };
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const reply = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        onReply(reply, Number(process.hrtime.bigint() - sentAt) / 1000);
        send();
      }
    });
    socket.on('close', () => resolve());
    send();
  });
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const sockets = await Promise.all(Array.from({ length: o.connections }, () => open(o.host, o.port)));
  const latencies = new Float64Array(8_000_000);
  let count = 0;
  let errors = 0;
  const actions: Record<string, number> = {};
  let measuring = false;
  let stop = false;
  let n = 0;
  const next = (): Buffer | null => (stop ? null : (o.requests[n++ % o.requests.length] ?? null));
  const onReply = (reply: string, us: number): void => {
    if (!measuring) return;
    if (count < latencies.length) latencies[count] = us;
    count++;
    if (!reply.startsWith('action=')) errors++;
    const action = reply.slice(7).split(/[ \n]/)[0] ?? '';
    actions[action] = (actions[action] ?? 0) + 1;
  };
  const runs = sockets.map((s) => drive(s, next, onReply));
  await new Promise((r) => setTimeout(r, o.warmupMs ?? 300));
  const cpuBefore = o.serverCpuUs?.() ?? null;
  measuring = true;
  const started = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, o.durationMs));
  measuring = false;
  const cpuAfter = o.serverCpuUs?.() ?? null;
  const ended = process.hrtime.bigint();
  const seconds = Number(ended - started) / 1e9;
  stop = true;
  await Promise.all(runs);
  for (const s of sockets) s.destroy();
  return {
    requests: count,
    seconds,
    perSecond: count / seconds,
    latenciesUs: latencies.slice(0, Math.min(count, latencies.length)),
    errors,
    actions,
    window: { fromUs: Number(started / 1000n), toUs: Number(ended / 1000n) },
    serverCpuPerRequestUs:
      cpuBefore !== null && cpuAfter !== null && count > 0 ? (cpuAfter - cpuBefore) / count : null,
  };
}

/** Send every request exactly once over `connections` connections; resolves with the replies' actions. */
export async function sendAll(
  host: string,
  port: number,
  requests: readonly Buffer[],
  connections: number,
): Promise<Record<string, number>> {
  const sockets = await Promise.all(Array.from({ length: connections }, () => open(host, port)));
  const actions: Record<string, number> = {};
  let n = 0;
  const next = (): Buffer | null => requests[n++] ?? null;
  await Promise.all(
    sockets.map((s) =>
      drive(s, next, (reply) => {
        const action = reply.slice(7).split(/[ \n]/)[0] ?? '';
        actions[action] = (actions[action] ?? 0) + 1;
      }),
    ),
  );
  for (const s of sockets) s.destroy();
  return actions;
}
