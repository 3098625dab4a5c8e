/**
 * The socket seam. The engine asks a Connector for a connected TCP socket to
 * an exact IP (never a name: target safety has already approved that IP, and
 * a second resolution here could return a different one).
 */
import { Socket } from 'node:net';
import { AbortedError, ConnectError, LocalFaultError, PhaseTimeoutError } from '../errors.js';

/**
 * connect(2) errors that come from this machine, not the network or the server: out of
 * descriptors or buffers, a bind address we do not have, an address family we do not
 * speak, a local firewall (EPERM/EACCES).
 */
const LOCAL_ERRNOS = new Set([
  'EADDRNOTAVAIL',
  'EADDRINUSE',
  'EMFILE',
  'ENFILE',
  'ENOBUFS',
  'ENOMEM',
  'EAFNOSUPPORT',
  'EPERM',
  'EACCES',
]);

export interface ConnectRequest {
  ip: string;
  port: number;
  deadlineMs: number;
  signal: AbortSignal;
}

export interface Connector {
  connect(request: ConnectRequest): Promise<Socket>;
}

export interface TcpConnectorOptions {
  /** Local address to connect from (the verifier's outbound IP), or undefined for the kernel's choice. */
  localAddress?: string | undefined;
}

export class TcpConnector implements Connector {
  constructor(private readonly options: TcpConnectorOptions = {}) {}

  connect({ ip, port, deadlineMs, signal }: ConnectRequest): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      if (signal.aborted) {
        reject(new AbortedError('verification cancelled before connecting'));
        return;
      }
      const socket = new Socket();
      const timer = setTimeout(() => {
        done();
        socket.destroy();
        reject(new PhaseTimeoutError('connect', deadlineMs));
      }, deadlineMs);
      timer.unref();
      const onAbort = (): void => {
        done();
        socket.destroy();
        reject(new AbortedError('verification cancelled while connecting'));
      };
      const onError = (error: NodeJS.ErrnoException): void => {
        done();
        socket.destroy();
        const message = `connect to ${ip} port ${port} failed: ${error.code ?? error.message}`;
        reject(
          LOCAL_ERRNOS.has(error.code ?? '')
            ? new LocalFaultError(`${message} (a fault on this machine)`, { cause: error })
            : new ConnectError(message, { cause: error }),
        );
      };
      const onConnect = (): void => {
        done();
        socket.setNoDelay(true);
        resolve(socket);
      };
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        socket.off('connect', onConnect);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', onError);
      socket.once('connect', onConnect);
      socket.connect({
        host: ip,
        port,
        ...(this.options.localAddress ? { localAddress: this.options.localAddress } : {}),
      });
    });
  }
}
