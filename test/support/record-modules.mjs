// `node --import <this file> PROGRAM`: appends the file URL of every module PROGRAM loads, one a
// line, to the file named by CBV_MODULE_LOG: each ES module as it is resolved (a module-resolution
// hook, run in Node's hooks thread), and every CommonJS module in require's cache at exit. Lets a
// test ask which files and packages a command really loaded (test/unit/install/built-cli.test.ts).
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

const log = process.env.CBV_MODULE_LOG;
if (!log) throw new Error('record-modules.mjs: set CBV_MODULE_LOG to the file to append to');

/** The resolution hook (module.register): records, then resolves as Node would. */
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.startsWith('file:')) appendFileSync(log, `${resolved.url}\n`);
  return resolved;
}

if (isMainThread) {
  register(import.meta.url);
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => {
    const files = Object.keys(cache).map((path) => `file://${path}\n`);
    appendFileSync(log, files.join(''));
  });
}
