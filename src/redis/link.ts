/**
 * The one connection a node keeps to the fleet's Redis, and the rule that
 * Redis is never a single point of failure for mail: every call is bounded
 * (ioredis commandTimeout, no offline queue, one retry), any failure gives
 * the caller its local fallback instead of an error, and after a failure or a
 * slow reply the node runs locally for `retryAfterMs` before trying Redis
 * again. ioredis reconnects on its own; the first good reply after that
 * brings the node back into the fleet.
 *
 * The link reports each change between up and down once (a log event and the
 * `cbv_redis_up` gauge), never once per request.
 */
import { hostname } from 'node:os';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

/** Where Redis is and how long any call to it may take; all durations in milliseconds. */
export interface RedisLinkOptions {
  url: string | null;
  sentinels: { host: string; port: number }[];
  sentinelName: string;
  cluster: { host: string; port: number }[];
  password: string | null;
  tls: boolean;
  /** Prefix of every key and channel. */
  prefix: string;
  /** This node's name in fleet statistics and locks. */
  nodeName: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  retryAfterMs: number;
}

export interface RedisLinkObserver {
  /** Redis became usable (true) or unusable (false); called once per change. */
  change(up: boolean, why: string): void;
  /** A call fell back to the local path (Redis down, slow or failing). */
  fallback(what: string): void;
}

/** "host:port" list -> ioredis node list. */
export function parseNodes(list: readonly string[]): { host: string; port: number }[] {
  return list.map((n) => {
    const colon = n.lastIndexOf(':');
    return { host: n.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(n.slice(colon + 1)) };
  });
}

export function defaultNodeName(): string {
  return hostname().split('.')[0] || 'node';
}

/** The ioredis settings that make every call bounded and fail fast while disconnected. */
function boundedOptions(o: RedisLinkOptions): RedisOptions {
  return {
    commandTimeout: o.commandTimeoutMs,
    connectTimeout: o.connectTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Reconnect for ever, at most every 2 s: Redis coming back must be noticed without a restart.
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
    connectionName: `cbv:${o.nodeName}`,
    ...(o.password !== null ? { password: o.password } : {}),
    ...(o.tls ? { tls: {} } : {}),
  };
}

/** A new client for the configured topology (standalone url, Sentinel or Cluster). */
export function createClient(o: RedisLinkOptions, overrides: RedisOptions = {}): RedisClient {
  const options = { ...boundedOptions(o), ...overrides };
  if (o.cluster.length > 0) {
    const cluster: ClusterOptions = {
      enableOfflineQueue: options.enableOfflineQueue ?? false,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
      redisOptions: options,
    };
    return new Cluster(o.cluster, cluster);
  }
  if (o.sentinels.length > 0) {
    return new Redis({
      ...options,
      sentinels: o.sentinels,
      name: o.sentinelName,
      ...(o.password !== null ? { sentinelPassword: o.password } : {}),
    });
  }
  return new Redis(o.url ?? 'redis://127.0.0.1:6379', options);
}

const isReplyError = (e: unknown): boolean => (e as { name?: string }).name === 'ReplyError';

export class RedisLink {
  readonly client: RedisClient;
  private usable = false;
  private pausedUntil = 0;
  private lastProblem = 'not connected yet';
  private subscriberClient: RedisClient | null = null;
  private readonly observers: RedisLinkObserver[] = [];

  constructor(
    readonly options: RedisLinkOptions,
    private readonly clock: () => number = Date.now,
  ) {
    this.client = createClient(options);
    this.client.on('ready', () => this.mark(true, 'connected'));
    this.client.on('close', () => this.mark(false, this.lastProblem));
    this.client.on('error', (e: Error) => {
      this.lastProblem = e.message;
    });
  }

  /** Be told of changes between up and down, and of every fallback. */
  watch(observer: Partial<RedisLinkObserver>): void {
    this.observers.push({ change: () => undefined, fallback: () => undefined, ...observer });
  }

  private fallback(what: string): void {
    for (const o of this.observers) o.fallback(what);
  }

  get prefix(): string {
    return this.options.prefix;
  }

  get nodeName(): string {
    return this.options.nodeName;
  }

  /** Whether calls go to Redis now: connected, and not resting after a failure. */
  get up(): boolean {
    return this.client.status === 'ready' && this.clock() >= this.pausedUntil;
  }

  /** Wait (at most `ms`) for the first connection; false if Redis is not there, which is not an error. */
  ready(ms = this.options.connectTimeoutMs): Promise<boolean> {
    if (this.client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        resolve(ok);
      };
      const onReady = (): void => done(true);
      const timer = setTimeout(() => done(false), ms);
      timer.unref();
      this.client.on('ready', onReady);
    });
  }

  /**
   * Run `fn` against Redis, or return `fallback` when Redis is down, slow or
   * failing. Never throws for anything Redis or the network does.
   */
  async call<T>(what: string, fn: (c: RedisClient) => Promise<T>, fallback: T): Promise<T> {
    if (!this.up) {
      this.fallback(what);
      return fallback;
    }
    try {
      const result = await fn(this.client);
      if (!this.usable) this.mark(true, 'replies again');
      return result;
    } catch (error) {
      this.trouble(what, error);
      return fallback;
    }
  }

  /**
   * Run `fn` against Redis for an administrator's command (purge, statistics),
   * where a silent fallback would mislead: throws RedisUnavailableError instead.
   */
  async must<T>(what: string, fn: (c: RedisClient) => Promise<T>): Promise<T> {
    if (this.client.status !== 'ready' && !(await this.ready()))
      throw new RedisUnavailableError(`${what}: Redis is not reachable (${this.lastProblem})`);
    try {
      return await fn(this.client);
    } catch (error) {
      throw new RedisUnavailableError(`${what}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Record a failed call: a refused command is that call's problem; anything else rests the link. */
  trouble(what: string, error: unknown): void {
    this.fallback(what);
    if (isReplyError(error)) return;
    this.pausedUntil = this.clock() + this.options.retryAfterMs;
    this.lastProblem = `${what}: ${(error as Error).message}`;
    this.mark(false, this.lastProblem);
  }

  private mark(up: boolean, why: string): void {
    if (up === this.usable) return;
    this.usable = up;
    if (up) this.pausedUntil = 0;
    for (const o of this.observers) o.change(up, why);
  }

  /**
   * The connection that listens on pub/sub channels (a subscribed connection
   * can do nothing else). Subscriptions are renewed here after every
   * reconnection, with their failures handled: ioredis' own automatic
   * re-subscription issues commands nobody awaits, and an unhandled rejection
   * would end the daemon.
   */
  subscriber(): RedisClient {
    if (!this.subscriberClient) {
      const sub = createClient(this.options, {
        enableOfflineQueue: true,
        maxRetriesPerRequest: null,
        commandTimeout: undefined,
        autoResubscribe: false,
      });
      sub.on('error', () => undefined);
      sub.on('ready', () => {
        for (const channel of this.channels) sub.subscribe(channel).catch(() => undefined);
      });
      this.subscriberClient = sub;
    }
    return this.subscriberClient;
  }

  private readonly channels = new Set<string>();

  /**
   * Listen on a channel (messages arrive as the subscriber's 'message' and
   * 'messageBuffer' events), now and after every reconnection. Resolves true
   * once subscribed, false if Redis is not there now (it is retried on reconnection).
   */
  listen(channel: string): Promise<boolean> {
    const sub = this.subscriber();
    this.channels.add(channel);
    return sub.subscribe(channel).then(
      () => true,
      () => false,
    );
  }

  async close(): Promise<void> {
    const clients = [this.client, this.subscriberClient].filter((c): c is RedisClient => c !== null);
    await Promise.all(
      clients.map(async (c) => {
        try {
          if (c.status === 'ready') await c.quit();
          else c.disconnect();
        } catch {
          c.disconnect();
        }
      }),
    );
  }
}

/** Redis could not do what an administrator asked (never raised on the mail path). */
export class RedisUnavailableError extends Error {
  readonly code = 'CBV_ERR_REDIS_UNAVAILABLE';
}
