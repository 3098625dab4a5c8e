/**
 * The quick start's `npm start` stops on SIGTERM and on Ctrl-C: the daemon gets the signal, stops
 * gracefully (its `service.stopped` line), its ports are free afterwards, and no process of the
 * tree is left. Run in a scratch copy of the checkout (node_modules linked), so its build does not
 * touch the dist/ other tests may use.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, before, describe, it } from 'node:test';
import { scratchCopy } from '../../support/scratch-copy.js';
import { hostPort, writeLoopbackConfig } from '../../support/serve-child.js';

let dir: string;
before(() => {
  dir = scratchCopy({ linkModules: true });
});

/** Every process a test started; whatever a failing test leaves running is killed by PID. */
const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0).reverse()) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

/** The exit of npm, or null when it has not exited within `ms` (a test fails rather than hangs). */
function exitWithin(
  s: Started,
  ms: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
  return Promise.race([
    s.exited,
    new Promise<null>((resolve) => setTimeout(() => resolve(null), ms).unref()),
  ]);
}

/** Every process below `pid` (Linux /proc), deepest last. */
function descendants(pid: number): number[] {
  const kids: number[] = [];
  const tasks = `/proc/${pid}/task`;
  if (!existsSync(tasks)) return kids;
  for (const task of readdirSync(tasks)) {
    let text: string;
    try {
      text = readFileSync(join(tasks, task, 'children'), 'utf8');
    } catch {
      continue; // the task ended while we looked
    }
    for (const child of text.trim().split(/\s+/).filter(Boolean).map(Number))
      kids.push(child, ...descendants(child));
  }
  return kids;
}

/** True while `pid` is a live process (a zombie waiting to be reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function refused(address: string): Promise<boolean> {
  const { host, port } = hostPort(address);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

interface Started {
  npm: ChildProcess;
  addresses: string[];
  tree: number[];
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `npm start` with a loopback configuration on ports the kernel picks, until the daemon is ready. */
async function npmStart(name: string): Promise<Started> {
  const data = join(dir, name);
  mkdirSync(data);
  const config = writeLoopbackConfig(data);
  // A process group of its own, as a terminal gives a foreground job: Ctrl-C signals the group.
  const npm = spawn('npm', ['start'], {
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CBV_CONFIG: config },
  });
  let out = '';
  npm.stdout.on('data', (c: Buffer) => (out += c.toString()));
  npm.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    npm.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const addresses = await new Promise<string[]>((resolve, reject) => {
    const onData = (): void => {
      const ready = /"event":"service\.ready".*?"frontends":(\{[^}]*\})/.exec(out);
      if (!ready?.[1]) return;
      npm.stdout.off('data', onData);
      resolve(Object.values(JSON.parse(ready[1]) as Record<string, string[]>).flat());
    };
    npm.stdout.on('data', onData);
    void exited.then(({ code }) =>
      reject(new Error(`npm start exited (${code}) before cbv was ready:\n${out}`)),
    );
  });
  const tree = descendants(npm.pid ?? 0);
  started.push(npm.pid ?? 0, ...tree);
  return { npm, addresses, tree, output: () => out, exited };
}

async function expectStopped(s: Started): Promise<void> {
  const exit = await exitWithin(s, 40_000);
  assert.ok(exit, `npm start still runs 40 s after the signal:\n${s.output()}`);
  const { code, signal } = exit;
  assert.equal(signal, null, s.output());
  assert.equal(code, 0, s.output());
  assert.match(s.output(), /"event":"service\.stopped"/);
  for (const pid of [s.npm.pid ?? 0, ...s.tree]) assert.equal(alive(pid), false, `process ${pid} still runs`);
  for (const address of s.addresses)
    assert.ok(await refused(address), `${address} still accepts connections`);
}

// Each test runs the quick start's `npm start`, which builds (tsc, then esbuild) before it serves:
// seconds on a quiet machine, near a minute on a loaded one. The bound is for a hang, not a pace.
describe('npm start', { timeout: 600_000 }, () => {
  it('runs cbv serve as the script itself (no shell left between npm and node)', async () => {
    const s = await npmStart('tree');
    try {
      const commands = s.tree.map((pid) =>
        readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '),
      );
      assert.equal(s.tree.length, 1, commands.join('\n'));
      assert.match(commands[0] ?? '', /node dist\/main\.js serve/);
      assert.ok(s.addresses.length >= 2, s.addresses.join(' '));
    } finally {
      process.kill(s.npm.pid ?? 0, 'SIGTERM');
      await exitWithin(s, 40_000);
    }
  });

  it('stops on SIGTERM to npm (systemd, kill PID): ports released, no process left', async () => {
    const s = await npmStart('sigterm');
    process.kill(s.npm.pid ?? 0, 'SIGTERM');
    await expectStopped(s);
  });

  it('stops on SIGINT to npm (kill -INT PID)', async () => {
    const s = await npmStart('sigint');
    process.kill(s.npm.pid ?? 0, 'SIGINT');
    await expectStopped(s);
  });

  it('stops on Ctrl-C (SIGINT to the whole foreground process group), gracefully', async () => {
    const s = await npmStart('ctrl-c');
    process.kill(-(s.npm.pid ?? 0), 'SIGINT');
    await expectStopped(s);
  });
});
