// The settings page as a committee member uses it: inside the real Homebridge UI (homebridge-config-ui-x 5.10.0 started
// by its hb-service, running Homebridge 2 with this plugin), in real headless Chromium, against the simulated cameras:
// discover them, add one, check it, learn the doorbell button from a press at the camera and save it, restart Homebridge
// and see the ring in the history. Screenshots at phone and desktop width go to .test-artifacts/settings-ui/ (git-ignored);
// with COURTYARD_UI_DOCS=1 the README's images in docs/ui/ are made from the same run.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, FrameLocator, Page } from 'playwright-core';
import { CameraSim } from '../../tools/camera-sim';
import { startDiscoveryResponder } from '../../tools/camera-sim/discovery';
import { currentHbLine, pollUntil, startSim, track } from './rig';
import { launchChromium } from './rig/browser';
import { HomebridgeUi, startHomebridgeUi } from './rig/homebridge-ui';
import { repoRoot } from './rig/paths';

const PASSWORD = 'Courtyard-Sim-Ui-52';
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const ARTIFACTS = join(repoRoot(), '.test-artifacts', 'settings-ui');
const DOCS = join(repoRoot(), 'docs', 'ui');

describe('settings page in the real Homebridge UI', function () {
  this.timeout(120_000);
  let sim: CameraSim;
  let ui: HomebridgeUi;
  let browser: Browser;
  let page: Page;
  let frame: FrameLocator;
  const started = Date.now();

  before(async function () {
    // The page runs in the Homebridge UI, which runs Homebridge 2 itself; the Homebridge 1 run has nothing to add.
    if (currentHbLine() === 1) {
      this.skip();
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    sim = await startSim({ cameras: [
      { name: 'Entrance A', vendor: 'hikvision', password: PASSWORD },
      { name: 'Bins', vendor: 'dahua', password: PASSWORD },
    ] });
    const responder = await startDiscoveryResponder(sim.cameras);
    track({ label: 'discovery responder', stop: () => responder.stop() });
    // The page's discovery probe goes to the simulator on loopback, never to the multicast group of a real network.
    ui = await startHomebridgeUi({ COURTYARD_DISCOVERY_TARGET: `127.0.0.1:${responder.port}` });
    browser = await launchChromium();
    page = await openSettings(browser, ui, { viewport: DESKTOP, colorScheme: 'light' }, true);
    frame = page.frameLocator('iframe');
  });

  after(() => {
    if (ui) {
      process.stdout.write(`      settings page test: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    }
  });

  /** Waits until the element's text matches; on timeout says what it showed instead (the page's own sentence). */
  async function waitText(selector: string, re: RegExp, timeoutMs: number, f: FrameLocator = frame): Promise<string> {
    let last = '';
    return pollUntil(async () => {
      last = await f.locator(selector).innerText({ timeout: 1_000 }).catch(() => '');
      return re.test(last) ? last : undefined;
    }, { timeoutMs, intervalMs: 200, what: `${selector} to show ${re} (it shows "${last}")` }).catch((err: Error) => {
      throw new Error(`${err.message}; it shows "${last}"`);
    });
  }

  /** Screenshots of the page (the iframe, which the UI sizes to its content) at desktop and phone width. */
  async function shoot(p: Page, name: string, docs = false): Promise<void> {
    for (const [width, size] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
      // Tall enough for the whole page: the UI sizes the iframe to its content, and the screenshot shows what is in view.
      await p.setViewportSize({ width: size.width, height: 3000 });
      // The UI resizes the iframe to its content's new height: wait until that height holds, then until it is painted.
      let height = -1;
      await pollUntil(async () => {
        const now = (await p.locator('iframe').boundingBox())?.height ?? 0;
        const steady = now === height;
        height = now;
        return steady ? true : undefined;
      }, { timeoutMs: 5_000, intervalMs: 300, what: 'the settings frame to keep its height' });
      await p.waitForTimeout(300);
      const file = join(ARTIFACTS, `${name}-${width}.png`);
      await p.locator('iframe').screenshot({ path: file });
      if (docs && width === 'phone' && process.env.COURTYARD_UI_DOCS === '1') {
        mkdirSync(DOCS, { recursive: true });
        copyFileSync(file, join(DOCS, `${name}.png`));
      }
    }
    await p.setViewportSize(DESKTOP);
  }

  it('discovers the simulated cameras and says which accept the typed login', async () => {
    await frame.locator('[data-tab="discover"]').click();
    await frame.locator('#discover-user').fill('admin');
    await frame.locator('#discover-password').fill(PASSWORD);
    await frame.locator('#discover-run').click();
    const found = frame.locator('#discover-list li');
    await found.nth(1).waitFor({ timeout: 20_000 });
    assert.equal(await found.count(), 2);
    const entrance = found.filter({ hasText: 'Entrance A' });
    assert.match(await entrance.innerText(), /DS-2CD2347G2-LU/);
    assert.match(await entrance.innerText(), /accepts this user and password \(HIKVISION DS-2CD2347G2-LU, serial /);
    assert.ok(!(await frame.locator('#courtyard').innerText()).includes(PASSWORD), 'password shown on the page');
    await shoot(page, 'discover', true);
  });

  it('adds one and checks it: device, clock, copy verdicts for live view and recording, a snapshot', async () => {
    await frame.locator('#discover-list li').filter({ hasText: 'Entrance A' }).getByRole('button', { name: 'Add' }).click();
    await frame.locator('[data-panel="check"]').waitFor({ state: 'visible', timeout: 5_000 });
    assert.equal(await frame.locator('#check-camera option:checked').innerText(), 'Entrance A');
    await frame.locator('#check-run').click();
    const verdict = frame.locator('#check-result .cy-verdict');
    await verdict.waitFor({ timeout: 60_000 });
    assert.equal(await verdict.innerText(), 'Entrance A works: nothing to change.');
    const result = await frame.locator('#check-result').innerText();
    assert.match(result, /HIKVISION DS-2CD2347G2-LU/);
    assert.match(result, /ahead of the Homebridge server|behind the Homebridge server/);
    for (const stream of ['main', 'sub']) {
      const row = frame.locator(`#check-result tr[data-stream="${stream}"]`);
      assert.deepEqual(await row.locator('.badge').allInnerTexts(), ['copied', 'copied'], `${stream} verdicts`);
    }
    await frame.locator('#snapshot:not([hidden])').waitFor({ timeout: 20_000 });
    assert.ok(await frame.locator('#snapshot').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth > 0));
    assert.ok(!result.includes(PASSWORD));
    await shoot(page, 'check', true);
  });

  it('learns the doorbell from a button press at the camera and saves it into the config', async () => {
    await frame.locator('[data-tab="learn"]').click();
    await frame.locator('#learn-start').click();
    await waitText('#learn-status', /^Watching Entrance A/, 20_000);
    sim.cameras[0].doorbell(); // the visitor presses the button wired to the camera's digital input
    // The row shows the latest state (the button's input goes on, then off again): it is found by its topic.
    const row = frame.locator('#learn-list li[data-topic="tns1:Device/Trigger/DigitalInput"]');
    await waitText('#learn-list li[data-topic="tns1:Device/Trigger/DigitalInput"]', 
      /^(?![\s\S]*state when watching began)[\s\S]*input (on|off)/, 15_000); // a change, not only the state at subscription
    await shoot(page, 'learn', true);
    await row.locator('[data-action="doorbell"]').click();
    await waitText('#learn-status', /Saved; restart Homebridge/, 10_000);
    await frame.locator('#learn-stop').click();
    const saved = await pollUntil(async () => ui.savedPlatform(), { timeoutMs: 5_000, what: 'the config saved' });
    const cameras = saved.cameras as Array<Record<string, unknown>>;
    assert.equal(cameras.length, 1);
    assert.deepEqual({ ...cameras[0], port: undefined }, { name: 'Entrance A', host: '127.0.0.1', port: undefined, username: 'admin',
      password: PASSWORD, doorbell: true, doorbellEvents: ['input'] });
    assert.equal(cameras[0].port, sim.cameras[0].port);
  });

  it('shows the ring in the history once Homebridge runs the saved config', async () => {
    const cam = sim.cameras[0];
    const before = cam.stats().created;
    await ui.restartHomebridge();
    // The restarted plugin subscribes to the camera's events: then a press reaches it.
    await pollUntil(async () => (cam.stats().created > before && cam.stats().subscriptions > 0 ? true : undefined),
      { timeoutMs: 40_000, what: 'the plugin to subscribe to the camera\'s events' });
    cam.doorbell();
    await frame.locator('[data-tab="history"]').click();
    const card = frame.locator('#history-list [data-camera="Entrance A"]');
    await pollUntil(async () => {
      await frame.locator('#history-run').click();
      await page.waitForTimeout(500); // the plugin writes its history a second after an event; the page reads it again
      // The button's release comes after the ring, and may be written a second later: wait for both, not only the ring.
      const shown = await card.innerText().catch(() => '');
      return /doorbell rang/.test(shown) && /input off/.test(shown) ? true : undefined;
    }, { timeoutMs: 20_000, intervalMs: 1_000, what: 'the ring and the button\'s release in the history' });
    const text = await card.innerText();
    assert.match(text, /online/);
    assert.match(text, /answers now/);
    assert.match(text, /last event /);
    // Newest first: the button went on, the plugin rang, the button went off again.
    const lines = (await card.locator('li').allInnerTexts()).map((l) => l.split('\n')[1]);
    assert.deepEqual(lines.slice(0, 3), ['input off', 'doorbell rang', 'input on'], lines.join(' | '));
    await shoot(page, 'history', true);
  });

  it('looks right in the dark theme at phone width', async () => {
    const dark = await openSettings(browser, ui, { viewport: PHONE, colorScheme: 'dark' }, false);
    const f = dark.frameLocator('iframe');
    assert.match(await f.locator('body').getAttribute('class') ?? '', /dark-mode/);
    await f.locator('[data-tab="history"]').click();
    await f.locator('#history-list [data-camera="Entrance A"]').waitFor({ timeout: 15_000 });
    await dark.locator('iframe').screenshot({ path: join(ARTIFACTS, 'history-phone-dark.png') });
    await f.locator('[data-tab="check"]').click();
    await f.locator('#check-run').click();
    await f.locator('#check-result .cy-verdict').waitFor({ timeout: 60_000 });
    await f.locator('#snapshot:not([hidden])').waitFor({ timeout: 20_000 });
    await dark.locator('iframe').screenshot({ path: join(ARTIFACTS, 'check-phone-dark.png') });
    await dark.close();
  });
});

/** Logs in as the admin and opens the plugin's settings the way a user does (first time: right after installing). */
async function openSettings(browser: Browser, ui: HomebridgeUi, opts: { viewport: { width: number; height: number };
  colorScheme: 'light' | 'dark' }, firstTime: boolean): Promise<Page> {
  const context = await browser.newContext(opts);
  const page = await context.newPage();
  await page.goto(`${ui.url}/login`);
  await page.evaluate((token) => (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } })
    .localStorage.setItem('access_token', token), ui.token);
  if (firstTime) {
    // What the UI opens after installing a plugin that has no config yet: its settings.
    await page.goto(`${ui.url}/plugins?action=just-installed&plugin=homebridge-courtyard`);
  } else {
    await page.goto(`${ui.url}/plugins`);
    await page.getByRole('button', { name: 'Plugin Actions Dropdown' }).or(page.locator('a[aria-label="Plugin Actions Dropdown"]')).first().click();
    await page.getByRole('button', { name: 'Plugin Config' }).click();
  }
  await page.frameLocator('iframe').locator('#courtyard').waitFor({ timeout: 30_000 });
  return page;
}
