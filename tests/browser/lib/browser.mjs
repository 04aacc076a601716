// Headless Chromium from the Debian package (never a downloaded browser), and the web app's
// join flow as a user performs it.

import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

// Fake camera (a moving pattern), fake microphone (a beep), and auto-accepted permission
// prompts, including getDisplayMedia, which then captures a fake 1280×720 "screen" with audio.
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
];

/**
 * @param {{ executablePath?: string, args?: string[] }} [opts] `executablePath`: something that
 * runs Chromium (for example inside another network namespace, see netns.mjs); `args`: flags
 * added to ours.
 */
export async function launchChromium({ executablePath = CHROMIUM, args = [] } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  return chromium.launch({ executablePath, args: [...FLAGS, ...args], timeout: 30_000 });
}

/**
 * The flag that lets a page from `origin` (plain http, not localhost) use the camera and
 * microphone, as a page from an https origin may.
 */
export function secureOriginFlag(origin) {
  return `--unsafely-treat-insecure-origin-as-secure=${origin}`;
}

/**
 * Opens the app in a fresh browser context (its own storage, like a second person) and joins
 * `room` as `name` through the join form. Browser console output goes to `<artifacts>/<name>.console.log`.
 * @returns {Promise<{ context, page, identity: string }>}
 */
export async function joinViaForm(browser, { baseUrl, name, room, artifacts, query = '' }) {
  const context = await browser.newContext({ viewport: { width: 960, height: 600 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const consoleLog = join(artifacts, `${name}.console.log`);
  page.on('console', (m) => appendFileSync(consoleLog, `[${m.type()}] ${m.text()}\n`));
  page.on('pageerror', (e) => appendFileSync(consoleLog, `[pageerror] ${e.stack ?? e}\n`));

  await page.goto(`${baseUrl}/?lang=en${query}`);
  await page.getByTestId('join-name').fill(name);
  await page.getByTestId('join-room').fill(room);
  await page.getByTestId('join-button').click();

  const status = page.locator('[data-testid="status"]:is([data-state="connected"], [data-state="disconnected"])');
  // Longer than the app's own 30 s connect timeout, so a failure shows the app's message.
  await status.waitFor({ timeout: 35_000 });
  if ((await status.getAttribute('data-state')) !== 'connected') {
    throw new Error(`${name} could not join: "${await status.innerText()}" (console: ${consoleLog})`);
  }
  const identity = await page.evaluate(() => window.__huiyi.room.localParticipant.identity);
  return { context, page, identity };
}

/** The tile that `page` shows for participant `identity`. */
export function tileOf(page, identity, testid = 'tile') {
  return page.locator(`[data-testid="${testid}"][data-identity=${JSON.stringify(identity)}]`);
}

/**
 * On `page` (any page of the app at `baseUrl`): signs up a new host with its own enterprise and
 * schedules a meeting that is open now, as the portal does, with the page's session cookie.
 * @returns {Promise<{ code: string, id: string }>}
 */
export async function signUpAndSchedule(page, baseUrl, { enterprise, subject }) {
  await page.goto(`${baseUrl}/signin?lang=en`);
  const made = await page.evaluate(
    async ([email, enterprise, subject]) => {
      const signup = await fetch('/api/auth/signup', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: 'quiet harbour 77', username: 'Host Wang', enterprise_name: enterprise }),
      });
      if (!signup.ok) return { error: await signup.text() };
      const res = await fetch('/v1/meetings', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'X-Huiyi-Csrf': '1' },
        body: JSON.stringify({ subject, type: 1, instanceid: 5, settings: { mute_enable_join: false } }),
      });
      return res.json();
    },
    [`host.${Date.now()}@example.com`, enterprise, subject],
  );
  if (!made.meeting_info_list) throw new Error(`scheduling failed: ${JSON.stringify(made)}`);
  return { code: made.meeting_info_list[0].meeting_code, id: made.meeting_info_list[0].meeting_id };
}
