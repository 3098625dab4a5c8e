/**
 * What the daemon hosts: each front-end (policy server, HTTP API, SMTP
 * front-end) starts listening, and stops accepting on shutdown, letting
 * requests in progress finish within the grace period.
 */
export interface Frontend {
  readonly name: string;
  /** Start listening; resolves with the addresses listened on (for the log). */
  start(): Promise<string[]>;
  /** Stop accepting new connections; resolves when open ones have finished or the grace period ran out. */
  stop(graceMs: number): Promise<void>;
}
