/**
 * Running a real daemon for a test: its own temp directory, its own process group, its log in a
 * file, and a stop() that kills exactly the processes we started (by PID / process group, never
 * by name) and waits until they are gone.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Daemon {
  readonly name: string;
  /** PID of the process we spawned; it leads its own process group. */
  readonly pid: number;
  /** stdout and stderr of the process. */
  readonly logFile: string;
  /** Set once the process has exited: its exit code, or the signal that ended it. */
  exitStatus(): string | undefined;
  /** The last lines of the daemon's log files, for error messages. */
  logTail(lines?: number): string;
  /** SIGTERM to the leader, then to its group, SIGKILL if any linger; resolves when none is left. */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: readonly string[];
  /** Directory for the log file; also the working directory. */
  dir: string;
  /** Further log files the daemon writes itself (shown by logTail after its stdout/stderr). */
  extraLogs?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

/** Everything started and not yet stopped, so an exiting test process can still clean up. */
const live = new Set<number>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function killGroupNow(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test that crashes before its after() hook must not leave servers running on the machine.
  process.on('exit', () => {
    for (const pgid of live) killGroupNow(pgid, 'SIGKILL');
    if (process.env.CBV_TESTBED_KEEP) return;
    for (const dir of liveDirs) {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // A killed daemon may still be writing its log; a stray temp dir is no reason to fail.
      }
    }
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const pgid of live) killGroupNow(pgid, 'SIGKILL');
      process.kill(process.pid, signal); // the once-handler is gone: default action now
    });
  }
}

/** A fresh directory under os.tmpdir(), readable by the unprivileged users daemons drop to. */
export async function makeTempDir(prefix: string): Promise<string> {
  installExitHook();
  const dir = await mkdtemp(join(tmpdir(), `cbv-testbed-${prefix}-`));
  liveDirs.add(dir);
  await chmod(dir, 0o755);
  return dir;
}

/** Runs `body` with a fresh temp directory, and removes the directory again if `body` fails. */
export async function inTempDir<T>(prefix: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await makeTempDir(prefix);
  try {
    return await body(dir);
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }
}

/** uid and gid of a system user (postfix, postgrey, Debian-exim) from the passwd database. */
export async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  const { stdout } = await run('getent', ['passwd', name]);
  const [, , uid, gid] = stdout.split(':').map(Number);
  if (uid === undefined || gid === undefined || !Number.isInteger(uid))
    throw new Error(`no such user: ${name}`);
  return { uid, gid };
}

export async function systemGroup(name: string): Promise<number> {
  const { stdout } = await run('getent', ['group', name]);
  const gid = Number(stdout.split(':')[2]);
  if (!Number.isInteger(gid)) throw new Error(`no such group: ${name}`);
  return gid;
}

/** Removes a daemon's temp directory unless CBV_TESTBED_KEEP is set (for post-mortems). */
export async function removeTempDir(dir: string): Promise<void> {
  liveDirs.delete(dir);
  if (process.env.CBV_TESTBED_KEEP) return;
  await rm(dir, { recursive: true, force: true });
}

/** State letter and process group of a PID from /proc, or undefined if there is no such PID. */
function procStat(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/** True if the PID exists and is not a zombie (a zombie has exited; it only awaits reaping). */
export function isAlive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

/** Live (non-zombie) members of a process group. */
export function groupMembers(pgid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      const stat = procStat(pid);
      return stat !== undefined && stat.pgrp === pgid && stat.state !== 'Z';
    });
}

export function tailOf(file: string, lines: number): string {
  if (!existsSync(file)) return `(${file}: no such file)`;
  const text = readFileSync(file, 'utf8').trimEnd();
  return text.split('\n').slice(-lines).join('\n');
}

/** Wraps an async action so that calling it again returns the first call's promise. */
export function once(action: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= action());
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

export function spawnDaemon(options: SpawnOptions): Daemon {
  installExitHook();
  const logFile = join(options.dir, `${options.name}.out`);
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    // detached: setsid(), so the daemon leads a new process group that holds all its children.
    child = spawn(options.command, [...options.args], {
      cwd: options.dir,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  let status: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      status = signal ? `killed by ${signal}` : `exited with code ${code}`;
      resolve();
    });
    child.once('error', (err) => {
      status = `failed to start: ${err.message}`;
      resolve();
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.name}: could not spawn ${options.command}`);
  live.add(pid);
  // A bed the test forgot to stop must not keep the test process alive: the exit hook kills it.
  child.unref();
  const logs = [logFile, ...(options.extraLogs ?? [])];
  const stop = once(async (): Promise<void> => {
    child.ref(); // keep the event loop alive until we have seen the exit
    // The leader first: Postfix's master then ends its own children (and logs that it did).
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
    // The escalation timer is cleared as soon as the leader exits, so it holds nothing up.
    const escalate = setTimeout(() => killGroupNow(pid, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(escalate);
    // Children left behind (an Exim child still in a session...): ask them, then insist.
    if (groupMembers(pid).length > 0) killGroupNow(pid, 'SIGTERM');
    if (!(await waitFor(() => groupMembers(pid).length === 0, 2000))) {
      killGroupNow(pid, 'SIGKILL');
      await waitFor(() => groupMembers(pid).length === 0, 2000);
    }
    live.delete(pid);
    child.unref();
  });

  return {
    name: options.name,
    pid,
    logFile,
    exitStatus: () => status,
    logTail: (lines = 25) => logs.map((file) => `--- ${file}\n${tailOf(file, lines)}`).join('\n'),
    stop,
  };
}

export interface ReadyOptions {
  timeoutMs?: number;
  /** Looks for a sign that start-up has failed (a fatal log line), so we need not wait it out. */
  failure?: () => string | undefined;
}

/**
 * Polls `probe` until it resolves true. Fails early if the daemon exits or `failure` reports
 * something, and after the timeout; the error carries the log tail, and the daemon is stopped.
 */
export async function waitUntilReady(
  daemon: Daemon,
  what: string,
  probe: () => Promise<boolean>,
  options: ReadyOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problem =
      daemon.exitStatus() ??
      options.failure?.() ??
      (Date.now() > deadline ? `did not answer within ${timeoutMs} ms` : undefined);
    if (problem !== undefined) {
      await daemon.stop();
      throw new Error(`${daemon.name}: ${what} not ready: ${problem}\n${daemon.logTail()}`);
    }
    if (await probe().catch(() => false)) return;
    await sleep(50);
  }
}
