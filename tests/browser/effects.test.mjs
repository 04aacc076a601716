// Media effects, measured: two browsers meet; the sender's camera is a still of a person
// (fixtures/person.jpg) and its microphone plays speech (espeak-ng) mixed with noise (sox: pink
// noise, a fan's hum and keyboard clicks). The sender picks effects in the pre-join screen
// (screenshots of each), joins, and changes them during the meeting; the receiver's browser gets
// the processed media through Huiyi, and the test compares what arrives with what was sent:
// - background: where the sender's mask says background, the received picture matches the
//   chosen image and not the camera; where it says person, it matches the camera;
// - blur: the background loses its detail, the person keeps it;
// - beauty: the face gets brighter and smoother;
// - noise: the noise floor drops by at least 10 dB with RNNoise on, the speech stays within
//   10 dB, and speech over noise improves by at least 15 dB;
// - a device that cannot keep up (a test hook adds work per frame) first halves the processing
//   size, then turns the effect off and says so.
// The figures go to the test log (and docs/effects.md). Run inside scripts/netns-run.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchChromium, tileOf } from './lib/browser.mjs';
import { startServer, tail } from './lib/server.mjs';
import { artifactsDir, sequence } from './lib/steps.mjs';
import { poll, sleep } from './lib/wait.mjs';

const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));
const PERSON = fileURLToPath(new URL('./fixtures/person.jpg', import.meta.url));
const GW = 64;
const GH = 36;

/** Speech over noise, 48 kHz mono WAV; returns its path. */
function noisySpeech(dir) {
  const run = (cmd, args) => execFileSync(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run('espeak-ng', ['-v', 'en-us', '-s', '145', '-w', 'speech.wav', "Good morning everyone. Let's review the quarterly numbers, then plan the launch for next week. Please share your screen when you are ready."]);
  run('sox', ['speech.wav', '-r', '48000', '-c', '1', 'speech48.wav', 'pad', '1.5', '1.5']);
  const seconds = execFileSync('soxi', ['-D', join(dir, 'speech48.wav')], { encoding: 'utf8' }).trim();
  run('sox', ['-n', '-r', '48000', '-c', '1', 'pink.wav', 'synth', seconds, 'pinknoise', 'vol', '0.12']);
  run('sox', ['-n', '-r', '48000', '-c', '1', 'hum.wav', 'synth', seconds, 'sine', '120', 'sine', '240', 'vol', '0.04']);
  run('sox', ['-n', '-r', '48000', '-c', '1', 'click.wav', 'synth', '0.006', 'whitenoise', 'vol', '0.6', 'fade', '0', '0.006', '0.005']);
  run('sox', ['click.wav', 'clicks.wav', 'pad', '0', '0.16', 'repeat', '80', 'trim', '0', seconds]);
  run('sox', ['-m', '-v', '0.7', 'speech48.wav', '-v', '0.7', 'pink.wav', '-v', '0.7', 'hum.wav', '-v', '0.7', 'clicks.wav', '-b', '16', 'mix.wav']);
  return { path: join(dir, 'mix.wav'), seconds: Number(seconds) };
}

/** The camera still as the grid the checks use: GW×GH cells, RGB. */
function personGrid() {
  return [...execFileSync('ffmpeg', ['-v', 'error', '-i', PERSON, '-vf', `scale=${GW}:${GH}:flags=area`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'])];
}

/** In the page: a video or image element (or an image address) drawn at w×h, as RGB bytes. */
async function grabInPage(source, { w, h }) {
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  const g = c.getContext('2d', { willReadFrequently: true });
  g.imageSmoothingQuality = 'high';
  let img = source;
  if (typeof source === 'string') {
    img = new Image();
    img.src = source;
    await img.decode();
  }
  g.drawImage(img, 0, 0, w, h);
  const d = g.getImageData(0, 0, w, h).data;
  const out = new Array(w * h * 3);
  for (let i = 0, j = 0; i < d.length; i += 4) {
    out[j++] = d[i];
    out[j++] = d[i + 1];
    out[j++] = d[i + 2];
  }
  return out;
}

/** What `locator`'s video shows, at w×h. */
const grab = (locator, w = GW, h = GH) => locator.evaluate(grabInPage, { w, h });
/** A background image as the grid (drawn by `page` from the server). */
const imageGrid = (page, url) => page.evaluate(([fn, url, w, h]) => new Function(`return ${fn}`)()(url, { w, h }), [grabInPage.toString(), url, GW, GH]);

const luma = (rgb, i) => 0.299 * rgb[i * 3] + 0.587 * rgb[i * 3 + 1] + 0.114 * rgb[i * 3 + 2];
const cellDiff = (a, b, i) => (Math.abs(a[i * 3] - b[i * 3]) + Math.abs(a[i * 3 + 1] - b[i * 3 + 1]) + Math.abs(a[i * 3 + 2] - b[i * 3 + 2])) / 3;
const mean = (xs) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

/** Background cells (mask < 5%) that touch a person cell (mask > 50%): where a halo would show. */
function edgeCells(mask) {
  const out = [];
  for (let y = 0; y < GH; y++) {
    for (let x = 0; x < GW; x++) {
      if (mask[y * GW + x] >= 13) continue;
      let touches = false;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const yy = y + dy;
        const xx = x + dx;
        if (yy >= 0 && yy < GH && xx >= 0 && xx < GW && mask[yy * GW + xx] > 128) touches = true;
      }
      if (touches) out.push(y * GW + x);
    }
  }
  return out;
}

/** Gradient energy of a w×h RGB picture, summed per GW×GH cell. */
function detail(rgb, w, h) {
  const cells = new Array(GW * GH).fill(0);
  for (let y = 0; y < h - 1; y++) {
    for (let x = 0; x < w - 1; x++) {
      const i = y * w + x;
      const e = Math.abs(luma(rgb, i + 1) - luma(rgb, i)) + Math.abs(luma(rgb, i + w) - luma(rgb, i));
      cells[Math.floor((y * GH) / h) * GW + Math.floor((x * GW) / w)] += e;
    }
  }
  return cells;
}

describe('media effects between two browsers', () => {
  const artifacts = artifactsDir('effects');
  const work = mkdtempSync(join(tmpdir(), 'huiyi-effects-work-'));
  let server;
  let senderBrowser;
  let receiverBrowser;
  let sender;
  let receiver;
  let senderId;
  let sound;
  const figures = [];
  const report = (line) => {
    figures.push(line);
    console.log(line);
  };
  const step = sequence({
    timeout: 120_000,
    explain: async (e) => {
      for (const [who, p] of [['sender', sender], ['receiver', receiver]]) {
        if (p && !p.isClosed()) await p.screenshot({ path: join(artifacts, `effects-failed-${who}.png`), timeout: 20_000 }).catch(() => undefined);
      }
      return new Error(`${e.message}\n--- server log ---\n${server ? tail(server.log, 30) : ''}`);
    },
  });

  async function open(browser, name) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    const log = join(artifacts, `effects-${name}.console.log`);
    page.on('console', (m) => appendFileSync(log, `[${m.type()}] ${m.text()}\n`));
    page.on('pageerror', (e) => appendFileSync(log, `[pageerror] ${e.stack ?? e}\n`));
    return page;
  }

  /** The sender's mask (0..255) as GW×GH cell means, from the preview or the meeting. */
  async function senderMask(where) {
    return sender.evaluate(
      async ([where, GW, GH]) => {
        const fx = where === 'preview' ? window.__huiyiPreview.effects : window.__huiyi.effects;
        const v = fx.videoEffect();
        v.keepMask = true;
        const start = v.stats.frames;
        // Two fresh frames, so the mask is of the current choice's frames (up to 20 s: a slow
        // machine without a GPU may process one frame a second).
        for (let i = 0; i < 400 && v.stats.frames < start + 2; i++) await new Promise((r) => setTimeout(r, 50));
        const { width, height, data } = v.lastMask;
        const sums = new Array(GW * GH).fill(0);
        const counts = new Array(GW * GH).fill(0);
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) {
            const c = Math.floor((y * GH) / height) * GW + Math.floor((x * GW) / width);
            sums[c] += data[y * width + x];
            counts[c]++;
          }
        }
        return { cells: sums.map((s, i) => s / counts[i]), width, height, stats: v.stats };
      },
      [where, GW, GH],
    );
  }

  const remoteVideo = () => tileOf(receiver, senderId).locator('video').first();
  const received = (w = GW, h = GH) => grab(remoteVideo(), w, h);

  before(async () => {
    assert.equal(process.env.HUIYI_IN_NETNS, '1', 'run the browser tests inside scripts/netns-run');
    server = await startServer({ bin: process.env.HUIYI_BIN, webDir: WEB_DIST, logPath: join(artifacts, 'server-effects.log') });
    const y4m = join(work, 'person.y4m');
    // With a camera's grain (the same in every frame), which skin smoothing should take away.
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-loop', '1', '-i', PERSON, '-t', '1', '-r', '30', '-vf', 'noise=alls=14', '-pix_fmt', 'yuv420p', y4m]);
    sound = noisySpeech(work);
    senderBrowser = await launchChromium({ args: [`--use-file-for-fake-video-capture=${y4m}`, `--use-file-for-fake-audio-capture=${sound.path}`] });
    receiverBrowser = await launchChromium();
  }, { timeout: 90_000 });

  after(async () => {
    await senderBrowser?.close();
    await receiverBrowser?.close();
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
    if (figures.length) console.log(`effects figures:\n${figures.map((f) => `  ${f}`).join('\n')}`);
  });

  step('the pre-join screen previews each effect before anyone sees the camera', async () => {
    sender = await open(senderBrowser, 'sender');
    // A machine without a GPU (CI: software WebGL on two cores) may not reach 15 fps; the checks
    // here are about what the effects do, so the slowdown rule waits until 1 fps (the last case
    // tests the rule itself, with a known cost per frame).
    await sender.goto(`${server.url}/?room=effects&name=Ada&lang=en&effects-min-fps=1`);
    await sender.getByTestId('effects').waitFor();
    const preview = sender.getByTestId('prejoin-video');
    await poll('the camera preview', () => preview.evaluate((v) => v.videoWidth), (w) => w > 0);
    await sender.screenshot({ path: join(artifacts, 'effects-prejoin-none.png') });
    const plain = await grab(preview, 320, 180);
    for (const [testid, name] of [
      ['effect-blur-light', 'blur-light'],
      ['effect-blur-strong', 'blur-strong'],
      ['effect-image-office', 'office'],
      ['effect-image-sunrise', 'sunrise'],
    ]) {
      await sender.getByTestId(testid).click();
      await poll(`${name} in the preview`, () => sender.evaluate(() => window.__huiyiPreview.effects.videoEffect()?.stats.frames ?? 0), (n) => n > 10, { timeout: 30_000 });
      await sleep(700);
      await sender.screenshot({ path: join(artifacts, `effects-prejoin-${name}.png`) });
    }
    // The preview shows the sunrise where the mask says background.
    const { cells: mask } = await senderMask('preview');
    const shown = await grab(preview, 320, 180);
    const shownGrid = await grab(preview);
    const bg = await imageGrid(sender, '/backgrounds/sunrise.svg');
    const background = mask.map((m, i) => (m < 13 ? i : -1)).filter((i) => i >= 0);
    assert.ok(background.length > GW * GH * 0.2, `the mask finds background (${background.length} cells)`);
    const offBg = mean(background.map((i) => cellDiff(shownGrid, bg, i)));
    report(`pre-join preview: background cells differ from the sunrise image by ${offBg.toFixed(1)} levels on average`);
    assert.ok(offBg < 30, `the preview shows the sunrise behind the person (mean difference ${offBg.toFixed(1)})`);
    assert.notDeepEqual(shown, plain);
    // The participant's own picture: chosen from the device, kept in this browser only.
    const own = join(work, 'own.png');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=0xd020c0:s=1600x900', '-frames:v', '1', own]);
    await sender.getByTestId('effect-upload').setInputFiles(own);
    await poll('the uploaded image chosen', () => sender.evaluate(() => window.__huiyiPreview.effects.choice.image), (v) => v === 'custom');
    await sleep(1500);
    const ownShown = await grab(preview);
    const ownVsPicture = mean(background.map((i) => cellDiff(ownShown, [...Array(GW * GH)].flatMap(() => [0xd0, 0x20, 0xc0]), i)));
    report(`own image: background cells differ from it by ${ownVsPicture.toFixed(1)} levels`);
    assert.ok(ownVsPicture < 30, `the preview shows the uploaded image behind the person (${ownVsPicture.toFixed(1)})`);
    const kept = await sender.evaluate(() => localStorage.getItem('huiyi.effects.image')?.slice(0, 23));
    assert.equal(kept, 'data:image/jpeg;base64,', 'the image is kept in the browser');
    await sender.screenshot({ path: join(artifacts, 'effects-prejoin-own-image.png') });
    await sender.getByTestId('effect-image-sunrise').click();
    await sender.getByTestId('effect-beauty').fill('60');
    await sleep(700);
    await sender.screenshot({ path: join(artifacts, 'effects-prejoin-beauty.png') });
    await sender.getByTestId('effect-noise').check();
    await sender.screenshot({ path: join(artifacts, 'effects-prejoin-all.png') });
    // Remembered on this device.
    const saved = await sender.evaluate(() => JSON.parse(localStorage.getItem('huiyi.effects')));
    assert.deepEqual(saved, { noise: true, background: 'image', image: 'sunrise', beauty: 60 });
  });

  step('both join; the receiver gets the sender with the chosen background', async () => {
    await sender.getByTestId('join-button').click();
    await sender.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: 35_000 });
    senderId = await sender.evaluate(() => window.__huiyi.room.localParticipant.identity);
    receiver = await open(receiverBrowser, 'receiver');
    await receiver.goto(`${server.url}/?room=effects&lang=en`);
    await receiver.getByTestId('join-name').fill('Bo');
    await receiver.getByTestId('join-button').click();
    await receiver.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: 35_000 });
    await poll('the sender\'s video at the receiver', () => remoteVideo().evaluate((v) => v.videoWidth).catch(() => 0), (w) => w > 0, { timeout: 30_000 });
    // The meeting applied what the pre-join screen chose.
    const state = await sender.evaluate(() => ({ noise: window.__huiyi.effects.noiseActive(), video: !!window.__huiyi.effects.videoEffect() }));
    assert.deepEqual(state, { noise: true, video: true });
    // Beauty off for the background comparison.
    await sender.evaluate(() => window.__huiyi.effects.set({ ...window.__huiyi.effects.choice, beauty: 0 }));
    await sleep(2500);
    const { cells: mask, stats } = await senderMask('meeting');
    const got = await received();
    const orig = personGrid();
    const bg = await imageGrid(receiver, '/backgrounds/sunrise.svg');
    const person = mask.map((m, i) => (m > 242 ? i : -1)).filter((i) => i >= 0);
    const background = mask.map((m, i) => (m < 13 ? i : -1)).filter((i) => i >= 0);
    const share = person.length / (GW * GH);
    report(`segmentation: ${(share * 100).toFixed(0)}% of the picture is person, ${((background.length / (GW * GH)) * 100).toFixed(0)}% background`);
    assert.ok(share > 0.1 && share < 0.6, `a person fills part of the picture (${(share * 100).toFixed(0)}%)`);
    // The face (centre-top of the still) is person; the padding at the left edge is background.
    assert.ok(mask[8 * GW + 32] > 200, `the face is person (${mask[8 * GW + 32]})`);
    assert.ok(mask[18 * GW + 3] < 50, `the left edge is background (${mask[18 * GW + 3]})`);
    const personVsCamera = mean(person.map((i) => cellDiff(got, orig, i)));
    const bgVsImage = mean(background.map((i) => cellDiff(got, bg, i)));
    const bgVsCamera = mean(background.map((i) => cellDiff(got, orig, i)));
    report(`video effect at ${stats.width}x${stats.height}: ${stats.fps} fps (camera ${stats.sourceFps}), ${stats.msPerFrame} ms per frame (segmentation ${stats.segmentMs} ms, compositing ${stats.drawMs} ms)`);
    report(`received: person vs camera ${personVsCamera.toFixed(1)}, background vs image ${bgVsImage.toFixed(1)}, background vs camera ${bgVsCamera.toFixed(1)} (mean levels)`);
    assert.ok(personVsCamera < 25, `the person arrives as the camera saw them (${personVsCamera.toFixed(1)})`);
    assert.ok(bgVsImage < 30, `the background arrives as the chosen image (${bgVsImage.toFixed(1)})`);
    assert.ok(bgVsCamera > 45, `the camera's own background is gone (${bgVsCamera.toFixed(1)})`);
    // No halo: right beside the person (one 20-pixel cell away) the image shows as well as anywhere.
    const edge = edgeCells(mask);
    const edgeVsImage = mean(edge.map((i) => cellDiff(got, bg, i)));
    report(`edge: ${edge.length} background cells touch the person; they differ from the image by ${edgeVsImage.toFixed(1)} levels`);
    assert.ok(edge.length > 20 && edgeVsImage < 30, `the image reaches the person's outline (${edgeVsImage.toFixed(1)} over ${edge.length} cells)`);
    // The self-view shows the effect too.
    const self = await grab(tileOf(sender, senderId).locator('video').first());
    const selfVsImage = mean(background.map((i) => cellDiff(self, bg, i)));
    assert.ok(selfVsImage < 30, `the sender's self-view shows the image (${selfVsImage.toFixed(1)})`);
    await receiver.screenshot({ path: join(artifacts, 'effects-receiver-sunrise.png') });
  });

  step('blur during the meeting: the background loses its detail, the person keeps it', async () => {
    const set = (c) => sender.evaluate((c) => window.__huiyi.effects.set({ ...window.__huiyi.effects.choice, ...c }), c);
    const W = 320;
    const H = 180;
    await set({ background: 'none' });
    await poll('the camera without effects', () => sender.evaluate(() => !window.__huiyi.effects.videoEffect()), (v) => v === true);
    await sleep(2500);
    const plainRgb = await received(W, H);
    const plainGrid = await received();
    const plain = detail(plainRgb, W, H);
    await set({ background: 'blur-strong' });
    await sleep(2500);
    const { cells: mask } = await senderMask('meeting');
    const blurred = detail(await received(W, H), W, H);
    // No halo: beside the person the blurred background keeps the background's own colour (a
    // plain blur would pull the orange suit into it). Compared in 64×36 cells with the picture
    // without the effect.
    const blurGrid = await received();
    const edge = edgeCells(mask);
    const edgeShift = mean(edge.map((i) => cellDiff(blurGrid, plainGrid, i)));
    report(`blur edge: ${edge.length} background cells touch the person; their colour moved by ${edgeShift.toFixed(1)} levels`);
    // Measured here: 10.4 levels with the weighted blur, 28.8 with a plain one.
    assert.ok(edgeShift < 18, `no halo around the person (${edgeShift.toFixed(1)} levels)`);
    const person = mask.map((m, i) => (m > 242 ? i : -1)).filter((i) => i >= 0);
    // Background with something to blur (the flag and the model shuttle, not the flat padding).
    const background = mask.map((m, i) => (m < 13 && plain[i] > 40 ? i : -1)).filter((i) => i >= 0);
    assert.ok(background.length > 40, `background cells with detail: ${background.length}`);
    const bgRatio = mean(background.map((i) => blurred[i])) / mean(background.map((i) => plain[i]));
    const personRatio = mean(person.map((i) => blurred[i])) / mean(person.map((i) => plain[i]));
    report(`blur (strong): background detail ${(bgRatio * 100).toFixed(0)}% of the original, person detail ${(personRatio * 100).toFixed(0)}%`);
    assert.ok(bgRatio < 0.5, `the background is blurred (${(bgRatio * 100).toFixed(0)}% of its detail left)`);
    assert.ok(personRatio > 0.7, `the person stays sharp (${(personRatio * 100).toFixed(0)}% of their detail)`);
    await receiver.screenshot({ path: join(artifacts, 'effects-receiver-blur.png') });
  });

  step('beauty: the face arrives brighter and smoother', async () => {
    const set = (c) => sender.evaluate((c) => window.__huiyi.effects.set({ ...window.__huiyi.effects.choice, ...c }), c);
    // The face of the still (x 540-680, y 150-260 of 1280×720), at the resolution that arrives:
    // its brightness, and its fine texture (how far each pixel is from its 3×3 neighbourhood).
    const measure = (video) =>
      video.evaluate((v) => {
        const W = v.videoWidth;
        const H = v.videoHeight;
        const c = Object.assign(document.createElement('canvas'), { width: W, height: H });
        const g = c.getContext('2d', { willReadFrequently: true });
        g.drawImage(v, 0, 0, W, H);
        const d = g.getImageData(0, 0, W, H).data;
        const l = (x, y) => {
          const i = (y * W + x) * 4;
          return 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
        };
        let light = 0;
        let rough = 0;
        let n = 0;
        for (let y = Math.floor((150 * H) / 720); y < Math.floor((260 * H) / 720); y++) {
          for (let x = Math.floor((540 * W) / 1280); x < Math.floor((680 * W) / 1280); x++) {
            let s = 0;
            for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (dx || dy) s += l(x + dx, y + dy);
            light += l(x, y);
            rough += Math.abs(l(x, y) - s / 8);
            n++;
          }
        }
        return { light: light / n, rough: rough / n, size: `${W}x${H}` };
      });
    // Brightness as the receiver gets it; texture in the sender's self-view (the processed
    // picture before the encoder, which smooths at a low bitrate by itself).
    const selfView = tileOf(sender, senderId).locator('video').first();
    await set({ background: 'none', beauty: 0 });
    await sleep(2500);
    const before = { at: await measure(remoteVideo()), self: await measure(selfView) };
    await set({ beauty: 100 });
    await sleep(2500);
    const afterBeauty = { at: await measure(remoteVideo()), self: await measure(selfView) };
    report(`beauty 100: face luminance at the receiver (${afterBeauty.at.size}) ${before.at.light.toFixed(1)} -> ${afterBeauty.at.light.toFixed(1)}; texture in the processed picture (${afterBeauty.self.size}) ${before.self.rough.toFixed(2)} -> ${afterBeauty.self.rough.toFixed(2)}`);
    assert.ok(afterBeauty.at.light > before.at.light + 4, 'the face arrives brighter');
    assert.ok(afterBeauty.self.rough < before.self.rough * 0.8, 'the face is smoother');
    await receiver.screenshot({ path: join(artifacts, 'effects-receiver-beauty.png') });
    await set({ beauty: 0 });
  });

  step('noise suppression, switched during the meeting: the noise floor drops and the speech stays', async () => {
    // The receiver measures the sender's audio as it plays: 25 ms steps over one loop of the file.
    const listen = () =>
      receiver.evaluate(
        async ([identity, ms]) => {
          const p = window.__huiyi.room.remoteParticipants.get(identity);
          const publication = [...p.audioTrackPublications.values()][0];
          const track = publication.track.mediaStreamTrack;
          const ctx = new AudioContext();
          const analyser = ctx.createAnalyser();
          analyser.fftSize = 2048;
          ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
          const buf = new Float32Array(analyser.fftSize);
          const levels = [];
          const end = performance.now() + ms;
          while (performance.now() < end) {
            await new Promise((r) => setTimeout(r, 25));
            analyser.getFloatTimeDomainData(buf);
            let s = 0;
            for (const x of buf) s += x * x;
            levels.push(10 * Math.log10(s / buf.length + 1e-12));
          }
          await ctx.close();
          levels.sort((a, b) => a - b);
          const at = (q) => levels[Math.floor(q * (levels.length - 1))];
          return { floor: at(0.1), speech: at(0.9), n: levels.length, sid: publication.trackSid, id: track.id };
        },
        [senderId, Math.round(sound.seconds * 1000)],
      );
    const toggle = async (on) => {
      if (!(await sender.getByTestId('settings-panel').isVisible().catch(() => false))) await sender.getByTestId('open-settings').click();
      const box = sender.getByTestId('settings-panel').getByTestId('effect-noise');
      if (on) await box.check();
      else await box.uncheck();
      await poll('the noise suppressor', () => sender.evaluate(() => window.__huiyi.effects.noiseActive()), (v) => v === on);
      await sleep(1500);
    };
    await toggle(false);
    const off = await listen();
    await toggle(true);
    const on = await listen();
    const reduction = off.floor - on.floor;
    const kept = on.speech - off.speech;
    report(`noise: floor ${off.floor.toFixed(1)} dB off, ${on.floor.toFixed(1)} dB on (${reduction.toFixed(1)} dB less noise); speech peaks ${off.speech.toFixed(1)} dB off, ${on.speech.toFixed(1)} dB on (${kept.toFixed(1)} dB); ${on.n} windows each`);
    // Switched by replacing the sender's track: the receiver keeps the same track throughout.
    assert.deepEqual([on.sid, on.id], [off.sid, off.id], 'the same published track before and after');
    assert.ok(off.floor > -70, `the noise reaches the receiver with suppression off (${off.floor.toFixed(1)} dB)`);
    assert.ok(reduction >= 10, `RNNoise removes at least 10 dB of noise (${reduction.toFixed(1)} dB)`);
    // RNNoise takes a little of the speech with the noise; what matters is how far apart they are.
    assert.ok(kept > -10, `the speech keeps its level within 10 dB (${kept.toFixed(1)} dB)`);
    assert.ok(reduction + kept >= 15, `speech over noise improves by at least 15 dB (${(reduction + kept).toFixed(1)} dB)`);
  }, 90_000);

  step('a device that cannot keep up: half size first, then the effect turns off and says so', async () => {
    await sender.evaluate(() => window.__huiyi.effects.set({ ...window.__huiyi.effects.choice, background: 'blur-light' }));
    await poll('the blur running', () => sender.evaluate(() => window.__huiyi.effects.videoEffect()?.stats.fps ?? 0), (f) => f > 0);
    await sender.evaluate(() => {
      const v = window.__huiyi.effects.videoEffect();
      v.minFps = 15;
      v.extraCost = 120;
    });
    const half = await poll('processing at half size', () => sender.evaluate(() => window.__huiyi.effects.videoEffect()?.stats), (s) => s?.scale === 0.5, { timeout: 20_000 });
    report(`slow device: ${half.fps} fps at ${half.msPerFrame} ms per frame -> half size (${half.width}x${half.height})`);
    await poll('the effect turned off', () => sender.evaluate(() => window.__huiyi.effects.videoDisabled && !window.__huiyi.effects.videoEffect()), (v) => v === true, { timeout: 20_000 });
    await sender.locator('.toast', { hasText: 'Video effects turned off' }).first().waitFor();
    await sender.screenshot({ path: join(artifacts, 'effects-too-slow.png') });
  });

  step('without MediaStreamTrackProcessor (Firefox, Safari) the <video> path runs the effect', async () => {
    const context = await receiverBrowser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    await context.addInitScript(() => {
      delete window.MediaStreamTrackProcessor;
    });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`${server.url}/?room=effects-fallback&lang=en&effects-min-fps=1`);
    await page.getByTestId('effect-blur-light').click();
    const stats = await poll('frames through the <video> path', () => page.evaluate(() => window.__huiyiPreview.effects.stats()), (st) => st?.frames > 10, { timeout: 30_000 });
    assert.equal(await page.evaluate(() => typeof window.MediaStreamTrackProcessor), 'undefined');
    report(`<video> path (no MediaStreamTrackProcessor): ${stats.width}x${stats.height}, ${stats.fps} fps`);
    await context.close();
  });

  step('without AudioWorklet and WebGL 2 the controls say so, and joining still works', async () => {
    const context = await receiverBrowser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    await context.addInitScript(() => {
      delete window.AudioWorkletNode;
      const real = HTMLCanvasElement.prototype.getContext;
      HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
        return kind === 'webgl2' ? null : real.call(this, kind, ...rest);
      };
    });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`${server.url}/?room=effects-old&name=Old&lang=en`);
    await page.getByTestId('effects').waitFor();
    assert.equal(await page.getByTestId('effect-noise').isDisabled(), true);
    assert.equal(await page.getByTestId('effect-blur-light').isDisabled(), true);
    assert.match(await page.getByTestId('effects-status').innerText(), /WebGL 2/);
    assert.match(await page.getByTestId('effects').innerText(), /not supported in this browser/);
    await page.screenshot({ path: join(artifacts, 'effects-prejoin-unsupported.png') });
    await page.getByTestId('join-button').click();
    await page.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: 35_000 });
    await context.close();
  });
});
