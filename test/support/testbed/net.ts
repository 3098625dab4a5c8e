/**
 * Loopback plumbing for the test bed: free ports, and probes that tell whether a server really
 * answers (not merely whether a process exists).
 */
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { connect, createServer } from 'node:net';

function bindTcp(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

function bindUdp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

/**
 * True if nothing listens on host:port (TCP). Postfix binds with SO_REUSEPORT, so a second
 * instance on a taken address would silently share it; callers check first to fail loudly.
 */
export async function tcpPortIsFree(host: string, port: number): Promise<boolean> {
  return (await bindTcp(host, port)) !== undefined;
}

/**
 * A port number that is free on every given loopback address (TCP, and UDP too if asked), so one
 * port can serve a whole row of 127.0.1.x "mail exchangers". The kernel picks it (bind to port 0);
 * it is a probe, so a rare race with another process is possible, and start-up reports it loudly.
 */
export async function freePort(hosts: readonly string[] = ['127.0.0.1'], udp = false): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await bindTcp('127.0.0.1', 0);
    if (port === undefined) continue;
    let free = true;
    for (const host of hosts) {
      if (host !== '127.0.0.1' && (await bindTcp(host, port)) === undefined) free = false;
      if (udp && !(await bindUdp(host, port))) free = false;
      if (!free) break;
    }
    if (free) return port;
  }
  throw new Error(`no port free on all of ${hosts.join(', ')}`);
}

/** Refuses anything outside 127.0.0.0/8: the bed must never send traffic off the machine. */
export function assertLoopback(host: string): void {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) {
    throw new Error(`test bed servers listen on 127.0.0.0/8 only, not on ${host}`);
  }
}

/** Resolves true once a TCP connection to host:port is accepted. */
export function tcpAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/**
 * Connects, reads the SMTP greeting and says QUIT. Resolves to the greeting text once a complete
 * "220 ..." reply arrived (or one whose last line matches `accept`: a server told to turn every
 * client away with 421 is up too), or undefined if the server is not (yet) greeting.
 */
export function smtpGreeting(
  host: string,
  port: number,
  timeoutMs = 2000,
  accept: RegExp = /^220 /,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    let buffer = '';
    const done = (greeting: string | undefined): void => {
      socket.destroy();
      resolve(greeting);
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\r\n');
      // The last line of a multi-line reply is "220 text"; earlier ones are "220-text".
      const last = lines.slice(0, -1).find((line) => /^\d{3} /.test(line));
      if (last === undefined) return;
      socket.end('QUIT\r\n');
      done(accept.test(last) ? lines.slice(0, -1).join('\n') : undefined);
    });
    socket.once('timeout', () => done(undefined));
    socket.once('error', () => done(undefined));
    socket.once('close', () => done(undefined));
  });
}

/**
 * Resolves true once the DNS server at host:port answers a UDP query, whatever the answer
 * (NXDOMAIN and NODATA count: the server is up), and also accepts TCP.
 */
export async function dnsAnswers(host: string, port: number): Promise<boolean> {
  const resolver = new Resolver({ timeout: 300, tries: 1 });
  resolver.setServers([`${host}:${port}`]);
  try {
    await resolver.resolveTxt('readiness-probe.test');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTFOUND' && code !== 'ENODATA') return false;
  }
  return tcpAnswers(host, port);
}
