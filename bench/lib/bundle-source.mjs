// Where a profiled function of the bundled build really lives. `npm run build` bundles src/ into
// a few chunks (scripts/build.mjs), so a V8 profile of `node dist/main.js` names dist/chunk-XYZ.js;
// each chunk's source map (dist/*.js.map) gives back the source file, e.g. src/core/smtp/probe.ts.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Source maps by chunk path; null when a file has none (a module of node_modules, say). */
const maps = new Map();

function mapOf(path) {
  if (!maps.has(path)) {
    const file = `${path}.map`;
    maps.set(path, existsSync(file) ? new SourceMap(JSON.parse(readFileSync(file, 'utf8'))) : null);
  }
  return maps.get(path);
}

/**
 * The source of the code at a zero-based line and column of `url` (a profile's callFrame): the
 * file as a URL (file:///.../src/service/decider.ts, as a profile of the source names it) and
 * the zero-based line there; `url` and `line` unchanged when `url` is not a chunk with a map.
 */
export function sourceOf(url, line, column) {
  const unchanged = { url, line };
  if (!url.startsWith('file://') || !url.endsWith('.js')) return unchanged;
  const path = fileURLToPath(url);
  const entry = mapOf(path)?.findEntry(Math.max(line, 0), Math.max(column, 0));
  if (!entry?.originalSource) return unchanged;
  const source = entry.originalSource.startsWith('file://')
    ? entry.originalSource
    : pathToFileURL(resolve(dirname(path), entry.originalSource)).href;
  return { url: source, line: entry.originalLine };
}
