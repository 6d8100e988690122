// Real headless Chromium (Debian's `chromium` package) driven by playwright-core: no browser is downloaded. A missing
// browser is a clear failure, not a skip, so CI cannot pass the settings-page test without running it.
import { existsSync } from 'node:fs';
import { Browser, chromium } from 'playwright-core';
import { track } from './cleanup';

export const CHROMIUM = '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (node tools/system-deps.js --install, or ` +
      'apt-get install chromium); the settings page test needs a real browser');
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
      // Anything not on loopback goes to a closed port (loopback is never proxied): the page cannot reach the internet.
      '--proxy-server=http://127.0.0.1:9'],
  });
  // launch() gives Chromium a fresh --user-data-dir of its own (playwright refuses one in args) and removes it on close.
  track({ label: 'chromium', stop: () => browser.close().catch(() => undefined) });
  return browser;
}
