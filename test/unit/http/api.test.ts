/**
 * The HTTP API over real HTTP on loopback, against a daemon that calls back a
 * scripted loopback SMTP server: verdicts, batches and their limit, the cache,
 * statistics, recent activity, and 400s that name the field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { at, json, startHttpDaemon, type HttpDaemon } from '../../support/http-daemon.js';

type Verdict = { address: string; result: string; reason: string; rule: string; cache: { hit: boolean } };
type Problem = { error: string; field?: string; message: string };

describe('HTTP API', () => {
  let d: HttpDaemon;
  before(async () => {
    // token_burst 5 caps batches at 5 (a batch is admitted whole); a high rate keeps other tests unthrottled.
    d = await startHttpDaemon({ http: { batch_max: 10, token_burst: 5, token_rate: 10_000 } });
  });
  after(() => d.close());

  describe('GET /v1/verify', () => {
    it('answers a known user with deliverable/accepted, by a callout', async () => {
      const r = await d.get(`/v1/verify?address=${encodeURIComponent(at('alice'))}`);
      assert.equal(r.status, 200);
      const v = await json<Verdict>(r);
      assert.deepEqual(
        [v.address, v.result, v.reason, v.cache.hit],
        [at('alice'), 'deliverable', 'accepted', false],
      );
    });

    it('answers an unknown user with undeliverable/user_unknown and the rule that decided', async () => {
      const v = await json<Verdict>(await d.get(`/v1/verify?address=${encodeURIComponent(at('bob'))}`));
      assert.deepEqual([v.result, v.reason, v.rule], ['undeliverable', 'user_unknown', 'rcpt.bad-mailbox']);
    });

    it('answers the same address again from the cache, with no new SMTP session', async () => {
      const sessions = d.smtp.sessions.length;
      const v = await json<Verdict>(await d.get(`/v1/verify?address=${encodeURIComponent(at('alice'))}`));
      assert.equal(v.cache.hit, true);
      assert.equal(d.smtp.sessions.length, sessions);
    });

    it('includes the SMTP transcript when asked, for a fresh callout', async () => {
      const r = await d.get(`/v1/verify?address=${encodeURIComponent(at('carol'))}&transcript=true`);
      const v = await json<{ transcript?: { dir: string; line: string }[] }>(r);
      assert.ok(v.transcript?.some((l) => l.dir === 'C' && l.line.startsWith('RCPT TO:<carol@')));
    });

    it('treats a malformed address as a verdict, not an error', async () => {
      const v = await json<Verdict>(await d.get('/v1/verify?address=no-at-sign'));
      assert.deepEqual([v.result, v.reason], ['undeliverable', 'invalid_syntax']);
    });
  });

  describe('the decision beside the verdict (the path the policy server shares)', () => {
    type Answered = Verdict & {
      decision: {
        action: string;
        reply: { code: number; enhanced: string; text: string } | null;
        skipped?: boolean;
      };
    };
    it('says what a mail server should do: reject an unknown sender with 550 5.1.7, no opinion on a known one', async () => {
      const bob = await json<Answered>(await d.get(`/v1/verify?address=${encodeURIComponent(at('bob'))}`));
      assert.deepEqual(bob.decision.action, 'reject');
      assert.deepEqual(bob.decision.reply, {
        code: 550,
        enhanced: '5.1.7',
        text: 'the mail server for [127.0.0.1] says this mailbox does not exist',
      });
      const alice = await json<Answered>(
        await d.get(`/v1/verify?address=${encodeURIComponent(at('alice'))}`),
      );
      assert.deepEqual([alice.decision.action, alice.decision.reply], ['dunno', null]);
    });

    it('accepts client_ip (IPv4-mapped IPv6 in any writing) and helo, and refuses a client_ip that is no address', async () => {
      for (const ip of ['192.0.2.1', '::ffff:192.0.2.1', '[::FFFF:c000:201]', '2001:db8::1']) {
        const r = await d.get(
          `/v1/verify?address=${encodeURIComponent(at('alice'))}&client_ip=${encodeURIComponent(ip)}&helo=mx.example`,
        );
        assert.equal(r.status, 200, ip);
      }
      for (const ip of ['1.2.3', '::ffff:1.2.3.4.5', 'fe80::1::2']) {
        const r = await d.get(
          `/v1/verify?address=${encodeURIComponent(at('alice'))}&client_ip=${encodeURIComponent(ip)}`,
        );
        assert.equal(r.status, 400, ip);
        assert.equal((await json<Problem>(r)).field, 'client_ip', ip);
      }
      const batch = await d.post('/v1/verify', {
        addresses: [at('bob')],
        client_ip: '192.0.2.1',
        helo: 'mx.example',
      });
      assert.equal(batch.status, 200);
    });

    it('takes client_name and sasl_user: an authenticated client is a skip, as in the policy server', async () => {
      const sessions = d.smtp.sessions.length;
      const r = await d.get(
        `/v1/verify?address=${encodeURIComponent(at('nobody'))}&client_ip=192.0.2.1&client_name=mail.example&sasl_user=carol`,
      );
      assert.equal(r.status, 200);
      const a = await json<Answered>(r);
      assert.deepEqual(
        [a.reason, a.rule, a.decision.action, a.decision.skipped],
        ['skipped', 'policy.skip.authenticated', 'dunno', true],
      );
      assert.equal(d.smtp.sessions.length, sessions, 'no callout');
      const bad = await d.get(`/v1/verify?address=${encodeURIComponent(at('nobody'))}&sasl_user=%01x`);
      assert.equal(bad.status, 400);
      assert.equal((await json<Problem>(bad)).field, 'sasl_user');
    });

    it('follows the configured decision table and skip rules, with the client IP the request gives', async () => {
      const other = await startHttpDaemon({
        http: { token_rate: 10_000 },
        policy: { decisions: { user_unknown: 'defer' }, skip_client_cidrs: ['192.0.2.0/24'] },
      });
      try {
        const deferred = await json<Answered>(
          await other.get(`/v1/verify?address=${encodeURIComponent(at('bob'))}`),
        );
        assert.deepEqual([deferred.decision.action, deferred.decision.reply?.enhanced], ['defer', '4.1.7']);
        const sessions = other.smtp.sessions.length;
        // ::ffff:192.0.2.9 is 192.0.2.9: inside the skipped CIDR once normalised.
        const skipped = await json<Answered>(
          await other.get(
            `/v1/verify?address=${encodeURIComponent(at('dave'))}&client_ip=${encodeURIComponent('::ffff:192.0.2.9')}`,
          ),
        );
        assert.deepEqual(
          [skipped.reason, skipped.rule, skipped.decision.action],
          ['skipped', 'policy.skip.client', 'dunno'],
        );
        assert.equal(other.smtp.sessions.length, sessions, 'no callout for a skipped client');
      } finally {
        await other.close();
      }
    });
  });

  describe('POST /v1/verify', () => {
    it('returns one verdict per address, in order', async () => {
      const r = await d.post('/v1/verify', { addresses: [at('bob'), at('alice'), 'nope'] });
      assert.equal(r.status, 200);
      const { verdicts } = await json<{ verdicts: Verdict[] }>(r);
      assert.deepEqual(
        verdicts.map((v) => v.reason),
        ['user_unknown', 'accepted', 'invalid_syntax'],
      );
    });

    it('refuses a batch above the documented maximum with 400 naming addresses', async () => {
      const addresses = Array.from({ length: 6 }, (_, i) => at(`u${i}`));
      const r = await d.post('/v1/verify', { addresses });
      assert.equal(r.status, 400);
      const p = await json<Problem>(r);
      assert.deepEqual([p.error, p.field], ['invalid_request', 'addresses']);
      assert.equal(d.smtp.sessions.filter((s) => s.commands.some((c) => c.includes('<u0@'))).length, 0);
    });

    it('documents that maximum in the OpenAPI document', async () => {
      const doc = await json<{ paths: Record<string, Record<string, unknown>> }>(
        await d.get('/openapi.json'),
      );
      const body = JSON.stringify(doc.paths['/v1/verify']?.post);
      assert.match(body, /"maxItems":5/);
    });

    it('refuses an empty batch, a missing list and malformed JSON, naming the field', async () => {
      const cases: [unknown, string][] = [
        [{ addresses: [] }, 'addresses'],
        [{}, 'addresses'],
        [{ addresses: [at('alice')], extra: 1 }, 'extra'],
        [{ addresses: [at('alice'), 7] }, 'addresses.1'],
        ['{"addresses": [', 'body'],
      ];
      for (const [body, field] of cases) {
        const r = await d.post('/v1/verify', body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal((await json<Problem>(r)).field, field, JSON.stringify(body));
      }
    });
  });

  describe('400s on the other endpoints name the field', () => {
    const cases: [string, string][] = [
      ['/v1/verify', 'address'],
      ['/v1/verify?address=a@b.example&adress=x', 'adress'],
      ['/v1/verify?address=a@b.example&transcript=maybe', 'transcript'],
      ['/v1/stats?since=2024-02-30x', 'since'],
      ['/v1/stats?since=2024-13-01', 'since'],
      ['/v1/stats?since=2024-05-02&until=2024-05-01', 'since'],
      ['/v1/stats/series?granularity=week', 'granularity'],
      ['/v1/stats/series?count=0', 'count'],
      ['/v1/recent?limit=many', 'limit'],
      ['/v1/recent/first/transcript', 'id'],
      ['/v1/cache/not-an-address', 'address'],
      ['/v1/cache/domain/bad..domain', 'domain'],
    ];
    for (const [path, field] of cases) {
      it(`${path} -> 400 naming ${field}`, async () => {
        const r = await d.get(path);
        assert.equal(r.status, 400);
        const p = await json<Problem>(r);
        assert.deepEqual([p.error, p.field], ['invalid_request', field]);
        assert.ok(p.message.length > 0);
      });
    }
  });

  describe('cache', () => {
    it('shows, then purges, an address entry', async () => {
      const path = `/v1/cache/${encodeURIComponent(at('alice'))}`;
      const found = await json<{ entry: { verdict: Verdict; expiresAt: string } | null }>(await d.get(path));
      assert.equal(found.entry?.verdict.reason, 'accepted');
      assert.ok(Date.parse(found.entry.expiresAt) > Date.now());
      assert.deepEqual(await json(await d.del(path)), { removed: 1 });
      assert.equal((await d.get(path)).status, 404);
      assert.deepEqual(await json(await d.del(path)), { removed: 0 });
    });

    it('purges a domain with all its addresses', async () => {
      await d.get(`/v1/verify?address=${encodeURIComponent(at('dave'))}`);
      const r = await d.del(`/v1/cache/domain/${encodeURIComponent('[127.0.0.1]')}`);
      const { removed } = await json<{ removed: number }>(r);
      assert.ok(removed >= 2, `removed ${removed}`);
      assert.equal((await d.get(`/v1/cache/${encodeURIComponent(at('dave'))}`)).status, 404);
    });

    it('answers 404 for a domain without a fact', async () => {
      const r = await d.get('/v1/cache/domain/example.org');
      assert.equal(r.status, 404);
      assert.equal((await json<Problem>(r)).error, 'not_found');
    });
  });

  describe('statistics and activity', () => {
    it('GET /v1/stats is the seed-002 report of today, with percentages', async () => {
      const report = await json<{
        since: string;
        rows: { key: string; value: number; percent: number | null }[];
      }>(await d.get('/v1/stats'));
      assert.equal(report.since, new Date().toISOString().slice(0, 10));
      const row = (k: string) => report.rows.find((r) => r.key === k);
      const requests = row('requests')?.value ?? 0;
      assert.ok(requests >= 8, `requests ${requests}`);
      const hits = row('cache_hits');
      assert.equal(hits?.percent, Math.round(((hits?.value ?? 0) / requests) * 10_000) / 100);
    });

    it('GET /v1/stats/series fills every hour, oldest first', async () => {
      const { points } = await json<{ points: { at: string; deliverable: number }[] }>(
        await d.get('/v1/stats/series?granularity=hour&count=6'),
      );
      assert.equal(points.length, 6);
      const times = points.map((p) => Date.parse(p.at));
      assert.ok(times.every((t, i) => i === 0 || t - (times[i - 1] ?? 0) === 3_600_000));
      assert.ok((points[5]?.deliverable ?? 0) >= 2);
    });

    it('GET /v1/recent lists decisions newest first, and each opens its transcript', async () => {
      const { decisions } = await json<{
        decisions: { id: number; address: string; hasTranscript: boolean }[];
      }>(await d.get('/v1/recent?limit=3'));
      assert.equal(decisions.length, 3);
      assert.ok((decisions[0]?.id ?? 0) > (decisions[1]?.id ?? 0));
      const withTranscript = decisions.find((x) => x.hasTranscript);
      assert.ok(withTranscript);
      const t = await json<{ address: string; lines: { line: string }[] }>(
        await d.get(`/v1/recent/${withTranscript.id}/transcript`),
      );
      assert.equal(t.address, withTranscript.address);
      assert.ok(t.lines.some((l) => l.line.startsWith('EHLO cbv.test')));
      assert.equal((await d.get('/v1/recent/999999/transcript')).status, 404);
    });
  });

  describe('operations', () => {
    it('/healthz and /readyz answer', async () => {
      assert.deepEqual(await json(await d.get('/healthz')), { status: 'ok' });
      assert.deepEqual(await json(await d.get('/readyz')), {
        status: 'ready',
        details: { heloName: 'cbv.test', warnings: [] },
      });
    });

    it('an unknown path is a JSON 404', async () => {
      const r = await d.get('/v2/nothing');
      assert.equal(r.status, 404);
      assert.equal((await json<Problem>(r)).error, 'not_found');
    });
  });
});
