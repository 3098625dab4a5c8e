/**
 * The dashboard's files, served by the daemon itself: the page, its scripts
 * and styles (from ./dashboard: here in src/, and in dist/dashboard beside the
 * bundled chunks, copied there by scripts/build.mjs), and uPlot from its npm package. No CDN: mail servers often have no
 * outbound web access. Everything is read once at start-up and held in memory
 * (a few hundred kilobytes), so a request can never name a file to read.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

interface Asset {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Scripts and styles only from this origin, no inline code, no framing: the page shows addresses. */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function typeOf(file: string): string {
  return TYPES[extname(file)] ?? 'application/octet-stream';
}

export function loadDashboardAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const dir = fileURLToPath(new URL('./dashboard/', import.meta.url));
  for (const file of readdirSync(dir)) {
    const body = readFileSync(join(dir, file));
    assets.set(file === 'index.html' ? '/' : `/assets/${file}`, { body, type: typeOf(file) });
  }
  const uplot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  for (const file of ['uPlot.esm.js', 'uPlot.min.css']) {
    assets.set(`/assets/vendor/${file}`, { body: readFileSync(join(uplot, file)), type: typeOf(file) });
  }
  return assets;
}

export function registerDashboard(app: FastifyInstance, assets: Map<string, Asset>): void {
  for (const [url, asset] of assets) {
    app.get(url, (_request, reply) => {
      if (url === '/') reply.header('content-security-policy', CSP);
      return reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body);
    });
  }
}
