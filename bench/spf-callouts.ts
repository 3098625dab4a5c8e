/**
 * Benchmark: callouts per 1,000 messages with SPF off and on, in one run, for the same mixed
 * stream of policy requests. A real Unbound (the test bed's) serves the sender domains' SPF
 * records; their MX is a scripted SMTP server on loopback that counts the sessions (callouts).
 * Both settings get a fresh daemon with an empty memory cache and exactly the same requests.
 *
 * The mix (by sender domain): 50% SPF pass, 10% fail, 15% softfail, 25% no SPF record; senders are
 * drawn from 300 addresses over 40 domains, so repeats are answered from the cache as in real
 * traffic. The client is 127.0.4.1, which the "pass" domains list.
 *
 *   node --import tsx bench/spf-callouts.ts [--messages 1000] [--json FILE]    (root: it starts Unbound)
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startTestDaemon } from '../test/support/daemon.js';
import { PolicyClient, rcptRequest } from '../test/support/policy-client.js';
import { startScriptedServer } from '../test/support/scripted-smtp.js';
import { startDns, type DnsRecord } from '../test/support/testbed/dns.js';
import { machine } from './lib/stats.js';

const { values } = parseArgs({
  options: { messages: { type: 'string', default: '1000' }, json: { type: 'string' } },
});
const MESSAGES = Number(values.messages);
const CLIENT = '127.0.4.1';

const KINDS = [
  { kind: 'pass', share: 0.5, txt: 'v=spf1 ip4:127.0.4.0/29 -all' },
  { kind: 'fail', share: 0.1, txt: 'v=spf1 ip4:192.0.2.0/24 -all' },
  { kind: 'softfail', share: 0.15, txt: 'v=spf1 ip4:192.0.2.0/24 ~all' },
  { kind: 'none', share: 0.25, txt: null },
] as const;
const DOMAINS_PER_KIND = 10;
const USERS_PER_DOMAIN = 8;

function zone(): DnsRecord[] {
  const records: DnsRecord[] = [{ name: 'mx.bench.test', type: 'A', value: '127.0.0.1' }];
  for (const { kind, txt } of KINDS) {
    for (let d = 0; d < DOMAINS_PER_KIND; d++) {
      const name = `${kind}${d}.bench.test`;
      records.push({ name, type: 'MX', value: '10 mx.bench.test' });
      if (txt) records.push({ name, type: 'TXT', value: txt });
    }
  }
  return records;
}

/** A deterministic stream (mulberry32): the same senders in the same order for both settings. */
function stream(count: number): { sender: string; kind: string }[] {
  let seed = 12_345;
  const random = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return Array.from({ length: count }, () => {
    let r = random();
    const pick = KINDS.find((k) => (r -= k.share) < 0) ?? KINDS[KINDS.length - 1];
    const d = Math.floor(random() * DOMAINS_PER_KIND);
    const u = Math.floor(random() * USERS_PER_DOMAIN);
    return { sender: `user${u}@${pick?.kind ?? 'none'}${d}.bench.test`, kind: pick?.kind ?? 'none' };
  });
}

async function run(spf: boolean, dns: string, mx: number, messages: { sender: string }[]) {
  // Not a catch-all (the random probe is refused): each sender is a callout of its own, as at most domains.
  const smtp = await startScriptedServer({
    port: mx,
    replies: {
      RCPT: (line) => [/<user[0-5]@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'],
    },
  });
  const daemon = await startTestDaemon({
    dns: { servers: [dns] },
    verify: { port: smtp.port, allow_targets: ['127.0.0.0/8'], helo_name: 'verifier.test' },
    spf: { enabled: spf },
    limits: { domain_rate: 100_000, domain_burst: 100_000, mx_rate: 100_000, mx_burst: 100_000 },
  });
  const client = await PolicyClient.open(daemon.policy);
  const actions: Record<string, number> = {};
  try {
    for (const [i, m] of messages.entries()) {
      const action = await client.ask(
        rcptRequest({
          sender: m.sender,
          client_address: CLIENT,
          helo_name: 'client.test',
          instance: `m${i}`,
        }),
      );
      const verb = action.replace(/^action=/, '').split(' ')[0] ?? '';
      actions[verb] = (actions[verb] ?? 0) + 1;
    }
  } finally {
    client.close();
    await daemon.stop('bench');
    await smtp.close();
  }
  return { callouts: smtp.sessions.length, actions };
}

const messages = stream(MESSAGES);
const mix = Object.fromEntries(
  KINDS.map(({ kind }) => [kind, messages.filter((m) => m.kind === kind).length]),
);
const dns = await startDns({ records: zone() });
try {
  const probe = await startScriptedServer();
  const mxPort = probe.port;
  await probe.close();
  const off = await run(false, dns.server, mxPort, messages);
  const on = await run(true, dns.server, mxPort, messages);
  const per1000 = (n: number): number => Math.round((n / MESSAGES) * 1000 * 10) / 10;
  const result = {
    machine: machine(),
    messages: MESSAGES,
    distinctSenders: new Set(messages.map((m) => m.sender)).size,
    mix,
    spfOff: { ...off, per1000: per1000(off.callouts) },
    spfOn: { ...on, per1000: per1000(on.callouts) },
    saved: off.callouts - on.callouts,
    savedPercent:
      off.callouts > 0 ? Math.round(((off.callouts - on.callouts) / off.callouts) * 1000) / 10 : 0,
  };
  console.log(
    `messages: ${MESSAGES} (${result.distinctSenders} distinct senders), mix: ${JSON.stringify(mix)}`,
  );
  console.log(
    `SPF off: ${off.callouts} callouts (${result.spfOff.per1000} per 1,000 messages) ${JSON.stringify(off.actions)}`,
  );
  console.log(
    `SPF on:  ${on.callouts} callouts (${result.spfOn.per1000} per 1,000 messages) ${JSON.stringify(on.actions)}`,
  );
  console.log(`saved:   ${result.saved} callouts (${result.savedPercent}%)`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await dns.stop();
}
