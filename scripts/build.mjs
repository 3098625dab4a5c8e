#!/usr/bin/env node
// `npm run build`'s second step (after tsc's type check): bundles src/ into dist/ with esbuild.
//
// Why a bundle (issue 14, bench/README.md "CLI start-up"): a one-off `cbv verify` spent most of
// its start-up resolving and compiling a few hundred small ES modules (zod alone is ~100 files),
// not running them. dist/main.js is the entry; every command's own code is a chunk it imports
// when that command runs (`splitting`: main.ts's dynamic imports), so `cbv --help` loads main.js
// alone and `cbv verify` never loads the daemon's chunks.
//
// Only the pure-JavaScript packages the one-off commands load are bundled (BUNDLED). The others
// stay in node_modules, imported as before: native addons (better-sqlite3), packages that start
// workers or read their own files at run time (pino, fastify, mailauth), and what only the
// daemon or a fleet uses.
//
// Writes dist/main.js, its chunks (dist/*.js, with source maps: `node --enable-source-maps`),
// dist/dashboard/ (the page's static files, found beside the chunk that serves them), and
// dist/meta.json (esbuild's metafile: which source files and packages each chunk holds; the
// built-cli test and bench/lib/cpuprofile.ts read it).
import { build } from 'esbuild';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { outdir: { type: 'string', default: 'dist' } } });
const outdir = values.outdir;

/** Packages compiled into the bundle; every other bare import stays a run-time import. */
const BUNDLED = new Set(['zod', 'ipaddr.js']);

/** `zod/v4/core` -> `zod`, `@scope/pkg/x` -> `@scope/pkg`. */
function packageOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: ['src/main.ts'],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Chunks beside main.js, so `new URL('./dashboard/', import.meta.url)` means dist/dashboard/ in
  // every chunk, as it means src/frontends/http/dashboard/ in the source.
  chunkNames: '[name]-[hash]',
  sourcemap: 'linked',
  sourcesContent: false,
  metafile: true,
  logLevel: 'warning',
  plugins: [
    {
      name: 'cbv-externals',
      setup(b) {
        b.onResolve({ filter: /^[^./]/ }, (args) => {
          if (args.path.startsWith('node:')) return { external: true };
          return BUNDLED.has(packageOf(args.path)) ? undefined : { external: true };
        });
      },
    },
  ],
});
writeFileSync(`${outdir}/meta.json`, `${JSON.stringify(result.metafile)}\n`);
cpSync('src/frontends/http/dashboard', `${outdir}/dashboard`, { recursive: true });
