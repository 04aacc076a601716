// Sound against picture in a recorded file: a participant whose camera flashes white and whose
// microphone beeps at 3 kHz at the same instants, once a second, and ffmpeg reading when each
// flash and each beep arrives in the file.
//
// The flashes and beeps come from one moment of the participant's page's script, not from
// Chromium's fake-device files: those loop the picture and the sound independently,
// and measured here the picture's loop ran 7% slow and the sound's skipped, so the file's
// offset wandered by ±300 ms whatever the server did.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Makes `context`'s pages answer getUserMedia with a test pattern: a 640×360 picture at about
 * 15 fps, dark blue with a white flash of 200 ms once a second, and a 3 kHz beep that starts
 * with each flash.
 *
 * Picture and sound start together from one moment of the page's script: the frame showing
 * the flash is drawn and captured at once (`captureStream(0)` and `requestFrame()`), and the
 * beep's gain rises at the same AudioContext instant. On a saturated machine the page's
 * script runs late, by hundreds of milliseconds at times; a beep scheduled ahead on the audio
 * clock while the picture waited for the script would then measure the page, not the server.
 */
export async function useFlashAndBeep(context) {
  await context.addInitScript(() => {
    let made;
    const make = () => {
      const audio = new AudioContext({ sampleRate: 48000 });
      const tone = audio.createOscillator();
      tone.frequency.value = 3000;
      const gain = audio.createGain();
      gain.gain.value = 0;
      const out = audio.createMediaStreamDestination();
      tone.connect(gain).connect(out);
      tone.start();
      const canvas = document.createElement('canvas');
      [canvas.width, canvas.height] = [640, 360];
      const g = canvas.getContext('2d');
      const video = canvas.captureStream(0).getVideoTracks()[0];
      let n = 0;
      let flashUntil = 0;
      let lastSecond = Math.floor(audio.currentTime);
      let lastFrame = 0;
      let shown = false;
      setInterval(() => {
        const t = audio.currentTime;
        const now = performance.now();
        const second = Math.floor(t);
        if (second !== lastSecond) {
          // A new second on the audio clock: flash and beep, from now.
          lastSecond = second;
          flashUntil = t + 0.2;
          gain.gain.cancelScheduledValues(0);
          gain.gain.setValueAtTime(0.7, t);
          gain.gain.setValueAtTime(0, t + 0.2);
        }
        const flash = t < flashUntil;
        if (flash === shown && now - lastFrame < 66) return;
        shown = flash;
        lastFrame = now;
        g.fillStyle = flash ? '#ffffff' : '#283c78';
        g.fillRect(0, 0, 640, 360);
        // Something that moves, so the encoder has a picture to send.
        g.fillStyle = flash ? '#ffffff' : '#3c5aa0';
        g.fillRect((n++ * 4) % 600, 300, 40, 40);
        video.requestFrame();
      }, 5);
      return { audio: out.stream.getAudioTracks()[0], video, resume: () => audio.resume() };
    };
    const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = async (constraints = {}) => {
      if (!constraints.audio && !constraints.video) return original(constraints);
      made ??= make();
      await made.resume();
      const tracks = [];
      if (constraints.audio) tracks.push(made.audio.clone());
      if (constraints.video) tracks.push(made.video.clone());
      return new MediaStream(tracks);
    };
  });
}

/** A microphone for everyone else: 200 Hz bursts (0.6 s in every 1.7), nothing near 3 kHz. */
export function makeTalk(dir) {
  const talk = join(dir, 'talk.wav');
  execFileSync('sox', ['-n', '-r', '48000', '-c', '1', '-b', '16', talk, 'synth', '0.6', 'sine', '200', 'vol', '0.5', 'pad', '0', '1.1']);
  return talk;
}

/** Times (s) at which `values` rises through `threshold`, at least 0.5 s apart. */
function rises(times, values, threshold) {
  const out = [];
  for (let i = 1; i < values.length; i++) {
    if (values[i - 1] < threshold && values[i] >= threshold && (out.length === 0 || times[i] - out.at(-1) > 0.5)) out.push(times[i]);
  }
  return out;
}

/** When the flashes show (a white area of at least a strip tile) and the beeps sound, in `path`'s time. */
export function flashesAndBeeps(path) {
  const [w, h] = [160, 90];
  // ffmpeg's filters below count from the file's start; ffprobe's frame times do not (an HLS
  // segment starts wherever the stream was).
  const start = Number(JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=start_time', '-of', 'json', path], { encoding: 'utf8' })).format.start_time) || 0;
  const times = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0', path], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: 120_000,
  })
    .split('\n')
    .filter((l) => l.trim())
    .map((t) => Number(t) - start);
  // White, not merely bright: the fake cameras' bright green pies are as light in luma.
  const rgb = execFileSync('ffmpeg', ['-v', 'error', '-i', path, '-map', '0:v:0', '-fps_mode', 'passthrough', '-vf', `scale=${w}:${h}:flags=area`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], {
    maxBuffer: 512 << 20,
    timeout: 120_000,
  });
  const frame = w * h * 3;
  const white = [];
  for (let f = 0; (f + 1) * frame <= rgb.length; f++) {
    let n = 0;
    for (let i = f * frame; i < (f + 1) * frame; i += 3) if (rgb[i] > 200 && rgb[i + 1] > 200 && rgb[i + 2] > 200) n++;
    white.push(n / (w * h));
  }
  if (white.length !== times.length) throw new Error(`${white.length} frames decoded, ${times.length} frame times`);
  // A strip tile is 1/16 of the canvas (a flash there whitens about 5% of it), the main picture
  // more than half.
  const flashes = rises(times, white, 0.03);

  // Two 2 kHz high-passes take the others' 200 Hz down by about 80 dB; 5 ms windows.
  const report = execFileSync('ffmpeg', ['-v', 'error', '-i', path, '-vn', '-af', 'highpass=f=2000,highpass=f=2000,asetnsamples=n=240:p=0,astats=metadata=1:reset=1,ametadata=mode=print:key=lavfi.astats.Overall.RMS_level:file=-', '-f', 'null', '-'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: 120_000,
  });
  const at = [...report.matchAll(/pts_time:([\d.]+)/g)].map((m) => Number(m[1]));
  const rms = [...report.matchAll(/RMS_level=(-?[\d.]+|-inf|inf)/g)].map((m) => (/inf/.test(m[1]) ? -120 : Number(m[1])));
  const loudest = Math.max(...rms);
  const beeps = rises(at, rms, loudest - 20);
  return { flashes, beeps, loudest };
}

/**
 * Sound minus picture (s) for each flash that has a beep within 0.45 s, and their median.
 * @returns {{ offsets: number[], median: number | undefined, flashes: number[], beeps: number[] }}
 */
export function avOffsets(path) {
  const { flashes, beeps } = flashesAndBeeps(path);
  const offsets = [];
  for (const f of flashes) {
    const near = beeps.map((b) => b - f).filter((d) => Math.abs(d) < 0.45);
    if (near.length) offsets.push(near.reduce((a, b) => (Math.abs(b) < Math.abs(a) ? b : a)));
  }
  const sorted = [...offsets].sort((a, b) => a - b);
  return { offsets, median: sorted[Math.floor(sorted.length / 2)], flashes, beeps };
}

/**
 * Starts recording, inside `page`, what its camera and microphone produce (MediaRecorder, VP8
 * and Opus), as the reference for the files made from them: the browser's own audio path puts
 * the beeps some 40–50 ms after the flashes before anything leaves the page (measured here), and
 * what a file shows beyond that is what the server added.
 */
export async function startSourceRecording(page) {
  await page.evaluate(async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    const recorder = new MediaRecorder(stream, { mimeType: 'video/webm;codecs=vp8,opus', videoBitsPerSecond: 300_000 });
    const chunks = [];
    recorder.ondataavailable = (e) => chunks.push(e.data);
    recorder.start(1000);
    window.__sourceRecording = { recorder, chunks, stream };
  });
}

/** Stops the recording `startSourceRecording` began and writes it to `path` (WebM). */
export async function stopSourceRecording(page, path) {
  const base64 = await page.evaluate(async () => {
    const { recorder, chunks, stream } = window.__sourceRecording;
    const stopped = new Promise((resolve) => (recorder.onstop = resolve));
    recorder.stop();
    await stopped;
    for (const t of stream.getTracks()) t.stop();
    const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  });
  writeFileSync(path, Buffer.from(base64, 'base64'));
}
