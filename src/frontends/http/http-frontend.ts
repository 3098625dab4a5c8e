/**
 * The HTTP front-end as the daemon hosts it: one fastify application per
 * listen address (usually one), sharing the token buckets so a client gets
 * one budget whichever address it calls. Refuses to start beyond loopback
 * without tokens.
 */
import { packageVersion } from '../../app/version.js';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../observability/logger.js';
import type { PromMetrics } from '../../observability/metrics.js';
import type { Decider } from '../../service/decider.js';
import type { RecentActivity } from '../../service/recent-activity.js';
import type { Verifier } from '../../service/verifier.js';
import type { RedisStatsStore } from '../../stats/redis-stats.js';
import type { Frontend } from '../frontend.js';
import { listenFailure } from '../listen-failure.js';
import type { ReadinessNotes } from './services.js';
import { buildApp } from './app.js';
import { TokenAuth } from './auth.js';
import { loadDashboardAssets } from './dashboard-assets.js';
import { assertSafeListen, parseListen, type ListenAddress } from './listen.js';
import { RequestBudget } from './rate-limit.js';
import { HostAllowList } from './site-guard.js';

export interface HttpFrontendOptions {
  http: Readonly<Config['http']>;
  verifier: Verifier;
  decider: Decider;
  recent: RecentActivity;
  metrics: PromMetrics | null;
  logger: Logger;
  /** Fleet mode: the fleet's statistics (null on a single node). */
  fleetStats?: RedisStatsStore | null;
  now?: () => number;
  /** Reported by /readyz and shown on the dashboard. */
  readiness?: ReadinessNotes;
}

function show(a: string | AddressInfo): string {
  if (typeof a === 'string') return a;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export class HttpFrontend implements Frontend {
  readonly name = 'http';
  private readonly listen: ListenAddress[];
  private readonly apps: FastifyInstance[] = [];

  constructor(private readonly options: HttpFrontendOptions) {
    this.listen = options.http.listen.map(parseListen);
  }

  async start(): Promise<string[]> {
    const { http } = this.options;
    assertSafeListen(this.listen, http.tokens.length);
    const auth = new TokenAuth(http.tokens);
    const budget = new RequestBudget({ rate: http.token_rate, burst: http.token_burst });
    const deps = {
      services: {
        verifier: this.options.verifier,
        decider: this.options.decider,
        recent: this.options.recent,
        metrics: this.options.metrics,
        // A batch is admitted whole, so one larger than the bucket could never be.
        batchMax: Math.min(http.batch_max, http.token_burst),
        fleetStats: this.options.fleetStats ?? null,
        now: this.options.now ?? Date.now,
        ...(this.options.readiness ? { readiness: this.options.readiness } : {}),
      },
      auth,
      budget,
      logger: this.options.logger.child({ frontend: 'http' }),
      assets: loadDashboardAssets(),
      version: packageVersion(),
      hosts: new HostAllowList(this.listen, http.allowed_hosts),
    };
    const addresses: string[] = [];
    try {
      for (const { host, port } of this.listen) {
        const app = buildApp(deps);
        this.apps.push(app);
        await app.listen({ host, port }).catch((error: unknown) => {
          throw listenFailure(`http.listen ${host.includes(':') ? `[${host}]` : host}:${port}`, error);
        });
        addresses.push(...app.addresses().map(show));
      }
    } catch (error) {
      // The daemon stops only front-ends that started: close what this one opened before failing.
      await this.stop(0);
      throw error;
    }
    return addresses;
  }

  /** Stop accepting; requests in progress get `graceMs`, then their connections are cut. */
  async stop(graceMs: number): Promise<void> {
    await Promise.all(
      this.apps.map(async (app) => {
        const cut = setTimeout(() => app.server.closeAllConnections(), graceMs);
        try {
          await app.close();
        } finally {
          clearTimeout(cut);
        }
      }),
    );
  }
}
