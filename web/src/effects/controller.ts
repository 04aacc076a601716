// Puts the participant's effect choice onto their local tracks: RNNoise on the microphone, the
// video pipeline on the camera. One instance serves the pre-join preview or the meeting; changes
// apply live (the processors swap the sender's track, so nothing is renegotiated) and are saved
// for this device. When the device cannot keep up, the video effect turns itself off and
// `onNotice` says so.

import { Track, type LocalAudioTrack, type LocalTrack, type LocalVideoTrack } from 'livekit-client';
import { saveEffects, savedEffects, videoEffectsOn, type EffectsChoice } from './choice';
import { VideoEffects, videoEffectsSupported, type EffectStats } from './video';

/** RNNoise needs AudioWorklet and WebAssembly (noise.ts is loaded only then). */
export function noiseSuppressionSupported(): boolean {
  return typeof AudioWorkletNode !== 'undefined' && typeof WebAssembly === 'object' && typeof AudioContext !== 'undefined';
}

const NOISE = 'huiyi-rnnoise';

export type Notice = 'effects.tooSlow' | 'effects.videoUnsupported' | 'effects.noiseUnsupported' | 'effects.failed';

export class EffectsController {
  choice: EffectsChoice = savedEffects();
  readonly noiseSupported = noiseSuppressionSupported();
  readonly videoSupported = videoEffectsSupported();
  /** Set when the device gave up on video effects in this session. */
  videoDisabled = false;
  /**
   * The output rate below which video effects step down and then turn off: 15 fps, or the page's
   * `effects-min-fps` parameter (for demos and tests on machines without a GPU).
   */
  readonly minFps = Number(new URLSearchParams(location.search).get('effects-min-fps') ?? '') || 15;
  onNotice: ((n: Notice, detail?: string) => void) | undefined;
  onChange: (() => void) | undefined;
  private audio: LocalAudioTrack | undefined;
  private video: LocalVideoTrack | undefined;
  private audioContext: AudioContext | undefined;
  private queue: Promise<void> = Promise.resolve();

  /** The running video pipeline, if any (its stats show in settings and in tests). */
  videoEffect(): VideoEffects | undefined {
    const p = this.video?.getProcessor();
    return p instanceof VideoEffects ? p : undefined;
  }

  stats(): EffectStats | undefined {
    return this.videoEffect()?.stats;
  }

  noiseActive(): boolean {
    return this.audio?.getProcessor()?.name === NOISE;
  }

  async set(choice: EffectsChoice): Promise<void> {
    if (videoEffectsOn(choice) && !videoEffectsOn(this.choice)) this.videoDisabled = false;
    this.choice = choice;
    saveEffects(choice);
    await this.apply();
  }

  /** Follows a newly opened or published local track. */
  attach(track: LocalTrack | undefined): Promise<void> {
    if (!track) return Promise.resolve();
    if (track.kind === Track.Kind.Audio) this.audio = track as LocalAudioTrack;
    if (track.kind === Track.Kind.Video && track.source !== Track.Source.ScreenShare) this.video = track as LocalVideoTrack;
    return this.apply();
  }

  detach(): void {
    this.audio = this.video = undefined;
  }

  /** Serialised: a quick second change waits for the first to finish. */
  apply(): Promise<void> {
    this.queue = this.queue.then(() => this.applyNow()).catch((e) => this.onNotice?.('effects.failed', e instanceof Error ? e.message : String(e)));
    return this.queue;
  }

  private async applyNow(): Promise<void> {
    const c = this.choice;
    const audio = this.audio;
    if (audio) {
      const active = audio.getProcessor()?.name === NOISE;
      if (c.noise && !this.noiseSupported) this.onNotice?.('effects.noiseUnsupported');
      if (c.noise && this.noiseSupported && !active) {
        const { NoiseSuppressor, rnnoiseContext } = await import('./noise');
        this.audioContext ??= rnnoiseContext();
        await audio.setAudioContext(this.audioContext);
        const processor = new NoiseSuppressor();
        await audio.setProcessor(processor);
      } else if (!c.noise && active) {
        await audio.stopProcessor();
      }
    }
    const video = this.video;
    if (video) {
      const want = videoEffectsOn(c) && !this.videoDisabled;
      if (want && !this.videoSupported) {
        this.onNotice?.('effects.videoUnsupported');
      } else if (want) {
        const running = this.videoEffect();
        if (running) await running.update(c);
        else {
          const effect = new VideoEffects(c);
          effect.minFps = this.minFps;
          effect.onGiveUp = (s) => void this.giveUp(s);
          await video.setProcessor(effect);
        }
      } else if (video.getProcessor()) {
        await video.stopProcessor();
      }
    }
    this.onChange?.();
  }

  private async giveUp(s: EffectStats): Promise<void> {
    this.videoDisabled = true;
    this.onNotice?.('effects.tooSlow', `${s.fps} fps, ${s.msPerFrame} ms per frame`);
    await this.apply();
  }

  async close(): Promise<void> {
    await this.queue;
    await this.audioContext?.close().catch(() => undefined);
    this.audioContext = undefined;
  }
}
