// A LiveKit app served from its own origin, as real apps are, joins a real huiyi server on
// another origin. The page comes from a small HTTP server in this test process, on another port
// of 127.0.0.1 (same host, different origin), and loads the stock livekit-client 2.23 UMD build
// from tests/browser/node_modules; tokens are signed here, as an app's backend would sign them.
//
//   HUIYI_BIN=$CARGO_TARGET_DIR/debug/huiyi scripts/netns-run node --test tests/browser/cross-origin.test.mjs
//
// What a cross-origin app needs (token-authenticated, no cookies): /rtc/v1/validate and
// /rtc/validate (livekit-client asks them when the signalling socket is refused, and falls back
// from /rtc/v1 to /rtc on their 404), and the Twirp RoomService with an Authorization header
// (a preflighted request). What must stay same-origin: the portal's cookie-authenticated /v1 and
// /api/auth, even for a person signed in to the portal in the same browser.
//
// Without CORS on the server, the join fails with livekit-client's
// "could not establish signal connection: Failed to fetch".

import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './lib/browser.mjs';
import { openLogged, serveSite } from './lib/origin.mjs';
import { startServer, tail } from './lib/server.mjs';
import { waitForAudibleAudio, waitForDecodedVideo } from './lib/stats.mjs';
import { poll } from './lib/wait.mjs';

const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));
const LIVEKIT_UMD = fileURLToPath(new URL('./node_modules/livekit-client/dist/livekit-client.umd.js', import.meta.url));
// `huiyi serve --dev`'s API key.
const API_KEY = 'devkey';
const API_SECRET = 'secret';

/** An HS256 LiveKit access token, as a server SDK signs one. */
function accessToken(claims, secret = API_SECRET) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: API_KEY, nbf: now - 10, exp: now + 600, ...claims })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

function joinToken(room, identity, secret) {
  return accessToken({
    sub: identity,
    name: identity,
    video: { roomJoin: true, room, canPublish: true, canSubscribe: true, canPublishData: true },
  }, secret);
}

// The app: the livekit-client UMD bundle and a few lines that join, publish the fake camera and
// microphone, and play what arrives. `window.__huiyi.room` is the hook lib/stats.mjs reads.
const APP_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>cross-origin LiveKit app</title></head>
<body>
<script src="/livekit-client.umd.js"></script>
<script>
  window.join = async (url, token) => {
    const { Room, RoomEvent } = LivekitClient;
    const room = new Room();
    window.__huiyi = { room };
    room.on(RoomEvent.TrackSubscribed, (track) => {
      document.body.append(track.attach());
    });
    try {
      await room.connect(url, token);
      await room.localParticipant.setMicrophoneEnabled(true);
      await room.localParticipant.setCameraEnabled(true);
      return { identity: room.localParticipant.identity };
    } catch (e) {
      return { error: String(e && e.message || e) };
    }
  };
  // A fetch from this page, reported as the status and body it could read, or as blocked.
  window.tryFetch = async (url, init) => {
    try {
      const res = await fetch(url, init);
      return { status: res.status, body: await res.text() };
    } catch (e) {
      return { blocked: String(e && e.message || e) };
    }
  };
</script>
</body></html>
`;

/** Serves the app on a free port of 127.0.0.1: another origin than the huiyi server's. */
function startAppServer() {
  if (!existsSync(LIVEKIT_UMD)) throw new Error(`${LIVEKIT_UMD} is missing: run "npm ci" in tests/browser first`);
  return serveSite({
    '/': ['text/html; charset=utf-8', APP_HTML],
    '/livekit-client.umd.js': ['text/javascript', readFileSync(LIVEKIT_UMD)],
  });
}

describe('a LiveKit app on another origin', () => {
  const artifacts = process.env.HUIYI_ARTIFACTS
    ? (mkdirSync(process.env.HUIYI_ARTIFACTS, { recursive: true }), process.env.HUIYI_ARTIFACTS)
    : mkdtempSync(join(tmpdir(), 'huiyi-cross-origin-'));
  const room = `cross-origin-${Date.now()}`;
  let server;
  let app;
  let browser;
  /** One browser context (its own cookies and storage) with the app's page open. */
  const openApp = async (name) => {
    const consoleLog = join(artifacts, `cross-origin-${name}.console.log`);
    return { ...(await openLogged(browser, `${app.url}/`, { log: consoleLog })), consoleLog };
  };
  const wsUrl = () => server.url.replace(/^http/, 'ws');

  before(async () => {
    console.log(`artifacts (logs): ${artifacts}`);
    assert.equal(process.env.HUIYI_IN_NETNS, '1', 'run the browser tests inside scripts/netns-run');
    server = await startServer({ bin: process.env.HUIYI_BIN, webDir: WEB_DIST, logPath: join(artifacts, 'server-cross-origin.log') });
    app = await startAppServer();
    browser = await launchChromium();
  }, { timeout: 60_000 });

  after(async () => {
    await browser?.close();
    await app?.close();
    await server?.stop();
    console.log(`artifacts (logs): ${artifacts}`);
  });

  it('serves the page from another origin than the server', async () => {
    const { context, page } = await openApp('origin');
    try {
      const pageOrigin = await page.evaluate(() => location.origin);
      const serverOrigin = new URL(server.url).origin;
      assert.equal(pageOrigin, new URL(app.url).origin);
      assert.notEqual(pageOrigin, serverOrigin, 'the page and the server must be different origins');
      assert.notEqual(new URL(pageOrigin).port, new URL(serverOrigin).port, 'different ports');
      assert.equal(await page.evaluate(() => typeof window.LivekitClient?.Room), 'function', 'livekit-client loaded');
      assert.equal(await page.evaluate(() => window.LivekitClient.version), '2.23.0');
    } finally {
      await context.close();
    }
  });

  it('two participants join from it, see each other and receive each other\'s media', { timeout: 120_000 }, async () => {
    const people = [];
    try {
      for (const name of ['Ana', 'Ben']) {
        const who = await openApp(name);
        const joined = await who.page.evaluate(([url, token]) => window.join(url, token), [wsUrl(), joinToken(room, name)]);
        assert.ok(!joined.error, `${name} could not join from ${app.url} the server at ${wsUrl()}: "${joined.error}" (console: ${who.consoleLog})`);
        assert.equal(joined.identity, name);
        people.push({ name, ...who });
      }
      const [ana, ben] = people;
      for (const [viewer, other] of [[ana, ben], [ben, ana]]) {
        await poll(
          `${viewer.name} to see ${other.name}`,
          () => viewer.page.evaluate(() => [...window.__huiyi.room.remoteParticipants.keys()]),
          (ids) => ids.includes(other.name),
          { timeout: 15_000 },
        );
        const video = await waitForDecodedVideo(viewer.page, other.name);
        assert.ok(video.frameWidth > 0, `${viewer.name} decodes ${other.name}'s camera: ${JSON.stringify(video)}`);
        await waitForAudibleAudio(viewer.page, other.name);
      }
    } catch (e) {
      throw new Error(`${e.message}\n--- server log ---\n${tail(server.log)}`);
    } finally {
      for (const p of people) await p.context.close();
    }
  });

  it('a refused token shows the server\'s reason, not a network error', { timeout: 60_000 }, async () => {
    // The reason comes from /rtc/validate's 401 body, which the page can read only with CORS.
    const { context, page } = await openApp('refused');
    try {
      const joined = await page.evaluate(([url, token]) => window.join(url, token), [wsUrl(), joinToken(room, 'Eve', 'not-the-secret')]);
      assert.ok(joined.error, 'a token signed with the wrong secret must be refused');
      assert.match(joined.error, /signature is invalid/, `the server's reason reaches the app: "${joined.error}"`);
    } finally {
      await context.close();
    }
  });

  it('calls the Twirp RoomService cross-origin with a bearer token', async () => {
    const { context, page } = await openApp('twirp');
    try {
      const admin = accessToken({ sub: 'admin', video: { roomList: true } });
      const call = (authorization) => page.evaluate(([url, authorization]) => window.tryFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: '{}',
      }), [`${server.url}/twirp/livekit.RoomService/ListRooms`, authorization]);

      const listed = await call(`Bearer ${admin}`);
      assert.equal(listed.status, 200, `ListRooms from ${app.url}: ${JSON.stringify(listed)}`);
      assert.ok(Array.isArray(JSON.parse(listed.body).rooms ?? []), listed.body);
      // Errors are readable too, so an app can show them.
      const refused = await call(undefined);
      assert.equal(refused.status, 401, `ListRooms without a token: ${JSON.stringify(refused)}`);
    } finally {
      await context.close();
    }
  });

  it('keeps the portal\'s cookie-authenticated /v1 and /api/auth same-origin only', { timeout: 60_000 }, async () => {
    // One browser context: a person signed in to the portal who also opens the other site.
    const context = await browser.newContext();
    try {
      const portal = await context.newPage();
      await portal.goto(`${server.url}/healthz`);
      const stamp = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
      const signup = await portal.evaluate((body) => window.fetch('/api/auth/signup', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: await r.text() })), {
        email: `cors.${stamp}@example.com`,
        username: 'Cora Origin',
        enterprise_name: `Origin Office ${stamp}`,
        password: `Quartz-lantern-${randomBytes(6).toString('hex')}-meadow`,
      });
      assert.equal(signup.status, 200, `sign-up on the server's own origin: ${JSON.stringify(signup)}`);

      // Same-origin, the session cookie works: the failures below are CORS, not authentication.
      const sameOrigin = (path, init) => portal.evaluate(([path, init]) => window.fetch(path, init)
        .then(async (r) => ({ status: r.status, body: await r.text() })), [path, init]);
      assert.equal((await sameOrigin('/api/auth/me', {})).status, 200, 'signed in on the server origin');
      assert.equal((await sameOrigin('/v1/users/list', {})).status, 200, 'the session reads /v1 on the server origin');

      const page = await context.newPage();
      await page.goto(`${app.url}/`);
      const from = (path, init) => page.evaluate(([url, init]) => window.tryFetch(url, init), [`${server.url}${path}`, init]);
      // One at a time, the sign-out last: each must be refused by the browser's CORS check.
      const attempts = [
        ['GET /api/auth/me with the cookie', '/api/auth/me', { credentials: 'include' }],
        ['GET /api/auth/me without credentials', '/api/auth/me', { credentials: 'omit' }],
        ['GET /v1/users/list with the cookie', '/v1/users/list', { credentials: 'include' }],
        ['GET /v1/users/list without credentials', '/v1/users/list', { credentials: 'omit' }],
        ['POST /v1/meetings with the cookie and the CSRF header', '/v1/meetings', {
          method: 'POST',
          credentials: 'include',
          headers: { 'content-type': 'application/json', 'X-Huiyi-Csrf': '1' },
          body: JSON.stringify({ subject: 'cross-site', type: 0 }),
        }],
        ['POST /api/auth/signout with the cookie', '/api/auth/signout', {
          method: 'POST',
          credentials: 'include',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        }],
      ];
      for (const [what, path, init] of attempts) {
        const result = await from(path, init);
        assert.ok(result.blocked, `${what} from ${app.url}: the browser must not let the page read it, got ${JSON.stringify(result)}`);
      }
      // Still signed in: with its preflight refused, the cross-origin sign-out was never sent.
      assert.equal((await sameOrigin('/api/auth/me', {})).status, 200, 'still signed in on the server origin');

      // What the server answers, seen from outside the browser: no CORS grant on these paths.
      for (const path of ['/api/auth/me', '/v1/users/list', '/api/auth/signin', '/v1/meetings']) {
        const res = await fetch(`${server.url}${path}`, {
          method: 'OPTIONS',
          headers: { origin: app.url, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
        });
        assert.equal(res.headers.get('access-control-allow-origin'), null, `preflight of ${path} must grant no origin`);
        assert.equal(res.headers.get('access-control-allow-credentials'), null, `preflight of ${path} must not allow credentials`);
      }
    } finally {
      await context.close();
    }
  });
});
