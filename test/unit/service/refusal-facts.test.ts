/**
 * Which domain facts refusals teach: a refusal about us teaches refuses_us and never
 * null_sender_rejected (which rejects every address of the domain for a day); that fact is
 * learnt only from unambiguous evidence, and the verdict served from it says so.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startScriptedServer, type ScriptOptions, type ScriptedServer } from '../../support/scripted-smtp.js';
import { StaticResolver } from '../../support/engine.js';
import { testService } from '../../support/service.js';
import { MemoryCache } from '../../../src/cache/memory-cache.js';
import type { EngineOptions } from '../../../src/core/verify.js';
import { calloutCounters } from '../../../src/stats/counters.js';

const servers: ScriptedServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function mailDomain(domain: string, script: ScriptOptions) {
  const server = await startScriptedServer(script);
  servers.push(server);
  const resolver = new StaticResolver({
    [domain]: { mx: [{ exchange: `mx.${domain}`, priority: 10 }] },
    [`mx.${domain}`]: { a: [server.host] },
  });
  return { server, resolver };
}

const mailReplies =
  (nullReply: string, otherReply = '250 2.1.0 Ok\r\n') =>
  (line: string): string[] => [line.startsWith('MAIL FROM:<>') ? nullReply : otherReply];

const engineWith = (port: number, probe: Partial<EngineOptions['probe']>): Partial<EngineOptions> => ({
  probe: {
    port,
    heloName: 'verifier.test',
    recheckSender: 'postmaster@verifier.test',
    sender: '',
    starttls: 'opportunistic',
    tlsVerify: false,
    catchAllTest: true,
    useVrfy: false,
    timeouts: {
      connect: 2000,
      greeting: 2000,
      ehlo: 2000,
      starttls: 2000,
      mail: 2000,
      rcpt: 2000,
      quit: 1000,
    },
    limits: { maxLineLength: 2048, maxLines: 100, maxReplyBytes: 32 * 1024, maxSessionBytes: 256 * 1024 },
    ...probe,
  },
});

describe('domain facts from refusals', () => {
  const aboutUs: [string, ScriptOptions][] = [
    [
      'Outlook S3140 at MAIL FROM:<>',
      {
        replies: {
          MAIL: [
            "550 5.7.1 Unfortunately, messages from [192.0.2.10] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140).\r\n",
          ],
        },
      },
    ],
    ['a bare refusal of every sender (re-checked)', { replies: { MAIL: ['550 Go away\r\n'] } }],
    [
      'our HELO name refused at RCPT',
      {
        replies: {
          RCPT: ['504 5.5.2 <verifier.test>: Helo command rejected: need fully-qualified hostname\r\n'],
        },
      },
    ],
    [
      'our HELO name refused at HELO',
      {
        replies: {
          EHLO: ['502 5.5.2 Error: command not recognized\r\n'],
          HELO: ['501 5.5.2 <verifier.test>: Helo command rejected: Host not found\r\n'],
        },
      },
    ],
    [
      'a block list at RCPT',
      { replies: { RCPT: ['554 Your IP 192.0.2.10 is blacklisted at bl.spamcop.net\r\n'] } },
    ],
  ];
  aboutUs.forEach(([name, script], i) => {
    it(`learns refuses_us, not null_sender_rejected, from ${name}`, async () => {
      const domain = `aboutus${i}.test`;
      const { server, resolver } = await mailDomain(domain, script);
      const { verifier } = testService(server.port, resolver);
      const first = await verifier.verify(`alice@${domain}`);
      assert.equal(first.reason, 'policy_rejected');
      assert.equal(first.result, 'unknown');
      const other = await verifier.verify(`bob@${domain}`);
      assert.equal(other.cache.fact, 'refuses_us');
      assert.equal(other.reason, 'policy_rejected');
      // A re-check needs the session open after MAIL, and a pipelined one has said QUIT:
      // it is asked again one command at a time (src/core/smtp/envelope.ts).
      assert.equal(server.sessions.length, name.includes('re-checked') ? 2 : 1);
    });
  });

  it('learns null_sender_rejected from a re-check, and the served verdict says on what evidence', async () => {
    const { server, resolver } = await mailDomain('nobounce.test', {
      replies: { MAIL: mailReplies('550 Go away\r\n') },
    });
    const { verifier } = testService(server.port, resolver);
    const first = await verifier.verify('alice@nobounce.test');
    assert.equal(first.rule, 'recheck.null-sender-only');
    const other = await verifier.verify('bob@nobounce.test');
    assert.equal(other.cache.fact, 'null_sender_rejected');
    assert.equal(other.reason, 'null_sender_rejected');
    assert.match(
      other.message,
      /on unambiguous evidence about the null sender \(rule recheck\.null-sender-only, "550 Go away"\)/,
    );
    assert.equal(server.sessions.length, 2, 'the pipelined session, then the re-check one command at a time');
  });

  it('does not learn null_sender_rejected from an ambiguous refusal with the re-check off', async () => {
    const { server, resolver } = await mailDomain('ambiguous.test', {
      replies: { MAIL: mailReplies('550 Go away\r\n') },
    });
    const { verifier } = testService(server.port, resolver, {
      engine: engineWith(server.port, { recheckSender: null }),
    });
    const first = await verifier.verify('alice@ambiguous.test');
    assert.equal(first.reason, 'policy_rejected');
    const other = await verifier.verify('bob@ambiguous.test');
    assert.notEqual(other.reason, 'null_sender_rejected');
    assert.notEqual(other.cache.fact, 'null_sender_rejected');
  });

  it('does not serve a null_sender_rejected fact learnt by an older table from ambiguous evidence', async () => {
    const { server, resolver } = await mailDomain('stale.test', {
      replies: {
        RCPT: (line) => [line.includes('<alice@') ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'],
      },
    });
    const cache = new MemoryCache(100);
    const now = Date.now();
    await cache.putDomainFact({
      domain: 'stale.test',
      kind: 'null_sender_rejected',
      storedAt: now,
      expiresAt: now + 86_400_000,
      verdict: {
        address: 'x@stale.test',
        domain: 'stale.test',
        result: 'undeliverable',
        reason: 'null_sender_rejected',
        temporary: false,
        rule: 'mail.null-sender-refused',
        message: 'MAIL FROM refused: 550 5.7.1 ... block list',
        mx: null,
        smtp: { stage: 'mail', code: 550, enhancedCode: '5.7.1', text: 'block list' },
        catchAllProbe: null,
        durationMs: 1,
        attempts: [],
        cache: { hit: false, fact: null, ageSeconds: null },
      },
    });
    const { verifier } = testService(server.port, resolver, { cache });
    const v = await verifier.verify('alice@stale.test');
    assert.equal(v.reason, 'accepted');
    assert.equal(server.sessions.length, 1);
  });

  it('counts a HELO refusal reported at RCPT as refused_helo in the statistics', () => {
    const attempt = {
      host: 'mx.x.test',
      ip: '192.0.2.1',
      reason: 'policy_rejected' as const,
      stage: 'rcpt' as const,
    };
    assert.ok(
      calloutCounters({
        reason: 'policy_rejected',
        attempts: [{ ...attempt, rule: 'rcpt.helo-refused' }],
      }).includes('refused_helo'),
    );
    assert.ok(
      calloutCounters({
        reason: 'policy_rejected',
        attempts: [{ ...attempt, rule: 'rcpt.about-client' }],
      }).includes('refused_rcpt_to'),
    );
  });
});
