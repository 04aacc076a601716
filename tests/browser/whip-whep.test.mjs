// WHIP and WHEP with clients nobody here wrote: medooze's `whip-whep` 1.2.0 (whip.js and
// whep.js, by an author of the WHIP specification), loaded unchanged from npm by a page on
// another origin, as a streaming studio's site or a player page would load it.
//
// - whip.js publishes the page's fake camera and microphone into a meeting with a LiveKit
//   token, and a participant in the web app decodes the picture and hears the sound.
// - whip.js publishes with an ingress stream key made by livekit-server-sdk's IngressClient
//   (OBS's set-up: a URL and a key), and the ingress reports that it publishes.
// - whep.js plays a meeting participant's camera and microphone in a <video>.
//
// Both clients send their offer at once and trickle candidates by PATCH, which Huiyi refuses
// (405, as RFC 9725 allows): Huiyi is ICE-lite and learns the client's address from its
// connectivity checks, so a client that only trickles still connects.

import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AccessToken, IngressClient, IngressInput } from 'livekit-server-sdk';

import { joinViaForm, launchChromium, tileOf } from './lib/browser.mjs';
import { openLogged, serveSite } from './lib/origin.mjs';
import { startServer, tail } from './lib/server.mjs';
import { waitForAudibleAudio, waitForDecodedVideo } from './lib/stats.mjs';
import { artifactsDir, sequence } from './lib/steps.mjs';
import { poll } from './lib/wait.mjs';

const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));
const CLIENTS = fileURLToPath(new URL('./node_modules/whip-whep/', import.meta.url));

// The studio page: the two modules as published, and a few lines that use them as their
// README shows.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>studio</title></head>
<body>
<video id="out" autoplay playsinline></video>
<script type="module">
  import { WHIPClient } from '/whip.js';
  import { WHEPClient } from '/whep.js';
  const connected = (pc) =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (pc.connectionState === 'connected') resolve();
        if (pc.connectionState === 'failed') reject(new Error('peer connection failed'));
      };
      pc.addEventListener('connectionstatechange', check);
      check();
    });
  window.publish = async (url, token) => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
    const whip = new WHIPClient();
    window.whip = whip;
    await whip.publish(pc, url, token);
    await connected(pc);
    return { resource: String(whip.resourceURL) };
  };
  window.unpublish = () => window.whip.stop();
  window.play = async (url, token) => {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    pc.addTransceiver('audio');
    pc.addTransceiver('video');
    // Picture and sound in one element, played (Chromium measures received sound as it plays it).
    const video = document.getElementById('out');
    const received = new MediaStream();
    pc.ontrack = (event) => {
      received.addTrack(event.track);
      video.srcObject = received;
    };
    window.pc = pc;
    const whep = new WHEPClient();
    window.whep = whep;
    await whep.view(pc, url, token);
    await connected(pc);
    return { resource: String(whep.resourceURL) };
  };
  window.stopPlaying = () => window.whep.stop();
  // What the player shows and hears: frames painted, and the audio's inbound energy.
  window.playing = async () => {
    const video = document.getElementById('out');
    const q = video.getVideoPlaybackQuality();
    let audioEnergy = 0;
    for (const s of (await window.pc.getStats()).values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') audioEnergy = s.totalAudioEnergy ?? 0;
    }
    return { frames: q.totalVideoFrames, width: video.videoWidth, height: video.videoHeight, audioEnergy };
  };
</script>
</body></html>
`;

/** Serves the studio page and the two modules on a free port: another origin than Huiyi's. */
function startStudio() {
  return serveSite({
    '/': ['text/html; charset=utf-8', PAGE],
    '/whip.js': ['text/javascript', readFileSync(join(CLIENTS, 'whip.js'))],
    '/whep.js': ['text/javascript', readFileSync(join(CLIENTS, 'whep.js'))],
  });
}

describe('WHIP and WHEP with medooze whip-whep from another origin', () => {
  const artifacts = artifactsDir('whip-whep');
  const serverLog = join(artifacts, 'server-whip-whep.log');
  const room = `studio-${Date.now()}`;
  let server;
  let studio;
  let browser;
  let viewer;
  const pages = [];
  const step = sequence({
    timeout: 90_000,
    explain: (e) => new Error(`${e.message}\n--- server log ---\n${tail(serverLog)}`),
  });

  /** A page of the studio site, in its own browser context. */
  const openStudio = async (name) => {
    const log = join(artifacts, `whip-whep-${name}.console.log`);
    const { context, page } = await openLogged(browser, `${studio.url}/`, { log, viewport: { width: 640, height: 400 }, timeout: 30_000 });
    pages.push(context);
    await page.waitForFunction(() => typeof window.publish === 'function');
    return page;
  };

  before(async () => {
    server = await startServer({ bin: process.env.HUIYI_BIN, webDir: WEB_DIST, logPath: serverLog });
    studio = await startStudio();
    browser = await launchChromium();
    viewer = await joinViaForm(browser, { baseUrl: server.url, name: 'Viewer', room, artifacts });
  }, { timeout: 90_000 });

  after(async () => {
    for (const c of pages) await c.close().catch(() => {});
    await browser?.close();
    await studio?.close();
    await server?.stop();
  });

  step('whip.js publishes with a LiveKit token; a participant sees and hears it; DELETE ends it', async () => {
    const token = new AccessToken('devkey', 'secret', { identity: 'studio-cam', name: 'Studio 演播室' });
    token.addGrant({ roomJoin: true, room, canPublish: true, canSubscribe: false });
    const page = await openStudio('whip-token');
    const published = await page.evaluate(([url, jwt]) => window.publish(url, jwt), [`${server.url}/whip`, await token.toJwt()]);
    assert.match(published.resource, new RegExp(`^${server.url}/whip/`), 'the resource is on the server');
    const video = await waitForDecodedVideo(viewer.page, 'studio-cam', 'camera', 30_000);
    assert.ok(video.frameWidth > 0, JSON.stringify(video));
    await waitForAudibleAudio(viewer.page, 'studio-cam', 'microphone', 20_000);
    assert.match(await tileOf(viewer.page, 'studio-cam').innerText(), /Studio 演播室/);
    await viewer.page.screenshot({ path: join(artifacts, 'whip-whep-broadcast-seen.png') });
    // whip.js's stop() sends DELETE to the resource: the broadcaster leaves the meeting.
    await page.evaluate(() => window.unpublish());
    await tileOf(viewer.page, 'studio-cam').waitFor({ state: 'detached', timeout: 20_000 });
  });

  step('whip.js publishes with an ingress stream key from IngressClient, as OBS is set up', async () => {
    const ingress = new IngressClient(server.url, 'devkey', 'secret');
    const info = await ingress.createIngress(IngressInput.WHIP_INPUT, {
      name: 'studio B',
      roomName: room,
      participantIdentity: 'studio-b',
      participantName: 'Studio B',
    });
    assert.ok(info.url && info.streamKey, JSON.stringify(info));
    const page = await openStudio('whip-ingress');
    // OBS's "Server" and "Bearer Token" fields: the ingress's URL and its stream key.
    await page.evaluate(([url, key]) => window.publish(url, key), [info.url, info.streamKey]);
    await waitForDecodedVideo(viewer.page, 'studio-b', 'camera', 30_000);
    assert.match(await tileOf(viewer.page, 'studio-b').innerText(), /Studio B/);
    const state = await poll(
      'the ingress to report that it publishes',
      async () => (await ingress.listIngress({ ingressId: info.ingressId }))[0]?.state,
      (s) => s?.status === 2,
      { timeout: 15_000 },
    );
    assert.equal(state.status, 2, 'ENDPOINT_PUBLISHING');
    await page.evaluate(() => window.unpublish());
    await tileOf(viewer.page, 'studio-b').waitFor({ state: 'detached', timeout: 20_000 });
    await ingress.deleteIngress(info.ingressId);
  });

  step('whep.js plays a participant of the meeting: picture and sound', async () => {
    const token = new AccessToken('devkey', 'secret', { identity: 'player-link' });
    token.addGrant({ roomJoin: true, room, canPublish: false, canSubscribe: true });
    const page = await openStudio('whep');
    const url = `${server.url}/whep?participant=${encodeURIComponent(viewer.identity)}`;
    const played = await page.evaluate(([u, jwt]) => window.play(u, jwt), [url, await token.toJwt()]);
    assert.match(played.resource, new RegExp(`^${server.url}/whep/`));
    const seen = await poll('the WHEP player to paint frames and hear sound', () => page.evaluate(() => window.playing()), (p) => p.frames > 30 && p.audioEnergy > 0, { timeout: 30_000 });
    assert.ok(seen.width > 0 && seen.height > 0, JSON.stringify(seen));
    await page.screenshot({ path: join(artifacts, 'whip-whep-player.png') });
    // The player is seen by nobody: the meeting still holds one participant besides the viewer's own.
    const others = await viewer.page.evaluate(() => [...window.__huiyi.room.remoteParticipants.keys()]);
    assert.deepEqual(others, [], `the viewer sees ${JSON.stringify(others)}`);
    await page.evaluate(() => window.stopPlaying());
  });
});
