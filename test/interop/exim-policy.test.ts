/**
 * cbv as the policy server of a real receiving Exim (Debian's exim4-daemon-light), through the
 * RCPT ACL in docs/exim.md: Exim asks with ${readsocket}, half-closes its side, reads the one
 * `action=...` answer; a 5xx answer rejects, a deferral defers, anything else (DUNNO, or no
 * answer at all) lets the ACL go on. Sender domains and their MX hosts come from the bed.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import {
  freePort,
  NAMES,
  startExim,
  startMailTestbed,
  swaks,
  type Exim,
  type MailTestbed,
  type SmtpReply,
} from '../support/testbed/index.js';

const RCPT = 'rcpt@inbox.test';

/** The ACL statements docs/exim.md shows, placed after `require verify = recipient`. */
const CBV_ACL = readFile(new URL('fixtures/exim-cbv-rcpt-acl.conf', import.meta.url), 'utf8');

let bed: MailTestbed;
let cbv: TestDaemon;
/** Asks the running cbv. */
let exim: Exim;
/** Asks a port where nothing listens: cbv is down. */
let eximAlone: Exim;

before(
  async () => {
    bed = await startMailTestbed();
    cbv = await startTestDaemon({
      dns: { servers: [bed.dns.server], query_timeout: 2 },
      verify: { port: bed.smtpPort, allow_targets: ['127.0.0.0/8'], helo_name: 'verifier.test' },
    });
    const nobodyListens = await freePort(['127.0.0.1']);
    const rcptAcl = await CBV_ACL;
    const receiver = (ip: string, policy: string) =>
      startExim({ ip, domains: ['inbox.test'], users: ['rcpt'], rcptAcl, macros: { CBV_POLICY: policy } });
    [exim, eximAlone] = await Promise.all([
      receiver('127.0.2.9', `inet:${cbv.policy.host}:${cbv.policy.port}`),
      receiver('127.0.2.10', `inet:127.0.0.1:${nobodyListens}`),
    ]);
  },
  { timeout: 60_000 },
);

after(async () => {
  await Promise.allSettled([
    (cbv as TestDaemon | undefined)?.stop(),
    (exim as Exim | undefined)?.stop(),
    (eximAlone as Exim | undefined)?.stop(),
  ]);
  await (bed as MailTestbed | undefined)?.stop();
});

/** Exim wraps a long message over several reply lines, repeating the enhanced code: unwrap it. */
const unwrapped = (reply: SmtpReply): string =>
  reply.lines.map((line, i) => (i === 0 ? line : line.replace(/^\d\.\d{1,3}\.\d{1,3} /, ''))).join(' ');

const send = (server: Exim, from: string) =>
  swaks({ server: `${server.ip}:${server.port}`, from, to: RCPT, quitAfter: '' });

describe('Exim asking cbv through ${readsocket} in its RCPT ACL', { timeout: 120_000 }, () => {
  it('rejects an unknown sender with 550 and the reply cbv wrote', async () => {
    const sent = await send(exim, `nobody@${NAMES.ok}`);
    const rcpt = sent.reply('RCPT');
    assert.equal(rcpt?.code, 550, sent.output);
    assert.equal(
      unwrapped(rcpt),
      '5.1.7 <nobody@ok.test>: Sender address rejected: the mail server for ok.test says this mailbox does not exist',
    );
    assert.equal(sent.reply('DATA'), undefined);
  });

  it('accepts a known sender, and the message is taken', async () => {
    const sent = await send(exim, `alice@${NAMES.ok}`);
    assert.equal(sent.reply('RCPT')?.code, 250, sent.output);
    assert.equal(sent.reply('.')?.code, 250, sent.output);
  });

  it('defers a sender whose MX greylists with 450', async () => {
    const sent = await send(exim, `alice@${NAMES.grey}`);
    const rcpt = sent.reply('RCPT');
    assert.equal(rcpt?.code, 450, sent.output);
    assert.equal(
      unwrapped(rcpt),
      '4.1.7 <alice@grey.test>: Sender address verification: the mail server for grey.test is greylisting our verification; please try again later',
    );
  });

  it('fails open: with no cbv to ask, the unknown sender is accepted', async () => {
    const sent = await send(eximAlone, `nobody@${NAMES.ok}`);
    assert.equal(sent.reply('RCPT')?.code, 250, sent.output);
    assert.equal(sent.reply('.')?.code, 250, sent.output);
  });

  it('Exim logged the rejection and no configuration or expansion trouble', async () => {
    const mainlog = await readFile(join(exim.logDir, 'mainlog'), 'utf8');
    assert.match(mainlog, /F=<nobody@ok\.test> rejected RCPT <rcpt@inbox\.test>: 550 5\.1\.7 /);
    assert.match(mainlog, /F=<alice@grey\.test> temporarily rejected RCPT <rcpt@inbox\.test>: 450 4\.1\.7 /);
    for (const server of [exim, eximAlone]) {
      const log = await readFile(join(server.logDir, 'mainlog'), 'utf8');
      assert.doesNotMatch(log, /failed to expand|error in ACL|Configuration error/i);
      // Delivering re-executes Exim, which with -C notes (in paniclog too) that it dropped root.
      const panic = await readFile(join(server.logDir, 'paniclog'), 'utf8').catch(() => '');
      const trouble = panic
        .split('\n')
        .filter((l) => l !== '' && !l.endsWith('lost privilege for using -C option'));
      assert.deepEqual(trouble, []);
    }
  });
});
