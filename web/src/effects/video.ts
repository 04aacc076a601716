// Background blur, virtual backgrounds and beauty for the camera, as a livekit-client video
// TrackProcessor: each camera frame is segmented (person or background) and composited in
// WebGL2 (gl.ts) onto a canvas whose captureStream() track is what
// gets published and what the self-view shows. Frames come from MediaStreamTrackProcessor where
// the browser has it (Chromium: every camera frame, even in a background tab); elsewhere (Firefox,
// Safari) the camera plays into a hidden <video> read on requestVideoFrameCallback, or once per
// animation frame where that is missing too. Without WebGL2, `videoEffectsSupported` says so.
//
// It watches itself: frames per second and milliseconds per frame. Below 15 fps (while the camera
// delivers more) for 3 seconds in a row it halves the processing size; still too slow, it gives up
// and `onGiveUp` tells the app, which turns the effect off and says why.

import { Track, type ProcessorOptions, type TrackProcessor } from 'livekit-client';
import { backgroundUrl, type EffectsChoice } from './choice';
import { Compositor } from './gl';
import { Segmenter } from './segmenter';

export function videoEffectsSupported(): boolean {
  try {
    return typeof WebGL2RenderingContext !== 'undefined' && !!document.createElement('canvas').getContext('webgl2') && typeof HTMLCanvasElement.prototype.captureStream === 'function';
  } catch {
    return false;
  }
}

export interface EffectStats {
  /** Output frames in the last second. */
  fps: number;
  /** Camera frames in the last second. */
  sourceFps: number;
  /** Mean milliseconds of work per output frame (segmentation and compositing) in the last second. */
  msPerFrame: number;
  /** Of which segmentation (when it ran) and the compositor's draw calls. */
  segmentMs: number;
  drawMs: number;
  /** The processing size now: 1 full, 0.5 after the first slowdown. */
  scale: number;
  width: number;
  height: number;
  frames: number;
}

const SLOW_SECONDS = 3;

// Chromium's MediaStreamTrackProcessor (not in TypeScript's DOM library).
interface TrackFrames {
  readable: ReadableStream<VideoFrame>;
}
declare const MediaStreamTrackProcessor: (new (init: { track: MediaStreamTrack; maxBufferSize?: number }) => TrackFrames) | undefined;
/** Segmentation input: the model takes 256×144, so a bigger picture would only cost a resize. */
const SEG_W = 256;
const SEG_H = 144;

async function loadImage(url: string): Promise<HTMLImageElement> {
  const img = new Image();
  img.decoding = 'async';
  img.src = url;
  await img.decode();
  return img;
}

export class VideoEffects implements TrackProcessor<Track.Kind.Video> {
  readonly name = 'huiyi-video-effects';
  processedTrack?: MediaStreamTrack;
  /** Called once when the device cannot keep up even at the lower size. */
  onGiveUp: ((stats: EffectStats) => void) | undefined;
  stats: EffectStats = { fps: 0, sourceFps: 0, msPerFrame: 0, segmentMs: 0, drawMs: 0, scale: 1, width: 0, height: 0, frames: 0 };
  /** Test hook: extra milliseconds of busy work per frame, to show the slowdown path. */
  extraCost = 0;
  /** Below this output rate (while the camera gives more), the effect slows down, then gives up. */
  minFps = 15;

  private video: HTMLVideoElement | undefined;
  private canvas: HTMLCanvasElement | undefined;
  private compositor: Compositor | undefined;
  private segmenter: Segmenter | undefined;
  private running = false;
  private busy = false;
  private scale = 1;
  private slowSeconds = 0;
  private gaveUp = false;
  private window = { start: 0, frames: 0, source: 0, work: 0, segment: 0, segments: 0, draw: 0 };
  private segInput: HTMLCanvasElement | undefined;
  private frameHandle = 0;
  private lastTime = -1;
  private imageFor: string | undefined;

  constructor(private choice: EffectsChoice) {}

  /** The segmentation mask of the last frame, at the processing size, as 0..255 per pixel (tests and docs). */
  lastMask: { width: number; height: number; data: Uint8ClampedArray } | undefined;
  /** Keep `lastMask` up to date (costs a read-back per frame; off unless asked). */
  keepMask = false;

  async init(opts: ProcessorOptions<Track.Kind.Video>): Promise<void> {
    const settings = opts.track.getSettings();
    this.cameraFps = settings.frameRate && settings.frameRate > 0 ? settings.frameRate : 30;
    this.canvas = document.createElement('canvas');
    let width = settings.width ?? 0;
    let height = settings.height ?? 0;
    // The camera also plays into a <video>: the frames source where MediaStreamTrackProcessor is
    // missing, and everywhere the count of frames the camera delivers (the media pipeline counts
    // them whether or not this page keeps up).
    const video = document.createElement('video');
    video.muted = true;
    video.playsInline = true;
    video.srcObject = new MediaStream([opts.track]);
    await video.play().catch(() => undefined);
    if (!video.videoWidth) await new Promise((r) => video.addEventListener('loadedmetadata', r, { once: true }));
    this.counter = video;
    width ||= video.videoWidth;
    height ||= video.videoHeight;
    if (typeof MediaStreamTrackProcessor === 'function') {
      this.reader = new MediaStreamTrackProcessor({ track: opts.track, maxBufferSize: 1 }).readable.getReader();
    } else {
      this.video = video;
    }
    this.source = { width: width || 1280, height: height || 720 };
    this.size();
    this.compositor = new Compositor(this.canvas);
    this.segmenter = new Segmenter();
    await this.segmenter.init();
    await this.applyImage();
    this.processedTrack = this.canvas.captureStream(Math.round(this.cameraFps)).getVideoTracks()[0];
    this.running = true;
    this.window = { start: performance.now(), frames: 0, source: this.cameraFrames(), work: 0, segment: 0, segments: 0, draw: 0 };
    if (this.reader) void this.pump(this.reader);
    else this.schedule();
  }

  private reader: ReadableStreamDefaultReader<VideoFrame> | undefined;
  private counter: HTMLVideoElement | undefined;

  private cameraFrames(): number {
    return this.counter?.getVideoPlaybackQuality().totalVideoFrames ?? 0;
  }
  private source = { width: 1280, height: 720 };
  private cameraFps = 30;

  /** Chromium: every frame the camera gives, processed one at a time (the rest are dropped). */
  private async pump(reader: ReadableStreamDefaultReader<VideoFrame>): Promise<void> {
    while (this.running) {
      const { value: frame, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done || !frame) break;
      try {
        if (frame.displayWidth !== this.source.width || frame.displayHeight !== this.source.height) {
          this.source = { width: frame.displayWidth, height: frame.displayHeight };
          this.size();
        }
        if (this.running) await this.process(frame);
      } finally {
        frame.close();
      }
    }
  }

  private size(): void {
    const c = this.canvas!;
    const { width: w, height: h } = this.source;
    c.width = Math.max(2, Math.round((w * this.scale) / 2) * 2);
    c.height = Math.max(2, Math.round((h * this.scale) / 2) * 2);
    this.stats.width = c.width;
    this.stats.height = c.height;
  }

  /** Changes the effect without restarting the camera (no renegotiation either). */
  async update(choice: EffectsChoice): Promise<void> {
    this.choice = choice;
    await this.applyImage();
  }

  private async applyImage(): Promise<void> {
    const url = backgroundUrl(this.choice);
    if (!url || url === this.imageFor || !this.compositor) return;
    const img = await loadImage(url);
    // SVGs have no pixel size of their own; draw them at 1280×720 first.
    const c = document.createElement('canvas');
    c.width = 1280;
    c.height = Math.round(1280 / ((img.naturalWidth || 16) / (img.naturalHeight || 9)));
    c.getContext('2d')!.drawImage(img, 0, 0, c.width, c.height);
    this.compositor.setImage(c);
    this.imageFor = url;
  }

  private schedule(): void {
    const v = this.video;
    if (!this.running || !v) return;
    if ('requestVideoFrameCallback' in v) {
      this.frameHandle = v.requestVideoFrameCallback(() => void this.onFrame());
    } else {
      this.frameHandle = requestAnimationFrame(() => {
        const vid = v as HTMLVideoElement;
        if (vid.currentTime !== this.lastTime) {
          this.lastTime = vid.currentTime;
          void this.onFrame();
        } else this.schedule();
      });
    }
  }

  private async onFrame(): Promise<void> {
    this.schedule();
    const v = this.video;
    if (!v || this.busy || !this.running) return;
    if (v.videoWidth !== this.source.width || v.videoHeight !== this.source.height) {
      this.source = { width: v.videoWidth, height: v.videoHeight };
      this.size();
    }
    await this.process(v);
  }

  /** One frame: segment (a small copy), composite, count. */
  private async process(frame: HTMLVideoElement | VideoFrame): Promise<void> {
    this.busy = true;
    const t0 = performance.now();
    try {
      const c = this.compositor!;
      // At half size the mask is also refreshed every other frame only (people move slowly).
      if (this.scale === 1 || this.stats.frames % 2 === 0 || this.keepMask) {
        const small = (this.segInput ??= Object.assign(document.createElement('canvas'), { width: SEG_W, height: SEG_H }));
        small.getContext('2d')!.drawImage(frame, 0, 0, SEG_W, SEG_H);
        await this.segmenter!.segment(small, (mask) => {
          c.uploadMask(mask as TexImageSource);
          if (this.keepMask) this.readMask(mask);
        });
        this.window.segment += performance.now() - t0;
        this.window.segments++;
      }
      if (this.extraCost > 0) {
        const until = performance.now() + this.extraCost;
        while (performance.now() < until);
      }
      const t1 = performance.now();
      c.uploadFrame(frame);
      c.draw({ background: this.choice.background, beauty: this.choice.beauty });
      this.window.draw += performance.now() - t1;
      this.window.frames++;
      this.stats.frames++;
    } catch (e) {
      console.warn('video effect frame failed', e);
    } finally {
      this.window.work += performance.now() - t0;
      this.busy = false;
    }
    this.account();
  }

  /** Once a second: the figures, and the slowdown rule. */
  private account(): void {
    const now = performance.now();
    const span = now - this.window.start;
    if (span < 1000) return;
    // An effect is only "too slow" when the camera gives more than it keeps up with.
    const camera = this.cameraFrames();
    const fps = (this.window.frames * 1000) / span;
    const sourceFps = ((camera - this.window.source) * 1000) / span;
    this.stats = {
      ...this.stats,
      fps: Math.round(fps * 10) / 10,
      sourceFps: Math.round(sourceFps * 10) / 10,
      msPerFrame: this.window.frames ? Math.round((this.window.work / this.window.frames) * 10) / 10 : 0,
      segmentMs: this.window.segments ? Math.round((this.window.segment / this.window.segments) * 10) / 10 : 0,
      drawMs: this.window.frames ? Math.round((this.window.draw / this.window.frames) * 10) / 10 : 0,
      scale: this.scale,
    };
    this.window = { start: now, frames: 0, source: camera, work: 0, segment: 0, segments: 0, draw: 0 };
    const slow = fps < this.minFps && sourceFps >= this.minFps;
    this.slowSeconds = slow ? this.slowSeconds + 1 : 0;
    if (this.slowSeconds < SLOW_SECONDS) return;
    this.slowSeconds = 0;
    if (this.scale > 0.5) {
      this.scale = 0.5;
      this.size();
      console.info(`video effects: below ${this.minFps} fps, processing at half size`, this.stats);
    } else if (!this.gaveUp) {
      this.gaveUp = true;
      console.warn(`video effects: below ${this.minFps} fps at half size; turning off`, this.stats);
      this.onGiveUp?.(this.stats);
    }
  }

  private readMask(mask: CanvasImageSource): void {
    const { width, height } = this.canvas!;
    const probe = (this.maskProbe ??= document.createElement('canvas'));
    probe.width = width;
    probe.height = height;
    const g = probe.getContext('2d', { willReadFrequently: true })!;
    g.clearRect(0, 0, width, height);
    g.drawImage(mask, 0, 0, width, height);
    const rgba = g.getImageData(0, 0, width, height).data;
    const data = new Uint8ClampedArray(width * height);
    const ch = this.compositor!.maskChannel;
    for (let i = 0; i < data.length; i++) data[i] = rgba[i * 4 + ch]!;
    this.lastMask = { width, height, data };
  }
  private maskProbe: HTMLCanvasElement | undefined;

  async restart(opts: ProcessorOptions<Track.Kind.Video>): Promise<void> {
    await this.destroy();
    await this.init(opts);
  }

  async destroy(): Promise<void> {
    this.running = false;
    await this.reader?.cancel().catch(() => undefined);
    this.reader = undefined;
    const v = this.video;
    if (v && 'cancelVideoFrameCallback' in v) v.cancelVideoFrameCallback(this.frameHandle);
    else cancelAnimationFrame(this.frameHandle);
    this.processedTrack?.stop();
    if (this.counter) this.counter.srcObject = null;
    this.counter = undefined;
    await this.segmenter?.close();
    this.compositor?.dispose();
    this.video = this.canvas = this.compositor = this.segmenter = this.processedTrack = undefined;
  }
}
