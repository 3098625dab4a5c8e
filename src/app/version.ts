/**
 * cbv's version, from package.json. Found by walking up from this module's own file: the source
 * runs as src/app/version.ts, the build as one of dist/'s bundled chunks (scripts/build.mjs), so
 * the distance to the package's top folder is not fixed.
 */
import { readFileSync } from 'node:fs';

/** The `version` of the first package.json above this module ('0.0.0' when it has none). */
export function packageVersion(): string {
  for (let up = new URL('./', import.meta.url); ; up = new URL('../', up)) {
    let text: string | undefined;
    try {
      text = readFileSync(new URL('package.json', up), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text !== undefined) return (JSON.parse(text) as { version?: string }).version ?? '0.0.0';
    if (up.pathname === '/') throw new Error('cbv: no package.json above the running code');
  }
}
