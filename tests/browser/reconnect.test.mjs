// Reconnection after a real network outage: a guest whose network goes silent for 30 s comes
// back as the same participant (same identity and participant sid: a resume, not a rejoin),
// with their raised hand still in its place, the host's mute-all still holding their
// microphone, and without passing the waiting room again; the host never sees them leave.
//
// The guest's Chromium runs in a network namespace of its own (lib/netns.mjs), joined to the
// test's namespace by a veth pair; the outage drops every packet on that pair, both ways, with
// no error to anyone, as when a path dies. The server listens on the parent's end of the pair,
// which both browsers reach. Run inside scripts/netns-run, like the other browser tests.

import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchChromium, secureOriginFlag, tileOf } from './lib/browser.mjs';
import { nestedNetns } from './lib/netns.mjs';
import { startServer, tail } from './lib/server.mjs';
import { artifactsDir, sequence } from './lib/steps.mjs';
import { inboundStats } from './lib/stats.mjs';
import { poll, sleep } from './lib/wait.mjs';

const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));
// Issue 8: "a participant whose network drops for up to 30 s comes back".
const OUTAGE_MS = 30_000;
// The server's default ping interval (`--ping-interval-secs`), which clients are told to use.
const PING_INTERVAL_MS = 5_000;
// From the network's return to the guest's resumed session. livekit-client retries its resume
// with a 15 s signalling timeout and up to 7 s (±50 %) between attempts, so an attempt that
// began during the outage may need most of one cycle to notice the network is back.
const RECOVERY_MS = 40_000;

describe('reconnection after a 30 s network outage', { skip: process.env.HUIYI_URL && 'needs its own server, reachable from a second network namespace' }, () => {
  const artifacts = artifactsDir('reconnect');
  let netns;
  let server;
  let hostBrowser;
  let guestBrowser;
  const meeting = {};
  const people = {};
  const step = sequence({ explain: (e) => new Error(`${e.message}\n--- server log ---\n${tail(server.log)}`) });
  const shot = (page, name) => page.screenshot({ path: join(artifacts, `reconnect-${name}.png`) });

  async function open(browser, name) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 760 }, locale: 'en-US' });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const log = join(artifacts, `reconnect-${name}.console.log`);
    page.on('console', (m) => appendFileSync(log, `[${new Date().toISOString()}] [${m.type()}] ${m.text()}\n`));
    page.on('pageerror', (e) => appendFileSync(log, `[pageerror] ${e.stack ?? e}\n`));
    // When the page last sent anything on its signalling socket, and when it last pinged.
    const signal = { sent: 0, ping: 0 };
    page.on('websocket', (ws) => {
      if (!new URL(ws.url()).pathname.startsWith('/rtc')) return;
      ws.on('framesent', ({ payload }) => {
        signal.sent = Date.now();
        // A SignalRequest whose first field is `ping` (14, varint) or `ping_req` (15, bytes).
        if (typeof payload !== 'string' && (payload[0] === 0x70 || payload[0] === 0x7a)) signal.ping = Date.now();
      });
    });
    return { context, page, signal };
  }

  /**
   * Cuts the guest's network shortly before its next ping, when it has sent nothing since the
   * last one: the server then notices the silence almost as early as it can (its ping timeout
   * less one ping interval, 10 s, into the outage) and must hold the session almost the
   * longest. Returns how long before the cut the guest's last message went out.
   */
  async function cutBeforeNextPing(signal) {
    for (let tries = 0; tries < 5; tries++) {
      const seen = signal.ping;
      await poll('a ping from the guest', async () => signal.ping, (t) => t > seen, { timeout: PING_INTERVAL_MS + 3_000, interval: 20 });
      const ping = signal.ping;
      // Half a second's margin: the cut (two nft runs, a few ms each) must be in place before
      // the next ping leaves. Were it late, the server would only notice 5 s later.
      await sleep(ping + PING_INTERVAL_MS - 500 - Date.now());
      // `ping` and `ping_req` go out together; anything later would push the server's timer.
      if (signal.sent - ping < 100) {
        const at = Date.now();
        await netns.cut();
        return at - ping;
      }
    }
    throw new Error('the guest never went a ping interval without other signalling');
  }

  const connected = (page) => page.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: 35_000 });

  /** What the guest's own page knows of itself. */
  const selfState = (page) =>
    page.evaluate(() => {
      const room = window.__huiyi.room;
      const lp = room.localParticipant;
      return {
        state: room.state,
        identity: lp.identity,
        sid: lp.sid,
        hand: lp.attributes['huiyi.hand'] ?? null,
        role: lp.attributes['huiyi.role'] ?? null,
        waiting: lp.attributes['huiyi.waiting'] ?? null,
        sources: lp.permissions?.canPublishSources ?? [],
        mic: lp.isMicrophoneEnabled,
      };
    });

  /** What the host's page knows of the guest. */
  const seenByHost = (identity) =>
    people.host.page.evaluate((id) => {
      const p = window.__huiyi.room.remoteParticipants.get(id);
      return p ? { sid: p.sid, hand: p.attributes['huiyi.hand'] ?? null, role: p.attributes['huiyi.role'] ?? null } : null;
    }, identity);

  /**
   * Waits until `page` decodes 30 more frames of `identity`'s camera than when called. A
   * receiver replaced on the way (its counters start again) counts from its own start.
   */
  async function framesFlow(page, identity, what) {
    let base = (await inboundStats(page, identity, 'camera')).framesDecoded ?? 0;
    await poll(what, () => inboundStats(page, identity, 'camera'), (s) => {
      if (s.framesDecoded < base) base = 0;
      return s.framesDecoded >= base + 30;
    }, { timeout: 20_000 });
  }

  before(async () => {
    console.log(`artifacts (screenshots, logs): ${artifacts}`);
    assert.equal(process.env.HUIYI_IN_NETNS, '1', 'run the browser tests inside scripts/netns-run');
    netns = await nestedNetns();
    // Bound to the parent's end of the pair, the server is reached (and advertises its ICE
    // candidates) at one address from both namespaces.
    server = await startServer({ bin: process.env.HUIYI_BIN, webDir: WEB_DIST, logPath: join(artifacts, 'server-reconnect.log'), bind: netns.parentAddr });
    // Not localhost: the pages need the flag to use the (fake) camera and microphone.
    const secure = secureOriginFlag(server.url);
    hostBrowser = await launchChromium({ args: [secure] });
    guestBrowser = await launchChromium({ executablePath: netns.wrapper('/usr/bin/chromium'), args: [secure] });
  }, { timeout: 90_000 });

  after(async () => {
    await netns?.restore();
    await guestBrowser?.close();
    await hostBrowser?.close();
    await server?.stop();
    await netns?.close();
    console.log(`artifacts (screenshots, logs): ${artifacts}`);
  });

  step('a host schedules a meeting with a waiting room and joins it', async () => {
    const { context, page } = await open(hostBrowser, 'host');
    await page.goto(`${server.url}/signin?lang=en`);
    const made = await page.evaluate(async (email) => {
      const signup = await fetch('/api/auth/signup', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: 'quiet harbour 77', username: 'Host Wang', enterprise_name: 'Reconnect Lab' }),
      });
      if (!signup.ok) return { error: await signup.text() };
      const res = await fetch('/v1/meetings', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'X-Huiyi-Csrf': '1' },
        body: JSON.stringify({ subject: 'Flaky Wi-Fi', type: 1, instanceid: 5, settings: { auto_in_waiting_room: true, mute_enable_join: false } }),
      });
      return res.json();
    }, `host.${Date.now()}@example.com`);
    assert.ok(made.meeting_info_list, JSON.stringify(made));
    meeting.code = made.meeting_info_list[0].meeting_code;
    meeting.id = made.meeting_info_list[0].meeting_id;
    await page.goto(`${server.url}/j/${meeting.code}?lang=en`);
    await page.getByTestId('join-name').fill('Host Wang');
    await page.getByTestId('join-button').click();
    await connected(page);
    people.host = { context, page, identity: await page.evaluate(() => window.__huiyi.room.localParticipant.identity) };
  });

  step('a guest on their own network waits, and the host admits them', async () => {
    const { host } = people;
    const { context, page, signal } = await open(guestBrowser, 'guest');
    await page.goto(`${server.url}/?lang=en`);
    await page.getByTestId('join-name').fill('Guest Li');
    await page.getByTestId('join-room').fill(meeting.code);
    await page.getByTestId('join-button').click();
    await connected(page);
    await page.getByTestId('waiting-overlay').waitFor();
    const identity = await page.evaluate(() => window.__huiyi.room.localParticipant.identity);
    people.guest = { context, page, identity, signal };
    await host.page.locator(`[data-testid="knock"]`).waitFor();
    await host.page.getByTestId('knock-admit').click();
    await poll('the overlay to go', () => page.getByTestId('waiting-overlay').isVisible(), (v) => v === false);
    await tileOf(host.page, identity).waitFor();
    // Media both ways, over the guest's own network.
    await poll('the guest camera decoded at the host', () => inboundStats(host.page, identity, 'camera'), (s) => s.framesDecoded > 0, { timeout: 30_000 });
    await poll('the host camera decoded at the guest', () => inboundStats(page, host.identity, 'camera'), (s) => s.framesDecoded > 0, { timeout: 30_000 });
  });

  step('the host mutes everyone for good, and the guest raises a hand', async () => {
    const { host, guest } = people;
    await host.page.getByTestId('toggle-people').click();
    await host.page.getByTestId('self-unmute').uncheck();
    await host.page.getByTestId('mute-all').click();
    await poll('the guest to lose the microphone', () => selfState(guest.page), (s) => s.mic === false && s.sources.length > 0 && !s.sources.includes(2));
    await guest.page.getByTestId('toggle-hand').click();
    await tileOf(host.page, guest.identity).getByTestId('tile-hand').waitFor();
    guest.before = await selfState(guest.page);
    guest.beforeAtHost = await seenByHost(guest.identity);
    assert.ok(guest.before.hand, `the hand is up: ${JSON.stringify(guest.before)}`);
    assert.equal(guest.beforeAtHost.sid, guest.before.sid);
    assert.equal(guest.beforeAtHost.hand, guest.before.hand);
    await shot(guest.page, 'before-guest');
    await shot(host.page, 'before-host');
  });

  step('30 s without a network, then the guest is back in the same session', async () => {
    const { host, guest } = people;
    // Anything the host's page sees of the guest leaving or joining again, and the guest's
    // own connection states, with times.
    await host.page.evaluate((id) => {
      window.__rc = [];
      const room = window.__huiyi.room;
      room.on('participantDisconnected', (p) => p.identity === id && window.__rc.push(`disconnected ${p.sid}`));
      room.on('participantConnected', (p) => p.identity === id && window.__rc.push(`connected ${p.sid}`));
    }, guest.identity);
    await guest.page.evaluate(() => {
      window.__rc = [];
      const since = Date.now();
      window.__huiyi.room.on('connectionStateChanged', (s) => window.__rc.push(`${((Date.now() - since) / 1000).toFixed(1)} s ${s}`));
    });
    const sinceLastMessage = await cutBeforeNextPing(guest.signal);
    const cutAt = Date.now();
    console.log(`outage from ${new Date(cutAt).toISOString()}, ${sinceLastMessage} ms after the guest's last signalling message`);
    // The guest's page notices (its pings go unanswered) and says it is reconnecting.
    await guest.page.locator('[data-testid="status"][data-state="reconnecting"]').waitFor({ timeout: OUTAGE_MS - 2_000 });
    await shot(guest.page, 'during-guest');
    await sleep(Math.max(0, cutAt + OUTAGE_MS - 1_000 - Date.now()));
    // The host still has the guest, with the hand up, at the end of the outage.
    await shot(host.page, 'during-host');
    const duringAtHost = await seenByHost(guest.identity);
    await sleep(Math.max(0, cutAt + OUTAGE_MS - Date.now()));
    await netns.restore();
    const restoredAt = Date.now();
    console.log(`network back after ${((restoredAt - cutAt) / 1000).toFixed(1)} s; the host saw the guest then as ${JSON.stringify(duringAtHost)}`);
    assert.deepEqual(duringAtHost, guest.beforeAtHost, 'the host kept the guest through the outage');

    await poll('the guest to be connected again', () => selfState(guest.page), (s) => s.state === 'connected', { timeout: RECOVERY_MS, interval: 250 });
    console.log(`guest connected again ${((Date.now() - restoredAt) / 1000).toFixed(1)} s after the network came back; states: ${(await guest.page.evaluate(() => window.__rc)).join(', ')}`);
    const afterSelf = await selfState(guest.page);
    assert.deepEqual(
      { identity: afterSelf.identity, sid: afterSelf.sid, hand: afterSelf.hand, role: afterSelf.role, waiting: afterSelf.waiting, sources: afterSelf.sources, mic: afterSelf.mic },
      { identity: guest.before.identity, sid: guest.before.sid, hand: guest.before.hand, role: guest.before.role, waiting: null, sources: guest.before.sources, mic: false },
      'resumed, not rejoined: same identity and sid, the hand in its place, the microphone still forbidden',
    );
    assert.equal(await guest.page.getByTestId('waiting-overlay').isVisible(), false, 'no waiting room after the outage');
    assert.equal(await guest.page.getByTestId('toggle-mic').isDisabled(), true, 'the mic button still cannot unmute');
    assert.deepEqual(await seenByHost(guest.identity), guest.beforeAtHost, 'the host sees the same participant, hand still up');
    assert.deepEqual(await host.page.evaluate(() => window.__rc), [], 'the host never saw the guest leave or join again');

    // Media flows again both ways.
    await framesFlow(host.page, guest.identity, 'the guest camera to decode at the host again');
    await framesFlow(guest.page, host.identity, 'the host camera to decode at the guest again');
    await shot(guest.page, 'after-guest');
    await shot(host.page, 'after-host');
    assert.deepEqual(await host.page.evaluate(() => window.__rc), [], 'still the same participant');
  }, OUTAGE_MS + RECOVERY_MS + 60_000);
});
