/**
 * The one install recipe, as docs/postfix.md writes it ("## Install and run cbv"): the commands
 * after `cd /opt/cbv && ` on the first line of the page's first shell block.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { REPO } from './scratch-copy.js';

export const INSTALL_DIR_PREFIX = 'cd /opt/cbv && ';

/** The recipe's commands, e.g. `npm ci && npm run build && npm prune --omit=dev`. */
export function installRecipe(): string {
  const first = installBlock().split('\n')[0] ?? '';
  if (!first.startsWith(INSTALL_DIR_PREFIX))
    throw new Error(`docs/postfix.md: the install block does not start with '${INSTALL_DIR_PREFIX}...'`);
  return first.slice(INSTALL_DIR_PREFIX.length).replace(/\s+#.*$/, '');
}

/** The first shell block of docs/postfix.md's "## Install and run cbv". */
function installBlock(): string {
  const doc = readFileSync(join(REPO, 'docs/postfix.md'), 'utf8');
  const section = doc.split('## Install and run cbv')[1] ?? '';
  return /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
}

/**
 * The block's `ln -s TARGET LINK` line that makes `cbv` a command: the target below /opt/cbv
 * (e.g. `dist/main.js`) and the link's file name (`cbv`).
 */
export function commandLink(): { target: string; name: string } {
  const line = /^ln -s (\/opt\/cbv\/\S+) (\S+)/m.exec(installBlock());
  if (!line?.[1] || !line[2]) throw new Error('docs/postfix.md: the install block has no ln -s line for cbv');
  return { target: line[1].slice('/opt/cbv/'.length), name: basename(line[2]) };
}
