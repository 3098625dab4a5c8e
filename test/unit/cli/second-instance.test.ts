/**
 * A socket that stays up: `cbv serve` started a second time with the same configuration (by
 * mistake, or while the first still runs) refuses to start in one line with exit 73, and the
 * first keeps its policy socket, its ports and its HTTP API. A socket file is removed only
 * when nothing listens on it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cbv } from '../../support/cli.js';
import { PolicyClient, rcptRequest } from '../../support/policy-client.js';
import { freePort } from '../../support/testbed/net.js';

const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

interface Instance {
  dir: string;
  config: string;
  socket: string;
}

/** A configuration a daemon and its double share: fixed ports, found free now, and one socket. */
async function instance(options: { policyTcp: boolean; http: boolean }): Promise<Instance> {
  const dir = mkdtempSync(join(tmpdir(), 'cbv-twice-'));
  const socket = join(dir, 'policy.sock');
  const config = join(dir, 'cbv.yaml');
  const lines = [
    'service:',
    `  data_dir: ${join(dir, 'data')}`,
    'policy:',
    `  listen: [${options.policyTcp ? `'127.0.0.1:${await freePort()}'` : ''}]`,
    `  unix_socket: ${socket}`,
    'http:',
    `  enabled: ${options.http}`,
    `  listen: ['127.0.0.1:${await freePort()}']`,
  ];
  writeFileSync(config, lines.join('\n'));
  return { dir, config, socket };
}

/** `cbv serve` as a child process, resolved once it logs service.ready. */
async function serve(config: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let log = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      log += c.toString();
      if (log.includes('"event":"service.ready"')) resolve();
    });
    child.stderr.on('data', (c: Buffer) => (log += c.toString()));
    child.once('exit', (code) => reject(new Error(`cbv serve exited (${code}) before it was ready: ${log}`)));
  });
  return child;
}

/** What `cbv serve` said on stderr beyond the line naming its config and cache: the problem. */
function problem(stderr: string): string {
  return stderr
    .split(/(?<=\n)/)
    .filter((line) => !line.startsWith('cbv: config '))
    .join('');
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

/** The null sender is skipped without a callout: any daemon answers DUNNO at once. */
async function answers(socket: string): Promise<string> {
  const client = await PolicyClient.open({ path: socket });
  try {
    return await client.ask(rcptRequest({ sender: '' }));
  } finally {
    client.close();
  }
}

function httpStatus(config: string): Promise<number> {
  const listen = /listen: \['127\.0\.0\.1:(\d+)'\]\s*$/.exec(readFileSync(config, 'utf8'))?.[1];
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: Number(listen), path: '/healthz' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a second cbv serve with the same configuration', { timeout: 60_000 }, () => {
  it('refuses in one line, exit 73, and the first keeps its policy port, socket and HTTP API', async () => {
    const one = await instance({ policyTcp: true, http: true });
    const first = await serve(one.config);
    const second = await cbv(['serve', '--config', one.config]);
    assert.equal(second.code, 73, second.stderr);
    assert.match(
      problem(second.stderr),
      /^cbv: policy\.listen 127\.0\.0\.1:\d+: address already in use \(is cbv serve already running\?\) \(EADDRINUSE\)\n$/,
    );
    assert.equal(await answers(one.socket), 'action=DUNNO');
    assert.equal(await httpStatus(one.config), 200);
    assert.equal(await stop(first), 0);
    assert.equal(existsSync(one.socket), false, 'the first removes its own socket on its way out');
  });

  it('finds the unix socket live and leaves it alone (was: removed it, and Postfix got "No such file")', async () => {
    const one = await instance({ policyTcp: false, http: false });
    const first = await serve(one.config);
    const second = await cbv(['serve', '--config', one.config]);
    assert.equal(second.code, 73, second.stderr);
    assert.equal(
      problem(second.stderr),
      `cbv: policy.unix_socket ${one.socket}: another process is listening on it (is cbv serve already running?); left as it is\n`,
    );
    assert.equal(await answers(one.socket), 'action=DUNNO');
    assert.equal(await stop(first), 0);
  });

  it('the HTTP port taken is the same clean line (was: internal error, exit 70), and the second removes only its own socket', async () => {
    const one = await instance({ policyTcp: false, http: true });
    const first = await serve(one.config);
    // The same HTTP port, a socket of its own: it is claimed, then released when HTTP fails.
    const other = join(one.dir, 'other.sock');
    const config = join(one.dir, 'second.yaml');
    writeFileSync(config, readFileSync(one.config, 'utf8').replace(one.socket, other));
    const second = await cbv(['serve', '--config', config]);
    assert.equal(second.code, 73, second.stderr);
    assert.match(
      problem(second.stderr),
      /^cbv: http\.listen 127\.0\.0\.1:\d+: address already in use \(is cbv serve already running\?\) \(EADDRINUSE\)\n$/,
    );
    assert.equal(existsSync(other), false);
    assert.equal(await answers(one.socket), 'action=DUNNO');
    assert.equal(await httpStatus(one.config), 200);
    assert.equal(await stop(first), 0);
  });
});

describe('the unix socket path at start-up', { timeout: 60_000 }, () => {
  it('replaces a stale socket left by a process that died (nothing listens on it)', async () => {
    const one = await instance({ policyTcp: false, http: false });
    // A process that binds the path and dies without cleaning up, as after SIGKILL.
    const dead = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(one.socket)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    await new Promise((resolve) => dead.once('exit', resolve));
    assert.equal(existsSync(one.socket), true, 'the stale socket file is there');
    const first = await serve(one.config);
    assert.equal(await answers(one.socket), 'action=DUNNO');
    assert.equal(await stop(first), 0);
  });

  it('refuses a path that is not a socket, and leaves the file as it is', async () => {
    const one = await instance({ policyTcp: false, http: false });
    writeFileSync(one.socket, 'not a socket\n');
    const r = await cbv(['serve', '--config', one.config]);
    assert.equal(r.code, 73, r.stderr);
    assert.equal(
      problem(r.stderr),
      `cbv: policy.unix_socket ${one.socket}: exists and is not a socket; left as it is\n`,
    );
    assert.equal(readFileSync(one.socket, 'utf8'), 'not a socket\n');
  });
});
