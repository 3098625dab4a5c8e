/**
 * The dashboard's fleet switch in a real browser (Debian's chromium): two
 * fleet nodes share one redis-server; the statistics card of one node shows
 * its own counters, and the whole fleet's when switched; a single node has no switch.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { at, startHttpDaemon, type HttpDaemon } from '../support/http-daemon.js';
import { startRedis, type TestRedis } from '../support/redis-server.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'];

describe('dashboard fleet switch in chromium', { timeout: 120_000 }, () => {
  let redis: TestRedis;
  let dir: string;
  let one: HttpDaemon;
  let two: HttpDaemon;
  let single: HttpDaemon;
  let browser: BrowserContext;

  before(async () => {
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), 'cbv-dash-fleet-'));
    const node = (name: string) =>
      startHttpDaemon({
        config: {
          cache: { backend: 'redis' },
          redis: { url: redis.url, prefix: 'dash:', node_name: name },
          service: { data_dir: join(dir, name) },
        },
      });
    [one, two, single] = [await node('web1'), await node('web2'), await startHttpDaemon()];
    // web1 answers one request, web2 three: the fleet has four.
    assert.equal((await one.get(`/v1/verify?address=${at('alice')}`)).status, 200);
    for (const local of ['alice', 'carol', 'nobody'])
      assert.equal((await two.get(`/v1/verify?address=${at(local)}`)).status, 200);
    await one.daemon.service.verifier.stats.flush();
    await two.daemon.service.verifier.stats.flush();
    browser = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      headless: true,
    });
  });
  after(async () => {
    await browser.close();
    await Promise.all([one.close(), two.close(), single.close()]);
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const requestsToday = (page: Page) =>
    page.locator('#stats-table td[data-period="today"][data-key="requests"] .v').textContent();

  it("shows this node's counters, and the whole fleet's when switched", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${one.base}/`);
    await page.locator('#stats-table td[data-key="requests"]').first().waitFor();
    await page.locator('#stats-scope').waitFor({ state: 'visible' });
    assert.equal(await requestsToday(page), '1');
    await page.locator('#stats-fleet').check();
    // The page's CSP allows no string evaluation: wait on locators, not on a function.
    await page.locator('#stats-title', { hasText: 'fleet' }).waitFor();
    assert.equal(await page.locator('#stats-title').textContent(), 'Statistics: fleet of 2');
    assert.equal(await requestsToday(page), '4');
    await page.locator('#stats-fleet').uncheck();
    await page.locator('#stats-title', { hasText: /^Statistics$/ }).waitFor();
    assert.equal(await requestsToday(page), '1');
    assert.deepEqual(errors, []);
  });

  it('a single node offers no fleet switch', async () => {
    const page = await browser.newPage();
    await page.goto(`${single.base}/`);
    await page.locator('#stats-table td[data-key="requests"]').first().waitFor();
    assert.equal(await page.locator('#stats-scope').isVisible(), false);
  });
});
