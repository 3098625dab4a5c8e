/**
 * A real daemon (startDaemon) with the HTTP front-end on 127.0.0.1, port 0,
 * calling back a scripted loopback SMTP server that knows a few users.
 * Addresses are address literals (alice@[127.0.0.1]) so no DNS is involved.
 */
import { Writable } from 'node:stream';
import { startDaemon, type Daemon } from '../../src/app/daemon.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { startScriptedServer, type ScriptedServer } from './scripted-smtp.js';

export const at = (local: string): string => `${local}@[127.0.0.1]`;

export interface HttpDaemon {
  base: string;
  daemon: Daemon;
  smtp: ScriptedServer;
  /** Every log line the daemon wrote, parsed. */
  logs: Record<string, unknown>[];
  get(path: string, token?: string): Promise<Response>;
  post(path: string, body: unknown, token?: string): Promise<Response>;
  del(path: string, token?: string): Promise<Response>;
  close(): Promise<void>;
}

/** Captures pino's JSON lines. */
function logSink(lines: Record<string, unknown>[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
}

const auth = (token?: string): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

export async function startHttpDaemon(
  options: {
    users?: string[];
    http?: Record<string, unknown>;
    policy?: Record<string, unknown>;
    /** verify.* keys over the defaults here (e.g. helo_name). */
    verify?: Record<string, unknown>;
    /** A reply of its own for some RCPTs (e.g. hostile text); null leaves the line to the default. */
    rcpt?: (line: string) => string | null;
    /** Further config sections, replacing the defaults here section by section (e.g. fleet mode). */
    config?: Record<string, Record<string, unknown>>;
  } = {},
): Promise<HttpDaemon> {
  const users = options.users ?? ['alice', 'carol'];
  const smtp = await startScriptedServer({
    replies: {
      RCPT: (line) => [
        options.rcpt?.(line) ??
          (users.some((u) => line.includes(`<${u}@`)) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'),
      ],
    },
  });
  let config: ReturnType<typeof parseConfig>;
  try {
    config = parseConfig(
      {
        verify: { port: smtp.port, allow_targets: ['127.0.0.0/8'], helo_name: 'cbv.test', ...options.verify },
        cache: { backend: 'memory' },
        policy: { enabled: false, ...options.policy },
        http: { listen: ['127.0.0.1:0'], ...options.http },
        logging: { level: 'debug' },
        ...options.config,
      },
      'test',
    );
  } catch (error) {
    // A configuration the schema refuses: the scripted server must not keep the test process alive.
    await smtp.close();
    throw error;
  }
  const logs: Record<string, unknown>[] = [];
  let daemon: Daemon;
  try {
    daemon = await startDaemon(config, createLogger('debug', logSink(logs)));
  } catch (error) {
    await smtp.close();
    throw error;
  }
  const base = `http://${daemon.listening.http?.[0] ?? ''}`;
  return {
    base,
    daemon,
    smtp,
    logs,
    get: (path, token) => fetch(base + path, { headers: auth(token) }),
    post: (path, body, token) =>
      fetch(base + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth(token) },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    del: (path, token) => fetch(base + path, { method: 'DELETE', headers: auth(token) }),
    close: async () => {
      await daemon.stop('test');
      await smtp.close();
    },
  };
}

/** The JSON body of a response, typed loosely for assertions. */
export async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}
