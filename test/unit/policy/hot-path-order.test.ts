/**
 * Answers known at once (cache hits) and answers that take time (callouts) on one connection:
 * replies stay in request order whatever mix arrives in one segment, also beyond max_pipelined,
 * where reading pauses and resumes as answers go out.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../../support/daemon.js';
import { PolicyClient, encode, rcptRequest } from '../../support/policy-client.js';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';

let mx: ScriptedServer;
let d: TestDaemon;
const clients: PolicyClient[] = [];

before(async () => {
  // alice and bob exist; slow* are unknown, and answered only after 300 ms.
  mx = await startScriptedServer({
    replies: {
      RCPT: (line) =>
        line.includes('<slow')
          ? [{ delay: 300 }, '550 5.1.1 User unknown\r\n']
          : [/<(alice|bob)@/.test(line) ? '250 2.1.5 Ok\r\n' : '550 5.1.1 User unknown\r\n'],
    },
  });
  d = await startTestDaemon({
    verify: { port: mx.port },
    policy: { listen: ['127.0.0.1:0'], max_pipelined: 4 },
  });
});
after(async () => {
  for (const c of clients) c.close();
  await d.stop();
  await mx.close();
});

const at = (local: string): string => `${local}@[127.0.0.1]`;
const REJECTED = /^action=550 5\.1\.7 /;

it('keeps request order when a cache hit follows a slow callout in the same segment', async () => {
  const c = await PolicyClient.open(d.policy);
  clients.push(c);
  // Cached: alice (deliverable), nobody (unknown).
  assert.equal(await c.ask(rcptRequest({ sender: at('alice') })), 'action=DUNNO');
  assert.match(await c.ask(rcptRequest({ sender: at('nobody') })), REJECTED);
  c.write(
    [at('slow1'), at('alice'), at('nobody'), at('slow2'), at('alice')]
      .map((sender, i) => encode(rcptRequest({ sender, instance: `order.${i}` })))
      .join(''),
  );
  const replies = [await c.next(), await c.next(), await c.next(), await c.next(), await c.next()];
  assert.match(replies[0] ?? '', /^action=550 5\.1\.7 <slow1@/);
  assert.equal(replies[1], 'action=DUNNO');
  assert.match(replies[2] ?? '', /^action=550 5\.1\.7 <nobody@/);
  assert.match(replies[3] ?? '', /^action=550 5\.1\.7 <slow2@/);
  assert.equal(replies[4], 'action=DUNNO');
});

it('answers 200 cached requests sent in one write, beyond max_pipelined, each once and in order', async () => {
  const c = await PolicyClient.open(d.policy);
  clients.push(c);
  assert.equal(await c.ask(rcptRequest({ sender: at('bob') })), 'action=DUNNO');
  const senders = Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? at('nobody') : at('bob')));
  c.write(senders.map((sender, i) => encode(rcptRequest({ sender, instance: `burst.${i}` }))).join(''));
  for (const [i, sender] of senders.entries()) {
    const reply = await c.next();
    if (sender === at('bob')) assert.equal(reply, 'action=DUNNO', `reply ${i}`);
    else assert.match(reply, REJECTED, `reply ${i}`);
  }
  assert.equal(c.replies.length, 0, 'no reply more');
});
