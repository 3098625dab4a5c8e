/**
 * Refusals about us, and refusals of the null sender, from real Postfix and Exim (Debian's), with
 * the engine and the service's fact rules:
 *  - Postfix reject_non_fqdn_helo_hostname, reported at RCPT (smtpd_delay_reject = yes) and at
 *    HELO itself (= no): policy_rejected, the verdict names our HELO name, refuses_us;
 *  - Postfix refusing our client at MAIL FROM:<> with a block list text: policy_rejected, never
 *    null_sender_rejected;
 *  - Exim refusing MAIL FROM:<> with its bare "550 Administrative prohibition": re-checked in the
 *    same session, null_sender_rejected only when postmaster@ is accepted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TcpConnector, VerificationEngine, type EngineOptions } from '../../src/core/index.js';
import { factFrom } from '../../src/service/cache-policy.js';
import { StaticResolver, testEngineOptions } from '../support/engine.js';
import {
  freePort,
  startExim,
  startPostfix,
  type Exim,
  type PostfixDirs,
  type PostfixInstance,
} from '../support/testbed/index.js';

const IP = {
  heloAtRcpt: '127.0.9.1',
  heloAtHelo: '127.0.9.2',
  blockedAtMail: '127.0.9.3',
  eximNoBounces: '127.0.9.4',
  eximNoOne: '127.0.9.5',
};
const S3140 =
  "Unfortunately, messages from [127.0.0.1] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140).";

let postfix: PostfixInstance;
let postfixPort: number;
const exims: Exim[] = [];

function mainCf(dirs: PostfixDirs): string {
  return `
myhostname = mx.refusals.test
mydestination = static:all
local_recipient_maps = texthash:${dirs.configDir}/local_users
smtpd_relay_restrictions = reject_unauth_destination
smtpd_helo_required = yes
smtpd_delay_reject = yes
`;
}

function masterCf(port: number, dirs: PostfixDirs): string {
  const listener = (ip: string, settings: string[]): string =>
    [`${ip}:${port} inet n - n - - smtpd`, ...settings.map((s) => `  -o { ${s} }`)].join('\n');
  return [
    listener(IP.heloAtRcpt, ['smtpd_helo_restrictions = reject_non_fqdn_helo_hostname']),
    listener(IP.heloAtHelo, [
      'smtpd_helo_restrictions = reject_non_fqdn_helo_hostname',
      'smtpd_delay_reject = no',
    ]),
    listener(IP.blockedAtMail, [
      `smtpd_sender_restrictions = check_client_access texthash:${dirs.configDir}/blocked_clients`,
      'smtpd_delay_reject = no',
    ]),
  ].join('\n');
}

before(async () => {
  postfixPort = await freePort([IP.heloAtRcpt, IP.heloAtHelo, IP.blockedAtMail]);
  postfix = await startPostfix({
    name: 'postfix-refusals',
    mainCf,
    masterCf: (dirs) => masterCf(postfixPort, dirs),
    files: {
      local_users: 'alice alice\npostmaster postmaster\n',
      // "127" matches every loopback client (the table is searched by address prefix).
      blocked_clients: `127 550 5.7.1 ${S3140}\n`,
    },
  });
  exims.push(
    await startExim({ ip: IP.eximNoBounces, users: ['carol'], mailAcl: '  deny senders = :' }),
    await startExim({ ip: IP.eximNoOne, users: ['carol'], mailAcl: '  deny' }),
  );
});
after(async () => {
  await postfix.stop();
  for (const e of exims) await e.stop();
});

/** An engine whose DNS sends `domain` to one loopback MX. */
function engineFor(domain: string, ip: string, port: number, probe: Partial<EngineOptions['probe']> = {}) {
  const resolver = new StaticResolver({
    [domain]: { mx: [{ exchange: `mx.${domain}`, priority: 10 }] },
    [`mx.${domain}`]: { a: [ip] },
  });
  return new VerificationEngine(testEngineOptions(port, { dnsTimeoutMs: 3000 }, probe), {
    resolver,
    connector: new TcpConnector(),
  });
}

async function verify(
  address: string,
  ip: string,
  port: number,
  probe: Partial<EngineOptions['probe']> = {},
) {
  const domain = address.slice(address.indexOf('@') + 1);
  const engine = engineFor(domain, ip, port, probe);
  const v = await engine.verify(address, { transcript: true, waitForClose: true });
  await engine.idle();
  const fact = factFrom(v);
  const trace = (v.transcript ?? []).map((l) => `${l.dir}: ${l.line}`).join('\n');
  return { v, fact, trace };
}

describe('real servers refusing us', { timeout: 120_000 }, () => {
  it('Postfix refuses our short HELO name at RCPT: policy_rejected, says so, refuses_us', async () => {
    const { v, fact, trace } = await verify('alice@helo-rcpt.test', IP.heloAtRcpt, postfixPort, {
      heloName: 'mailcheck',
    });
    assert.equal(v.reason, 'policy_rejected', trace);
    assert.equal(v.rule, 'rcpt.helo-refused');
    assert.match(v.smtp?.text ?? '', /Helo command rejected: need fully-qualified hostname/);
    assert.match(v.message, /refused our HELO name "mailcheck"/);
    assert.equal(fact, 'refuses_us');
  });

  it('accepts the same address with a fully qualified HELO name', async () => {
    const { v, trace } = await verify('alice@helo-rcpt.test', IP.heloAtRcpt, postfixPort, {
      heloName: 'verifier.example.org',
    });
    assert.equal(v.reason, 'accepted', trace);
  });

  it('Postfix refuses our short HELO name at HELO itself: policy_rejected, says so, refuses_us', async () => {
    const { v, fact, trace } = await verify('alice@helo-helo.test', IP.heloAtHelo, postfixPort, {
      heloName: 'mailcheck',
    });
    assert.equal(v.reason, 'policy_rejected', trace);
    assert.equal(v.rule, 'helo.name-refused');
    assert.match(v.message, /refused our HELO name "mailcheck"/);
    assert.equal(fact, 'refuses_us');
  });

  it('Postfix refusing our client at MAIL FROM:<> with a block list: policy_rejected, never null_sender_rejected', async () => {
    const { v, fact, trace } = await verify('alice@blocked-mail.test', IP.blockedAtMail, postfixPort);
    assert.equal(v.reason, 'policy_rejected', trace);
    assert.equal(v.rule, 'mail.about-client');
    assert.match(v.smtp?.text ?? '', /Client host rejected: Unfortunately/);
    assert.equal(fact, 'refuses_us');
    assert.doesNotMatch(trace, /MAIL FROM:<postmaster@/, 'no re-check: the reply said it is about us');
  });
});

describe('real Exim refusing MAIL FROM:<> without saying why', { timeout: 120_000 }, () => {
  it('re-checks with postmaster@ in the same session: accepted, so the domain refuses bounces', async () => {
    const exim = exims[0];
    assert.ok(exim);
    const { v, fact, trace } = await verify('carol@nobounce.test', exim.ip, exim.port);
    assert.equal(v.reason, 'null_sender_rejected', trace);
    assert.equal(v.rule, 'recheck.null-sender-only');
    assert.match(v.smtp?.text ?? '', /Administrative prohibition/);
    assert.match(trace, /C: RSET\nS: 250[^\n]*\nC: MAIL FROM:<postmaster@verifier\.test>\nS: 250/);
    assert.equal(fact, 'null_sender_rejected');
  });

  it('refused too: about us, not about bounces', async () => {
    const exim = exims[1];
    assert.ok(exim);
    const { v, fact, trace } = await verify('carol@noone.test', exim.ip, exim.port);
    assert.equal(v.reason, 'policy_rejected', trace);
    assert.equal(v.rule, 'recheck.any-sender-refused');
    assert.equal(fact, 'refuses_us');
  });

  it('with the re-check off, the bare refusal is policy_rejected and teaches no null_sender_rejected', async () => {
    const exim = exims[0];
    assert.ok(exim);
    const { v, fact, trace } = await verify('carol@nobounce.test', exim.ip, exim.port, {
      recheckSender: null,
    });
    assert.equal(v.reason, 'policy_rejected', trace);
    assert.equal(v.rule, 'mail.null-sender-ambiguous');
    assert.notEqual(fact, 'null_sender_rejected');
  });
});
