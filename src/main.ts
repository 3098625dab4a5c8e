#!/usr/bin/env node
/**
 * The entry point: parses the command, loads the configuration, hands the
 * command the backends it needs (built in src/app), and is the only place
 * that sets the exit status.
 */
import { cachePath, daemonCacheMissing, describeCache } from './app/cache-path.js';
import { packageVersion } from './app/version.js';
import { terminalSafe } from './core/printable.js';
import { describeSource, locateConfig } from './config/locate.js';
import type { Config } from './config/schema.js';
import { UsageError, parseCommandArgs } from './frontends/cli/cli-errors.js';
import { EXIT } from './frontends/cli/exit-codes.js';
import type { StoreCommand } from './frontends/cli/store-commands.js';
import type { VerifyCacheChoice, VerifyEngine } from './frontends/cli/verify-command.js';
import type { DecisionRunner } from './frontends/cli/verify-decisions.js';

// Each command loads what it needs when it runs (dynamic import below): `cbv verify` never loads
// the HTTP server, the metrics, the logger or the YAML parser, and starts in a fraction of the
// time the daemon's whole module graph takes (issue 14, bench/cli-startup.ts). The static imports
// above stay free of the config schema (zod): `cbv --help`, `--version` and a usage error load
// none of it (test/unit/install/built-cli.test.ts checks the built cli for that).

const USAGE = `usage: cbv <command> [options]

commands:
  serve [--config FILE]          run the daemon (front-ends, cache, limits)
  verify ADDRESS...              verify addresses now, by SMTP callout (cbv verify --help)
  cache get|purge|stats ...      inspect or edit the verdict cache (cbv cache --help)
  stats [--since D] [--until D]  WcSAP-style statistics, --fleet for every node's (cbv stats --help)
  config check [FILE]            validate a configuration file as serve would
  config defaults                print the default configuration, commented

  --version                      print the version
  -h, --help                     this help

Every command finds the daemon's configuration the same way: --config FILE, else the file
named by CBV_CONFIG, else /etc/cbv/cbv.yaml if it exists, else the built-in defaults
(listeners on loopback, cache in ./data/cbv.sqlite). It says on stderr which one it used.`;

const SERVE_USAGE = `usage: cbv serve [--config FILE]
  without --config: CBV_CONFIG, else /etc/cbv/cbv.yaml, else the built-in defaults`;

const silent = {
  verdict: () => undefined,
  callout: () => undefined,
  floodTripped: () => undefined,
  backgroundError: () => undefined,
};

/** Which cache `cbv verify` uses: a file (--cache, or the daemon's when it exists), or none and why. */
function verifyCache(config: Readonly<Config>, choice: VerifyCacheChoice): { none: string } | null {
  if (choice === 'none') return { none: '--no-cache' };
  if (choice === 'daemon' && config.cache.backend !== 'sqlite')
    return { none: `cache.backend is ${config.cache.backend}` };
  const missing = choice === 'daemon' ? daemonCacheMissing(config) : null;
  return missing === null ? null : { none: missing };
}

/** The service (cache, limits, verifier, decider) on the cache verifyCache() chose, or on memory. */
async function verifyService(config: Readonly<Config>, choice: VerifyCacheChoice) {
  const [{ buildService, openStores }, { openDaemonStores }] = await Promise.all([
    import('./app/build.js'),
    import('./app/command-stores.js'),
  ]);
  const none = verifyCache(config, choice);
  const sqlite = { ...config, cache: { ...config.cache, backend: 'sqlite' as const } };
  const stores = none
    ? openStores({ ...config, cache: { ...config.cache, backend: 'memory' } })
    : choice === 'explicit'
      ? openStores(sqlite)
      : openDaemonStores(config, 'write');
  // The CLI waits for the whole callout: an inline budget beyond the engine's own.
  const service = buildService(config, stores, silent, Math.round(config.verify.budget * 1000) + 1000);
  return {
    service,
    close: async () => {
      await service.verifier.close(0);
      await stores.close();
    },
    cacheDescription: none ? `no cache (${none.none})` : `cache ${cachePath(sqlite)}`,
  };
}

/**
 * `cbv verify` uses the bare engine, or the service with a cache: the file --cache names, or
 * the daemon's own cache for the configuration when its database exists (never a new one).
 */
async function verifyEngine(config: Readonly<Config>, choice: VerifyCacheChoice): Promise<VerifyEngine> {
  const none = verifyCache(config, choice);
  if (none) {
    const { buildEngine } = await import('./app/engine.js');
    const engine = buildEngine(config);
    return {
      verify: (address, opts) => engine.verify(address, opts),
      close: () => engine.idle(),
      cacheDescription: `no cache (${none.none})`,
    };
  }
  const { service, close, cacheDescription } = await verifyService(config, choice);
  return {
    verify: (address, opts) => service.verifier.verify(address, { transcript: opts.transcript }),
    close,
    cacheDescription,
  };
}

/**
 * `cbv verify --client-ip ...`: the service's decision path, as the policy server and the HTTP
 * API use it, on the cache verifyEngine() would use (or a memory one, so SPF and verdicts are
 * still shared between the run's addresses). mailauth loads only when SPF is first asked.
 */
async function verifyDecider(config: Readonly<Config>, choice: VerifyCacheChoice): Promise<DecisionRunner> {
  const { service, close, cacheDescription } = await verifyService(config, choice);
  return {
    decide: (request, opts) => service.decider.sender(request, { transcript: opts.transcript }),
    close,
    cacheDescription,
  };
}

/** Everything the CLI prints goes through here (and warn()): no control or bidi character gets out raw. */
function out(text: string): void {
  process.stdout.write(`${terminalSafe(text)}\n`);
}

function warn(text: string): void {
  process.stderr.write(`${terminalSafe(text)}\n`);
}

/** The line that says which configuration and database a command used (stderr, so stdout stays data). */
function note(text: string): void {
  warn(`cbv: ${text}`);
}

/** `cbv cache ...` and `cbv stats`: checked, then run against the daemon's stores. */
async function withStores(command: StoreCommand, usage: string): Promise<number> {
  if (command.help) {
    out(usage);
    return EXIT.ok;
  }
  const source = locateConfig(command.config);
  const { loadLocatedConfig } = await import('./config/load.js');
  const config = loadLocatedConfig(source);
  const access = command.access === 'read' ? ' (read-only)' : '';
  note(`${describeSource(source)}, ${describeCache(config)}${access}`);
  command.check?.(config);
  const { openDaemonStores } = await import('./app/command-stores.js');
  const stores = openDaemonStores(config, command.access);
  // Fleet mode: wait (bounded) for Redis, so a lookup is not a miss only because it was not connected yet.
  if (stores.fleet) await stores.fleet.link.ready();
  try {
    return await command.run({ ...stores, out });
  } finally {
    await stores.close();
  }
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    args: argv,
    allowPositionals: false,
    strict: true,
    options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    out(SERVE_USAGE);
    return EXIT.ok;
  }
  const source = locateConfig(values.config);
  const { loadLocatedConfig } = await import('./config/load.js');
  const config = loadLocatedConfig(source);
  note(`${describeSource(source)}, ${describeCache(config)}`);
  const [{ runDaemon }, { createLogger }] = await Promise.all([
    import('./app/daemon.js'),
    import('./observability/logger.js'),
  ]);
  await runDaemon(config, createLogger(config.logging.level));
  return EXIT.ok;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'verify': {
      const { runVerify } = await import('./frontends/cli/verify-command.js');
      return runVerify(rest, { buildEngine: verifyEngine, buildDecider: verifyDecider, out, note, warn });
    }
    case 'cache': {
      const { CACHE_USAGE, parseCacheCommand } = await import('./frontends/cli/store-commands.js');
      return withStores(parseCacheCommand(rest), CACHE_USAGE);
    }
    case 'stats': {
      const { STATS_USAGE, parseStatsCommand } = await import('./frontends/cli/store-commands.js');
      return withStores(parseStatsCommand(rest), STATS_USAGE);
    }
    case 'config': {
      const { runConfig } = await import('./frontends/cli/config-command.js');
      return runConfig(rest, out);
    }
    case '--version':
      noMoreArguments(rest);
      out(`cbv ${packageVersion()}`);
      return EXIT.ok;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      noMoreArguments(rest);
      out(USAGE);
      return command === undefined ? EXIT.usage : EXIT.ok;
    default:
      throw new UsageError(
        command.startsWith('-')
          ? `unknown option '${command.split('=')[0] ?? command}'`
          : `unknown command '${command}'`,
      );
  }
}

/** `cbv --version` and `cbv --help` take nothing after them: an extra word is a usage error like any other. */
function noMoreArguments(rest: readonly string[]): void {
  const [extra] = rest;
  if (extra === undefined) return;
  throw new UsageError(
    extra.startsWith('-') ? `unknown option '${extra}'` : `unexpected argument '${extra}'`,
  );
}

/** Where a usage error points the user: the command's own help, or the general one. */
function helpHint(argv: readonly string[]): string {
  const command = argv[0];
  const known = ['serve', 'verify', 'cache', 'stats', 'config'];
  return command !== undefined && known.includes(command) ? `cbv ${command} --help` : 'cbv --help';
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
    // A usage error needs nothing more (no schema, no logger): it is the common mistake at a shell.
    if (error instanceof UsageError) {
      warn(`cbv: ${error.message} (try '${helpHint(argv)}')`);
      process.exitCode = EXIT.usage;
      return;
    }
    // The other error classes (and the logger, for the daemon's log) are loaded only on this path.
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
      if (argv[0] === 'serve') {
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
