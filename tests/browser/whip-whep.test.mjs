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
// Both clients send their offer at once and trickle their candidates by PATCH (RFC 9725
// §4.3.1) with the ETag the server gave: Huiyi answers 204. The page records every PATCH the
// clients make and its status. A PATCH that tries an ICE restart, names another ICE session,
// or is not a fragment gets a clear error, and the broadcast goes on.

import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AccessToken, IngressClient, IngressInput } from 'livekit-server-sdk';

import { joinViaForm, launchChromium, tileOf } from './lib/browser.mjs';
import { openLogged, serveSite } from './lib/origin.mjs';
import { startServer, tail } from './lib/server.mjs';
import { inboundStats, waitForAudibleAudio, waitForDecodedVideo } from './lib/stats.mjs';
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
  // Every PATCH the clients send, and what it got back.
  window.patches = [];
  const fetchAsIs = window.fetch.bind(window);
  window.fetch = async (url, init = {}) => {
    const response = await fetchAsIs(url, init);
    if (init.method === 'PATCH') window.patches.push({ url: String(url), status: response.status, ifMatch: init.headers?.['If-Match'] ?? null });
    return response;
  };
  // A PATCH of this page's own making, to the broadcast's resource.
  window.patchAs = async (headers, body, url = String(window.whip.resourceURL)) =>
    (await fetchAsIs(url, { method: 'PATCH', headers, body })).status;
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
    // whip.js trickled its candidates with the session's ETag, and each PATCH was taken.
    const patches = await poll('whip.js to trickle', () => page.evaluate(() => window.patches), (p) => p.length > 0, { timeout: 10_000 });
    assert.deepEqual(patches.map((p) => p.status), patches.map(() => 204), JSON.stringify(patches));
    const etag = await page.evaluate(() => window.whip.etag);
    assert.ok(etag && patches.every((p) => p.ifMatch === etag), `If-Match ${JSON.stringify(patches)} against ETag ${etag}`);

    // What a broken or hostile PATCH gets, while the broadcast goes on.
    const [ufrag, pwd] = await page.evaluate(() => [window.whip.iceUsername, window.whip.icePassword]);
    const candidate = (i) => `a=candidate:${i} 1 udp 2122260223 127.0.0.1 ${40000 + i} typ host\r\n`;
    const fragment = (u, lines) => `a=ice-ufrag:${u}\r\na=ice-pwd:${pwd}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n${lines}`;
    const frag = { 'Content-Type': 'application/trickle-ice-sdpfrag' };
    const statuses = await page.evaluate(
      async ([cases]) => {
        const out = {};
        for (const [name, headers, body, url] of cases) out[name] = await window.patchAs(headers, body, url ?? undefined);
        return out;
      },
      [[
        ['a candidate', { ...frag, 'If-Match': etag }, fragment(ufrag, candidate(1)), null],
        ['another ICE session', { ...frag, 'If-Match': '"not-this-one"' }, fragment(ufrag, candidate(2)), null],
        ['an ICE restart', { ...frag, 'If-Match': '*' }, fragment('newufrag', candidate(3)), null],
        ['a new ufrag', frag, fragment('newufrag', candidate(4)), null],
        ['not a fragment', { 'Content-Type': 'text/plain' }, fragment(ufrag, candidate(5)), null],
        ['a huge body', frag, fragment(ufrag, 'a=x\r\n'.repeat(5000)), null],
        ['too many candidates', frag, fragment(ufrag, Array.from({ length: 80 }, (_, i) => candidate(10 + i)).join('')), null],
        ['no such session', frag, fragment(ufrag, candidate(6)), `${server.url}/whip/no-such-session`],
      ]],
    );
    assert.deepEqual(statuses, {
      'a candidate': 204,
      'another ICE session': 412,
      'an ICE restart': 422,
      'a new ufrag': 422,
      'not a fragment': 415,
      'a huge body': 413,
      'too many candidates': 422,
      'no such session': 404,
    });
    const before = await inboundStats(viewer.page, 'studio-cam', 'camera');
    await poll('the broadcast to go on after the bad PATCHes', () => inboundStats(viewer.page, 'studio-cam', 'camera'), (s) => s.framesDecoded > before.framesDecoded + 15, { timeout: 10_000 });
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
    // whep.js trickles by PATCH too, to its own resource.
    const patched = (await page.evaluate(() => window.patches)).filter((p) => p.url.includes('/whep/'));
    assert.ok(patched.length > 0 && patched.every((p) => p.status === 204), JSON.stringify(patched));
    await page.screenshot({ path: join(artifacts, 'whip-whep-player.png') });
    // The player is seen by nobody: the meeting still holds one participant besides the viewer's own.
    const others = await viewer.page.evaluate(() => [...window.__huiyi.room.remoteParticipants.keys()]);
    assert.deepEqual(others, [], `the viewer sees ${JSON.stringify(others)}`);
    await page.evaluate(() => window.stopPlaying());
  });
});
