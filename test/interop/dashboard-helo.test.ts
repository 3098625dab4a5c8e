/**
 * The dashboard in a real browser (Debian's chromium via playwright-core) shows the daemon's
 * set-up warnings from /readyz: a HELO name that is not fully qualified, naming verify.helo_name;
 * and shows nothing when the name is fully qualified.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { startHttpDaemon, type HttpDaemon } from '../support/http-daemon.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'];

describe('dashboard: HELO name warning', { timeout: 120_000 }, () => {
  let browser: BrowserContext;
  let profile: string;
  const daemons: HttpDaemon[] = [];

  before(async () => {
    profile = mkdtempSync(join(tmpdir(), 'cbv-chromium-helo-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      headless: true,
    });
  });
  after(async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
    for (const d of daemons) await d.close();
  });

  async function warningsShown(heloName: string): Promise<{ hidden: boolean; text: string }> {
    const d = await startHttpDaemon({ verify: { helo_name: heloName } });
    daemons.push(d);
    const page = await browser.newPage();
    await page.goto(`${d.base}/`);
    await page.locator('#ready.ok').waitFor();
    const box = page.locator('#setup-warnings');
    const result = { hidden: await box.isHidden(), text: (await box.textContent()) ?? '' };
    await page.close();
    return result;
  }

  it('shows the warning when the HELO name is not fully qualified', async () => {
    const shown = await warningsShown('vm');
    assert.equal(shown.hidden, false);
    assert.match(shown.text, /"vm" is not a fully qualified domain name/);
    assert.match(shown.text, /set verify\.helo_name/);
  });

  it('shows nothing when it is', async () => {
    const shown = await warningsShown('verify.example.org');
    assert.equal(shown.hidden, true);
    assert.equal(shown.text, '');
  });
});
