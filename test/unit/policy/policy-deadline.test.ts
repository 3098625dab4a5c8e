/**
 * A policy request that overruns its hard deadline gets the fail-safe reply, and that reply is
 * the one counted: the decision that arrives late is dropped unrecorded (one reply, one record).
 *
 * The overrun is a real one: the sender is verified (slowly, but within the inline budget) and
 * then the recipient at a routed relay domain is verified too (slowly again), so the request as
 * a whole outlasts the budget plus the server's margin.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { buildDecider } from '../../../src/app/build.js';
import { parseConfig } from '../../../src/config/load.js';
import { PolicyDecider } from '../../../src/frontends/policy/decide.js';
import { PolicyServer } from '../../../src/frontends/policy/server.js';
import { createLogger } from '../../../src/observability/logger.js';
import { PromMetrics } from '../../../src/observability/metrics.js';
import { TelemetrySet } from '../../../src/observability/telemetry.js';
import { StaticResolver } from '../../support/engine.js';
import { PolicyClient, rcptRequest } from '../../support/policy-client.js';
import { startScriptedServer, type ScriptedServer } from '../../support/scripted-smtp.js';
import { testService } from '../../support/service.js';

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

/** Samples of one metric family, label set -> value. */
async function samples(metrics: PromMetrics, name: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await metrics.expose()).body.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(name.length, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

it('counts an overrun request once, as the fail-safe, and never the late decision', async () => {
  const mx: ScriptedServer = await startScriptedServer({
    replies: { RCPT: () => [{ delay: 250 }, '250 2.1.5 Ok\r\n'] },
  });
  cleanup.push(() => mx.close());
  const resolver = new StaticResolver({
    'sender.test': { mx: [{ exchange: 'mx.sender.test', priority: 10 }] },
    'relay.test': { mx: [{ exchange: 'mx.sender.test', priority: 10 }] },
    'mx.sender.test': { a: [mx.host] },
  });
  const budgetMs = 1000;
  const svc = testService(mx.port, resolver, { inlineBudgetMs: budgetMs });
  const metrics = new PromMetrics();
  const telemetry = new TelemetrySet([metrics]);
  const full = parseConfig({ service: { routes: { 'relay.test': `127.0.0.1:${mx.port}` } } }, 'test');
  const config = full.policy;
  const decider = new PolicyDecider(config, buildDecider(full, svc.verifier), telemetry);
  // Margin 0: the request may take no longer than one inline budget, and two callouts of
  // over 500 ms each (the MX answers each RCPT after 250 ms) take longer.
  const server = new PolicyServer(
    { ...config, listen: ['127.0.0.1:0'] },
    decider,
    telemetry,
    createLogger('silent'),
    budgetMs,
    0,
  );
  const [address] = await server.start();
  cleanup.push(() => server.stop(0));
  const colon = (address ?? '').lastIndexOf(':');
  const client = await PolicyClient.open({
    host: (address ?? '').slice(0, colon),
    port: Number((address ?? '').slice(colon + 1)),
  });
  cleanup.push(() => client.close());

  const reply = await client.ask(rcptRequest({ sender: 'alice@sender.test', recipient: 'bob@relay.test' }));
  assert.equal(reply, 'action=DUNNO', 'the fail-safe (DUNNO by default)');
  // Wait for the late decision: both callouts done and cached.
  for (let i = 0; i < 100 && svc.observer.callouts.length < 2; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(svc.observer.callouts.length, 2, 'the late decision did finish');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(
    [...(await samples(metrics, 'cbv_policy_decisions_total'))],
    [['{action="DUNNO",outcome="fail_safe"}', 1]],
  );
});
