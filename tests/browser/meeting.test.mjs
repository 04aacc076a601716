// Two people meet in headless Chromium through the web app, against a real huiyi server.
//
// Run inside the test network namespace (Chromium gathers no ICE candidates on a loopback-only
// host, and the host's real interface must carry no test traffic):
//
//   HUIYI_BIN=$CARGO_TARGET_DIR/debug/huiyi scripts/netns-run node --test tests/browser/
//
// The cases run in order and share one meeting: Alice and Bob join, see and hear each other,
// Alice shares her screen, mutes and unmutes, and finally Bob leaves. Screenshots, server and
// browser logs go to $HUIYI_ARTIFACTS or a fresh temp dir, printed at the start.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AccessToken } from 'livekit-server-sdk';
import { joinViaForm, launchChromium, tileOf } from './lib/browser.mjs';
import { startServer, tail } from './lib/server.mjs';
import { signedFetch } from './lib/signed.mjs';
import { inboundStats, waitForAudibleAudio, waitForDecodedVideo } from './lib/stats.mjs';
import { poll } from './lib/wait.mjs';

const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));

describe('meeting in the web app', () => {
  const artifacts = process.env.HUIYI_ARTIFACTS
    ? (mkdirSync(process.env.HUIYI_ARTIFACTS, { recursive: true }), process.env.HUIYI_ARTIFACTS)
    : mkdtempSync(join(tmpdir(), 'huiyi-browser-'));
  let server;
  let browser;
  let alice;
  let bob;

  before(async () => {
    console.log(`artifacts (screenshots, logs): ${artifacts}`);
    // scripts/netns-run sets this; outside the namespace WebRTC would silently fail to connect.
    assert.equal(
      process.env.HUIYI_IN_NETNS,
      '1',
      'run the browser tests inside scripts/netns-run, e.g. scripts/netns-run node --test tests/browser/',
    );
    server = await startServer({
      bin: process.env.HUIYI_BIN,
      webDir: WEB_DIST,
      logPath: join(artifacts, 'server.log'),
    });
    browser = await launchChromium();
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
    await server?.stop();
    console.log(`artifacts (screenshots, logs): ${artifacts}`);
  });

  it('two participants join through the form, see and hear each other', { timeout: 120_000 }, async () => {
    const room = `e2e-${Date.now()}`;
    try {
      alice = await joinViaForm(browser, { baseUrl: server.url, name: 'Alice', room, artifacts });
      bob = await joinViaForm(browser, { baseUrl: server.url, name: 'Bob', room, artifacts });
    } catch (e) {
      throw new Error(`${e.message}\n--- server log ---\n${tail(server.log)}`);
    }

    await tileOf(alice.page, bob.identity).waitFor();
    await tileOf(bob.page, alice.identity).waitFor();
    assert.match(await tileOf(alice.page, bob.identity).innerText(), /Bob/);

    for (const [viewer, sender] of [[alice, bob], [bob, alice]]) {
      const video = await waitForDecodedVideo(viewer.page, sender.identity);
      assert.ok(video.frameWidth > 0, `video from ${sender.identity} has a size: ${JSON.stringify(video)}`);
      await waitForAudibleAudio(viewer.page, sender.identity);
    }

    await alice.page.screenshot({ path: join(artifacts, 'alice.png') });
    await bob.page.screenshot({ path: join(artifacts, 'bob.png') });
  });

  it('a shared screen reaches the other participant', { timeout: 60_000 }, async () => {
    assert.ok(alice && bob, 'needs the meeting from the first case');
    await alice.page.getByTestId('toggle-screen').click();
    await poll(
      'Alice to publish a screen share',
      () => alice.page.getByTestId('toggle-screen').getAttribute('aria-pressed'),
      (pressed) => pressed === 'true',
      { timeout: 10_000 },
    );

    await tileOf(bob.page, alice.identity, 'screen-tile').waitFor();
    const stats = await waitForDecodedVideo(bob.page, alice.identity, 'screen_share');
    assert.ok(stats.framesDecoded > 0);
    await bob.page.screenshot({ path: join(artifacts, 'bob-sees-screen.png') });

    await alice.page.getByTestId('toggle-screen').click();
    await tileOf(bob.page, alice.identity, 'screen-tile').waitFor({ state: 'detached', timeout: 10_000 });
  });

  it('muting the microphone shows on the other side', { timeout: 60_000 }, async () => {
    assert.ok(alice && bob, 'needs the meeting from the first case');
    const aliceOnBob = tileOf(bob.page, alice.identity);
    await waitForAttr(aliceOnBob, 'data-muted', 'false');

    await alice.page.getByTestId('toggle-mic').click();
    await waitForAttr(aliceOnBob, 'data-muted', 'true');

    await alice.page.getByTestId('toggle-mic').click();
    await waitForAttr(aliceOnBob, 'data-muted', 'false');
    // Unmuting must bring the sound back, not only the indicator.
    const before = (await inboundStats(bob.page, alice.identity, 'microphone')).totalAudioEnergy ?? 0;
    await poll(
      'audio energy from Alice to grow after unmute',
      () => inboundStats(bob.page, alice.identity, 'microphone'),
      (s) => s.totalAudioEnergy > before,
      { timeout: 15_000 },
    );
  });

  it('a dropped signalling connection resumes the same session, with media still flowing', { timeout: 60_000 }, async () => {
    assert.ok(alice && bob, 'needs the meeting from the first case');
    const sidBefore = await alice.page.evaluate(() => window.__huiyi.room.localParticipant.sid);
    // Alice's receive counters for Bob's camera before the drop.
    const before = await inboundStats(alice.page, bob.identity, 'camera');
    // livekit-client closes its signalling socket as on a network drop; it then resumes
    // (reconnect=1&sid=…) and restarts ICE on both peer connections.
    await alice.page.evaluate(() => window.__huiyi.room.simulateScenario('signal-reconnect'));
    await alice.page.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    const sidAfter = await alice.page.evaluate(() => window.__huiyi.room.localParticipant.sid);
    assert.equal(sidAfter, sidBefore, 'resumed, not rejoined: the participant sid is unchanged');
    // Media keeps flowing both ways after the ICE restart.
    await poll(
      'video from Bob to keep decoding at Alice after the resume',
      () => inboundStats(alice.page, bob.identity, 'camera'),
      (s) => s.framesDecoded > (before.framesDecoded ?? 0) + 30,
      { timeout: 20_000 },
    );
    const bobSeesAlice = await inboundStats(bob.page, alice.identity, 'camera');
    await poll(
      'video from Alice to keep decoding at Bob after the resume',
      () => inboundStats(bob.page, alice.identity, 'camera'),
      (s) => s.framesDecoded > (bobSeesAlice.framesDecoded ?? 0) + 30,
      { timeout: 20_000 },
    );
    assert.equal(await tileOf(bob.page, alice.identity).count(), 1, 'Bob never saw Alice leave');
  });

  it('a participant who leaves disappears for the others', { timeout: 30_000 }, async () => {
    assert.ok(alice && bob, 'needs the meeting from the first case');
    await bob.page.getByTestId('leave').click();
    await bob.page.getByTestId('leave-confirm').click();
    await bob.page.locator('[data-testid="status"][data-state="disconnected"]').waitFor({ timeout: 10_000 });
    await tileOf(alice.page, bob.identity).waitFor({ state: 'detached', timeout: 15_000 });
    assert.equal(await alice.page.locator('[data-testid="tile"]').count(), 1, 'only Alice is left');
  });
});

describe('H.264 camera video', () => {
  let server;
  let browser;
  const artifacts = process.env.HUIYI_ARTIFACTS
    ? (mkdirSync(process.env.HUIYI_ARTIFACTS, { recursive: true }), process.env.HUIYI_ARTIFACTS)
    : mkdtempSync(join(tmpdir(), 'huiyi-browser-h264-'));

  before(async () => {
    server = await startServer({ bin: process.env.HUIYI_BIN, webDir: WEB_DIST, logPath: join(artifacts, 'server-h264.log') });
    browser = await launchChromium();
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('is forwarded and decoded as H.264', { timeout: 90_000 }, async () => {
    const room = `h264-${Date.now()}`;
    const query = '&codec=h264';
    const carol = await joinViaForm(browser, { baseUrl: server.url, name: 'Carol', room, artifacts, query });
    const dave = await joinViaForm(browser, { baseUrl: server.url, name: 'Dave', room, artifacts, query });
    const stats = await waitForDecodedVideo(dave.page, carol.identity);
    assert.equal(stats.mimeType, 'video/H264', `Dave decodes Carol's camera as H.264: ${JSON.stringify(stats)}`);
    assert.ok(stats.frameWidth > 0);
  });
});

describe('joining a scheduled meeting from its link', () => {
  let server;
  let browser;
  const artifacts = process.env.HUIYI_ARTIFACTS
    ? (mkdirSync(process.env.HUIYI_ARTIFACTS, { recursive: true }), process.env.HUIYI_ARTIFACTS)
    : mkdtempSync(join(tmpdir(), 'huiyi-browser-link-'));

  before(async () => {
    server = await startServer({ bin: process.env.HUIYI_BIN, webDir: WEB_DIST, logPath: join(artifacts, 'server-link.log') });
    browser = await launchChromium();
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('asks for the password and connects to the meeting', { timeout: 90_000 }, async () => {
    // Scheduled by an integrator through the signed /v1 API (dev credentials).
    const created = await signedRequest(server.url, 'POST', '/v1/meetings', {
      userid: 'dev-user', subject: 'Defence', type: 1, password: '2468',
    });
    const { meeting_code: code, join_url: joinUrl } = created.meeting_info_list[0];
    assert.match(joinUrl, new RegExp(`/j/${code}$`));

    const context = await browser.newContext({ viewport: { width: 960, height: 600 } });
    const page = await context.newPage();
    await page.goto(`${server.url}/j/${code}?lang=en`);
    assert.equal(await page.getByTestId('join-room').inputValue(), code, 'the code is filled in from the link');
    await page.getByTestId('join-name').fill('Examiner');
    await page.getByTestId('join-password').fill('1111');
    await page.getByTestId('join-button').click();
    await poll('the wrong password to be refused', () => page.getByTestId('join-error').innerText(), (t) => /password is wrong/.test(t), { timeout: 10_000 });
    await page.screenshot({ path: join(artifacts, 'link-wrong-password.png') });

    await page.getByTestId('join-password').fill('2468');
    await page.getByTestId('join-button').click();
    await page.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: 30_000 });
    const roomName = await page.evaluate(() => window.__huiyi.room.name);
    const byCode = await signedRequest(server.url, 'GET', `/v1/meetings?meeting_code=${code}&userid=dev-user`);
    assert.equal(roomName, byCode.meeting_info_list[0].meeting_id, 'the room is the meeting');
    await page.screenshot({ path: join(artifacts, 'link-joined.png') });
    // Without mute-on-join the microphone is on from the start.
    await poll('the microphone to be published', () => page.evaluate(() => window.__huiyi.room.localParticipant.isMicrophoneEnabled), (on) => on === true, { timeout: 15_000 });
    await context.close();
  });

  it('joins a mute-on-join meeting with the microphone off, and the mic button turns it on', { timeout: 90_000 }, async () => {
    const created = await signedRequest(server.url, 'POST', '/v1/meetings', {
      userid: 'dev-user', subject: 'Lecture', type: 1, settings: { mute_enable_join: true },
    });
    const code = created.meeting_info_list[0].meeting_code;
    const context = await browser.newContext({ viewport: { width: 960, height: 600 } });
    const page = await context.newPage();
    await page.goto(`${server.url}/j/${code}?lang=en`);
    await page.getByTestId('join-name').fill('Student');
    await page.getByTestId('join-button').click();
    await page.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: 30_000 });
    const lp = () => page.evaluate(() => ({
      mic: window.__huiyi.room.localParticipant.isMicrophoneEnabled,
      camera: window.__huiyi.room.localParticipant.isCameraEnabled,
    }));
    await poll('the camera to be on', lp, (s) => s.camera === true, { timeout: 15_000 });
    assert.equal((await lp()).mic, false, 'joined muted');
    await page.getByTestId('toggle-mic').click();
    await poll('the mic button to unmute', lp, (s) => s.mic === true, { timeout: 15_000 });
    await context.close();
  });
});

/** A request to the /v1 API signed with the dev credentials; it must answer 200. */
async function signedRequest(base, method, uri, body) {
  const { status, answer } = await signedFetch(base, method, uri, body);
  assert.equal(status, 200, JSON.stringify(answer));
  return answer;
}

/** Waits until `locator`'s attribute `name` equals `value`, with the last value in the error. */
function waitForAttr(locator, name, value, timeout = 10_000) {
  return poll(`${name}="${value}"`, () => locator.getAttribute(name, { timeout: 2_000 }), (v) => v === value, {
    timeout,
  });
}

describe('a WHIP broadcast in the web app', () => {
  // OBS's path: a broadcaster that speaks only WHIP (GStreamer's webrtcbin, run by Debian's
  // Python for its GObject bindings) publishes, and a participant in the browser sees and
  // hears it.
  let server;
  let browser;
  const artifacts = process.env.HUIYI_ARTIFACTS
    ? (mkdirSync(process.env.HUIYI_ARTIFACTS, { recursive: true }), process.env.HUIYI_ARTIFACTS)
    : mkdtempSync(join(tmpdir(), 'huiyi-browser-whip-'));
  const WHIP_CLIENT = fileURLToPath(new URL('../python/tools/whip_client.py', import.meta.url));

  before(async () => {
    server = await startServer({ bin: process.env.HUIYI_BIN, webDir: WEB_DIST, logPath: join(artifacts, 'server-whip.log') });
    browser = await launchChromium();
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('is seen and heard by a participant in the browser', { timeout: 120_000 }, async () => {
    const room = `whip-${Date.now()}`;
    const viewer = await joinViaForm(browser, { baseUrl: server.url, name: 'Viewer', room, artifacts });
    const token = new AccessToken('devkey', 'secret', { identity: 'obs', name: 'OBS 演播室' });
    token.addGrant({ roomJoin: true, room, canPublish: true, canSubscribe: false });
    const broadcaster = spawn('/usr/bin/python3', [WHIP_CLIENT, `${server.url}/whip`, await token.toJwt(), '25'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    broadcaster.stdout.on('data', (d) => { said += d; });
    broadcaster.stderr.on('data', (d) => { said += d; });
    try {
      const video = await waitForDecodedVideo(viewer.page, 'obs', 'camera', 40_000).catch((e) => {
        throw new Error(`${e.message}\n--- broadcaster ---\n${said.slice(-2000)}`);
      });
      assert.equal(video.frameWidth, 640, JSON.stringify(video));
      await waitForAudibleAudio(viewer.page, 'obs', 'microphone', 20_000);
      const tile = tileOf(viewer.page, 'obs');
      assert.match(await tile.innerText(), /OBS 演播室/);
      // The picture itself, not only its statistics: the test pattern's white ball is drawn.
      const white = () =>
        tile.locator('video').evaluate((v) => {
          const c = document.createElement('canvas');
          [c.width, c.height] = [v.videoWidth, v.videoHeight];
          const g = c.getContext('2d');
          g.drawImage(v, 0, 0);
          const d = g.getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 600) n++;
          return n;
        });
      await poll('the broadcast picture to show its ball', white, (n) => n > 100, { timeout: 15_000 });
      await viewer.page.screenshot({ path: join(artifacts, 'whip-broadcast-in-the-web-app.png') });
      // After its 25 s the broadcaster ends with DELETE, and leaves the room.
      await tileOf(viewer.page, 'obs').waitFor({ state: 'detached', timeout: 45_000 });
      assert.match(said, /"step": "deleted", "status": 200/, said.slice(-2000));
    } finally {
      if (broadcaster.exitCode === null) broadcaster.kill('SIGKILL');
    }
  });
});
