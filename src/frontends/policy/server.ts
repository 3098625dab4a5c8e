/**
 * The policy server: TCP listeners and an optional unix socket speaking the
 * Postfix policy delegation protocol. Connections are persistent and carry
 * many requests; requests on one connection are answered strictly in order,
 * each with exactly one `action=...` line and an empty line.
 *
 * Failure policy: a malformed request gets `action=DUNNO`; abuse beyond the
 * limits closes the connection; an internal fault or an overrun budget gets
 * the configured fail-safe action. Nothing here ever produces a 5xx by itself.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Config } from '../../config/schema.js';
import { EVENTS } from '../../observability/events.js';
import { logEvent, type Logger } from '../../observability/logger.js';
import type { Telemetry } from '../../observability/telemetry.js';
import type { Frontend } from '../frontend.js';
import { listenFailure } from '../listen-failure.js';
import type { PolicyAnswer, PolicyDecider } from './decide.js';
import { clientOf, leastUseful } from './admission.js';
import { PolicyConnection, type ConnectionLimits } from './connection.js';
import type { PolicyRequest, ReadResult } from './request-reader.js';
import { applySocketAccess, SOCKET_UMASK } from './socket-file.js';
import { claimSocketPath, type ClaimedSocket } from './unix-socket.js';

type PolicyConfig = Config['policy'];

/** Beyond the service's inline budget, how long before a request is answered with the fail-safe anyway. */
const HARD_DEADLINE_MARGIN_MS = 5000;

/** After the shutdown grace, how long requests whose callouts were abandoned have to be answered (ms). */
const ANSWER_AFTER_GRACE_MS = 2000;

export class PolicyServer implements Frontend {
  readonly name = 'policy';
  private readonly servers: Server[] = [];
  private readonly connections = new Set<PolicyConnection>();
  private readonly byClient = new Map<string, Set<PolicyConnection>>();
  private readonly limits: ConnectionLimits;
  private socketFile: ClaimedSocket | null = null;

  constructor(
    private readonly config: PolicyConfig,
    private readonly decider: PolicyDecider,
    private readonly telemetry: Telemetry,
    private readonly logger: Logger,
    private readonly inlineBudgetMs: number,
    /** Beyond the inline budget, how long before a request gets the fail-safe anyway. */
    private readonly deadlineMarginMs = HARD_DEADLINE_MARGIN_MS,
  ) {
    this.limits = {
      maxLineLength: config.max_line_length,
      maxRequestBytes: config.max_request_bytes,
      maxPipelined: config.max_pipelined,
      requestTimeoutMs: Math.round(config.request_timeout * 1000),
      idleTimeoutMs: Math.round(config.idle_timeout * 1000),
    };
  }

  async start(): Promise<string[]> {
    try {
      return await this.open();
    } catch (error) {
      // The daemon stops only front-ends that started: close what this one opened before failing.
      await this.stop(0);
      throw error;
    }
  }

  private async open(): Promise<string[]> {
    const addresses: string[] = [];
    for (const listen of this.config.listen) {
      const colon = listen.lastIndexOf(':');
      const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
      const server = await this.listen(this.newServer(), (s) =>
        s.listen({ host, port: Number(listen.slice(colon + 1)) }),
      ).catch((error: unknown) => {
        throw listenFailure(`policy.listen ${listen}`, error);
      });
      const a = server.address();
      addresses.push(
        a && typeof a === 'object'
          ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`
          : listen,
      );
    }
    const path = this.config.unix_socket;
    if (path) {
      // Created closed to group and others (bind() obeys the umask), then opened as far as configured.
      const umask = process.umask(SOCKET_UMASK);
      try {
        // Never taken from a live daemon, never left half-claimed (unix-socket.ts).
        this.socketFile = await claimSocketPath(this.newServer(), path, async (s, at) => {
          await this.listen(s, (x) => x.listen(at));
        });
      } finally {
        process.umask(umask);
      }
      applySocketAccess(path, {
        mode: this.config.unix_socket_mode,
        owner: this.config.unix_socket_owner,
        group: this.config.unix_socket_group,
      });
      addresses.push(`unix:${path}`);
    }
    return addresses;
  }

  private newServer(): Server {
    // allowHalfOpen: a client's FIN must not end our side before its answers are written.
    // No server.maxConnections: Node would drop the newest connection, and the newest may be Postfix's;
    // accept() makes room by closing the least useful one instead.
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    this.servers.push(server);
    return server;
  }

  private listen(server: Server, bind: (s: Server) => void): Promise<Server> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', () => {
        server.off('error', reject);
        server.on('error', (error) =>
          logEvent(this.logger, 'error', EVENTS.frontendError, { frontend: this.name, err: error }),
        );
        resolve(server);
      });
      bind(server);
    });
  }

  private accept(socket: Socket): void {
    const client = clientOf(socket);
    if (!this.makeRoom(client)) {
      this.limitExceeded(client, 'connection refused: every connection is busy answering a request');
      socket.destroy();
      return;
    }
    const connection: PolicyConnection = new PolicyConnection(socket, client, this.limits, {
      answer: (result) => this.answer(result),
      limitExceeded: (problem) => this.limitExceeded(client, problem),
      backpressure: (waiting) =>
        logEvent(this.logger, 'warn', EVENTS.policyBackpressure, { remote: client, waiting }),
      closed: () => this.forget(connection),
    });
    this.connections.add(connection);
    const mine = this.byClient.get(client) ?? new Set<PolicyConnection>();
    mine.add(connection);
    this.byClient.set(client, mine);
  }

  /**
   * Room for one more connection of `client`: within its own share
   * (max_connections_per_client) and within max_connections, closing the
   * least useful connection when either is full (admission.ts says which).
   * False when every candidate is busy answering a request.
   */
  private makeRoom(client: string): boolean {
    const mine = this.byClient.get(client);
    if (mine && mine.size >= this.config.max_connections_per_client) {
      const victim = leastUseful(mine);
      if (!victim) return false;
      this.evict(victim, 'its client is at policy.max_connections_per_client');
    }
    if (this.connections.size >= this.config.max_connections) {
      const victim = leastUseful(this.connections);
      if (!victim) return false;
      this.evict(victim, 'policy.max_connections reached');
    }
    return true;
  }

  private evict(connection: PolicyConnection, why: string): void {
    logEvent(this.logger, 'debug', EVENTS.policyConnectionEvicted, { remote: connection.client, why });
    this.forget(connection);
    connection.destroy();
  }

  private forget(connection: PolicyConnection): void {
    this.connections.delete(connection);
    const mine = this.byClient.get(connection.client);
    mine?.delete(connection);
    if (mine?.size === 0) this.byClient.delete(connection.client);
  }

  private limitExceeded(client: string, problem: string): void {
    logEvent(this.logger, 'warn', EVENTS.policyLimitExceeded, { remote: client, problem });
  }

  /**
   * One request, one action: malformed -> DUNNO, fault or overrun -> fail-safe. An answer the
   * decider knows at once (a cache hit) is returned as it is: no deadline to race.
   */
  private answer(result: ReadResult): string | Promise<string> {
    if (result.kind === 'malformed') {
      logEvent(this.logger, 'warn', EVENTS.policyMalformed, { problem: result.problem });
      this.telemetry.policyDecision('DUNNO', 'malformed', null);
      return 'DUNNO';
    }
    let decided: PolicyAnswer | Promise<PolicyAnswer>;
    try {
      decided = this.decider.decide(result.attrs);
    } catch (error) {
      return this.failSafe(error instanceof Error ? error.message : String(error), error);
    }
    return decided instanceof Promise
      ? this.answerInTime(result.attrs, decided)
      : this.sent(result.attrs, decided);
  }

  /** A decision that takes time races the hard deadline; the one that loses is dropped unrecorded. */
  private async answerInTime(attrs: PolicyRequest, decided: Promise<PolicyAnswer>): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'overrun'>((resolve) => {
      timer = setTimeout(() => resolve('overrun'), this.inlineBudgetMs + this.deadlineMarginMs);
    });
    try {
      const answer = await Promise.race([decided, deadline]);
      if (answer === 'overrun') return this.failSafe('request took longer than its budget');
      return this.sent(attrs, answer);
    } catch (error) {
      return this.failSafe(error instanceof Error ? error.message : String(error), error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The reply that goes out, recorded once. */
  private sent(attrs: PolicyRequest, answer: PolicyAnswer): string {
    this.telemetry.policyDecision(answer.action, answer.kind, answer.verdict);
    this.decider.sent(attrs, answer.action);
    return answer.action;
  }

  private failSafe(problem: string, error?: unknown): string {
    const action = this.decider.failSafeAction();
    logEvent(this.logger, 'error', EVENTS.policyFailSafe, {
      problem,
      action,
      ...(error ? { err: error } : {}),
    });
    this.telemetry.policyDecision(action, 'fail_safe', null);
    return action;
  }

  /** Stop accepting; idle connections close now, busy ones when done or after the grace period. */
  async stop(graceMs: number): Promise<void> {
    const closed = Promise.all(
      this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    );
    for (const connection of this.connections) connection.end();
    // The verifier abandons its callouts at the same deadline, and their requests are then
    // answered (a temporary verdict: the fail-safe defer, never a reject). Those answers get a
    // moment to be written before anything still busy is cut: on a loaded machine the cut won
    // that race, and Postfix saw a reset instead of an answer.
    const deadline = Date.now() + graceMs + (graceMs > 0 ? ANSWER_AFTER_GRACE_MS : 0);
    while ([...this.connections].some((c) => c.busy) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const connection of this.connections) connection.destroy();
    await closed;
    // Only our own socket: a path another daemon has bound since is left alone.
    this.socketFile?.release();
    this.socketFile = null;
  }
}
