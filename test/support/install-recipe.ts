/**
 * The one install recipe, as docs/postfix.md writes it ("## Install and run cbv"): the commands
 * after `cd /opt/cbv && ` on the first line of the page's first shell block.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './scratch-copy.js';

export const INSTALL_DIR_PREFIX = 'cd /opt/cbv && ';

/** The recipe's commands, e.g. `npm ci && npm run build && npm prune --omit=dev`. */
export function installRecipe(): string {
  const doc = readFileSync(join(REPO, 'docs/postfix.md'), 'utf8');
  const section = doc.split('## Install and run cbv')[1] ?? '';
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const first = block.split('\n')[0] ?? '';
  if (!first.startsWith(INSTALL_DIR_PREFIX))
    throw new Error(`docs/postfix.md: the install block does not start with '${INSTALL_DIR_PREFIX}...'`);
  return first.slice(INSTALL_DIR_PREFIX.length).replace(/\s+#.*$/, '');
}
