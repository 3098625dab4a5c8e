/**
 * The daemon's stores as the one-shot commands (`cbv stats`, `cbv cache ...`, `cbv verify`) open
 * them: the same cache the daemon uses for the same configuration (cachePath), and never a new,
 * empty database in its place.
 */
import { CacheOpenError } from '../cache/verdict-cache.js';
import type { Config } from '../config/schema.js';
import { openStores, type Stores } from './build.js';

/** What a command does with the daemon's data: reading opens the database read-only. */
export type StoreAccess = 'read' | 'write';

/**
 * Open the cache and statistics the daemon keeps for `config`, for a command. Throws
 * CacheOpenError (one line naming the file) when there is no database, or when the daemon keeps
 * them in its own memory where no other process can see them.
 */
export function openDaemonStores(config: Readonly<Config>, access: StoreAccess): Stores {
  if (config.cache.backend === 'memory')
    throw new CacheOpenError(
      "cache.backend is memory: the daemon's cache and statistics live inside its process; " +
        'ask the daemon over HTTP instead (GET /v1/stats, GET /v1/cache/ADDRESS)',
    );
  return openStores(config, access === 'read' ? 'readonly' : 'existing');
}
