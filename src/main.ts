#!/usr/bin/env node
/**
 * The entry point: parses the command, loads the configuration, hands the
 * command the backends it needs (built in src/app), and is the only place
 * that sets the exit status.
 */
import type { Config } from './config/schema.js';
import { UsageError } from './frontends/cli/cli-errors.js';
import { EXIT } from './frontends/cli/exit-codes.js';
import type { VerifyEngine } from './frontends/cli/verify-command.js';
import type { Stores } from './app/build.js';
import { terminalSafe } from './core/printable.js';

// Each command loads what it needs when it runs (dynamic import below): `cbv verify` never loads
// the HTTP server, the metrics, the logger or the YAML parser, and starts in a fraction of the
// time the daemon's whole module graph takes (issue 14, bench/cli-startup.ts).

const USAGE = `usage: cbv <command> [options]

commands:
  serve [--config FILE]          run the daemon (front-ends, cache, limits)
  verify ADDRESS...              verify addresses now, by SMTP callout (cbv verify --help)
  cache get|purge|stats ...      inspect or edit the verdict cache (cbv cache --help)
  stats [--since D] [--until D]  WcSAP-style statistics, --fleet for every node's (cbv stats --help)
  config check FILE              validate a configuration file
  config defaults                print the default configuration, commented`;

const silent = {
  verdict: () => undefined,
  callout: () => undefined,
  floodTripped: () => undefined,
  backgroundError: () => undefined,
};

/** `cbv verify` uses the bare engine, or the service with its cache when one is named. */
async function verifyEngine(config: Readonly<Config>): Promise<VerifyEngine> {
  if (config.cache.path === null) {
    const { buildEngine } = await import('./app/engine.js');
    const engine = buildEngine(config);
    return { verify: (address, opts) => engine.verify(address, opts), close: () => engine.idle() };
  }
  const { buildService, openStores } = await import('./app/build.js');
  const stores = openStores({ ...config, cache: { ...config.cache, backend: 'sqlite' } });
  // The CLI waits for the whole callout: an inline budget beyond the engine's own.
  const service = buildService(config, stores, silent, Math.round(config.verify.budget * 1000) + 1000);
  return {
    verify: (address, opts) => service.verifier.verify(address, { transcript: opts.transcript }),
    close: async () => {
      await service.verifier.close(0);
      await stores.close();
    },
  };
}

async function configFromArgs(argv: string[]): Promise<Readonly<Config>> {
  const { defaultConfig, loadConfigFile } = await import('./config/load.js');
  const i = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
  if (i < 0) return defaultConfig();
  const arg = argv[i] ?? '';
  const path = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1];
  if (!path) throw new UsageError('--config needs a FILE');
  return loadConfigFile(path);
}

/** Everything the CLI prints goes through here (and warn()): no control or bidi character gets out raw. */
function out(text: string): void {
  process.stdout.write(`${terminalSafe(text)}\n`);
}

function warn(text: string): void {
  process.stderr.write(`${terminalSafe(text)}\n`);
}

async function withStores(
  argv: string[],
  usage: string,
  run: (deps: Stores) => Promise<number>,
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out(usage);
    return EXIT.ok;
  }
  const config = await configFromArgs(argv);
  const { openStores } = await import('./app/build.js');
  const stores = openStores(config);
  // Fleet mode: wait (bounded) for Redis, so a lookup is not a miss only because it was not connected yet.
  if (stores.fleet) await stores.fleet.link.ready();
  try {
    return await run(stores);
  } finally {
    await stores.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      if (rest.includes('--help') || rest.includes('-h')) {
        out('usage: cbv serve [--config FILE]');
        return EXIT.ok;
      }
      const config = await configFromArgs(rest);
      const [{ runDaemon }, { createLogger }] = await Promise.all([
        import('./app/daemon.js'),
        import('./observability/logger.js'),
      ]);
      await runDaemon(config, createLogger(config.logging.level));
      return EXIT.ok;
    }
    case 'verify': {
      const { runVerify } = await import('./frontends/cli/verify-command.js');
      return runVerify(rest, { buildEngine: verifyEngine, out, warn });
    }
    case 'cache': {
      const { CACHE_USAGE, runCache } = await import('./frontends/cli/store-commands.js');
      return withStores(rest, CACHE_USAGE, (stores) => runCache(rest, { ...stores, out }));
    }
    case 'stats': {
      const { STATS_USAGE, runStats } = await import('./frontends/cli/store-commands.js');
      return withStores(rest, STATS_USAGE, (stores) => runStats(rest, { ...stores, out }));
    }
    case 'config': {
      const { runConfig } = await import('./frontends/cli/config-command.js');
      return runConfig(rest, out);
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      out(USAGE);
      return command === undefined ? EXIT.usage : EXIT.ok;
    default:
      throw new UsageError(`unknown command '${command}' (try 'cbv --help')`);
  }
}

const argv = process.argv.slice(2);
let finished = false;
// If the event loop empties while the command is still waiting (a wait on an unref'd timer
// with nothing else alive), the process would exit 0 having printed nothing: never let that pass.
process.on('beforeExit', () => {
  if (finished) return;
  finished = true;
  process.stderr.write(`cbv: internal error: '${argv[0] ?? ''}' stopped before it finished its work\n`);
  process.exitCode = EXIT.software;
});
main(argv).then(
  (code) => {
    finished = true;
    process.exitCode = code;
  },
  async (error: unknown) => {
    finished = true;
    // The error classes (and the logger, for the daemon's log) are loaded only on this path.
    const [
      { StartupError },
      { ConfigError },
      { CacheOpenError },
      { EVENTS },
      { createLogger, logEvent },
      { RedisUnavailableError },
    ] = await Promise.all([
      import('./app/startup-error.js'),
      import('./config/load.js'),
      import('./cache/verdict-cache.js'),
      import('./observability/events.js'),
      import('./observability/logger.js'),
      import('./redis/link.js'),
    ]);
    const known: [new (...a: never[]) => Error, number][] = [
      [UsageError, EXIT.usage],
      [ConfigError, EXIT.config],
      [CacheOpenError, EXIT.unavailable],
      [RedisUnavailableError, EXIT.unavailable],
    ];
    if (error instanceof StartupError) {
      warn(`cbv: ${error.message}`);
      process.exitCode = error.exitCode;
      return;
    }
    const match = known.find(([cls]) => error instanceof cls);
    if (match && error instanceof Error) {
      if (argv[0] === 'serve' && !(error instanceof UsageError)) {
        // The daemon's log gets the event too, for whoever watches logs rather than the terminal.
        const event = error instanceof ConfigError ? EVENTS.configInvalid : EVENTS.cacheOpenFailed;
        logEvent(createLogger('error'), 'error', event, { problem: error.message });
      }
      warn(`cbv: ${error.message}`);
      process.exitCode = match[1];
      return;
    }
    logEvent(createLogger('error', process.stderr), 'error', EVENTS.internalError, { err: error });
    warn(`cbv: internal error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = EXIT.software;
  },
);
