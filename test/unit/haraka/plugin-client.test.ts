/**
 * haraka-plugin-cbv's own pieces, without Haraka: how it reads cbv's actions (access(5)), and its
 * keep-alive policy client against the real cbv policy server over loopback TCP, plus scripted
 * servers for what cbv never does (stalling, closing an idle connection, an endless answer).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../../support/daemon.js';

interface Verdict {
  kind: 'continue' | 'deny' | 'denysoft';
  code?: number;
  enhanced?: [number, number, number];
  text?: string;
  header?: { name: string; value: string };
  warning?: string;
}
interface PolicyClient {
  ask(attrs: Record<string, string>): Promise<string>;
  close(): void;
}
type PolicyClientClass = new (options: {
  host?: string;
  port?: number;
  path?: string;
  timeoutMs: number;
  maxConnections: number;
}) => PolicyClient;

const require = createRequire(import.meta.url);
const { readAction } = require('../../../integrations/haraka/lib/policy-action.js') as {
  readAction: (action: string) => Verdict;
};
const { PolicyClient, encodeRequest } = require('../../../integrations/haraka/lib/policy-client.js') as {
  PolicyClient: PolicyClientClass;
  encodeRequest: (attrs: Record<string, string>) => string;
};

describe('readAction: access(5) actions as Haraka hook results', () => {
  const cases: [string, Partial<Verdict>][] = [
    ['550 5.1.7 <a@b.test>: Sender address rejected: no', { kind: 'deny', code: 550, enhanced: [5, 1, 7] }],
    ['554 5.7.23 SPF fail', { kind: 'deny', code: 554, enhanced: [5, 7, 23] }],
    ['550 no such user here', { kind: 'deny', code: 550, enhanced: [5, 0, 0], text: 'no such user here' }],
    ['451 4.3.0 try later', { kind: 'denysoft', code: 451, enhanced: [4, 3, 0], text: 'try later' }],
    // An enhanced code of the other class is not taken as one (RFC 3463: the classes must agree).
    ['550 4.1.1 mixed', { kind: 'deny', code: 550, enhanced: [5, 0, 0], text: '4.1.1 mixed' }],
    ['REJECT', { kind: 'deny', code: 550, enhanced: [5, 7, 1], text: '' }],
    ['reject 5.1.8 bad domain', { kind: 'deny', code: 550, enhanced: [5, 1, 8], text: 'bad domain' }],
    [
      'DEFER_IF_PERMIT 4.1.7 <a@b.test>: Sender address verification: greylisted',
      {
        kind: 'denysoft',
        code: 450,
        enhanced: [4, 1, 7],
        text: '<a@b.test>: Sender address verification: greylisted',
      },
    ],
    ['DEFER come back', { kind: 'denysoft', code: 450, enhanced: [4, 7, 1], text: 'come back' }],
    [
      'PREPEND X-Sender-Verification: deliverable; reason=accepted',
      {
        kind: 'continue',
        header: { name: 'X-Sender-Verification', value: 'deliverable; reason=accepted' },
      },
    ],
    [
      'WARN cbv would have replied: 550 5.1.7 no',
      { kind: 'continue', warning: 'cbv would have replied: 550 5.1.7 no' },
    ],
    ['DUNNO', { kind: 'continue' }],
    // OK from a policy server would skip the gateway's other checks: cbv never means that.
    ['OK', { kind: 'continue' }],
    ['DEFER_IF_REJECT 4.7.1 later', { kind: 'continue' }],
    ['', { kind: 'continue' }],
  ];
  for (const [action, expected] of cases) {
    it(`${JSON.stringify(action)} -> ${expected.kind ?? ''} ${expected.code ?? ''}`, () => {
      const got = readAction(action);
      for (const [key, value] of Object.entries(expected)) assert.deepEqual(got[key as keyof Verdict], value);
    });
  }
});

describe('encodeRequest', () => {
  it('writes name=value lines and the empty line that ends a request', () => {
    assert.equal(
      encodeRequest({ request: 'smtpd_access_policy', sender: 'a@b.test' }),
      'request=smtpd_access_policy\nsender=a@b.test\n\n',
    );
  });
  for (const value of ['a@b.test\nrecipient=x@y.test', 'a@b.test\r', 'a\u0000b']) {
    it(`refuses a value that would inject a line: ${JSON.stringify(value)}`, () => {
      assert.throws(() => encodeRequest({ sender: value }), /line break/);
    });
  }
});

/** A TCP relay in front of a server that counts the connections clients open through it. */
async function countingRelay(
  port: number,
): Promise<{ port: number; accepted: () => number; close(): Promise<void> }> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    accepted += 1;
    const upstream = connect({ host: '127.0.0.1', port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A server that follows a script per connection (only for what cbv never does). */
async function scripted(onConnection: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    onConnection(socket);
    // Read (and drop) what the script does not: a paused socket never sees the peer's close.
    if (socket.listenerCount('data') === 0) socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

const closeServer = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve());
  });

/** A request cbv answers without a callout: the null sender is skipped (DUNNO). */
const NULL_SENDER = {
  request: 'smtpd_access_policy',
  protocol_state: 'MAIL',
  client_address: '127.0.3.2',
  helo_name: 'client.test',
  sender: '',
};

describe('PolicyClient against the real cbv policy server', () => {
  let cbv: TestDaemon;
  before(async () => {
    cbv = await startTestDaemon();
  });
  after(async () => {
    await cbv.stop();
  });

  it('keeps one connection alive for many sequential questions', async () => {
    const relay = await countingRelay(cbv.policy.port);
    const client = new PolicyClient({
      host: '127.0.0.1',
      port: relay.port,
      timeoutMs: 5000,
      maxConnections: 8,
    });
    try {
      for (let i = 0; i < 25; i++) assert.equal(await client.ask(NULL_SENDER), 'DUNNO');
      assert.equal(relay.accepted(), 1);
    } finally {
      client.close();
      await relay.close();
    }
  });

  it('opens at most max_connections for concurrent questions, and reuses them', async () => {
    const relay = await countingRelay(cbv.policy.port);
    const client = new PolicyClient({
      host: '127.0.0.1',
      port: relay.port,
      timeoutMs: 5000,
      maxConnections: 3,
    });
    try {
      const answers = await Promise.all(Array.from({ length: 40 }, () => client.ask(NULL_SENDER)));
      assert.deepEqual(new Set(answers), new Set(['DUNNO']));
      assert.ok(relay.accepted() <= 3, `opened ${relay.accepted()}`);
      await Promise.all(Array.from({ length: 10 }, () => client.ask(NULL_SENDER)));
      assert.ok(relay.accepted() <= 3, `opened ${relay.accepted()} after reuse`);
    } finally {
      client.close();
      await relay.close();
    }
  });
});

describe('PolicyClient when the policy server misbehaves or is gone', () => {
  it('rejects with code "timeout" when no answer comes, and drops that connection', async () => {
    const state = { closed: false };
    const { server, port } = await scripted((socket) => socket.on('close', () => (state.closed = true)));
    const client = new PolicyClient({ host: '127.0.0.1', port, timeoutMs: 300, maxConnections: 2 });
    try {
      await assert.rejects(client.ask(NULL_SENDER), (e: Error & { code?: string }) => e.code === 'timeout');
      for (let i = 0; i < 40 && !state.closed; i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(
        state.closed,
        'the overrun connection was closed: its late answer must not answer another question',
      );
    } finally {
      client.close();
      await closeServer(server);
    }
  });

  it('rejects with code "timeout" when every connection is busy past the deadline', async () => {
    const { server, port } = await scripted(() => undefined);
    const client = new PolicyClient({ host: '127.0.0.1', port, timeoutMs: 300, maxConnections: 1 });
    try {
      const results = await Promise.allSettled([client.ask(NULL_SENDER), client.ask(NULL_SENDER)]);
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.equal((r.reason as { code?: string }).code, 'timeout');
      }
    } finally {
      client.close();
      await closeServer(server);
    }
  });

  it('retries once on a fresh connection when the server closed a kept-alive one', async () => {
    let connections = 0;
    // Answers one question per connection, then closes it, as a server's idle timeout would.
    const { server, port } = await scripted((socket) => {
      connections += 1;
      socket.once('data', () => socket.end('action=DUNNO\n\n'));
    });
    const client = new PolicyClient({ host: '127.0.0.1', port, timeoutMs: 2000, maxConnections: 1 });
    try {
      assert.equal(await client.ask(NULL_SENDER), 'DUNNO');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(await client.ask(NULL_SENDER), 'DUNNO');
      assert.equal(connections, 2);
    } finally {
      client.close();
      await closeServer(server);
    }
  });

  it('rejects an endless answer as a protocol error instead of buffering it', async () => {
    const { server, port } = await scripted((socket) => {
      socket.once('data', () => socket.write(`action=${'x'.repeat(20_000)}`));
    });
    const client = new PolicyClient({ host: '127.0.0.1', port, timeoutMs: 2000, maxConnections: 1 });
    try {
      await assert.rejects(client.ask(NULL_SENDER), (e: Error & { code?: string }) => e.code === 'protocol');
    } finally {
      client.close();
      await closeServer(server);
    }
  });

  it('rejects with code "connect" when nothing listens', async () => {
    const { server, port } = await scripted(() => undefined);
    await closeServer(server);
    const client = new PolicyClient({ host: '127.0.0.1', port, timeoutMs: 2000, maxConnections: 1 });
    try {
      await assert.rejects(client.ask(NULL_SENDER), (e: Error & { code?: string }) => e.code === 'connect');
    } finally {
      client.close();
    }
  });
});
