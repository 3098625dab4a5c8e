/**
 * Errors the probe raises internally, each with a stable code. They never
 * leave the engine: verify() turns them into verdicts. They exist so that the
 * code deciding "which verdict" can switch on a class, not on message text.
 */
import type { Stage } from './verdict.js';

export type ProbeErrorCode =
  | 'CBV_ERR_TIMEOUT'
  | 'CBV_ERR_BUDGET_EXCEEDED'
  | 'CBV_ERR_CONNECT'
  | 'CBV_ERR_CONNECTION_CLOSED'
  | 'CBV_ERR_PROTOCOL'
  | 'CBV_ERR_TLS'
  | 'CBV_ERR_ABORTED'
  | 'CBV_ERR_LOCAL';

/**
 * An Error that captures no stack trace: for outcomes of talking to other servers (a closed
 * connection, a timeout, NXDOMAIN) and for decisions thrown to end a dialogue, which become
 * verdicts and are never shown to anyone as a stack. Capturing one walks the (async) call stack:
 * every verification paid ~30-40 us for the ConnectionClosedError that ends each session, about
 * a tenth of its whole CPU time (issue 14, bench 3). Faults of cbv itself stay plain Errors, with
 * their stacks. The message, `cause` and class are kept as they are.
 */
export class OutcomeError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message, options);
    Error.stackTraceLimit = limit;
  }
}

export abstract class ProbeError extends OutcomeError {
  abstract readonly code: ProbeErrorCode;
  /** The dialogue stage that was under way, filled in by the connection. */
  stage: Stage | null = null;
}

/** A named phase deadline expired. */
export class PhaseTimeoutError extends ProbeError {
  readonly code = 'CBV_ERR_TIMEOUT';
  constructor(phase: Stage, ms: number) {
    super(`no answer within the ${phase} deadline of ${ms} ms`);
    this.stage = phase;
  }
}

/** The overall budget for the whole verification ran out. */
export class BudgetExceededError extends ProbeError {
  readonly code = 'CBV_ERR_BUDGET_EXCEEDED';
  constructor(ms: number) {
    super(`overall time budget of ${ms} ms exhausted`);
  }
}

/** TCP connect failed: refused, unreachable, reset during connect. */
export class ConnectError extends ProbeError {
  readonly code = 'CBV_ERR_CONNECT';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.stage = 'connect';
  }
}

/** The server closed or reset the connection while we waited for a reply. */
export class ConnectionClosedError extends ProbeError {
  readonly code = 'CBV_ERR_CONNECTION_CLOSED';
}

/** The server sent something that is not SMTP, or more than we accept. */
export class ProtocolError extends ProbeError {
  readonly code = 'CBV_ERR_PROTOCOL';
}

/** The TLS handshake after STARTTLS failed. */
export class TlsError extends ProbeError {
  readonly code = 'CBV_ERR_TLS';
}

/** The caller cancelled through its AbortSignal. */
export class AbortedError extends ProbeError {
  readonly code = 'CBV_ERR_ABORTED';
}

/**
 * The connection failed for a reason of our own (no file descriptors, no such local
 * address to bind, no IPv6 stack, a local firewall): it says nothing about the server.
 */
export class LocalFaultError extends ProbeError {
  readonly code = 'CBV_ERR_LOCAL';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.stage = 'connect';
  }
}
