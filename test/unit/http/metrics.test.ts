/**
 * Prometheus metrics over HTTP: after a known set of verifications (and a
 * policy decision and a limit refusal reported through the daemon's
 * telemetry), the exposed counters have exactly the expected values; and the
 * Grafana dashboard in docs/ uses only metric names that are exposed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { METRIC_NAMES } from '../../../src/observability/metrics.js';
import { at, startHttpDaemon, type HttpDaemon } from '../../support/http-daemon.js';

/** name{labels} -> value, from the text exposition format. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}

describe('GET /metrics', () => {
  let d: HttpDaemon;
  let samples: Map<string, number>;
  let text: string;
  before(async () => {
    d = await startHttpDaemon();
    const verify = (address: string) => d.get(`/v1/verify?address=${encodeURIComponent(address)}`);
    await verify(at('alice')); // callout: accepted
    await verify(at('bob')); // callout: user_unknown
    await verify(at('alice')); // cache hit
    await verify('no-at-sign'); // invalid_syntax, no cache lookup
    await d.post('/v1/verify', { addresses: [at('bob'), at('carol')] }); // cache hit, callout: accepted
    d.daemon.telemetry.policyDecision('REJECT 5.1.1 <bob@[127.0.0.1]>: sender unknown', 'sender', null);
    d.daemon.telemetry.policyDecision('DUNNO', 'skip', null);
    d.daemon.telemetry.limitRefused('domain_rate', 'example.org');
    d.daemon.telemetry.floodTripped('example.org');
    const response = await d.get('/metrics');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    text = await response.text();
    samples = parseExposition(text);
  });
  after(() => d.close());

  const expected: [string, number][] = [
    ['cbv_verifications_total{result="deliverable",reason="accepted"}', 3],
    ['cbv_verifications_total{result="undeliverable",reason="user_unknown"}', 2],
    ['cbv_verifications_total{result="undeliverable",reason="invalid_syntax"}', 1],
    ['cbv_cache_hits_total{kind="address"}', 2],
    ['cbv_cache_misses_total', 3],
    ['cbv_callouts_total{reason="accepted"}', 2],
    ['cbv_callouts_total{reason="user_unknown"}', 1],
    ['cbv_callout_attempts_total{stage="rcpt",outcome="accepted"}', 2],
    ['cbv_callout_attempts_total{stage="rcpt",outcome="user_unknown"}', 1],
    ['cbv_callout_duration_seconds_count{result="deliverable"}', 2],
    ['cbv_callout_duration_seconds_count{result="undeliverable"}', 1],
    ['cbv_callout_duration_seconds_bucket{le="+Inf",result="deliverable"}', 2],
    ['cbv_callouts_in_flight', 0],
    ['cbv_limit_refusals_total{limit="domain_rate"}', 1],
    ['cbv_flood_trips_total', 1],
    ['cbv_flood_tripped_domains', 0],
    ['cbv_policy_decisions_total{action="REJECT",outcome="sender"}', 1],
    ['cbv_policy_decisions_total{action="DUNNO",outcome="skip"}', 1],
    ['cbv_http_requests_total{route="/v1/verify",method="GET",status="200"}', 4],
    ['cbv_http_requests_total{route="/v1/verify",method="POST",status="200"}', 1],
  ];
  for (const [sample, value] of expected) {
    it(`${sample} = ${value}`, () => assert.equal(samples.get(sample), value));
  }

  it('counts no verification that did not happen', () => {
    const total = [...samples]
      .filter(([k]) => k.startsWith('cbv_verifications_total{'))
      .reduce((n, [, v]) => n + v, 0);
    assert.equal(total, 6);
  });

  it('exposes process metrics', () => {
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
    ])
      assert.ok(samples.has(name), name);
  });

  it('docs/grafana-dashboard.json queries only exposed metric names, and every cbv metric', () => {
    const dashboard = readFileSync(new URL('../../../docs/grafana-dashboard.json', import.meta.url), 'utf8');
    const used = new Set(dashboard.match(/\b(?:cbv|process|nodejs)_[a-z_]+\b/g) ?? []);
    const exposed = new Set(text.split('\n').flatMap((l) => /^# TYPE (\S+)/.exec(l)?.[1] ?? []));
    for (const name of used) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(exposed.has(name) || exposed.has(base), `${name} is not exposed`);
    }
    for (const name of Object.values(METRIC_NAMES))
      assert.ok(
        [...used].some((u) => u.startsWith(name)),
        `${name} unused`,
      );
  });
});
