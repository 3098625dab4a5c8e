/**
 * Where the SQLite cache of a config lives, without loading SQLite: `cbv verify` asks whether the
 * daemon's database exists before it decides to load the service at all.
 */
import { isAbsolute, join } from 'node:path';
import { hiddenBecause, presenceOf } from '../config/path-presence.js';
import type { Config } from '../config/schema.js';

/** cache.path, else <data_dir>/cbv.sqlite (a relative data_dir: under the working directory). */
export function cachePath(config: Readonly<Config>): string {
  if (config.cache.path) return config.cache.path;
  const dir = isAbsolute(config.service.data_dir)
    ? config.service.data_dir
    : join(process.cwd(), config.service.data_dir);
  return join(dir, 'cbv.sqlite');
}

/**
 * Null when the daemon's SQLite database for `config` is there to share (`cbv verify`), else why
 * not in words: it does not exist, or this user may not see it (which is not the same).
 */
export function daemonCacheMissing(config: Readonly<Config>): string | null {
  const path = cachePath(config);
  const presence = presenceOf(path);
  if (presence.state === 'present') return null;
  return presence.state === 'absent' ? `${path} does not exist` : `${path}: ${hiddenBecause(presence.code)}`;
}

/** Where the daemon keeps its cache for this configuration, in words for the CLI's stderr line. */
export function describeCache(config: Readonly<Config>): string {
  return config.cache.backend === 'sqlite'
    ? `cache ${cachePath(config)}`
    : `cache backend ${config.cache.backend}`;
}
