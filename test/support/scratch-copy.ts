/**
 * A scratch copy of the checkout, as a newcomer's clone would be: the files git tracks (and new
 * ones not ignored), without node_modules, dist or data. For tests that run the documented install
 * and start steps without touching the working tree the other tests use.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** The repository's top folder. */
export const REPO = resolve(import.meta.dirname, '../..');

/**
 * Copies the checkout's files into a new temporary folder and returns it. With `linkModules`,
 * node_modules is a symlink to the checkout's (for tests of what happens after `npm ci`).
 */
export function scratchCopy(options: { linkModules?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'cbv-scratch-'));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f !== '');
  for (const file of files) {
    const from = join(REPO, file);
    const to = join(dir, file);
    mkdirSync(dirname(to), { recursive: true });
    try {
      cpSync(from, to, { preserveTimestamps: true });
    } catch (error) {
      // A file deleted in the working tree but not yet in the index.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  if (options.linkModules) symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}
