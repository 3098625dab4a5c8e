/**
 * `cbv serve` as a child process, the way an administrator or systemd runs it: the test reads
 * the addresses it listens on from its log and stops it by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ServeChild {
  child: ChildProcess;
  /** Addresses by front-end, from the `service.ready` log line. */
  listening: Record<string, string[]>;
  /** Everything the daemon wrote so far. */
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then the exit status. */
  stop(): Promise<number | null>;
}

/**
 * Starts `cbv serve ARGS` (src/main.ts under tsx, or with `built` that built entry point, e.g. a
 * dist/main.js, under plain node) and resolves once it is ready, or rejects with its output.
 */
export function startServeChild(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; built?: string } = {},
): Promise<ServeChild> {
  const entry = options.built
    ? [options.built]
    : ['--import', import.meta.resolve('tsx'), join(import.meta.dirname, '../../src/main.ts')];
  const child = spawn(process.execPath, [...entry, 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const ready = /"event":"service\.ready".*?"frontends":(\{[^}]*\})/.exec(out);
      if (ready?.[1])
        resolve({
          child,
          listening: JSON.parse(ready[1]) as Record<string, string[]>,
          stdout: () => out,
          stderr: () => err,
          stop: () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
    });
    void exited.then((code) =>
      reject(new Error(`cbv serve exited (${code}) before it was ready: ${err}${out}`)),
    );
  });
}

/** host and port of an address as the daemon logs it ("127.0.0.1:10040", "[::1]:10040"). */
export function hostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}

/**
 * Writes `DATA_DIR/cbv.yaml`, the loopback daemon the install and start-up tests run: its state in
 * `dataDir`, the policy server and the HTTP API on ports the kernel picks, a fixed HELO name.
 * Returns the file's path.
 */
export function writeLoopbackConfig(dataDir: string): string {
  const config = join(dataDir, 'cbv.yaml');
  writeFileSync(
    config,
    [
      'service:',
      `  data_dir: ${dataDir}`,
      'policy:',
      "  listen: ['127.0.0.1:0']",
      'http:',
      "  listen: ['127.0.0.1:0']",
      'verify:',
      '  helo_name: cbv.test',
      '',
    ].join('\n'),
  );
  return config;
}
