/** A Postfix-policy-protocol client for tests: persistent connection, raw writes, replies in order. */
import { connect, type Socket } from 'node:net';

export class PolicyClient {
  private buffer = '';
  private readonly waiting: ((reply: string) => void)[] = [];
  readonly replies: string[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      let end: number;
      while ((end = this.buffer.indexOf('\n\n')) >= 0) {
        const reply = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const waiter = this.waiting.shift();
        if (waiter) waiter(reply);
        else this.replies.push(reply);
      }
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => undefined);
  }

  /** A client over a socket already connected (e.g. from a chosen local address). */
  static from(socket: Socket): PolicyClient {
    return new PolicyClient(socket);
  }

  static open(target: { host: string; port: number } | { path: string }): Promise<PolicyClient> {
    return new Promise((resolve, reject) => {
      const socket = 'path' in target ? connect(target.path) : connect(target.port, target.host);
      socket.once('connect', () => resolve(new PolicyClient(socket)));
      socket.once('error', reject);
    });
  }

  /** The next reply, as the full `action=...` line. */
  next(): Promise<string> {
    const queued = this.replies.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  write(raw: string): void {
    this.socket.write(raw);
  }

  async ask(attrs: Record<string, string>): Promise<string> {
    this.write(encode(attrs));
    return this.next();
  }

  /** Resolves when the server closes the connection. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  close(): void {
    this.socket.destroy();
  }
}

export function encode(attrs: Record<string, string>): string {
  return `${Object.entries(attrs)
    .map(([k, v]) => `${k}=${v}\n`)
    .join('')}\n`;
}

/** A request as Postfix 3.x sends it at RCPT time. */
export function rcptRequest(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    request: 'smtpd_access_policy',
    protocol_state: 'RCPT',
    protocol_name: 'ESMTP',
    client_address: '192.0.2.10',
    client_name: 'mail.example.net',
    reverse_client_name: 'mail.example.net',
    helo_name: 'mail.example.net',
    sender: 'alice@sender.test',
    recipient: 'someone@local.test',
    recipient_count: '0',
    queue_id: '',
    instance: `${Math.random().toString(16).slice(2)}.1`,
    size: '0',
    etrn_domain: '',
    stress: '',
    sasl_method: '',
    sasl_username: '',
    sasl_sender: '',
    ccert_subject: '',
    ccert_issuer: '',
    ccert_fingerprint: '',
    encryption_protocol: '',
    encryption_cipher: '',
    encryption_keysize: '0',
    policy_context: '',
    server_address: '127.0.0.1',
    server_port: '25',
    compatibility_level: '3.6',
    mail_version: '3.7.11',
    ...overrides,
  };
}
