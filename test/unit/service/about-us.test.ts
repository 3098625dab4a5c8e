/**
 * Nothing the verifier does to itself is cached as a fact about someone else: a callout our
 * own shutdown cancels (in DNS or at any SMTP phase), or a connection this machine could not
 * make, leaves no entry for the address and no fact for the domain, in memory or in SQLite
 * (where it would survive a restart).
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteCache } from '../../../src/cache/sqlite-cache.js';
import { NodeDnsResolver } from '../../../src/core/index.js';
import { StaticResolver } from '../../support/engine.js';
import {
  STALL,
  startScriptedServer,
  type ScriptOptions,
  type ScriptedServer,
} from '../../support/scripted-smtp.js';
import { testService } from '../../support/service.js';

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

/** A DNS server on loopback that receives every query and answers none. */
async function silentDns(): Promise<string> {
  const socket: UdpSocket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return `127.0.0.1:${socket.address().port}`;
}

async function scripted(options: ScriptOptions): Promise<ScriptedServer> {
  const server = await startScriptedServer(options);
  cleanup.push(() => server.close());
  return server;
}

function sqlitePath(): string {
  return join(mkdtempSync(join(tmpdir(), 'cbv-about-us-')), 'cache.sqlite');
}

/** After the daemon is gone: what a restarted one would find in the same file. */
async function afterRestart(path: string, address: string, domain: string) {
  const reopened = SqliteCache.open(path);
  try {
    const now = Date.now();
    return {
      entry: await reopened.getAddress(address, now),
      fact: await reopened.getDomainFact(domain, now),
    };
  } finally {
    await reopened.close();
  }
}

/** Start a verification, let it get stuck, shut the verifier down, and see what stayed cached. */
async function shutDownDuring(
  resolver: NodeDnsResolver | StaticResolver,
  port: number,
  address: string,
  domain: string,
) {
  const path = sqlitePath();
  const cache = SqliteCache.open(path);
  const svc = testService(port, resolver, { cache, inlineBudgetMs: 100 });
  const first = await svc.verifier.verify(address);
  assert.equal(first.reason, 'pending', 'the callout is stuck');
  await svc.verifier.close(0);
  assert.equal(svc.observer.callouts.length, 1, 'the callout ended');
  const ended = svc.observer.callouts[0];
  await cache.close();
  return { ended, ...(await afterRestart(path, address, domain)) };
}

describe('a shutdown never leaves a verdict behind', () => {
  it('during DNS: not cached as dns_error', async () => {
    const resolver = new NodeDnsResolver({ servers: [await silentDns()], queryTimeoutMs: 5000, tries: 1 });
    const { ended, entry, fact } = await shutDownDuring(
      resolver,
      25,
      'alice@dns-stuck.test',
      'dns-stuck.test',
    );
    assert.equal(ended?.rule, 'local.aborted');
    assert.equal(entry, null);
    assert.equal(fact, null);
  });

  const phases: [string, ScriptOptions][] = [
    ['the greeting', { greeting: [STALL] }],
    ['EHLO', { replies: { EHLO: [STALL] } }],
    ['MAIL FROM', { replies: { MAIL: [STALL] } }],
    ['RCPT TO', { replies: { RCPT: [STALL] } }],
  ];
  for (const [phase, script] of phases) {
    it(`during ${phase}: no entry, no domain fact`, async () => {
      const server = await scripted(script);
      const resolver = new StaticResolver({
        'stuck.test': { mx: [{ exchange: 'mx.stuck.test', priority: 1 }] },
        'mx.stuck.test': { a: [server.host] },
      });
      const { ended, entry, fact } = await shutDownDuring(
        resolver,
        server.port,
        'alice@stuck.test',
        'stuck.test',
      );
      assert.equal(ended?.temporary, true);
      assert.equal(entry, null);
      assert.equal(fact, null);
    });
  }
});

describe('a connection this machine cannot make is not the domain being unreachable', () => {
  it('binding to an address we do not have (EADDRNOTAVAIL): no entry, no unreachable fact', async () => {
    const server = await scripted({});
    const resolver = new StaticResolver({
      'fine.test': { mx: [{ exchange: 'mx.fine.test', priority: 1 }] },
      'mx.fine.test': { a: [server.host] },
    });
    // 192.0.2.1 (TEST-NET-1) is on no interface here: bind() fails before any packet is sent.
    const svc = testService(server.port, resolver, { localAddress: '192.0.2.1' });
    const v = await svc.verifier.verify('alice@fine.test');
    assert.equal(v.temporary, true);
    assert.equal(v.rule, 'local.own-fault');
    assert.match(v.message, /EADDRNOTAVAIL/);
    assert.equal(server.sessions.length, 0);
    assert.equal(await svc.cache.getAddress('alice@fine.test', Date.now()), null);
    assert.equal(await svc.cache.getDomainFact('fine.test', Date.now()), null);
  });
});
