#!/usr/bin/env node
/**
 * The entry point: parses the command, loads the configuration, hands the
 * command the backends it needs (built in src/app), and is the only place
 * that sets the exit status.
 */
import { runDaemon } from './app/daemon.js';
import { StartupError } from './app/startup-error.js';
import { buildEngine, buildService, openStores } from './app/build.js';
import { CacheOpenError } from './cache/verdict-cache.js';
import { terminalSafe } from './core/index.js';
import { ConfigError, defaultConfig, loadConfigFile } from './config/load.js';
import type { Config } from './config/schema.js';
import { UsageError } from './frontends/cli/cli-errors.js';
import { runConfig } from './frontends/cli/config-command.js';
import { EXIT } from './frontends/cli/exit-codes.js';
import { CACHE_USAGE, STATS_USAGE, runCache, runStats } from './frontends/cli/store-commands.js';
import { runVerify, type VerifyEngine } from './frontends/cli/verify-command.js';
import { EVENTS } from './observability/events.js';
import { createLogger, logEvent } from './observability/logger.js';

const USAGE = `usage: cbv <command> [options]

commands:
  serve [--config FILE]          run the daemon (front-ends, cache, limits)
  verify ADDRESS...              verify addresses now, by SMTP callout (cbv verify --help)
  cache get|purge|stats ...      inspect or edit the verdict cache (cbv cache --help)
  stats [--since D] [--until D]  WcSAP-style statistics (cbv stats --help)
  config check FILE              validate a configuration file
  config defaults                print the default configuration, commented`;

const silent = {
  verdict: () => undefined,
  callout: () => undefined,
  floodTripped: () => undefined,
  backgroundError: () => undefined,
};

/** `cbv verify` uses the bare engine, or the service with its cache when one is named. */
function verifyEngine(config: Readonly<Config>): VerifyEngine {
  if (config.cache.path === null) {
    const engine = buildEngine(config);
    return { verify: (address, opts) => engine.verify(address, opts), close: () => engine.idle() };
  }
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

function configFromArgs(argv: string[]): Readonly<Config> {
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
  run: (deps: ReturnType<typeof openStores>) => Promise<number>,
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out(usage);
    return EXIT.ok;
  }
  const stores = openStores(configFromArgs(argv));
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
      const config = configFromArgs(rest);
      await runDaemon(config, createLogger(config.logging.level));
      return EXIT.ok;
    }
    case 'verify':
      return runVerify(rest, { buildEngine: verifyEngine, out });
    case 'cache':
      return withStores(rest, CACHE_USAGE, (stores) => runCache(rest, { ...stores, out }));
    case 'stats':
      return withStores(rest, STATS_USAGE, (stores) => runStats(rest, { ...stores, out }));
    case 'config':
      return runConfig(rest, out);
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
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const known: [new (...a: never[]) => Error, number][] = [
      [UsageError, EXIT.usage],
      [ConfigError, EXIT.config],
      [CacheOpenError, EXIT.unavailable],
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
