import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium driven by playwright-core. Where it is not installed the browser suites
 * skip with a notice — unless LATCH_REQUIRE_BROWSER=1 (as in CI), where that is a failure.
 */
export const CHROMIUM_PATH = process.env.LATCH_CHROMIUM_PATH ?? '/usr/bin/chromium';

export function browserAvailable(): boolean {
  return fs.existsSync(CHROMIUM_PATH);
}

export function requireBrowserOrSkip(ctx: Mocha.Context) {
  if (browserAvailable()) return;
  if (process.env.LATCH_REQUIRE_BROWSER === '1') {
    throw new Error(`LATCH_REQUIRE_BROWSER=1 but no Chromium at ${CHROMIUM_PATH}; install Debian's chromium package`);
  }
  console.log(`\n  NOTICE: browser tests skipped, no Chromium at ${CHROMIUM_PATH} (apt-get install chromium)\n`);
  ctx.skip();
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
}
