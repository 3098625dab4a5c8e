/**
 * Where the SQLite cache of a config lives, without loading SQLite: `cbv verify` asks whether the
 * daemon's database exists before it decides to load the service at all.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Config } from '../config/schema.js';

/** cache.path, else <data_dir>/cbv.sqlite (a relative data_dir: under the working directory). */
export function cachePath(config: Readonly<Config>): string {
  if (config.cache.path) return config.cache.path;
  const dir = isAbsolute(config.service.data_dir)
    ? config.service.data_dir
    : join(process.cwd(), config.service.data_dir);
  return join(dir, 'cbv.sqlite');
}

/** True when the daemon's SQLite database for `config` exists (so `cbv verify` can share it). */
export function daemonCacheExists(config: Readonly<Config>): boolean {
  return config.cache.backend === 'sqlite' && existsSync(cachePath(config));
}

/** Where the daemon keeps its cache for this configuration, in words for the CLI's stderr line. */
export function describeCache(config: Readonly<Config>): string {
  return config.cache.backend === 'sqlite'
    ? `cache ${cachePath(config)}`
    : `cache backend ${config.cache.backend}`;
}
