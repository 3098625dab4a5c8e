/**
 * The policy server's unix socket is removed only while it is its own: a daemon stopping after
 * another has bound the path (its own file having been deleted) leaves the other's socket alone,
 * although libuv removes the path it bound when a server closes.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { probeSocketPath } from '../../../src/frontends/policy/unix-socket.js';
import { startTestDaemon } from '../../support/daemon.js';
import { PolicyClient, rcptRequest } from '../../support/policy-client.js';

const socketPath = (): string => join(mkdtempSync(join(tmpdir(), 'cbv-unix-')), 'policy.sock');

async function answers(path: string): Promise<string> {
  const client = await PolicyClient.open({ path });
  try {
    return await client.ask(rcptRequest({ sender: '' }));
  } finally {
    client.close();
  }
}

describe('the policy unix socket', () => {
  it('a daemon stopping never removes a socket another daemon bound at its path since', async () => {
    const path = socketPath();
    const first = await startTestDaemon({ policy: { listen: [], unix_socket: path } });
    unlinkSync(path); // say an administrator's cleanup, while the first still runs
    const second = await startTestDaemon({ policy: { listen: [], unix_socket: path } });
    try {
      await first.stop();
      assert.equal(existsSync(path), true);
      assert.equal(await answers(path), 'action=DUNNO');
    } finally {
      await second.stop();
    }
    assert.equal(existsSync(path), false, 'the second removes its own');
  });

  it('tells a live socket from a stale one, a missing one and a plain file', async () => {
    const path = socketPath();
    assert.equal(await probeSocketPath(path), 'absent');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    assert.equal(await probeSocketPath(path), 'live');
    await new Promise((resolve) => server.close(resolve));
    const file = `${path}.txt`;
    writeFileSync(file, '');
    assert.equal(await probeSocketPath(file), 'not-a-socket');
  });
});
