/**
 * cbv as the policy server of a real receiving Postfix (Debian's), driven by swaks. The sender
 * domains live in the bed's Unbound; their mail exchangers are the bed's real Postfix listeners.
 *
 * One receiving Postfix with one smtpd listener per cbv daemon it asks: `enforce` (the main.cf
 * lines of docs/postfix.md, read from that file), `warn` (a daemon in warn mode), `down` (a daemon
 * this file stops), `unix` (over a unix socket) and `header` (prepend_header, a single entry).
 * The client connects from 127.0.3.1, outside mynetworks, like a stranger would.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { smtpDialogue } from '../support/smtp-dialogue.js';
import {
  NAMES,
  postfixProblems,
  SRS_USER,
  startMailTestbed,
  startReceivingPostfix,
  swaks,
  type MailTestbed,
  type ReceivingPostfix,
  type SwaksResult,
} from '../support/testbed/index.js';
import { sleep } from '../support/testbed/process.js';
import { logSince } from '../support/testbed/log-since.js';

const CLIENT = '127.0.3.1';
const RCPT = 'rcpt@inbox.test';
/** A second mailbox of the receiving Postfix, for messages with two accepted recipients. */
const SECOND = 'second@inbox.test';
const RELAY_DOMAIN = 'relay.test';
const SASL_USER = { user: 'carol', password: 'cbv-test-password' };

/** The policy service as docs/postfix.md names it; each listener puts its own daemon there. */
const DOCUMENTED_SERVICE = 'inet:127.0.0.1:10040';

/**
 * The restriction lists exactly as the main.cf block of docs/postfix.md gives them (the first
 * fenced block after "## main.cf"): what an administrator copies is what Postfix runs here.
 */
function documentedRestrictions(): Record<
  'smtpd_sender_restrictions' | 'smtpd_recipient_restrictions' | 'smtpd_data_restrictions',
  string
> {
  const doc = readFileSync(new URL('../../docs/postfix.md', import.meta.url), 'utf8');
  const block = /^## main\.cf\n[\s\S]*?^```\n([\s\S]*?)^```$/m.exec(doc)?.[1] ?? '';
  const lists: Record<string, string> = {};
  for (const m of block.matchAll(/^(\w+) =\n((?:[ \t]+\S.*\n)+)/gm))
    lists[m[1] ?? ''] = (m[2] ?? '').trimEnd();
  const sender = lists.smtpd_sender_restrictions;
  const recipient = lists.smtpd_recipient_restrictions;
  const data = lists.smtpd_data_restrictions;
  if (![sender, recipient, data].every((list) => list?.includes(DOCUMENTED_SERVICE)))
    throw new Error(
      `docs/postfix.md: no main.cf block with the sender, recipient and data lists naming ${DOCUMENTED_SERVICE}`,
    );
  return {
    smtpd_sender_restrictions: sender ?? '',
    smtpd_recipient_restrictions: recipient ?? '',
    smtpd_data_restrictions: data ?? '',
  };
}

/** The documented lists asking `policy`, with policy_context=sender and =recipient, and at DATA. */
function restrictionsWithContext(policy: string): {
  senderRestrictions: string;
  recipientRestrictions: string;
  dataRestrictions: string;
} {
  const lists = documentedRestrictions();
  return {
    senderRestrictions: lists.smtpd_sender_restrictions.replace(DOCUMENTED_SERVICE, policy),
    recipientRestrictions: lists.smtpd_recipient_restrictions.replace(DOCUMENTED_SERVICE, policy),
    dataRestrictions: lists.smtpd_data_restrictions.replace(DOCUMENTED_SERVICE, policy),
  };
}

/**
 * The warn-mode log line docs/postfix.md shows, as a pattern: the page writes `postfix/smtpd[...]`
 * where the test's Postfix logs `postfix/warn/smtpd[PID]` (one syslog name per listener).
 */
function documentedWarnLine(): RegExp {
  const doc = readFileSync(new URL('../../docs/postfix.md', import.meta.url), 'utf8');
  const line = doc.split('\n').find((l) => /NOQUEUE: warn: .*cbv would have replied/.test(l));
  if (!line) throw new Error('docs/postfix.md: no warn-mode log line');
  const [head, rest] = line.trim().split('postfix/smtpd[...]: ');
  assert.equal(head, '', 'the line starts with postfix/smtpd[...]');
  return new RegExp(
    `postfix/warn/smtpd\\[\\d+\\]: ${(rest ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`,
    'm',
  );
}

/**
 * The single-entry variant docs/postfix.md describes: its recipient list without
 * policy_context, so that cbv checks both the sender and call-forward there.
 */
function restrictions(policy: string): string {
  return restrictionsWithContext(policy).recipientRestrictions.replace(', policy_context=recipient', '');
}

/** The unix-socket variant: a path relative to the queue directory (inside the chroot, if any). */
const UNIX_POLICY = 'cbv/policy';

type Listener = 'enforce' | 'warn' | 'down' | 'unix' | 'header';
/** Sections of a cbv configuration, as startTestDaemon takes them. */
type DaemonConfig = Record<string, Record<string, unknown>>;
let bed: MailTestbed;
let mta: ReceivingPostfix;
const cbv: Partial<Record<Listener, TestDaemon>> = {};

before(
  async () => {
    bed = await startMailTestbed();
    await startDaemons();
    mta = await startReceivingPostfix({
      listeners: [
        {
          name: 'enforce',
          ip: '127.0.2.1',
          ...restrictionsWithContext(`inet:127.0.0.1:${daemon('enforce').policy.port}`),
        },
        // warn mode with the recommended lists (policy_context), as docs/postfix.md's rollout has it.
        {
          name: 'warn',
          ip: '127.0.2.2',
          ...restrictionsWithContext(`inet:127.0.0.1:${daemon('warn').policy.port}`),
        },
        ...(['down', 'header'] as const).map((name, i) => ({
          name,
          ip: `127.0.2.${[3, 5][i]}`,
          recipientRestrictions: restrictions(`inet:127.0.0.1:${daemon(name).policy.port}`),
          // The documented DATA-stage entry: where a message's second header field goes out.
          ...(name === 'header'
            ? {
                dataRestrictions: restrictionsWithContext(`inet:127.0.0.1:${daemon(name).policy.port}`)
                  .dataRestrictions,
              }
            : {}),
        })),
        {
          name: 'unix',
          ip: '127.0.2.4',
          recipientRestrictions: restrictions(`unix:${UNIX_POLICY}`),
        },
      ],
      mailDomain: 'inbox.test',
      mailboxes: ['rcpt', 'second'],
      relay: { domain: RELAY_DOMAIN, nexthop: `${bed.ip.rejecting}:${bed.smtpPort}` },
      saslUsers: [SASL_USER],
      mynetworks: '127.0.0.1/32',
    });
    // smtpd connects only when asked, so the daemon on the unix socket may come up after Postfix.
    await mkdir(join(mta.postfix.queueDir, 'cbv'));
    const socket = join(mta.postfix.queueDir, UNIX_POLICY);
    cbv.unix = await startTestDaemon({
      ...common(),
      // 0660 and the group postfix, as Postfix's own private/ sockets: smtpd (user postfix) may connect.
      policy: { listen: ['127.0.0.1:0'], unix_socket: socket, unix_socket_group: 'postfix' },
    });
  },
  { timeout: 60_000 },
);

/** What every cbv daemon here shares: the bed's resolver and SMTP port. */
function common(): DaemonConfig {
  return {
    dns: { servers: [bed.dns.server], query_timeout: 2 },
    verify: { port: bed.smtpPort, allow_targets: ['127.0.0.0/8'], helo_name: 'verifier.test' },
  };
}

/** The daemons on TCP: enforce (with a route and an allow-list), warn, and one to stop. */
async function startDaemons(): Promise<void> {
  const route = { [RELAY_DOMAIN]: `${bed.ip.rejecting}:${bed.smtpPort}` };
  const configs: Record<'enforce' | 'warn' | 'down' | 'header', DaemonConfig> = {
    enforce: {
      ...common(),
      service: { routes: route },
      // bücher.test, listed as its A-label: its senders are local however they write the domain.
      policy: { listen: ['127.0.0.1:0'], allow_senders: [`ghost@${NAMES.ok}`], local_domains: [NAMES.idn] },
    },
    warn: { ...common(), policy: { listen: ['127.0.0.1:0'], mode: 'warn' } },
    down: common(),
    // Both header fields: Received-SPF (ok.test publishes no SPF: `none`) and the verdict header.
    header: {
      ...common(),
      service: { routes: route },
      policy: { listen: ['127.0.0.1:0'], prepend_header: true },
      spf: { received_spf_header: true },
    },
  };
  // Each is recorded as it comes up, so that after() stops it even if another failed.
  await Promise.all(
    Object.entries(configs).map(async ([name, config]) => {
      cbv[name as Listener] = await startTestDaemon(config);
    }),
  );
}

after(async () => {
  // Whatever did start is stopped, whichever step failed; cbv first (one has its socket in
  // Postfix's queue directory), then Postfix, then the bed its callouts went to.
  await Promise.allSettled(Object.values(cbv).map((d) => d.stop()));
  await Promise.allSettled([(mta as ReceivingPostfix | undefined)?.stop()]);
  await (bed as MailTestbed | undefined)?.stop();
});

function daemon(name: Listener): TestDaemon {
  const d = cbv[name];
  if (d === undefined) throw new Error(`cbv (${name}) did not start`);
  return d;
}

type Sent = SwaksResult & { id: string };

/** One whole message (or up to quitAfter) from CLIENT through a listener of the receiving Postfix. */
async function send(
  listener: Listener,
  from: string,
  options: { to?: string; auth?: boolean; quitAfter?: string } = {},
): Promise<Sent> {
  const id = `X-Cbv-Test: ${randomUUID()}`;
  const result = await swaks({
    server: mta.at(listener),
    from,
    to: options.to ?? RCPT,
    localAddress: CLIENT,
    headers: [id],
    quitAfter: options.quitAfter ?? '',
    ...(options.auth ? { auth: SASL_USER } : {}),
  });
  return { ...result, id };
}

/** The message went through and lies in the mailbox, with the sender as its Return-Path. */
async function assertDelivered(sent: Sent, from: string): Promise<void> {
  assert.equal(sent.reply('RCPT')?.code, 250, sent.output);
  assert.equal(sent.reply('.')?.code, 250, sent.output);
  const message = await mta.delivered('rcpt', sent.id);
  const tail = (await mta.log()).split('\n').slice(-20).join('\n');
  assert.ok(message !== undefined, `message not delivered\n${tail}`);
  assert.ok(message.startsWith(`Return-Path: <${from}>\n`), message);
}

/** Polls `read` until `done` holds for its value or the deadline passes; returns the last value. */
async function waitFor<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(50);
  }
}

const counters = (name: Listener) => daemon(name).service.verifier.stats.sum('0000', '9999');
const remoteLog = () => logSince(bed.postfix.postfix.logFile);
const localLog = () => logSince(mta.postfix.logFile);
/** A session opened at the bed's rejecting listener (the MX of ok.test, and relay.test's internal host). */
const calloutToOk = /postfix\/rejecting\/smtpd\[\d+\]: connect from /;

describe('Postfix asking cbv through check_policy_service', { timeout: 120_000 }, () => {
  it('accepts a sender whose mailbox exists and delivers the message', async () => {
    await assertDelivered(await send('enforce', `alice@${NAMES.ok}`), `alice@${NAMES.ok}`);
  });

  it('rejects a sender whose mailbox does not exist with 550 at RCPT; no bounce anywhere', async () => {
    const [remote, local] = [await remoteLog(), await localLog()];
    const sent = await send('enforce', `nobody@${NAMES.ok}`);
    const rcpt = sent.reply('RCPT');
    assert.equal(rcpt?.code, 550, sent.output);
    // From smtpd_sender_restrictions with policy_context=sender, Postfix puts "<sender>: Sender
    // address rejected: " before cbv's text and keeps the sender DSN 5.1.7.
    assert.equal(
      rcpt.lines[0],
      '5.1.7 <nobody@ok.test>: Sender address rejected: the mail server for ok.test says this mailbox does not exist',
    );
    assert.equal(sent.reply('DATA'), undefined, 'swaks never got as far as DATA');
    // The callout at the sender's MX: MAIL FROM:<>, RCPT refused, the session closed without DATA.
    const session = /reject: RCPT from .* from=<> to=<nobody@ok\.test>[\s\S]*disconnect from .*/;
    const text = await waitFor(remote, (t) => session.test(t));
    const disconnects = text.split('\n').filter((l) => /postfix\/rejecting\/smtpd.*disconnect from/.test(l));
    assert.ok(session.test(text) && disconnects.length > 0, text);
    for (const line of disconnects) assert.doesNotMatch(line, /\bdata=/);
    // Nothing was queued at the receiving Postfix, so there is nothing to bounce.
    assert.deepEqual(
      await waitFor(
        () => mta.queued(),
        (q) => q.length === 0,
      ),
      [],
    );
    const rejected = /NOQUEUE: reject: RCPT from unknown\[127\.0\.3\.1\]: 550 5\.1\.7 /;
    const logged = await local(rejected);
    assert.match(logged, rejected);
    assert.doesNotMatch(logged, /mapping DSN status/);
    assert.doesNotMatch(logged, /postfix\/bounce|sender non-delivery notification/);
  });

  it('defers a sender whose MX greylists (450 at RCPT)', async () => {
    const sent = await send('enforce', `alice@${NAMES.grey}`);
    const rcpt = sent.reply('RCPT');
    assert.equal(rcpt?.code, 450, sent.output);
    assert.equal(
      rcpt.lines[0],
      '4.1.7 <alice@grey.test>: Sender address rejected: sender address verification: the mail server for grey.test is greylisting our verification; please try again later',
    );
  });

  it('accepts a sender at a catch-all domain', async () => {
    await assertDelivered(await send('enforce', `whoever@${NAMES.catchall}`), `whoever@${NAMES.catchall}`);
  });

  it('does not verify an allow-listed sender (policy.allow_senders): a skip, no callout', async () => {
    const [remote, before] = [await remoteLog(), await counters('enforce')];
    // No such mailbox: verified, it would be rejected.
    await assertDelivered(await send('enforce', `ghost@${NAMES.ok}`), `ghost@${NAMES.ok}`);
    const now = await counters('enforce');
    assert.equal((now.skips ?? 0) - (before.skips ?? 0), 1);
    assert.equal(now.callouts, before.callouts);
    assert.doesNotMatch(await remote(), calloutToOk);
  });

  it('does not verify a SASL-authenticated sender: Postfix permits it before asking cbv', async () => {
    const [remote, local, before] = [await remoteLog(), await localLog(), await counters('enforce')];
    const sent = await send('enforce', `stranger@${NAMES.ok}`, { auth: true });
    assert.equal(sent.reply('AUTH')?.code, 235, sent.output);
    await assertDelivered(sent, `stranger@${NAMES.ok}`);
    assert.equal((await counters('enforce')).requests, before.requests, 'cbv was not asked');
    assert.doesNotMatch(await remote(), calloutToOk);
    assert.match(
      await local(/sasl_method=PLAIN, sasl_username=carol@inbox\.test/),
      /sasl_method=PLAIN, sasl_username=carol@inbox\.test/,
    );
  });

  it('in warn mode accepts the unknown sender, and Postfix logs the line docs/postfix.md shows', async () => {
    const local = await localLog();
    await assertDelivered(await send('warn', `nobody@${NAMES.ok}`), `nobody@${NAMES.ok}`);
    assert.match(await local(documentedWarnLine()), documentedWarnLine());
  });

  it('with cbv stopped, Postfix applies default_action=DUNNO and the mail flows', async () => {
    const first = await send('down', `nobody@${NAMES.ok}`);
    assert.equal(first.reply('RCPT')?.code, 550, first.output);
    await daemon('down').stop();
    const local = await localLog();
    await assertDelivered(await send('down', `nobody@${NAMES.ok}`), `nobody@${NAMES.ok}`);
    const port = daemon('down').policy.port;
    // smtpd_policy_service_try_limit 2, retry_delay 1 s: the refused connection is the cause
    // (about a second), not the 30 s timeout; the log says which, so no clock is read.
    const problem = new RegExp(`warning: problem talking to server 127\\.0\\.0\\.1:${port}`);
    const log = await local(problem);
    assert.match(log, new RegExp(`127\\.0\\.0\\.1:${port}: Connection refused`));
    assert.match(log, problem);
    assert.doesNotMatch(log, new RegExp(`127\\.0\\.0\\.1:${port}[^\\n]*(timeout|timed out)`, 'i'));
  });

  it('call-forward: an unknown recipient at a relay domain gets 550 5.1.1, a known one is relayed', async () => {
    const from = `alice@${NAMES.ok}`;
    const unknown = await send('enforce', from, { to: `nobody@${RELAY_DOMAIN}`, quitAfter: 'RCPT' });
    const rcpt = unknown.reply('RCPT');
    assert.equal(rcpt?.code, 550, unknown.output);
    assert.equal(
      rcpt.lines[0],
      '5.1.1 <nobody@relay.test>: Recipient address rejected: the mail server for relay.test says this mailbox does not exist',
    );
    const remote = await remoteLog();
    const known = await send('enforce', from, { to: `alice@${RELAY_DOMAIN}` });
    assert.equal(known.reply('RCPT')?.code, 250, known.output);
    assert.equal(known.reply('.')?.code, 250, known.output);
    // Relayed to the internal host (the bed's rejecting listener), which took it in.
    const taken = /postfix\/discard\[\d+\]: .*to=<alice@relay\.test>.*status=sent/;
    assert.match(await waitFor(remote, (t) => taken.test(t), 10_000), taken);
  });

  it('works over a unix socket below the Postfix queue directory (check_policy_service unix:...)', async () => {
    const sent = await send('unix', `nobody@${NAMES.ok}`);
    assert.equal(sent.reply('RCPT')?.code, 550, sent.output);
    assert.match(sent.reply('RCPT')?.lines[0] ?? '', /<nobody@ok\.test>: Sender address rejected: /);
    await assertDelivered(await send('unix', `alice@${NAMES.ok}`), `alice@${NAMES.ok}`);
  });

  it('the recipe rejects an unknown local recipient with 550 whatever the sender, greylisted included (was 450)', async () => {
    const before = await counters('enforce');
    for (const from of [`alice@${NAMES.grey}`, `nobody@${NAMES.ok}`, `alice@${NAMES.ok}`]) {
      const sent = await send('enforce', from, { to: 'nobody@inbox.test', quitAfter: 'RCPT' });
      const rcpt = sent.reply('RCPT');
      assert.equal(rcpt?.code, 550, sent.output);
      assert.match(
        rcpt.lines[0] ?? '',
        /^5\.1\.1 <nobody@inbox\.test>: Recipient address rejected: User unknown/,
        sent.output,
      );
    }
    // Refused before cbv is asked: an unknown recipient costs no callout.
    assert.equal((await counters('enforce')).requests, before.requests);
    // The greylisted sender writing to a mailbox that exists is still deferred.
    const known = await send('enforce', `alice@${NAMES.grey}`, { quitAfter: 'RCPT' });
    assert.equal(known.reply('RCPT')?.code, 450, known.output);
  });

  it("verifies a forwarder's SRS sender, 68 octets of local part, that its MX accepts (was 550 invalid_syntax)", async () => {
    const from = `${SRS_USER}@${NAMES.ok}`;
    await assertDelivered(await send('enforce', from), from);
    // Verified, not waved through: the same shape of sender that its MX does not know is refused.
    const unknown = await send('enforce', `${SRS_USER.replace('firstname', 'otherperson')}@${NAMES.ok}`);
    assert.equal(unknown.reply('RCPT')?.code, 550, unknown.output);
    assert.match(
      unknown.reply('RCPT')?.lines[0] ?? '',
      /^5\.1\.7 <SRS0=.*@ok\.test>: Sender address rejected: the mail server for ok\.test says this mailbox does not exist$/,
    );
  });

  it('lets through, without a callout, a sender at an IPv4 literal with a leading zero, which Postfix accepts (was 550 invalid_syntax)', async () => {
    const before = await counters('enforce');
    for (const from of ['nobody@[192.0.2.010]', 'nobody@[198.051.100.7]']) {
      const sent = await send('enforce', from, { quitAfter: 'RCPT' });
      assert.equal(sent.reply('MAIL')?.code, 250, sent.output);
      assert.equal(sent.reply('RCPT')?.code, 250, sent.output);
    }
    const after = await counters('enforce');
    assert.equal(after.callouts ?? 0, before.callouts ?? 0, 'no callout');
    assert.equal((after['reason.unverifiable'] ?? 0) - (before['reason.unverifiable'] ?? 0), 2);
  });

  it('knows a sender at a local domain written in UTF-8 (SMTPUTF8) when the list holds its A-label (was a callout and 550)', async () => {
    const [remote, before] = [await remoteLog(), await counters('enforce')];
    const id = `X-Cbv-Test: ${randomUUID()}`;
    const replies = await smtpDialogue(
      mta.at('enforce'),
      [
        'EHLO client.test',
        `MAIL FROM:<nobody@${NAMES.idnUnicode}> SMTPUTF8`,
        `RCPT TO:<${RCPT}>`,
        'DATA',
        `${id}\r\nSubject: from a local domain in UTF-8\r\n\r\nbody\r\n.`,
        'QUIT',
      ],
      { localAddress: CLIENT },
    );
    assert.deepEqual(
      replies.map((r) => [r.command, r.code]),
      [
        ['', 220],
        ['EHLO', 250],
        ['MAIL', 250],
        ['RCPT', 250],
        ['DATA', 354],
        ['.', 250],
        ['QUIT', 221],
      ],
    );
    assert.ok(await mta.delivered('rcpt', id), 'delivered');
    // And in its A-label form, through swaks.
    await assertDelivered(await send('enforce', `nobody@${NAMES.idn}`), `nobody@${NAMES.idn}`);
    const now = await counters('enforce');
    assert.equal((now.skips ?? 0) - (before.skips ?? 0), 2, 'two skips: local domain');
    assert.equal(now.callouts, before.callouts, 'no callout');
    assert.doesNotMatch(await remote(), calloutToOk);
  });

  /** The message's Received-SPF and verdict header lines, in the order Postfix wrote them. */
  function cbvFields(message: string): string[] {
    const header = message.split('\n\n')[0] ?? '';
    return header.split('\n').filter((line) => /^(Received-SPF|X-Sender-Verification):/.test(line));
  }
  const BOTH = [
    /^Received-SPF: none \(verifier\.test: .*\) client-ip=127\.0\.3\.1; envelope-from="alice@ok\.test"; helo=client\.test; receiver=verifier\.test; identity=mailfrom$/,
    /^X-Sender-Verification: deliverable; reason=accepted; rule=rcpt\.2xx; sender=<alice@ok\.test>$/,
  ];
  function assertBothOnce(message: string | undefined, context: string): void {
    assert.ok(message !== undefined, `delivered (${context})`);
    const fields = cbvFields(message);
    assert.equal(fields.length, 2, `${context}: ${fields.join(' | ')}`);
    fields.forEach((field, i) => assert.match(field, BOTH[i] ?? /^$/, context));
  }

  const orders: [string, string[]][] = [
    ['one recipient: the second field at DATA', [RCPT]],
    ['two accepted recipients', [RCPT, SECOND]],
    ['refused by cbv first, accepted next', [`nobody@${RELAY_DOMAIN}`, RCPT]],
    ['accepted first, refused by cbv next', [RCPT, `nobody@${RELAY_DOMAIN}`]],
    ['refused by Postfix first, accepted next', ['nobody@inbox.test', RCPT]],
  ];
  for (const [order, recipients] of orders) {
    it(`prepend_header and Received-SPF: both header fields once per accepted message (${order})`, async () => {
      const id = `X-Cbv-Test: ${randomUUID()}`;
      const replies = await smtpDialogue(
        mta.at('header'),
        [
          'EHLO client.test',
          `MAIL FROM:<alice@${NAMES.ok}>`,
          ...recipients.map((r) => `RCPT TO:<${r}>`),
          'DATA',
          `${id}\r\nSubject: two header fields\r\n\r\nbody\r\n.`,
          'QUIT',
        ],
        { localAddress: CLIENT },
      );
      const rcpt = replies.filter((r) => r.command === 'RCPT').map((r) => r.code);
      const accepted: string[] = recipients.filter((r) => r === RCPT || r === SECOND);
      assert.deepEqual(
        rcpt,
        recipients.map((r) => (accepted.includes(r) ? 250 : 550)),
        JSON.stringify(replies),
      );
      for (const r of accepted) {
        const box = r.split('@')[0] ?? '';
        assertBothOnce(await mta.delivered(box, id), `${order}, mailbox ${box}`);
      }
    });
  }

  it('prepend_header and Received-SPF: both once when the client sends BDAT (CHUNKING), which Postfix asks about as DATA', async () => {
    const id = `X-Cbv-Test: ${randomUUID()}`;
    const content = `${id}\r\nSubject: chunked\r\n\r\nbody`;
    // The chunk is the content and its final CRLF, exactly as many octets as BDAT announces.
    const octets = Buffer.byteLength(content) + 2;
    const replies = await smtpDialogue(
      mta.at('header'),
      [
        'EHLO client.test',
        `MAIL FROM:<alice@${NAMES.ok}>`,
        `RCPT TO:<${RCPT}>`,
        `BDAT ${octets} LAST\r\n${content}`,
        'QUIT',
      ],
      { localAddress: CLIENT },
    );
    assert.ok(
      replies.some((r) => r.command === 'EHLO' && r.lines.includes('CHUNKING')),
      'Postfix offers CHUNKING',
    );
    assert.deepEqual(
      replies.map((r) => r.code),
      [220, 250, 250, 250, 250, 221],
      JSON.stringify(replies),
    );
    assertBothOnce(await mta.delivered('rcpt', id), 'BDAT');
  });

  it('Postfix warned about nothing but the stopped policy server', async () => {
    assert.deepEqual(mta.postfix.configWarnings, []);
    const refused = new RegExp(`127\\.0\\.0\\.1:${daemon('down').policy.port}: Connection refused`);
    const warnings = postfixProblems(await mta.log());
    assert.deepEqual(
      warnings.filter((l) => !refused.test(l)),
      [],
    );
  });
});
