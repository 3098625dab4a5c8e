/**
 * haraka-plugin-cbv in a real Haraka edge gateway (deploy/haraka/config, as shipped), in front of
 * a real backend Postfix, driven by swaks. The sender domains live in the bed's Unbound; their
 * mail exchangers are the bed's real Postfix and Exim listeners; cbv runs in-process.
 *
 *   swaks (127.0.3.2) -> Haraka (127.0.5.1) -> cbv policy server -> callout to the sender's MX
 *                                            -> smtp_forward -> backend Postfix (127.0.5.2)
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { startHaraka, type Haraka } from '../support/testbed/haraka.js';
import {
  freePort,
  NAMES,
  startMailTestbed,
  startReceivingPostfix,
  swaks,
  type MailTestbed,
  type ReceivingPostfix,
  type SwaksResult,
} from '../support/testbed/index.js';
import { sleep } from '../support/testbed/process.js';
import { logSince } from '../support/testbed/log-since.js';

const CLIENT = '127.0.3.2';
const GATEWAY_IP = '127.0.5.1';
const STRICT_GATEWAY_IP = '127.0.5.3';
const BACKEND_IP = '127.0.5.2';
const INBOX = 'inbox.test';
const RCPT = `rcpt@${INBOX}`;
const RELAY_DOMAIN = 'relay.test';

let bed: MailTestbed;
let cbv: TestDaemon | undefined;
let backend: ReceivingPostfix | undefined;
let haraka: Haraka | undefined;
let second: TestDaemon | undefined;
let strict: Haraka | undefined;

/** cbv as docs/haraka.md configures it: the relay domain routed, the verdict header on. */
function daemonConfig(): Record<string, Record<string, unknown>> {
  return {
    dns: { servers: [bed.dns.server], query_timeout: 2 },
    verify: { port: bed.smtpPort, allow_targets: ['127.0.0.0/8'], helo_name: 'verifier.test' },
    service: { routes: { [RELAY_DOMAIN]: `${bed.ip.rejecting}:${bed.smtpPort}` } },
    policy: { listen: ['127.0.0.1:0'], prepend_header: true },
  };
}

/** Haraka with deploy/haraka/config, pointed at this bed, a cbv daemon and the backend. */
async function startGateway(
  ip: string,
  cbvPort: number,
  sections: Record<string, Record<string, string>>,
): Promise<Haraka> {
  const [, backendPort] = mta().at('backend').split(':');
  const port = await freePort([ip]);
  return startHaraka({
    listen: `${ip}:${port}`,
    dnsServer: bed.dns.server,
    ini: {
      'smtp.ini': { '': { listen: `${ip}:${port}`, public_ip: ip } },
      'smtp_forward.ini': { '': { host: BACKEND_IP, port: backendPort ?? '25' } },
      // No list is asked about loopback clients (dns-list skips private addresses), but the
      // start-up checks would query the real lists' names: point them at a .test name.
      'dns-list.ini': { main: { zones: 'dnsbl.test', periodic_checks: '0' } },
      'cbv.ini': {
        server: { port: String(cbvPort), timeout: '5' },
        callforward: { domains: RELAY_DOMAIN },
        ...sections,
      },
    },
    lists: { host_list: [INBOX, RELAY_DOMAIN], me: ['gateway.test'] },
  });
}

before(
  async () => {
    bed = await startMailTestbed();
    cbv = await startTestDaemon(daemonConfig());
    backend = await startReceivingPostfix({
      listeners: [
        {
          name: 'backend',
          ip: BACKEND_IP,
          recipientRestrictions: 'permit_mynetworks, reject_unauth_destination',
        },
      ],
      mailDomain: INBOX,
      mailboxes: ['rcpt'],
      relay: { domain: RELAY_DOMAIN, nexthop: `${bed.ip.rejecting}:${bed.smtpPort}` },
      // Haraka's forwarding connections come from loopback.
      mynetworks: '127.0.0.0/8',
    });
    second = await startTestDaemon(daemonConfig());
    [haraka, strict] = await Promise.all([
      startGateway(GATEWAY_IP, cbv.policy.port, {}),
      // The other settings: the sender checked at the first RCPT, and a deferral when cbv is down.
      startGateway(STRICT_GATEWAY_IP, second.policy.port, {
        main: { reject_at: 'rcpt', on_error: 'defer' },
        // The last three are spelled otherwise than the senders below write them (U-label, upper
        // case, a final dot): the plugin compares every domain in one canonical form.
        skip: {
          senders: `ghost@${NAMES.ok}, .${NAMES.catchall}, NoBody@BÜCHER.test., TwoMX.TEST., .XN--BCHER-KVA.test`,
        },
      }),
    ]);
  },
  { timeout: 90_000 },
);

after(async () => {
  await Promise.allSettled([haraka?.stop(), strict?.stop(), cbv?.stop(), second?.stop()]);
  await Promise.allSettled([backend?.stop()]);
  await (bed as MailTestbed | undefined)?.stop();
});

function gateway(which: Haraka | undefined = haraka): Haraka {
  if (!which) throw new Error('Haraka did not start');
  return which;
}
function mta(): ReceivingPostfix {
  if (!backend) throw new Error('the backend Postfix did not start');
  return backend;
}
function daemon(): TestDaemon {
  if (!cbv) throw new Error('cbv did not start');
  return cbv;
}

type Sent = SwaksResult & { id: string };

async function send(
  from: string,
  options: { to?: string; quitAfter?: string; via?: Haraka } = {},
): Promise<Sent> {
  const id = `X-Cbv-Test: ${randomUUID()}`;
  const result = await swaks({
    server: gateway(options.via ?? haraka).listen,
    from,
    to: options.to ?? RCPT,
    localAddress: CLIENT,
    headers: [id],
    quitAfter: options.quitAfter ?? '',
  });
  return { ...result, id };
}

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

const counters = () => daemon().service.verifier.stats.sum('0000', '9999');
/** A callout session at the bed's rejecting listener (ok.test's MX, relay.test's internal host). */
const calloutToOk = /postfix\/rejecting\/smtpd\[\d+\]: connect from /;

describe('Haraka with haraka-plugin-cbv as an edge gateway', { timeout: 120_000 }, () => {
  it('accepts a known sender; the message reaches the backend with the verdict header', async () => {
    const sent = await send(`alice@${NAMES.ok}`);
    assert.equal(sent.reply('MAIL')?.code, 250, sent.output);
    assert.equal(sent.reply('RCPT')?.code, 250, sent.output);
    assert.equal(sent.reply('.')?.code, 250, sent.output);
    const message = await mta().delivered('rcpt', sent.id);
    assert.ok(message !== undefined, `not delivered\n${gateway().logTail(40)}`);
    assert.match(message, /^Return-Path: <alice@ok\.test>$/m);
    assert.match(
      message,
      /^X-Sender-Verification: deliverable; reason=accepted; rule=rcpt\.2xx; sender=<alice@ok\.test>$/m,
    );
  });

  it('rejects an unknown sender with 550 5.1.7 at MAIL FROM; nothing reaches the backend', async () => {
    const local = await logSince(mta().postfix.logFile);
    const sent = await send(`nobody@${NAMES.ok}`);
    const mail = sent.reply('MAIL');
    assert.equal(mail?.code, 550, sent.output);
    assert.equal(
      mail.lines[0],
      '5.1.7 <nobody@ok.test>: Sender address rejected: the mail server for ok.test says this mailbox does not exist',
    );
    assert.equal(sent.reply('RCPT'), undefined, 'swaks stops at the refused MAIL FROM');
    await sleep(500);
    assert.doesNotMatch(await local(), /connect from/, 'the backend saw no connection');
    assert.deepEqual(await mta().queued(), []);
    assert.match(
      await gateway().log(),
      /hook=mail plugin=cbv function=check_sender params=<nobody@ok\.test> retval=DENY /,
    );
  });

  it('defers a sender whose MX greylists the callout (450 4.1.7)', async () => {
    const sent = await send(`alice@${NAMES.grey}`, { quitAfter: 'RCPT' });
    const mail = sent.reply('MAIL');
    assert.equal(mail?.code, 450, sent.output);
    assert.match(
      mail.lines[0] ?? '',
      /^4\.1\.7 <alice@grey\.test>: Sender address verification: .*greylisting/,
    );
  });

  it('accepts the null sender without asking cbv and without a callout', async () => {
    const [remote, before] = [await logSince(bed.postfix.postfix.logFile), await counters()];
    const sent = await send('<>');
    assert.equal(sent.reply('MAIL')?.code, 250, sent.output);
    assert.equal(sent.reply('.')?.code, 250, sent.output);
    assert.ok((await mta().delivered('rcpt', sent.id)) !== undefined);
    assert.equal((await counters()).requests, before.requests, 'cbv was not asked');
    assert.doesNotMatch(await remote(), calloutToOk);
  });

  it('call-forward: an unknown recipient at a relay domain gets 550 5.1.1, a known one is forwarded', async () => {
    const from = `alice@${NAMES.ok}`;
    const unknown = await send(from, { to: `nobody@${RELAY_DOMAIN}`, quitAfter: 'RCPT' });
    const rcpt = unknown.reply('RCPT');
    assert.equal(rcpt?.code, 550, unknown.output);
    assert.match(
      rcpt.lines[0] ?? '',
      /^5\.1\.1 .*the mail server for relay\.test says this mailbox does not exist/,
    );
    const remote = await logSince(bed.postfix.postfix.logFile);
    const known = await send(from, { to: `alice@${RELAY_DOMAIN}` });
    assert.equal(known.reply('RCPT')?.code, 250, known.output);
    assert.equal(known.reply('.')?.code, 250, known.output);
    // Haraka -> backend Postfix -> relayed to the internal host (the bed's rejecting listener).
    const taken = /postfix\/discard\[\d+\]: .*to=<alice@relay\.test>.*status=sent/;
    assert.match(await waitFor(remote, (t) => taken.test(t), 10_000), taken);
  });

  it('with cbv stopped, mail flows (fail-open) well within the plugin timeout', async () => {
    await daemon().stop();
    const sent = await send(`nobody@${NAMES.ok}`);
    assert.equal(sent.reply('MAIL')?.code, 250, sent.output);
    assert.equal(sent.reply('.')?.code, 250, sent.output);
    assert.ok((await mta().delivered('rcpt', sent.id)) !== undefined);
    // Well within the plugin timeout: the refused connection is the cause, not a wait for
    // cbv.ini's timeout (the log says which; no clock is read, so a loaded machine cannot fail it).
    assert.match(
      await gateway().log(),
      /cbv did not answer \(policy server: connect ECONNREFUSED [^)]*\); accept/,
    );
    assert.doesNotMatch(await gateway().log(), /cbv did not answer \([^)]*(timeout|timed out)[^)]*\)/i);
  });
});

describe('haraka-plugin-cbv with reject_at=rcpt and on_error=defer', { timeout: 60_000 }, () => {
  it('refuses an unknown sender at the first RCPT TO, with the sender DSN 5.1.7', async () => {
    const sent = await send(`nobody@${NAMES.ok}`, { via: strict, quitAfter: 'RCPT' });
    assert.equal(sent.reply('MAIL')?.code, 250, sent.output);
    const rcpt = sent.reply('RCPT');
    assert.equal(rcpt?.code, 550, sent.output);
    assert.match(rcpt.lines[0] ?? '', /^5\.1\.7 <nobody@ok\.test>: Sender address rejected: /);
  });

  it('accepts a known sender and forwards the message', async () => {
    const sent = await send(`alice@${NAMES.ok}`, { via: strict });
    assert.equal(sent.reply('RCPT')?.code, 250, sent.output);
    assert.equal(sent.reply('.')?.code, 250, sent.output);
    assert.ok((await mta().delivered('rcpt', sent.id)) !== undefined);
  });

  it('does not ask about allow-listed senders ([skip] senders): addresses and .parent domains', async () => {
    const d = second;
    if (!d) throw new Error('the second cbv did not start');
    const before = await d.service.verifier.stats.sum('0000', '9999');
    // ghost@ok.test does not exist: asked, it would be refused.
    for (const from of [`ghost@${NAMES.ok}`, `x@sub.${NAMES.catchall}`]) {
      const sent = await send(from, { via: strict, quitAfter: 'RCPT' });
      assert.equal(sent.reply('RCPT')?.code, 250, sent.output);
    }
    assert.equal((await d.service.verifier.stats.sum('0000', '9999')).requests, before.requests);
  });

  it('matches [skip] senders however a domain is spelled, in the file or the envelope (U-label, A-label, case, final dot)', async () => {
    const d = second;
    if (!d) throw new Error('the second cbv did not start');
    const before = await d.service.verifier.stats.sum('0000', '9999');
    // Each of these does not exist at its MX: asked, cbv would refuse it.
    for (const from of [`nobody@${NAMES.idn}`, `ghost@${NAMES.twomx}`, `ghost@mx.${NAMES.idn}`]) {
      const sent = await send(from, { via: strict, quitAfter: 'RCPT' });
      assert.equal(sent.reply('RCPT')?.code, 250, sent.output);
    }
    assert.equal((await d.service.verifier.stats.sum('0000', '9999')).requests, before.requests);
  });

  it('defers with 451 4.4.3 when cbv is down, instead of letting the sender through', async () => {
    if (!second) throw new Error('the second cbv did not start');
    await second.stop();
    const sent = await send(`nobody@${NAMES.ok}`, { via: strict, quitAfter: 'RCPT' });
    const rcpt = sent.reply('RCPT');
    assert.equal(rcpt?.code, 451, sent.output);
    assert.match(rcpt.lines[0] ?? '', /^4\.4\.3 sender verification is unavailable/);
  });
});
