// Sound against picture in a recorded file: a broadcaster whose picture flashes white and whose
// sound beeps at 3 kHz at the same instants, once a second, and ffmpeg reading when each flash
// and each beep arrives in the file.
//
// The broadcaster is GStreamer over WHIP (tests/python/tools/whip_client.py --flash), not a
// browser page: its flash and beep are set by one pipeline clock, and its sender reports map
// RTP time to that clock, so the source's own offset is zero and what a file shows is the
// server's. A Chromium page drawing the same pattern was measured here first; on a saturated
// 2-core machine its audio sender reports moved by up to 300 ms against its picture's (its
// audio thread ran late), receivers rightly followed them, and the test measured the page.

import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WHIP_CLIENT = fileURLToPath(new URL('../../python/tools/whip_client.py', import.meta.url));

/**
 * Starts a WHIP broadcaster (Debian's Python and GStreamer) that publishes to `url` with the
 * bearer `key` for `seconds`: a 320×180 picture at 15 fps, dark blue with a white flash for the
 * first 100 ms of every second, and a 3 kHz beep over the same 100 ms. Small, so it adds little
 * to a loaded machine. `said()` returns what it printed; `stop()` ends it.
 */
export function broadcastFlashAndBeep(url, key, seconds) {
  const child = spawn('/usr/bin/python3', [WHIP_CLIENT, url, key, String(seconds), '--flash', '--beep=3000', '--size=320x180', '--fps=15'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let said = '';
  child.stdout.on('data', (d) => (said += d));
  child.stderr.on('data', (d) => (said += d));
  return {
    said: () => said.slice(-3000),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    },
  };
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
