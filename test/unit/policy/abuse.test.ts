/**
 * The policy server against clients that misbehave on purpose: one that
 * pipelines without reading its answers (memory stays bounded: measured as the
 * daemon's resident memory), one that trickles a request a byte at a time
 * (closed at the request deadline), and many idle connections (Postfix is
 * still served; one client cannot take another's share). Every wait is for an
 * event: nothing here asserts on elapsed time.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PolicyClient, encode, rcptRequest } from '../../support/policy-client.js';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';
import { startTestDaemon, type TestDaemon } from '../../support/daemon.js';

const daemons: TestDaemon[] = [];
const sockets: Socket[] = [];
let slowMx: ScriptedServer;
before(async () => {
  slowMx = await startScriptedServer({ greeting: [{ do: 'stall' }] });
});
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(daemons.map((d) => d.stop()));
  await slowMx.close();
});

async function daemon(policy: Record<string, unknown>, inlineBudget = 0.5): Promise<TestDaemon> {
  const d = await startTestDaemon({
    policy: { listen: ['127.0.0.1:0'], ...policy },
    verify: { allow_targets: ['127.0.0.0/8'], port: slowMx.port },
    service: { inline_budget: inlineBudget },
  });
  daemons.push(d);
  return d;
}

/** A raw TCP connection from a chosen loopback address (each address is another client). */
function open(d: TestDaemon, from = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: d.policy.host, port: d.policy.port, localAddress: from });
    s.setNoDelay(true);
    s.on('error', () => undefined);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
    sockets.push(s);
  });
}

/** Ask, or learn that the server closed the connection instead of answering. */
async function askOrClosed(c: PolicyClient, attrs: Record<string, string>): Promise<string> {
  c.write(encode(attrs));
  return Promise.race([c.next(), c.whenClosed().then(() => 'closed')]);
}

const closed = (s: Socket): Promise<void> =>
  s.destroyed || s.readableEnded ? Promise.resolve() : new Promise((r) => s.once('close', () => r()));

/** Resident and peak resident memory of a process, in bytes (/proc/PID/status). */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') * 1024, peak: kb('VmHWM') * 1024 };
}

describe('a client that pipelines requests and never reads the answers', { timeout: 120_000 }, () => {
  let child: ChildProcess | null = null;
  after(() => {
    child?.kill('SIGKILL');
  });

  it('costs the daemon bounded memory: it stops reading, and every request is answered later', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cbv-pipelining-'));
    const socketPath = join(dir, 'policy');
    const config = join(dir, 'cbv.yaml');
    writeFileSync(
      config,
      [
        'cache: { backend: memory }',
        'http: { enabled: false }',
        `policy: { listen: [], unix_socket: '${socketPath}' }`,
        'logging: { level: warn }',
      ].join('\n'),
    );
    const daemonProcess = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', 'serve', '--config', config],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    child = daemonProcess;
    const seen = new Set<string>();
    const waiters = new Map<string, () => void>();
    let partial = '';
    daemonProcess.stdout.on('data', (c: Buffer) => {
      const lines = (partial + c.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const event = /"event":"([^"]+)"/.exec(line)?.[1];
        if (!event) continue;
        seen.add(event);
        waiters.get(event)?.();
      }
    });
    const logged = (event: string): Promise<void> =>
      seen.has(event) ? Promise.resolve() : new Promise((resolve) => waiters.set(event, resolve));
    // Logging at warn: one line per request at a slow reader of stdout would measure pino's buffer.
    while (!existsSync(socketPath)) await new Promise((r) => setTimeout(r, 20));

    const client = await PolicyClient.open({ path: socketPath });
    assert.equal(await client.ask(rcptRequest({ sender: '' })), 'action=DUNNO');
    const pid = daemonProcess.pid ?? 0;
    const baseline = memory(pid).rss;

    // 100,000 requests as Postfix writes them at RCPT time (~54 MB), written at once and never read.
    const REQUESTS = 100_000;
    client.socket.pause();
    const requests: string[] = [];
    for (let i = 0; i < REQUESTS; i++) requests.push(encode(rcptRequest({ sender: '', instance: `i${i}` })));
    const burst = Buffer.from(requests.join(''));
    const total = burst.length;
    client.socket.write(burst);
    // Either the daemon stops reading (it logs so), or it has read every byte (the fault).
    const outcome = await Promise.race([
      logged('policy.backpressure').then(() => 'stopped reading' as const),
      new Promise<'read everything'>((resolve) =>
        client.socket.once('drain', () => resolve('read everything')),
      ),
    ]);
    const during = memory(pid);
    assert.equal(outcome, 'stopped reading');
    assert.ok(
      client.socket.writableLength > total / 2,
      `most of the ${total} bytes stay with the client (${client.socket.writableLength} unsent)`,
    );
    const grown = during.peak - baseline;
    t.diagnostic(
      `${REQUESTS} requests (${Math.round(total / 1048576)} MB) pipelined; daemon peak RSS grew ${Math.round(grown / 1048576)} MB; ${Math.round(client.socket.writableLength / 1048576)} MB still unsent`,
    );
    assert.ok(grown < 48 * 1024 * 1024, `the daemon grew by ${Math.round(grown / 1048576)} MB`);

    // Reading again, the client gets every answer, in order, and the connection goes on.
    let answers = 0;
    await new Promise<void>((resolve) => {
      let buffered = '';
      client.socket.removeAllListeners('data');
      client.socket.on('data', (c: Buffer) => {
        buffered += c.toString('utf8');
        const parts = buffered.split('\n\n');
        buffered = parts.pop() ?? '';
        answers += parts.length;
        if (answers >= REQUESTS) resolve();
      });
      client.socket.resume();
    });
    assert.equal(answers, REQUESTS);
    // (Answering 100,000 requests is work like any other: its garbage is not what is measured here.)
    t.diagnostic(
      `after answering all: peak RSS grew ${Math.round((memory(pid).peak - baseline) / 1048576)} MB`,
    );
    client.close();
    daemonProcess.kill('SIGTERM');
    await new Promise((r) => daemonProcess.once('exit', r));
    child = null;
  });
});

describe('slow-loris: a request trickled one byte at a time', { timeout: 60_000 }, () => {
  it('is closed at the request deadline, although every byte comes well within the idle timeout', async () => {
    const d = await daemon({ request_timeout: 0.4, idle_timeout: 60 });
    const s = await open(d);
    const request = encode(rcptRequest({ sender: '' }));
    let sent = 0;
    let answered = false;
    s.on('data', () => (answered = true));
    const gone = closed(s);
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      timer = setInterval(() => {
        if (s.destroyed || sent >= request.length) return resolve();
        s.write(request[sent] ?? '');
        sent++;
      }, 20);
      void gone.then(() => resolve());
    });
    clearInterval(timer);
    assert.ok(sent < request.length, `closed after ${sent} of ${request.length} bytes`);
    await gone;
    assert.equal(answered, false);
    // The deadline is per request: a whole request on a new connection is answered.
    const c = await PolicyClient.open(d.policy);
    assert.equal(await c.ask(rcptRequest({ sender: '' })), 'action=DUNNO');
    c.close();
  });

  it('does not cut a pipelining client whose answers are slow to come', async () => {
    const d = await daemon({ request_timeout: 0.2, max_pipelined: 1 });
    const c = await PolicyClient.open(d.policy);
    // Two slow verifications (the MX never greets) and a third request split in two writes.
    const third = encode(rcptRequest({ sender: '' }));
    c.write(
      encode(rcptRequest({ sender: 'a@[127.0.0.1]' })) + encode(rcptRequest({ sender: 'b@[127.0.0.1]' })),
    );
    c.write(third.slice(0, 20));
    c.write(third.slice(20));
    assert.match(await c.next(), /^action=DEFER_IF_PERMIT /);
    assert.match(await c.next(), /^action=DEFER_IF_PERMIT /);
    assert.equal(await c.next(), 'action=DUNNO');
    assert.equal(c.closed, false);
    c.close();
  });
});

describe('many connections', { timeout: 120_000 }, () => {
  it(
    'with 1,000 idle connections open, Postfix still connects and is answered',
    { timeout: 60_000 },
    async () => {
      const d = await daemon({ max_connections: 1000, max_connections_per_client: 1000 });
      const idle: Socket[] = [];
      for (let i = 0; i < 1000; i++) idle.push(await open(d, `127.0.0.${10 + (i % 10)}`));
      const first = idle[0];
      assert.ok(first);
      const postfix = await PolicyClient.open(d.policy);
      assert.equal(await askOrClosed(postfix, rcptRequest({ sender: '' })), 'action=DUNNO');
      await closed(first); // the oldest connection that never sent a request made room
      assert.equal(idle.filter((s) => s.destroyed || s.readableEnded).length, 1);
      postfix.close();
      for (const s of idle) s.destroy();
    },
  );

  it(
    "a client at its share loses its own least useful connection, never another client's",
    { timeout: 30_000 },
    async () => {
      const d = await daemon({ max_connections_per_client: 3 });
      const other = await open(d, '127.0.0.30');
      const mine = [await open(d, '127.0.0.31'), await open(d, '127.0.0.31'), await open(d, '127.0.0.31')];
      // The second has sent a whole request (Postfix-like); the first and third never have.
      const asked = PolicyClient.from(mine[1] as Socket);
      assert.equal(await askOrClosed(asked, rcptRequest({ sender: '' })), 'action=DUNNO');
      const fourth = await open(d, '127.0.0.31');
      const c4 = PolicyClient.from(fourth);
      assert.equal(await askOrClosed(c4, rcptRequest({ sender: '' })), 'action=DUNNO');
      await closed(mine[0] as Socket);
      assert.equal((mine[1] as Socket).destroyed, false);
      assert.equal((mine[2] as Socket).destroyed, false);
      assert.equal(other.destroyed, false);
      const again = PolicyClient.from(other);
      assert.equal(await again.ask(rcptRequest({ sender: '' })), 'action=DUNNO');
    },
  );

  it(
    'never closes a connection whose request is being decided; a newcomer is refused instead',
    { timeout: 30_000 },
    async () => {
      const d = await daemon({ max_connections_per_client: 2 }, 5);
      const busy = [await PolicyClient.open(d.policy), await PolicyClient.open(d.policy)];
      const greeted = slowMx.sessions.length;
      for (const [i, c] of busy.entries()) c.write(encode(rcptRequest({ sender: `slow${i}@[127.0.0.1]` })));
      const answers = busy.map((c) => c.next());
      // Both are deciding once their callouts have reached the MX (which never greets).
      while (slowMx.sessions.length < greeted + 2) await new Promise((r) => setTimeout(r, 10));
      const third = await open(d);
      await closed(third);
      for (const a of await Promise.all(answers)) assert.match(a, /^action=DEFER_IF_PERMIT /);
      for (const c of busy) c.close();
    },
  );
});
