/**
 * `cbv serve`: open the stores, build the service, start the front-ends, and
 * run until SIGTERM/SIGINT; then stop accepting, let in-flight callouts finish
 * within the grace period, flush statistics and the cache, and resolve.
 */
import { heloIdentity } from '../config/helo-name.js';
import type { Config } from '../config/schema.js';
import { EVENTS } from '../observability/events.js';
import { LogTelemetry } from '../observability/log-observer.js';
import { logEvent, type Logger } from '../observability/logger.js';
import { TelemetrySet, type Telemetry } from '../observability/telemetry.js';
import { RecentActivity } from '../service/recent-activity.js';
import { loadSpfEvaluator } from '../service/spf/spf-checker.js';
import type { RedisLink } from '../redis/link.js';
import { buildService, cachePath, openStores, type Service } from './build.js';
import { buildFrontends, buildTelemetry } from './frontends.js';
import { startupFailure } from './startup-failure.js';

const SWEEP_INTERVAL_MS = 10 * 60 * 1000;

export interface Daemon {
  service: Service;
  telemetry: Telemetry;
  /** Addresses each front-end listens on, by name. */
  listening: Record<string, string[]>;
  stop(reason?: string): Promise<void>;
}

export async function startDaemon(config: Readonly<Config>, logger: Logger): Promise<Daemon> {
  logEvent(logger, 'info', EVENTS.serviceStarting, { cache: cacheDescription(config) });
  // cbv still starts (the Quick start must work on such a machine), but says once why callouts may be refused.
  const helo = heloIdentity(config);
  if (helo.warning)
    logEvent(
      logger,
      'warn',
      EVENTS.heloNotQualified,
      { heloName: helo.name, source: helo.source },
      helo.warning,
    );
  // SPF's evaluator loads lazily (commands never need it); the daemon loads it before it listens.
  if (config.spf.enabled) await loadSpfEvaluator();
  const stores = openStores(config);
  if (stores.fleet) await joinFleet(stores.fleet.link, logger);
  const recent = new RecentActivity();
  const extra = buildTelemetry(config);
  const telemetry = new TelemetrySet([new LogTelemetry(logger), recent, ...extra]);
  const service = buildService(config, stores, telemetry);
  service.limits.onRefusal = (what, key) => telemetry.limitRefused(what, key);
  const frontends = buildFrontends({ config, service, logger, telemetry, recent, extra });
  const listening: Record<string, string[]> = {};
  const started: typeof frontends = [];
  try {
    for (const f of frontends) {
      listening[f.name] = await f.start().catch((error: unknown) => {
        throw startupFailure(f.name, error);
      });
      started.push(f);
      logEvent(logger, 'info', EVENTS.frontendListening, { frontend: f.name, addresses: listening[f.name] });
    }
  } catch (error) {
    for (const f of started) await f.stop(0);
    await service.verifier.close(0);
    await stores.close();
    throw error;
  }
  const sweeper = setInterval(() => {
    const removed = stores.sqlite?.sweep(Date.now()) ?? 0;
    if (removed > 0) logEvent(logger, 'debug', EVENTS.cacheSwept, { removed });
  }, SWEEP_INTERVAL_MS);
  // Left referenced on purpose: the daemon lives until stop(), even with no front-end listening.
  logEvent(logger, 'info', EVENTS.serviceReady, { frontends: listening });

  let stopping: Promise<void> | null = null;
  const stop = (reason = 'requested'): Promise<void> => {
    stopping ??= (async () => {
      const graceMs = Math.round(config.service.shutdown_grace * 1000);
      logEvent(logger, 'info', EVENTS.serviceStopping, {
        reason,
        graceMs,
        inFlight: service.verifier.inFlight,
      });
      clearInterval(sweeper);
      // Concurrently: front-ends wait for requests that wait for callouts, which
      // the verifier abandons once the grace period is over.
      await Promise.all([...frontends.map((f) => f.stop(graceMs)), service.verifier.close(graceMs)]);
      await stores.close();
      logEvent(logger, 'info', EVENTS.serviceStopped);
    })();
    return stopping;
  };
  return { service, telemetry, listening, stop };
}

function cacheDescription(config: Readonly<Config>): string {
  if (config.cache.backend === 'sqlite') return cachePath(config);
  if (config.cache.backend === 'memory') return 'memory';
  const r = config.redis;
  // Never the password: the url's credentials are cut out.
  const where =
    r.url?.replace(/\/\/[^@/]*@/, '//') ?? (r.cluster.length > 0 ? r.cluster : r.sentinels).join(',');
  return `redis ${where}`;
}

/**
 * Log each change of the link between up and down once, and wait (bounded by
 * redis.connect_timeout) for the first connection. A Redis that is not there
 * yet is no reason not to start: the node runs locally until it comes.
 */
async function joinFleet(link: RedisLink, logger: Logger): Promise<void> {
  link.watch({
    change: (up, why) =>
      up
        ? logEvent(logger, 'info', EVENTS.redisUp, { node: link.nodeName })
        : logEvent(logger, 'warn', EVENTS.redisDown, { node: link.nodeName, problem: why }),
  });
  if (!(await link.ready())) {
    logEvent(logger, 'warn', EVENTS.redisDown, {
      node: link.nodeName,
      problem: 'not reachable at start-up; running on the local tier and limits until it is',
    });
  }
}

/**
 * Run until a signal, then stop gracefully. The handlers go in before start-up, so that a signal
 * during start-up, or the moment `service.ready` is written (a supervisor or a test that reads it
 * and signals at once), is a graceful stop after the start rather than the default action of
 * dying mid-start with the ports and files in an unknown state. They stay in place until the stop
 * is done: a repeated signal is not allowed to cut the grace short. Ctrl-C under `npm start`
 * delivers SIGINT twice at once (the terminal signals the whole process group, and npm forwards
 * its own copy to the script), and the stop is bounded anyway (service.shutdown_grace); systemd's
 * TimeoutStopSec ends with SIGKILL if it ever were not.
 */
export async function runDaemon(config: Readonly<Config>, logger: Logger): Promise<void> {
  // A promise settles once: a repeated signal neither changes the reason nor cuts the stop short.
  let onSignal: (s: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
  process.on('SIGTERM', (s) => onSignal(s));
  process.on('SIGINT', (s) => onSignal(s));
  const daemon = await startDaemon(config, logger);
  const signal = await signalled;
  await daemon.stop(signal);
  logger.flush();
}
