/**
 * Which configuration a command uses. Every command that reads or writes the daemon's state
 * (serve, stats, cache, verify, config check) finds it the same way, so that `cbv stats` on the
 * mail server reports what the daemon counted:
 *
 *   1. `--config FILE`
 *   2. the `CBV_CONFIG` environment variable
 *   3. `/etc/cbv/cbv.yaml`, when it exists (where docs/postfix.md installs it)
 *   4. the built-in defaults (the quick start: `./data/cbv.sqlite`, loopback listeners)
 *
 * The default path is a constant: tests point a command elsewhere only through `CBV_CONFIG`.
 *
 * Only where the configuration is, never its contents: this module must not import load.ts (the
 * zod schema), so that `cbv --help` and a usage error start without loading the schema (issue 14:
 * start-up time; test/unit/install/built-cli.test.ts checks it). Reading and validating the
 * located file is load.ts's readLocatedRaw() and loadLocatedConfig().
 */
import { dirname, resolve } from 'node:path';
import { presenceOf } from './path-presence.js';

/** Where docs/postfix.md and deploy/cbv.service put the daemon's configuration. */
export const DEFAULT_CONFIG_PATH = '/etc/cbv/cbv.yaml';

/** The environment variable that names the configuration when no `--config` is given. */
export const CONFIG_ENV = 'CBV_CONFIG';

/** How a configuration was found; `path` is null for the built-in defaults. */
export type ConfigSource =
  { via: '--config' | 'CBV_CONFIG' | 'default'; path: string } | { via: 'built-in'; path: null };

/**
 * The configuration source by the rules above. `defaultPath` exists for unit tests of the
 * order itself; commands always use DEFAULT_CONFIG_PATH.
 */
export function locateConfig(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  defaultPath: string = DEFAULT_CONFIG_PATH,
): ConfigSource {
  if (flag !== undefined) return { via: '--config', path: flag };
  const fromEnv = env[CONFIG_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { via: 'CBV_CONFIG', path: fromEnv };
  // A default file this user may not see is still the daemon's: reading it says why, one line.
  if (presenceOf(defaultPath).state !== 'absent') return { via: 'default', path: defaultPath };
  return { via: 'built-in', path: null };
}

/** Why this file: "(--config)", "(from CBV_CONFIG)", "(the default location)". */
function why(source: ConfigSource): string {
  switch (source.via) {
    case '--config':
      return '(--config)';
    case 'CBV_CONFIG':
      return `(from ${CONFIG_ENV})`;
    case 'default':
      return '(the default location)';
    case 'built-in':
      return `(no --config, no ${CONFIG_ENV}, no ${DEFAULT_CONFIG_PATH})`;
  }
}

/** One phrase for messages: which configuration, and why that one. */
export function describeSource(source: ConfigSource): string {
  return source.path === null ? `built-in defaults ${why(source)}` : `config ${source.path} ${why(source)}`;
}

/**
 * How messages name the configuration: the path, with how it was found unless it was named on
 * the command line ("/etc/cbv/cbv.yaml (the default location)").
 */
export function sourceLabel(source: ConfigSource): string {
  if (source.path === null) return 'built-in defaults';
  return source.via === '--config' ? source.path : `${source.path} ${why(source)}`;
}

/** The directory that anchors the located file's relative paths (none for the built-in defaults). */
export function baseDirOf(source: ConfigSource): string | undefined {
  return source.path === null ? undefined : configDir(source.path);
}

/** The directory that anchors a config file's relative paths. */
export function configDir(path: string): string {
  return dirname(resolve(path));
}
