/**
 * A scripted SMTP server on loopback TCP, for the edge cases real servers
 * cannot be made to produce: stalls at a chosen phase, replies split across
 * segments at chosen bytes, endless or oversized replies, garbage, resets.
 * It counts sessions and records every command line it received.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/** What the server does: send bytes, wait, never answer, close, or reset. */
export type Step = string | Buffer | { delay: number } | { do: 'stall' | 'close' | 'reset' | 'starttls' };
export const STALL: Step = { do: 'stall' };
export const CLOSE: Step = { do: 'close' };
export const RESET: Step = { do: 'reset' };
const STARTTLS: Step = { do: 'starttls' };

export type Responder = Step[] | ((line: string, session: SessionRecord) => Step[]);

export interface ScriptOptions {
  greeting?: Step[];
  /** Replies keyed by upper-case verb (EHLO, HELO, MAIL, RCPT, RSET, QUIT, STARTTLS, VRFY, NOOP, DATA). */
  replies?: Partial<Record<string, Responder>>;
  /** Key and certificate for STARTTLS, and optionally the highest TLS version to offer. */
  tls?: { key: string; cert: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3' };
  host?: string;
  /** Fixed port, e.g. to put a second server on another 127.x address at the first one's port. */
  port?: number;
}

export interface SessionRecord {
  commands: string[];
  tls: boolean;
  closedByPeer: boolean;
}

export interface ScriptedServer {
  host: string;
  port: number;
  sessions: SessionRecord[];
  /** Raw chunks as received (to check pipelining: several commands in one segment). */
  chunks: string[];
  close(): Promise<void>;
}

const EHLO_DEFAULT = [
  '250-test.example\r\n',
  '250-PIPELINING\r\n',
  '250-8BITMIME\r\n',
  '250 ENHANCEDSTATUSCODES\r\n',
];

const DEFAULTS: Record<string, Responder> = {
  EHLO: EHLO_DEFAULT,
  HELO: ['250 test.example\r\n'],
  MAIL: ['250 2.1.0 Ok\r\n'],
  RCPT: ['250 2.1.5 Ok\r\n'],
  RSET: ['250 2.0.0 Ok\r\n'],
  VRFY: ['252 2.0.0 Send some mail, I will try my best\r\n'],
  NOOP: ['250 2.0.0 Ok\r\n'],
  STARTTLS: ['220 2.0.0 Ready to start TLS\r\n', STARTTLS],
  QUIT: ['221 2.0.0 Bye\r\n', CLOSE],
  DATA: ['554 5.5.1 the probe must never send DATA\r\n'],
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startScriptedServer(options: ScriptOptions = {}): Promise<ScriptedServer> {
  const sessions: SessionRecord[] = [];
  const chunks: string[] = [];
  const sockets = new Set<Socket>();

  const server: Server = createServer((raw) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', () => undefined);
    const session: SessionRecord = { commands: [], tls: false, closedByPeer: false };
    sessions.push(session);
    void runSession(raw, session, options, chunks);
  });
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve),
  );
  const { address, port } = server.address() as AddressInfo;
  return {
    host: address,
    port,
    sessions,
    chunks,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function runSession(
  raw: Socket,
  session: SessionRecord,
  options: ScriptOptions,
  chunks: string[],
): Promise<void> {
  let socket: Socket = raw;
  let buffer = '';
  let busy = Promise.resolve(true);
  const lines: string[] = [];

  /**
   * Perform steps; returns false when the session is over. Consecutive byte steps go out in one
   * write, as a real server sends a multi-line reply: written piecemeal, Nagle's algorithm would
   * hold each piece back for the client's delayed ACK (~40 ms a time).
   */
  const perform = async (steps: Step[]): Promise<boolean> => {
    let pending: Buffer[] = [];
    const flush = (): void => {
      if (pending.length > 0 && !socket.destroyed) socket.write(Buffer.concat(pending));
      pending = [];
    };
    for (const step of steps) {
      if (socket.destroyed) return false;
      if (typeof step === 'string' || Buffer.isBuffer(step)) {
        pending.push(typeof step === 'string' ? Buffer.from(step, 'utf8') : step);
        continue;
      }
      flush();
      if ('delay' in step) await sleep(step.delay);
      else if (step.do === 'stall') return false;
      else if (step.do === 'close') {
        socket.end();
        return false;
      } else if (step.do === 'reset') {
        socket.resetAndDestroy();
        return false;
      } else {
        if (!options.tls) throw new Error('scripted server has no TLS key');
        socket.removeAllListeners('data');
        socket = new TLSSocket(socket, { ...options.tls, isServer: true });
        socket.on('error', () => undefined);
        socket.on('data', onData);
        session.tls = true;
      }
    }
    flush();
    return true;
  };

  const handleLine = async (line: string): Promise<boolean> => {
    session.commands.push(line);
    const verb = (line.split(/[\s:]/)[0] ?? '').toUpperCase();
    const responder = options.replies?.[verb] ??
      DEFAULTS[verb] ?? ['502 5.5.2 Error: command not recognized\r\n'];
    return perform(typeof responder === 'function' ? responder(line, session) : responder);
  };

  function onData(chunk: Buffer): void {
    chunks.push(chunk.toString('latin1'));
    buffer += chunk.toString('latin1');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      lines.push(buffer.slice(0, nl).replace(/\r$/, ''));
      buffer = buffer.slice(nl + 1);
    }
    // Replies go out strictly in order, one command at a time, as a real server's would.
    busy = busy.then(async (alive) => {
      while (alive && lines.length > 0) alive = await handleLine(lines.shift() ?? '');
      return alive;
    });
  }

  raw.setNoDelay(true);
  raw.on('end', () => {
    session.closedByPeer = true;
  });
  raw.on('data', onData);
  busy = perform(options.greeting ?? ['220 test.example ESMTP scripted\r\n']);
  await busy;
}

/** A self-signed certificate for STARTTLS tests, made with openssl(1). */
export function selfSignedCert(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cbv-cert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=mx.test',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A starter of scripted servers for one test file: each server it starts is closed when the
 * file's tests are done (node:test's `after`), so a file needs no cleanup list of its own.
 */
export function scriptedServers(): (options?: ScriptOptions) => Promise<ScriptedServer> {
  const started: ScriptedServer[] = [];
  after(async () => {
    await Promise.all(started.map((s) => s.close()));
  });
  return async (options = {}) => {
    const s = await startScriptedServer(options);
    started.push(s);
    return s;
  };
}
