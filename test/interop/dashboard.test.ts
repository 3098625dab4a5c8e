/**
 * The dashboard in a real browser: Debian's chromium, driven by
 * playwright-core (which never downloads a browser of its own), against a
 * daemon that calls back a scripted loopback SMTP server. A bearer token is
 * configured, so the page must send it. Screenshots at laptop and phone
 * widths are kept under test-artifacts/ (ignored by git).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
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
