/**
 * Smoke test of the mail test bed itself: start it once and prove every behaviour the interop
 * tests rely on with real tools only (dig against Unbound, swaks against Postfix and Exim), then
 * prove that stop() leaves no process behind.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dig, swaks } from '../support/testbed/clients.js';
import {
  groupMembers,
  isAlive,
  MX_DOMAINS,
  NAMES,
  postfixProblems,
  PRIVATE_MX_ADDRESS,
  startMailTestbed,
  type MailTestbed,
} from '../support/testbed/index.js';

const GREYLIST_DELAY_S = 2;

describe('mail test bed', { timeout: 120_000 }, () => {
  let bed: MailTestbed;
  let startupMs = 0;
  let greylistedAt = 0;
  const at = (role: keyof MailTestbed['ip']): string => `${bed.ip[role]}:${bed.smtpPort}`;

  before(async () => {
    const started = performance.now();
    bed = await startMailTestbed({
      greylistDelaySeconds: GREYLIST_DELAY_S,
      extraRecords: [{ name: 'v6.test', type: 'AAAA', value: '::1' }],
    });
    startupMs = performance.now() - started;
  });
  after(async () => {
    // before() may have failed, leaving bed unset; stop() is idempotent otherwise.
    await (bed as MailTestbed | undefined)?.stop();
  });

  it('starts within a few seconds', (t) => {
    t.diagnostic(
      `startup took ${Math.round(startupMs)} ms; SMTP port ${bed.smtpPort}, DNS ${bed.dns.server}`,
    );
    assert.ok(startupMs < 10_000);
  });

  describe('DNS: dig against the Unbound resolver', () => {
    const q = (name: string, type: string, tcp = false) => dig(bed.dns, name, type, { tcp });

    it('serves an MX per listener, each pointing at its loopback address', async () => {
      const domains = MX_DOMAINS;
      for (const [domain, role] of domains) {
        const mx = await q(domain, 'MX');
        assert.equal(mx.status, 'NOERROR', domain);
        assert.deepEqual(mx.answers, [`10 mx.${domain}.`]);
        assert.deepEqual((await q(`mx.${domain}`, 'A')).answers, [bed.ip[role]]);
      }
    });

    it('answers over TCP too', async () => {
      assert.deepEqual((await q(NAMES.ok, 'MX', true)).answers, [`10 mx.${NAMES.ok}.`]);
    });

    it('twomx.test: a dead first MX, then the rejecting listener', async () => {
      assert.deepEqual((await q(NAMES.twomx, 'MX')).answers.sort(), [
        `10 dead.${NAMES.twomx}.`,
        `20 mx.${NAMES.twomx}.`,
      ]);
      assert.deepEqual((await q(`dead.${NAMES.twomx}`, 'A')).answers, [bed.ip.dead]);
      assert.deepEqual((await q(`mx.${NAMES.twomx}`, 'A')).answers, [bed.ip.rejecting]);
    });

    it('aonly.test: no MX, an A record (implicit MX)', async () => {
      const mx = await q(NAMES.aonly, 'MX');
      assert.equal(mx.status, 'NOERROR');
      assert.deepEqual(mx.answers, []);
      assert.deepEqual((await q(NAMES.aonly, 'A')).answers, [bed.ip.rejecting]);
    });

    it('nullmx.test: MX 0 .', async () => {
      assert.deepEqual((await q(NAMES.nullmx, 'MX')).answers, ['0 .']);
    });

    it('nomail.test: exists (TXT), but no MX and no address', async () => {
      for (const type of ['MX', 'A', 'AAAA']) {
        const answer = await q(NAMES.nomail, type);
        assert.equal(answer.status, 'NOERROR', type);
        assert.deepEqual(answer.answers, [], type);
      }
      assert.deepEqual((await q(NAMES.nomail, 'TXT')).answers, ['"v=spf1 -all"']);
    });

    it('dangling.test: the MX target is NXDOMAIN', async () => {
      assert.deepEqual((await q(NAMES.dangling, 'MX')).answers, [`10 nowhere.${NAMES.dangling}.`]);
      assert.equal((await q(`nowhere.${NAMES.dangling}`, 'A')).status, 'NXDOMAIN');
    });

    it('private.test: the MX host has a private address', async () => {
      assert.deepEqual((await q(`mx.${NAMES.private}`, 'A')).answers, [PRIVATE_MX_ADDRESS]);
    });

    it('serves records added by the caller (AAAA)', async () => {
      assert.deepEqual((await q('v6.test', 'AAAA')).answers, ['::1']);
    });

    it('undefined names are NXDOMAIN, under .test and elsewhere (nothing leaves the machine)', async () => {
      for (const name of [NAMES.nxdomain, 'deep.undefined.test', 'example.com']) {
        const answer = await q(name, 'MX');
        // The bed's Unbound has no upstream: a name it tried to resolve elsewhere would end in
        // SERVFAIL or a timeout, never in its own NXDOMAIN.
        assert.equal(answer.status, 'NXDOMAIN', name);
      }
    });

    it('servfail.test answers SERVFAIL', async () => {
      for (const name of [NAMES.servfail, `www.${NAMES.servfail}`]) {
        const answer = await q(name, 'MX');
        assert.equal(answer.status, 'SERVFAIL', name);
      }
    });

    it('slow.test is never answered: the query times out, every time', async () => {
      for (const name of [NAMES.slow, NAMES.slow, `mx.${NAMES.slow}`]) {
        const answer = await dig(bed.dns, name, 'MX', { timeoutSeconds: 1 });
        assert.ok(answer.timedOut, `${name}: ${answer.output}`);
        assert.equal(answer.status, undefined);
      }
    });
  });

  describe('SMTP: swaks against each listener', () => {
    it('rejecting: known users 250, unknown 550 5.1.1, full 552, disabled 550 5.2.1', async () => {
      const alice = await swaks({ server: at('rejecting'), to: `alice@${NAMES.ok}` });
      assert.match(alice.reply('CONNECT')?.lines[0] ?? '', /cbv-rejecting/);
      assert.ok(alice.ehloKeywords().includes('PIPELINING'));
      assert.ok(alice.ehloKeywords().includes('STARTTLS'));
      assert.equal(alice.reply('RCPT')?.code, 250);
      const cases: [string, number, RegExp][] = [
        ['zed', 550, /^5\.1\.1 .*User unknown/],
        ['full', 552, /^5\.2\.2 .*Mailbox full/],
        ['disabled', 550, /^5\.2\.1 .*Mailbox disabled/],
      ];
      for (const [user, code, text] of cases) {
        const reply = (await swaks({ server: at('rejecting'), to: `${user}@${NAMES.ok}` })).reply('RCPT');
        assert.equal(reply?.code, code, user);
        assert.match(reply.lines[0] ?? '', text);
      }
    });

    it('rejecting: STARTTLS works (self-signed certificate)', async () => {
      const run = await swaks({ server: at('rejecting'), to: `bob@${NAMES.ok}`, tls: true });
      assert.equal(run.reply('STARTTLS')?.code, 220);
      assert.equal(run.reply('RCPT')?.code, 250);
    });

    it('rejecting: a whole message is accepted and discarded, never delivered', async () => {
      const run = await swaks({
        server: at('rejecting'),
        from: 'x@client.test',
        to: `alice@${NAMES.ok}`,
        quitAfter: '',
      });
      assert.equal(run.reply('.')?.code, 250, run.output);
    });

    it('catchall: any recipient 250', async () => {
      const run = await swaks({ server: at('catchall'), to: `no-such-user-4711@${NAMES.catchall}` });
      assert.equal(run.reply('RCPT')?.code, 250);
    });

    it('greylisting: 450 4.2.0 Greylisted from postgrey', async () => {
      const reply = (await swaks({ server: at('greylisting'), to: `alice@${NAMES.grey}` })).reply('RCPT');
      greylistedAt = Date.now();
      assert.equal(reply?.code, 450);
      assert.match(reply.lines[0] ?? '', /^4\.2\.0 .*Greylisted/);
    });

    it('nonull: MAIL FROM:<> accepted, refused at RCPT; a real sender passes', async () => {
      const run = await swaks({ server: at('nonull'), to: `alice@${NAMES.nonull}` });
      assert.equal(run.reply('MAIL')?.code, 250);
      assert.equal(run.reply('RCPT')?.code, 554);
      assert.match(run.reply('RCPT')?.lines[0] ?? '', /Sender address rejected/);
      const real = await swaks({ server: at('nonull'), from: 'x@client.test', to: `alice@${NAMES.nonull}` });
      assert.equal(real.reply('RCPT')?.code, 250);
    });

    it('nonullmail: MAIL FROM:<> itself refused with 5xx', async () => {
      const run = await swaks({ server: at('nonullmail'), to: `alice@${NAMES.nonullmail}` });
      assert.equal(run.reply('MAIL')?.code, 554);
      assert.equal(run.reply('RCPT'), undefined);
    });

    it('tlsrequired: 530 5.7.0 before STARTTLS; after it, like rejecting', async () => {
      const plain = await swaks({ server: at('tlsrequired'), to: `alice@${NAMES.tls}` });
      assert.equal(plain.reply('MAIL')?.code, 530);
      assert.match(plain.reply('MAIL')?.lines[0] ?? '', /^5\.7\.0 /);
      const alice = await swaks({ server: at('tlsrequired'), to: `alice@${NAMES.tls}`, tls: true });
      assert.equal(alice.reply('RCPT')?.code, 250);
      const zed = await swaks({ server: at('tlsrequired'), to: `zed@${NAMES.tls}`, tls: true });
      assert.equal(zed.reply('RCPT')?.code, 550);
    });

    it('nopipelining: no PIPELINING in EHLO, unknown users 550', async () => {
      const run = await swaks({ server: at('nopipelining'), to: `zed@${NAMES.nopipe}` });
      assert.ok(!run.ehloKeywords().includes('PIPELINING'), run.output);
      assert.ok(run.ehloKeywords().includes('ENHANCEDSTATUSCODES'));
      assert.equal(run.reply('RCPT')?.code, 550);
    });

    it('blocklist: every RCPT 554 5.7.1 ... blocked using zen.spamhaus.org', async () => {
      const reply = (await swaks({ server: at('blocklist'), to: `alice@${NAMES.blocked}` })).reply('RCPT');
      assert.equal(reply?.code, 554);
      assert.match(reply.lines[0] ?? '', /^5\.7\.1 .*blocked using zen\.spamhaus\.org/);
    });

    it('exim: PIPELINING, known users 250, unknown 550 Unrouteable address', async () => {
      const carol = await swaks({ server: at('exim'), to: `carol@${NAMES.exim}` });
      assert.match(carol.reply('CONNECT')?.lines[0] ?? '', /Exim .*cbv-exim/);
      assert.ok(carol.ehloKeywords().includes('PIPELINING'));
      assert.equal(carol.reply('RCPT')?.code, 250);
      const zed = (await swaks({ server: at('exim'), to: `zed@${NAMES.exim}` })).reply('RCPT');
      assert.equal(zed?.code, 550);
      assert.deepEqual(zed.lines, ['Unrouteable address']);
    });

    it('dead: nothing listens, the connection is refused', async () => {
      const run = await swaks({ server: at('dead'), to: `alice@${NAMES.twomx}` });
      assert.equal(run.exitCode, 2);
      assert.match(run.output, /Connection refused/);
    });

    it('greylisting: a retry after the delay is accepted', async () => {
      const wait = greylistedAt + (GREYLIST_DELAY_S + 1) * 1000 - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const reply = (await swaks({ server: at('greylisting'), to: `alice@${NAMES.grey}` })).reply('RCPT');
      assert.equal(reply?.code, 250);
    });
  });

  it('postfixProblems keeps every warning but the host clock ones', () => {
    const log = [
      'Nov 30 21:21:49 mx postfix/cleanup[19500]: warning: file system clock is 1 seconds ahead of local clock',
      'Nov 30 21:21:49 mx postfix/cleanup[19500]: warning: resetting file time stamps - this hurts performance',
      'Nov 30 21:21:50 mx postfix/smtpd[19501]: warning: problem talking to server 127.0.0.1:10046: Connection refused',
      'Nov 30 21:21:50 mx postfix/smtpd[19501]: fatal: bad numerical configuration: smtpd_soft_error_limit = x',
      'Nov 30 21:21:51 mx postfix/master[19400]: panic: myfree: corrupt or unallocated memory block',
      'Nov 30 21:21:52 mx postfix/smtpd[19501]: connect from localhost[127.0.0.1]',
    ].join('\n');
    assert.deepEqual(
      postfixProblems(log).map((line) => line.replace(/^.*?\]: /, '')),
      [
        'warning: problem talking to server 127.0.0.1:10046: Connection refused',
        'fatal: bad numerical configuration: smtpd_soft_error_limit = x',
        'panic: myfree: corrupt or unallocated memory block',
      ],
    );
  });

  it('Postfix and Exim logged no warnings, and the message was discarded', () => {
    assert.deepEqual(bed.postfix.postfix.configWarnings, []);
    const maillog = readFileSync(bed.postfix.postfix.logFile, 'utf8');
    assert.deepEqual(postfixProblems(maillog), []);
    assert.match(maillog, /postfix\/discard\[\d+\]: .*to=<alice@ok\.test>.*status=sent/);
    assert.ok(!existsSync(join(bed.exim.logDir, 'paniclog')), bed.exim.logTail());
  });

  it('stop() ends every server process, and nothing of theirs is left', async () => {
    await bed.stop();
    for (const pid of bed.pids) {
      assert.ok(!isAlive(pid), `pid ${pid} still running`);
      assert.deepEqual(groupMembers(pid), [], `process group ${pid} not empty`);
    }
  });
});
