#!/usr/bin/env node
/**
 * The composition root: the only place that builds concrete backends
 * (resolver, connector, stores) and the only place that exits the process.
 */
import { NodeDnsResolver, TcpConnector, VerificationEngine } from './core/index.js';
import { dnsOptions, engineOptions } from './config/engine-options.js';
import { ConfigError } from './config/load.js';
import type { Config } from './config/schema.js';
import { UsageError } from './frontends/cli/cli-errors.js';
import { runConfig } from './frontends/cli/config-command.js';
import { EXIT } from './frontends/cli/exit-codes.js';
import { runVerify, type VerifyEngine } from './frontends/cli/verify-command.js';

const USAGE = `usage: cbv <command> [options]

commands:
  verify ADDRESS...      verify addresses now, by SMTP callout (cbv verify --help)
  config check FILE      validate a configuration file
  config defaults        print the default configuration`;

function buildEngine(config: Readonly<Config>): VerifyEngine {
  const resolver = new NodeDnsResolver(dnsOptions(config));
  const connector = new TcpConnector({ localAddress: config.verify.bind_address ?? undefined });
  const engine = new VerificationEngine(engineOptions(config), { resolver, connector });
  return {
    verify: (address, opts) => engine.verify(address, opts),
    close: () => engine.idle(),
  };
}

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'verify':
      return runVerify(rest, { buildEngine, out });
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

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`cbv: ${error.message}\n`);
      process.exitCode = EXIT.usage;
    } else if (error instanceof ConfigError) {
      process.stderr.write(`cbv: ${error.message}\n`);
      process.exitCode = EXIT.config;
    } else {
      process.stderr.write(
        `cbv: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exitCode = EXIT.software;
    }
  },
);
