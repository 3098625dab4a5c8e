/**
 * The policy server over real TCP (and a unix socket), in a real daemon,
 * verifying senders against scripted loopback SMTP servers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PolicyClient, encode, rcptRequest } from '../../support/policy-client.js';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';
import { startTestDaemon, type TestDaemon } from '../../support/daemon.js';

/** One scripted MX for every test domain: users alice and bob exist; greylists grey-*; accepts all for catchall-*. */
let mx: ScriptedServer;
/** At 127.0.0.2 on the same port: accepts every recipient, a real catch-all. */
let catchAll: ScriptedServer;
const daemons: TestDaemon[] = [];
const clients: PolicyClient[] = [];

before(async () => {
  mx = await startScriptedServer({
    replies: {
      RCPT: (line) => {
        if (line.includes('<grey'))
          return [
            '450 4.2.0 Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/x.html\r\n',
          ];
        if (line.includes('<catchall')) return ['250 2.1.5 Ok\r\n'];
        return [/<(alice|bob)@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'];
      },
    },
  });
  catchAll = await startScriptedServer({ host: '127.0.0.2', port: mx.port });
});
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(daemons.map((d) => d.stop()));
  await mx.close();
  await catchAll.close();
});

async function daemon(raw: Record<string, Record<string, unknown>> = {}): Promise<TestDaemon> {
  const d = await startTestDaemon({
    ...raw,
    verify: { allow_targets: ['127.0.0.0/8'], port: mx.port, ...(raw.verify ?? {}) },
  });
  daemons.push(d);
  return d;
}

async function client(d: TestDaemon): Promise<PolicyClient> {
  const c = await PolicyClient.open(d.policy);
  clients.push(c);
  return c;
}

/** Sender addresses at the scripted MX, by address literal: no DNS needed. */
const at = (local: string): string => `${local}@[127.0.0.1]`;

describe('policy protocol', () => {
  let d: TestDaemon;
  before(async () => {
    d = await daemon({
      policy: { listen: ['127.0.0.1:0'], idle_timeout: 0.5, max_line_length: 200, max_request_bytes: 2000 },
    });
  });

  it('answers many requests on one persistent connection', async () => {
    const c = await client(d);
    for (let i = 0; i < 30; i++) {
      assert.equal(await c.ask(rcptRequest({ sender: at('alice') })), 'action=DUNNO');
    }
    assert.equal(c.closed, false);
  });

  it('answers pipelined requests in order, one reply each', async () => {
    const c = await client(d);
    c.write(
      encode(rcptRequest({ sender: at('nobody') })) +
        encode(rcptRequest({ sender: at('alice') })) +
        encode(rcptRequest({ sender: '' })),
    );
    assert.match(await c.next(), /^action=550 5\.1\.7 <nobody@\[127\.0\.0\.1\]>: Sender address rejected: /);
    assert.equal(await c.next(), 'action=DUNNO');
    assert.equal(await c.next(), 'action=DUNNO');
  });

  it(
    'answers a malformed request DUNNO and ends the connection, deciding nothing sent after it',
    { timeout: 30_000 },
    async () => {
      // Each kind of malformed request: a line that is no attribute, an empty request, a
      // name with characters no attribute has, a line of binary.
      for (const [i, malformed] of [
        'request=smtpd_access_policy\nthis line is not an attribute\n\n',
        '\n',
        'request=smtpd_access_policy\nsen der=x@y\n\n',
        '\u0016\u0003\u0001\u0002\u0000\n\n',
      ].entries()) {
        const sessions = mx.sessions.length;
        const c = await client(d);
        // A well-formed request smuggled after it in the same segment, and one after the answer.
        c.write(malformed + encode(rcptRequest({ sender: at(`smuggled${i}`) })));
        assert.equal(await c.next(), 'action=DUNNO', JSON.stringify(malformed));
        c.write(encode(rcptRequest({ sender: at(`after${i}`) })));
        await c.whenClosed();
        assert.deepEqual(c.replies, [], 'nothing after the malformed request was answered');
        assert.equal(mx.sessions.length, sessions, 'nothing after the malformed request was decided');
      }
      // A well-behaved client on a new connection is served as ever.
      const c = await client(d);
      assert.equal(await c.ask({ request: 'something_else', sender: at('nobody') }), 'action=DUNNO');
      assert.equal(await c.ask(rcptRequest({ sender: at('alice') })), 'action=DUNNO');
    },
  );

  it('closes the connection on an oversized line', async () => {
    const c = await client(d);
    c.write(`request=smtpd_access_policy\nsender=${'x'.repeat(500)}`);
    await c.whenClosed();
  });

  it('closes the connection on an oversized request', async () => {
    const c = await client(d);
    c.write(Array.from({ length: 50 }, (_, i) => `attribute${i}=${'v'.repeat(60)}\n`).join(''));
    await c.whenClosed();
  });

  it('closes an idle connection', async () => {
    const c = await client(d);
    await c.whenClosed();
  });

  it('answers, then closes, a client that half-closes after its request (Exim readsocket)', async () => {
    const c = await client(d);
    // A sender not verified before: the answer waits for a callout, after the client's FIN.
    c.socket.end(encode(rcptRequest({ sender: at('half-closed') })));
    await c.whenClosed();
    assert.match(c.replies[0] ?? '', /^action=550 5\.1\.7 /);
  });

  it('ignores requests at other protocol states', async () => {
    const c = await client(d);
    assert.equal(await c.ask(rcptRequest({ protocol_state: 'DATA', sender: at('nobody') })), 'action=DUNNO');
    assert.equal(
      await c.ask(rcptRequest({ protocol_state: 'END-OF-MESSAGE', sender: at('nobody') })),
      'action=DUNNO',
    );
  });

  it('verifies at MAIL when called from smtpd_sender_restrictions with smtpd_delay_reject=no', async () => {
    const c = await client(d);
    assert.match(
      await c.ask(rcptRequest({ protocol_state: 'MAIL', recipient: '', sender: at('nobody') })),
      /^action=550 5\.1\.7 /,
    );
  });
});

describe('policy decisions', () => {
  it('rejects, defers and lets pass per the default decision table', async () => {
    const d = await daemon();
    const c = await client(d);
    assert.equal(
      await c.ask(rcptRequest({ sender: at('nobody') })),
      'action=550 5.1.7 <nobody@[127.0.0.1]>: Sender address rejected: the mail server for [127.0.0.1] says this mailbox does not exist',
    );
    assert.match(
      await c.ask(rcptRequest({ sender: at('grey') })),
      /^action=DEFER_IF_PERMIT 4\.1\.7 <grey@\[127\.0\.0\.1\]>: Sender address verification: .*greylisting/,
    );
    assert.equal(await c.ask(rcptRequest({ sender: 'anyone@[127.0.0.2]' })), 'action=DUNNO');
    assert.equal(
      await c.ask(rcptRequest({ sender: 'not an address' })),
      'action=550 5.1.7 Sender address rejected: this is not a valid mail address',
    );
    assert.match(
      await c.ask(rcptRequest({ sender: 'x@nonexistent.invalid' })),
      /^action=(550 5\.1\.8|DEFER_IF_PERMIT 4\.1\.8) /,
    );
  });

  it('never leaks the MX host name in a reply', async () => {
    const d = await daemon();
    const c = await client(d);
    const reply = await c.ask(rcptRequest({ sender: at('nobody') }));
    assert.ok(!/verifier\.test|test\.example/.test(reply), reply);
  });

  it('verifies a sender once per message, however many recipients', async () => {
    const d = await daemon();
    const c = await client(d);
    const before = mx.sessions.length;
    for (const rcpt of ['r1@local.test', 'r2@local.test', 'r3@local.test']) {
      assert.equal(
        await c.ask(rcptRequest({ sender: at('bob'), instance: 'msg.1', recipient: rcpt })),
        'action=DUNNO',
      );
    }
    assert.equal(mx.sessions.length - before, 1);
  });

  const skips: [string, Record<string, string>, Record<string, Record<string, unknown>>][] = [
    ['the null sender (bounces)', { sender: '' }, {}],
    ['a SASL-authenticated client', { sasl_username: 'alice', sasl_method: 'PLAIN' }, {}],
    [
      'a client in skip_client_cidrs',
      { client_address: '192.0.2.77' },
      { policy: { listen: ['127.0.0.1:0'], skip_client_cidrs: ['192.0.2.0/24'] } },
    ],
    [
      'a client in skip_client_cidrs written IPv4-mapped (::ffff:192.0.2.0/120)',
      { client_address: '192.0.2.77' },
      { policy: { listen: ['127.0.0.1:0'], skip_client_cidrs: ['::ffff:192.0.2.0/120'] } },
    ],
    [
      'a client Postfix reports IPv4-mapped, in a plain IPv4 skip_client_cidrs entry',
      { client_address: '::ffff:192.0.2.77' },
      { policy: { listen: ['127.0.0.1:0'], skip_client_cidrs: ['192.0.2.77'] } },
    ],
    [
      'an allow-listed sender address',
      {},
      { policy: { listen: ['127.0.0.1:0'], allow_senders: ['nobody@[127.0.0.1]'] } },
    ],
  ];
  for (const [name, attrs, raw] of skips) {
    it(`does not verify ${name}`, async () => {
      const d = await daemon(raw);
      const c = await client(d);
      const before = mx.sessions.length;
      assert.equal(await c.ask(rcptRequest({ sender: at('nobody'), ...attrs })), 'action=DUNNO');
      assert.equal(mx.sessions.length, before, 'no callout');
      const today = new Date().toISOString().slice(0, 10);
      assert.equal((await d.service.verifier.stats.sum(today, today)).skips, 1);
    });
  }

  it('does not verify senders of its own local domains', async () => {
    const d = await daemon({ policy: { listen: ['127.0.0.1:0'], local_domains: ['local.test'] } });
    const c = await client(d);
    assert.equal(await c.ask(rcptRequest({ sender: 'nobody@mail.local.test' })), 'action=DUNNO');
  });

  it('in warn mode never rejects: WARN, or PREPEND when the header is on', async () => {
    const warn = await client(await daemon({ policy: { listen: ['127.0.0.1:0'], mode: 'warn' } }));
    assert.match(
      await warn.ask(rcptRequest({ sender: at('nobody') })),
      /^action=WARN cbv would have replied: 550 5\.1\.7 /,
    );
    const prepend = await client(
      await daemon({ policy: { listen: ['127.0.0.1:0'], mode: 'warn', prepend_header: true } }),
    );
    assert.equal(
      await prepend.ask(rcptRequest({ sender: at('nobody') })),
      'action=PREPEND X-Sender-Verification: would reject; undeliverable; reason=user_unknown; rule=rcpt.bad-mailbox; sender=<nobody@[127.0.0.1]>',
    );
  });

  it('prepends the verdict on accepted mail once per message', async () => {
    const c = await client(await daemon({ policy: { listen: ['127.0.0.1:0'], prepend_header: true } }));
    assert.equal(
      await c.ask(rcptRequest({ sender: at('alice'), instance: 'm.2' })),
      'action=PREPEND X-Sender-Verification: deliverable; reason=accepted; rule=rcpt.2xx; sender=<alice@[127.0.0.1]>',
    );
    assert.equal(
      await c.ask(rcptRequest({ sender: at('alice'), instance: 'm.2', recipient: 'other@local.test' })),
      'action=DUNNO',
    );
  });

  it('at DATA gives only a header field the message still owes, once; never at END-OF-MESSAGE', async () => {
    // relay.test is routed to the scripted MX: call-forward refuses nobody@relay.test there.
    const c = await client(
      await daemon({
        policy: { listen: ['127.0.0.1:0'], prepend_header: true },
        service: { routes: { 'relay.test': `127.0.0.1:${mx.port}` } },
      }),
    );
    const header =
      'action=PREPEND X-Sender-Verification: deliverable; reason=accepted; rule=rcpt.2xx; sender=<alice@[127.0.0.1]>';
    const data = (instance: string, state = 'DATA') =>
      rcptRequest({
        sender: at('alice'),
        instance,
        protocol_state: state,
        recipient: '',
        recipient_count: '1',
      });
    // Given at RCPT: nothing left for DATA.
    assert.equal(await c.ask(rcptRequest({ sender: at('alice'), instance: 'd.1' })), header);
    assert.equal(await c.ask(data('d.1')), 'action=DUNNO');
    // The only recipient cbv saw was refused by call-forward (another check accepted the next one):
    // the header goes out at DATA (or the first BDAT), once.
    assert.match(
      await c.ask(rcptRequest({ sender: at('alice'), instance: 'd.2', recipient: 'nobody@relay.test' })),
      /^action=550 5\.1\.1 /,
    );
    assert.equal(await c.ask(data('d.2', 'BDAT')), header);
    assert.equal(await c.ask(data('d.2')), 'action=DUNNO');
    // PREPEND cannot execute after the content (access(5)): END-OF-MESSAGE never gets one.
    assert.match(
      await c.ask(rcptRequest({ sender: at('alice'), instance: 'd.3', recipient: 'nobody@relay.test' })),
      /^action=550 /,
    );
    assert.equal(await c.ask(data('d.3', 'END-OF-MESSAGE')), 'action=DUNNO');
    // A message cbv was never asked about at RCPT: no lookup, no callout, no opinion.
    const sessions = mx.sessions.length;
    assert.equal(await c.ask(data('d.4')), 'action=DUNNO');
    assert.equal(mx.sessions.length, sessions);
  });

  it('at DATA says nothing for a sender it rejected', async () => {
    const c = await client(await daemon({ policy: { listen: ['127.0.0.1:0'], prepend_header: true } }));
    assert.match(await c.ask(rcptRequest({ sender: at('nobody'), instance: 'r.1' })), /^action=550 5\.1\.7 /);
    assert.equal(
      await c.ask(
        rcptRequest({ sender: at('nobody'), instance: 'r.1', protocol_state: 'DATA', recipient: '' }),
      ),
      'action=DUNNO',
    );
  });

  it('follows a changed decision table', async () => {
    const c = await client(
      await daemon({
        policy: { listen: ['127.0.0.1:0'], decisions: { user_unknown: 'defer', catch_all: 'reject' } },
      }),
    );
    assert.match(await c.ask(rcptRequest({ sender: at('nobody') })), /^action=DEFER_IF_PERMIT 4\.1\.7 /);
    assert.match(await c.ask(rcptRequest({ sender: 'anyone@[127.0.0.2]' })), /^action=550 5\.1\.7 /);
  });

  it('answers pending (deferred) when the callout outlasts the inline budget', async () => {
    const slow = await startScriptedServer({ greeting: [{ delay: 800 }, '220 slow\r\n'] });
    try {
      const d = await daemon({
        verify: { allow_targets: ['127.0.0.0/8'], port: slow.port },
        service: { inline_budget: 0.2 },
      });
      const c = await client(d);
      assert.match(
        await c.ask(rcptRequest({ sender: at('alice') })),
        /^action=DEFER_IF_PERMIT 4\.1\.7 .*verification in progress/,
      );
    } finally {
      await slow.close();
    }
  });

  it('answers the fail-safe action, never a 5xx, when the service fails inside', async () => {
    const d = await daemon({
      cache: { backend: 'sqlite', path: join(mkdtempSync(join(tmpdir(), 'cbv-fs-')), 'c.sqlite') },
    });
    const c = await client(d);
    await d.service.stores.close(); // the cache's database is gone: every lookup throws
    assert.equal(await c.ask(rcptRequest({ sender: at('nobody') })), 'action=DUNNO');
    const strict = await daemon({
      policy: { listen: ['127.0.0.1:0'], fail_safe: 'DEFER_IF_PERMIT' },
      cache: { backend: 'sqlite', path: join(mkdtempSync(join(tmpdir(), 'cbv-fs-')), 'c.sqlite') },
    });
    const c2 = await client(strict);
    await strict.service.stores.close();
    assert.equal(
      await c2.ask(rcptRequest({ sender: at('nobody') })),
      'action=DEFER_IF_PERMIT 4.3.0 address verification is temporarily unavailable; please try again later',
    );
  });
});

describe('policy_context (Postfix 3.1+)', () => {
  it('policy_context=sender checks only the sender, with text that Postfix wraps itself', async () => {
    const d = await daemon({ service: { routes: { 'relay.test': `127.0.0.1:${mx.port}` } } });
    const c = await client(d);
    assert.equal(
      await c.ask(rcptRequest({ sender: at('nobody'), policy_context: 'sender' })),
      'action=550 5.1.7 the mail server for [127.0.0.1] says this mailbox does not exist',
    );
    assert.equal(
      await c.ask(
        rcptRequest({ sender: at('alice'), recipient: 'ghost@relay.test', policy_context: 'sender' }),
      ),
      'action=DUNNO',
    );
    assert.match(
      await c.ask(rcptRequest({ sender: at('grey'), policy_context: 'sender' })),
      /^action=DEFER_IF_PERMIT 4\.1\.7 sender address verification: .*greylisting/,
    );
  });

  it('policy_context=recipient checks only call-forward, never the sender', async () => {
    const d = await daemon({ service: { routes: { 'relay.test': `127.0.0.1:${mx.port}` } } });
    const c = await client(d);
    const before = mx.sessions.length;
    assert.equal(
      await c.ask(
        rcptRequest({
          sender: at('never-checked'),
          recipient: 'bob@relay.test',
          policy_context: 'recipient',
        }),
      ),
      'action=DUNNO',
    );
    assert.equal(
      await c.ask(
        rcptRequest({
          sender: at('never-checked'),
          recipient: 'ghost@relay.test',
          policy_context: 'recipient',
        }),
      ),
      'action=550 5.1.1 the mail server for relay.test says this mailbox does not exist',
    );
    assert.equal(mx.sessions.length - before, 2, 'two recipient callouts, no sender callout');
  });
});

describe('call-forward recipient verification', () => {
  it('rejects unknown recipients at a routed relay domain and accepts known ones', async () => {
    const d = await daemon({ service: { routes: { 'relay.test': `127.0.0.1:${mx.port}` } } });
    const c = await client(d);
    assert.equal(
      await c.ask(rcptRequest({ sender: '', recipient: 'ghost@relay.test' })),
      'action=550 5.1.1 <ghost@relay.test>: Recipient address rejected: the mail server for relay.test says this mailbox does not exist',
    );
    assert.equal(await c.ask(rcptRequest({ sender: '', recipient: 'bob@relay.test' })), 'action=DUNNO');
    assert.equal(await c.ask(rcptRequest({ sender: '', recipient: 'ghost@elsewhere.test' })), 'action=DUNNO');
  });
});

describe('unix socket', () => {
  it('serves the same protocol on a unix socket', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'cbv-sock-')), 'cbv.sock');
    await daemon({ policy: { listen: ['127.0.0.1:0'], unix_socket: path } });
    const c = await PolicyClient.open({ path });
    clients.push(c);
    assert.match(await c.ask(rcptRequest({ sender: at('nobody') })), /^action=550 /);
  });
});
