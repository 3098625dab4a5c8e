/**
 * The dashboard in a real browser: Debian's chromium, driven by
 * playwright-core (which never downloads a browser of its own), against a
 * daemon that calls back a scripted loopback SMTP server. A bearer token is
 * configured, so the page must send it. Screenshots at laptop and phone
 * widths are kept under test-artifacts/ (ignored by git).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { at, json, startHttpDaemon, type HttpDaemon } from '../support/http-daemon.js';

const TOKEN = 'dashboard-token-0123456789';
const ARTIFACTS = 'test-artifacts';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

type Row = { key: string; value: number; percent: number | null };
type Report = { since: string; until: string; rows: Row[]; reasons: Row[] };

describe('dashboard in chromium', { timeout: 120_000 }, () => {
  let d: HttpDaemon;
  let browser: BrowserContext;
  let profile: string;

  /** A page that already holds the token, collecting console errors and uncaught exceptions. */
  async function openDashboard(width = 1280): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.setViewportSize({ width, height: 900 });
    // Page scripts are strings: this project's type-check knows Node, not the DOM.
    await page.addInitScript(`localStorage.setItem('cbv.token', ${JSON.stringify(TOKEN)})`);
    await page.goto(`${d.base}/`);
    await page.locator('#stats-table td[data-key="requests"]').first().waitFor();
    await page.locator('#recent-table tbody tr').first().waitFor();
    await page.locator('#chart canvas').waitFor();
    return { page, errors };
  }

  before(async () => {
    d = await startHttpDaemon({ http: { tokens: [{ name: 'dashboard', token: TOKEN }] } });
    for (const address of [at('alice'), at('bob'), at('carol'), at('alice'), 'no-at-sign'])
      assert.equal((await d.get(`/v1/verify?address=${encodeURIComponent(address)}`, TOKEN)).status, 200);
    profile = mkdtempSync(join(tmpdir(), 'cbv-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      headless: true,
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
    await d.close();
  });

  it('loads with no console errors, every asset served by the daemon', async () => {
    const { page, errors } = await openDashboard();
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(d.base)) external.push(r.url());
    });
    await page.reload();
    await page.locator('#recent-table tbody tr').first().waitFor();
    assert.deepEqual(errors, []);
    assert.deepEqual(external, []);
    assert.equal(await page.locator('#ready').textContent(), 'ready');
    await page.close();
  });

  it('shows the same statistics as /v1/stats, for today, this month and the range', async () => {
    const { page } = await openDashboard();
    const today = await json<Report>(await d.get('/v1/stats', TOKEN));
    const day = today.until;
    const since = await page.locator('#range-since').inputValue();
    const until = await page.locator('#range-until').inputValue();
    const reports: [string, Report][] = [
      ['today', today],
      ['month', await json<Report>(await d.get(`/v1/stats?since=${day.slice(0, 8)}01&until=${day}`, TOKEN))],
      ['range', await json<Report>(await d.get(`/v1/stats?since=${since}&until=${until}`, TOKEN))],
    ];
    assert.ok((today.rows.find((r) => r.key === 'requests')?.value ?? 0) >= 5);
    for (const [period, report] of reports) {
      const shown = [...report.rows, ...report.reasons.filter((r) => r.value > 0)];
      for (const row of shown) {
        const cell = page.locator(`td[data-period="${period}"][data-key="${row.key}"]`);
        const value = Number((await cell.locator('.v').textContent())?.replace(/\D/g, ''));
        assert.equal(value, row.value, `${period} ${row.key}`);
        const percent = (await cell.locator('.pct').textContent()) ?? '';
        assert.equal(
          percent,
          row.percent === null ? '' : `${row.percent.toFixed(2)}%`,
          `${period} ${row.key} %`,
        );
      }
    }
    await page.close();
  });

  it('verifies an address from the form, and the new decision opens its SMTP transcript', async () => {
    const { page } = await openDashboard();
    await page.fill('#verify-input', at('erin'));
    await page.click('#verify-form button[type="submit"]');
    const verdict = page.locator('#verify-result .verdict[data-result="undeliverable"]');
    await verdict.waitFor();
    assert.match((await verdict.textContent()) ?? '', /user_unknown/);
    assert.match((await verdict.textContent()) ?? '', /rcpt\.bad-mailbox/);
    const row = page.locator('#recent-table tbody tr', { hasText: at('erin') }).first();
    await row.waitFor();
    await row.locator('button.link').click();
    const transcript = page.locator('#transcript-body');
    await page.locator('#transcript-body', { hasText: 'RCPT' }).waitFor();
    assert.match((await transcript.textContent()) ?? '', /C: RCPT TO:<erin@\[127\.0\.0\.1\]>/);
    await page.close();
  });

  it('looks up an address in the cache, then purges it', async () => {
    const address = at('carol');
    const { page } = await openDashboard();
    await page.fill('#cache-input', address);
    await page.click('#cache-form button[type="submit"]');
    await page.locator('#cache-result [data-state="found"]').waitFor();
    await page.click('#cache-purge');
    const purged = page.locator('#cache-result [data-state="purged"]');
    await purged.waitFor();
    assert.match((await purged.textContent()) ?? '', /1 entry removed/);
    assert.equal((await d.get(`/v1/cache/${encodeURIComponent(address)}`, TOKEN)).status, 404);
    await page.click('#cache-form button[type="submit"]');
    await page.locator('#cache-result [data-state="missing"]').waitFor();
    await page.close();
  });

  it('asks for the token when none is stored, and works once it is given', async () => {
    const page = await browser.newPage();
    await page.goto(`${d.base}/`);
    await page.evaluate('localStorage.clear()');
    await page.reload();
    await page.locator('#token-form').waitFor({ state: 'visible' });
    await page.fill('#token-input', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.locator('#stats-table td[data-key="requests"]').first().waitFor();
    assert.equal(await page.evaluate<string | null>("localStorage.getItem('cbv.token')"), TOKEN);
    await page.close();
  });

  it('shows the domains the flood breaker holds tripped', async () => {
    const { page } = await openDashboard();
    assert.equal(await page.locator('#flood-empty').isVisible(), true);
    // A forged flood at the scripted MX's domain: distinct local parts it does not know.
    const forged = Array.from({ length: 12 }, (_, i) => at(`forged${i}`));
    await Promise.all(forged.map((a) => d.get(`/v1/verify?address=${encodeURIComponent(a)}`, TOKEN)));
    await page.reload();
    const row = page.locator('#flood-table tbody tr', { hasText: '[127.0.0.1]' });
    await row.waitFor();
    assert.equal(await page.locator('#flood-empty').isVisible(), false);
    const cells = await row.locator('td').allTextContents();
    assert.ok(Number(cells[1]) >= 5, `unknown senders: ${cells.join(' | ')}`);
    await page.close();
  });

  it('fits a phone and a laptop screen; screenshots are kept under test-artifacts/', async () => {
    for (const [name, width] of [
      ['desktop', 1280],
      ['phone', 390],
    ] as const) {
      const { page } = await openDashboard(width);
      await page.fill('#verify-input', at('alice'));
      await page.click('#verify-form button[type="submit"]');
      await page.locator('#verify-result .verdict').waitFor();
      const overflow = await page.evaluate<number>(
        'document.documentElement.scrollWidth - window.innerWidth',
      );
      assert.ok(overflow <= 0, `${name}: the page is ${overflow} px wider than the screen`);
      const path = join(ARTIFACTS, `dashboard-${name}.png`);
      await page.screenshot({ path, fullPage: true });
      assert.ok(statSync(path).size > 10_000, `${path} looks empty`);
      await page.close();
    }
  });
});

/**
 * Without a token (the loopback default), the browser is the attacker's way in:
 * a page on another site, or a name rebound to 127.0.0.1. Chromium resolves
 * rebind.test and attacker.test to 127.0.0.1 (--host-resolver-rules), as a
 * DNS-rebinding attacker's resolver would.
 */
describe(
  'dashboard and API against hostile pages, in chromium, without a token',
  { timeout: 120_000 },
  () => {
    /** A reply with CSI (C1) and bidi overrides and isolates, as a hostile MX could send. */
    const HOSTILE = '550 5.1.1 \u009b2J\u202eUser \u2066unknown\u2069\r\n';
    const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
    let d: HttpDaemon;
    let browser: Browser;
    let attacker: Server;
    let attackerPage = '';

    before(async () => {
      d = await startHttpDaemon({
        rcpt: (line) => (line.includes('<mallory@') ? HOSTILE : null),
        // The policy server too: a page can make the browser send HTTP to its port.
        policy: { enabled: true, listen: ['127.0.0.1:0'] },
      });
      attacker = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' }).end(attackerPage);
      });
      await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
      browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: [
          ...CHROMIUM_ARGS,
          '--host-resolver-rules=MAP rebind.test 127.0.0.1, MAP attacker.test 127.0.0.1',
        ],
        headless: true,
      });
    });
    after(async () => {
      await browser.close();
      await new Promise((resolve) => attacker.close(resolve));
      await d.close();
    });

    it('shows C1 and bidi characters of a reply as escapes, in the verdict and the transcript', async () => {
      const page = await browser.newPage();
      await page.goto(`${d.base}/`);
      await page.fill('#verify-input', at('mallory'));
      await page.click('#verify-form button[type="submit"]');
      const verdict = page.locator('#verify-result .verdict[data-result="undeliverable"]');
      await verdict.waitFor();
      const shown = (await verdict.textContent()) ?? '';
      assert.doesNotMatch(shown, RAW);
      assert.match(shown, /550 5\.1\.1 \\u009b2J\\u202eUser \\u2066unknown\\u2069/);
      await page
        .locator('#recent-table tbody tr', { hasText: at('mallory') })
        .first()
        .locator('button.link')
        .click();
      await page.locator('#transcript-body', { hasText: 'RCPT' }).waitFor();
      const transcript = (await page.locator('#transcript-body').textContent()) ?? '';
      assert.doesNotMatch(transcript.replaceAll('\n', ''), RAW);
      assert.match(transcript, /S: 550 5\.1\.1 \\u009b2J\\u202eUser/);
      await page.close();
    });

    it('refuses a rebound name: the page and its reads of /v1/recent get 421', async () => {
      const port = new URL(d.base).port;
      const page = await browser.newPage();
      const response = await page.goto(`http://rebind.test:${port}/`);
      assert.equal(response?.status(), 421);
      const read = await page.evaluate<{ status: number; body: string }>(
        "fetch('/v1/recent').then(async (r) => ({ status: r.status, body: await r.text() }))",
      );
      assert.equal(read.status, 421);
      assert.doesNotMatch(read.body, /mallory/);
      assert.equal((JSON.parse(read.body) as { error: string }).error, 'misdirected_request');
      await page.close();
    });

    it('refuses what a page on another site makes the browser send: an image, a no-cors fetch, a form POST', async () => {
      const target = (local: string): string =>
        `${d.base}/v1/verify?address=${encodeURIComponent(at(local))}`;
      attackerPage = `<!doctype html><body>
      <img id="img" src="${target('victim-img')}">
      <form id="f" method="post" enctype="text/plain" action="${d.base}/v1/verify">
        <input name='{"addresses":["victim-form@[127.0.0.1]"],"x":"' value='"}'>
      </form>
      <script>
        window.done = Promise.all([
          new Promise((r) => { const i = document.getElementById('img'); i.onload = i.onerror = r; }),
          fetch(${JSON.stringify(target('victim-fetch'))}, { mode: 'no-cors' }).catch(() => null),
          fetch(${JSON.stringify(`${d.base}/v1/cache/domain/example.org`)}, { method: 'DELETE', mode: 'no-cors' }).catch(() => null),
        ]);
      </script></body>`;
      const before = d.logs.filter((l) => l.event === 'http.refused' && l.reason === 'cross_site').length;
      const page = await browser.newPage();
      await page.goto(`http://attacker.test:${(attacker.address() as AddressInfo).port}/`);
      await page.evaluate('window.done');
      const posted = page.waitForResponse((r) => r.request().method() === 'POST');
      await page.evaluate("document.getElementById('f').submit()");
      const response = await posted;
      assert.equal(response.status(), 403);
      const refused = d.logs.filter((l) => l.event === 'http.refused' && l.reason === 'cross_site');
      assert.ok(refused.length - before >= 3, `refused ${refused.length - before}: image, fetch and form`);
      const rcpts = d.smtp.sessions.flatMap((s) => s.commands).filter((c) => /victim/.test(c));
      assert.deepEqual(rcpts, [], 'no callout was made for any of them');
      await page.close();
    });

    it('cannot make the policy server call out: a no-cors POST of a policy request to its port is closed unread', async () => {
      const policy = d.daemon.listening.policy?.[0] ?? '';
      const body = 'request=smtpd_access_policy\nprotocol_state=RCPT\nsender=victim-policy@[127.0.0.1]\n\n';
      attackerPage = `<!doctype html><body><script>
        window.done = Promise.all([
          fetch(${JSON.stringify(`http://${policy}/`)}, { method: 'POST', mode: 'no-cors', body: ${JSON.stringify(body)} }).catch(() => null),
          fetch(${JSON.stringify(`http://${policy}/?request=smtpd_access_policy`)}, { mode: 'no-cors' }).catch(() => null),
        ]);
      </script></body>`;
      const before = d.logs.filter((l) => l.event === 'policy.limit_exceeded').length;
      const page = await browser.newPage();
      await page.goto(`http://attacker.test:${(attacker.address() as AddressInfo).port}/`);
      await page.evaluate('window.done');
      const closed = d.logs.filter((l) => l.event === 'policy.limit_exceeded').length - before;
      assert.ok(closed >= 2, `HTTP connections closed by the policy server: ${closed}`);
      const rcpts = d.smtp.sessions.flatMap((s) => s.commands).filter((c) => /victim-policy/.test(c));
      assert.deepEqual(rcpts, [], 'no callout');
      await page.close();
    });
  },
);
