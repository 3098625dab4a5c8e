'use strict';
/**
 * A keep-alive client for cbv's policy server, which speaks Postfix's policy delegation protocol
 * (https://www.postfix.org/SMTPD_POLICY_README.html): a request is `name=value` lines ended by an
 * empty line; the answer is `action=...` followed by an empty line.
 *
 * Connections are pooled and reused across messages (no connection set-up per message). Each
 * connection carries one request at a time, so a slow callout never holds up a cache hit queued
 * behind it (the policy server answers pipelined requests in order). Every request has a
 * deadline; a connection whose request overran it is closed, because its next answer would be
 * the late one.
 */
const net = require('node:net');

/** Longest answer accepted from the policy server, in bytes; a longer one is a protocol error. */
const MAX_ANSWER_BYTES = 8192;

class PolicyError extends Error {
  /** @param {string} message @param {string} code 'timeout' | 'connect' | 'closed' | 'protocol' | 'input' */
  constructor(message, code) {
    super(message);
    this.name = 'PolicyError';
    this.code = code;
  }
}

/**
 * Encodes one request. Attribute values reach the wire unchanged except that a value holding a
 * line break or NUL is refused: it would inject a second attribute or end the request early.
 * @param {Record<string, string | number | undefined | null>} attrs
 * @returns {string}
 */
function encodeRequest(attrs) {
  let out = '';
  for (const [name, raw] of Object.entries(attrs)) {
    if (raw === undefined || raw === null) continue;
    const value = String(raw);
    if (!/^[a-z_]+$/.test(name)) throw new PolicyError(`bad attribute name ${JSON.stringify(name)}`, 'input');
    if (/[\r\n\0]/.test(value)) throw new PolicyError(`attribute ${name} holds a line break`, 'input');
    out += `${name}=${value}\n`;
  }
  return `${out}\n`;
}

/** One pooled connection, carrying at most one request at a time. */
class PooledConnection {
  /** @param {net.NetConnectOpts} target @param {(c: PooledConnection) => void} onGone */
  constructor(target, onGone) {
    this.socket = net.connect(target);
    this.socket.setNoDelay(true);
    this.buffer = '';
    this.busy = null; // { resolve, reject, timer }
    this.gone = false;
    this.connected = false;
    /** Requests this connection has answered: a reused one may meet a close the server already sent. */
    this.answered = 0;
    this.socket.once('connect', () => (this.connected = true));
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk) => this.onData(chunk));
    const end = (error) => {
      if (this.gone) return;
      this.gone = true;
      onGone(this);
      const pending = this.busy;
      this.busy = null;
      if (pending) {
        clearTimeout(pending.timer);
        pending.reject(
          error
            ? new PolicyError(`policy server: ${error.message}`, this.connected ? 'closed' : 'connect')
            : new PolicyError('policy server closed the connection', 'closed'),
        );
      }
    };
    this.socket.on('error', end);
    this.socket.on('close', () => end(null));
  }

  /** @param {string} request @param {number} timeoutMs @returns {Promise<string>} */
  send(request, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.busy = null;
        reject(new PolicyError(`no answer from the policy server within ${timeoutMs} ms`, 'timeout'));
        this.destroy(); // its next answer would be this late one
      }, timeoutMs);
      this.busy = { resolve, reject, timer };
      this.socket.write(request);
    });
  }

  /** @param {string} chunk */
  onData(chunk) {
    this.buffer += chunk;
    if (this.buffer.length > MAX_ANSWER_BYTES) {
      this.fail(new PolicyError('policy server answer too long', 'protocol'));
      return;
    }
    const end = this.buffer.indexOf('\n\n');
    if (end < 0) return;
    const block = this.buffer.slice(0, end);
    this.buffer = this.buffer.slice(end + 2);
    const pending = this.busy;
    if (!pending) {
      this.fail(new PolicyError('unsolicited answer from the policy server', 'protocol'));
      return;
    }
    this.busy = null;
    this.answered += 1;
    clearTimeout(pending.timer);
    const line = block.split('\n').find((l) => l.startsWith('action='));
    if (line === undefined) pending.reject(new PolicyError('answer without action=', 'protocol'));
    else pending.resolve(line.slice('action='.length));
  }

  /** @param {PolicyError} error */
  fail(error) {
    const pending = this.busy;
    this.busy = null;
    if (pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.destroy();
  }

  destroy() {
    this.socket.destroy();
  }
}

/**
 * The pool. `ask()` resolves to the action string (without `action=`) or rejects with a
 * PolicyError; it never hangs past `timeoutMs`, which includes waiting for a free connection.
 */
class PolicyClient {
  /**
   * @param {{ host?: string, port?: number, path?: string, timeoutMs: number, maxConnections: number }} options
   *   `path` (a unix socket) wins over host and port.
   */
  constructor(options) {
    this.target = options.path ? { path: options.path } : { host: options.host, port: options.port };
    this.timeoutMs = options.timeoutMs;
    this.maxConnections = options.maxConnections;
    /** @type {Set<PooledConnection>} */
    this.all = new Set();
    /** @type {PooledConnection[]} */
    this.idle = [];
    /** @type {{ request: string, resolve: Function, reject: Function, deadline: number, timer: NodeJS.Timeout }[]} */
    this.waiting = [];
    this.closed = false;
  }

  /** @param {Record<string, string | number | undefined | null>} attrs @returns {Promise<string>} */
  ask(attrs) {
    let request;
    try {
      request = encodeRequest(attrs);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.closed) return Promise.reject(new PolicyError('client closed', 'closed'));
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + this.timeoutMs;
      const job = { request, resolve, reject, deadline, timer: undefined };
      job.timer = setTimeout(() => {
        const i = this.waiting.indexOf(job);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new PolicyError(`no policy connection free within ${this.timeoutMs} ms`, 'timeout'));
      }, this.timeoutMs);
      this.waiting.push(job);
      this.pump();
    });
  }

  pump() {
    while (this.waiting.length > 0) {
      let conn = this.idle.pop();
      while (conn && conn.gone) conn = this.idle.pop();
      if (!conn) {
        if (this.all.size >= this.maxConnections) return;
        conn = new PooledConnection(this.target, (c) => this.forget(c));
        this.all.add(conn);
      }
      const job = this.waiting.shift();
      clearTimeout(job.timer);
      const left = Math.max(1, job.deadline - Date.now());
      const used = conn;
      const reused = used.answered > 0;
      used.send(job.request, left).then(
        (action) => {
          if (!used.gone) this.idle.push(used);
          job.resolve(action);
          this.pump();
        },
        (error) => {
          // A kept-alive connection the server closed while idle (its idle timeout) fails the
          // first request written to it: that request gets one more try on a fresh connection.
          if (reused && !job.retried && error.code === 'closed' && Date.now() < job.deadline) {
            job.retried = true;
            job.timer = setTimeout(
              () => {
                const i = this.waiting.indexOf(job);
                if (i >= 0) this.waiting.splice(i, 1);
                job.reject(error);
              },
              Math.max(1, job.deadline - Date.now()),
            );
            this.waiting.unshift(job);
          } else {
            job.reject(error);
          }
          this.pump();
        },
      );
    }
  }

  /** @param {PooledConnection} conn */
  forget(conn) {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    if (!this.closed) setImmediate(() => this.pump());
  }

  /** Closes every connection; pending requests reject. */
  close() {
    this.closed = true;
    for (const job of this.waiting.splice(0)) {
      clearTimeout(job.timer);
      job.reject(new PolicyError('client closed', 'closed'));
    }
    for (const conn of this.all) conn.destroy();
  }
}

module.exports = { PolicyClient, PolicyError, encodeRequest, MAX_ANSWER_BYTES };
