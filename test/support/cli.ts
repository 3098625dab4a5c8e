/** Runs the cbv command as a user would: a child process, its exit status and output. */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let scratch: string | undefined;

/**
 * A configuration of its own for commands run without --config, so that no test depends on
 * this machine's /etc/cbv/cbv.yaml or on a ./data/cbv.sqlite left in the checkout: its data_dir
 * is an empty scratch directory.
 */
export function scratchConfig(): string {
  if (scratch === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'cbv-cli-config-'));
    scratch = join(dir, 'cbv.yaml');
    writeFileSync(scratch, `service:\n  data_dir: ${join(dir, 'data')}\n`);
  }
  return scratch;
}

/**
 * Run `cbv ARGS` (src/main.ts under tsx). `env` is laid over this process's environment, with
 * CBV_CONFIG pointing at scratchConfig() unless `env` sets it; a key set to undefined is removed.
 */
export function cbv(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<Run> {
  // child_process leaves out keys whose value is undefined.
  const merged = { ...process.env, CBV_CONFIG: scratchConfig(), ...env };
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      // Absolute, so that the command also runs from another working directory.
      ['--import', import.meta.resolve('tsx'), join(import.meta.dirname, '../../src/main.ts'), ...args],
      { env: merged, timeout: 30_000, ...(cwd ? { cwd } : {}) },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}
