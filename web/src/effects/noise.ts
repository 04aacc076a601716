// AI noise suppression for the microphone: RNNoise (xiph's recurrent denoiser, compiled to
// WebAssembly) in an AudioWorklet, from @sapphi-red/web-noise-suppressor. It is a livekit-client
// audio TrackProcessor, so turning it on or off swaps the sender's track (replaceTrack) without
// renegotiating. Every file (the worklet and both wasm builds) is bundled into web/dist and
// served by Huiyi itself. This module defines a subclass of AudioWorkletNode when it loads, so
// the controller imports it only where `noiseSuppressionSupported` (controller.ts) says the
// browser has AudioWorklet; elsewhere the browser's own `noiseSuppression` is all there is.

import { loadRnnoise, RnnoiseWorkletNode } from '@sapphi-red/web-noise-suppressor';
import workletUrl from '@sapphi-red/web-noise-suppressor/rnnoiseWorklet.js?url';
import wasmUrl from '@sapphi-red/web-noise-suppressor/rnnoise.wasm?url';
import simdUrl from '@sapphi-red/web-noise-suppressor/rnnoise_simd.wasm?url';
import { Track, type AudioProcessorOptions, type TrackProcessor } from 'livekit-client';

let wasm: Promise<ArrayBuffer> | undefined;
const contextsWithWorklet = new WeakMap<BaseAudioContext, Promise<void>>();

/** RNNoise runs at 48 kHz; this is the context the microphone's processing uses. */
export function rnnoiseContext(): AudioContext {
  return new AudioContext({ sampleRate: 48_000, latencyHint: 'interactive' });
}

export class NoiseSuppressor implements TrackProcessor<Track.Kind.Audio, AudioProcessorOptions> {
  readonly name = 'huiyi-rnnoise';
  processedTrack?: MediaStreamTrack;
  private source: MediaStreamAudioSourceNode | undefined;
  private node: RnnoiseWorkletNode | undefined;
  private sink: MediaStreamAudioDestinationNode | undefined;

  async init(opts: AudioProcessorOptions): Promise<void> {
    const ctx = opts.audioContext;
    wasm ??= loadRnnoise({ url: wasmUrl, simdUrl });
    let ready = contextsWithWorklet.get(ctx);
    if (!ready) {
      ready = ctx.audioWorklet.addModule(workletUrl);
      contextsWithWorklet.set(ctx, ready);
    }
    const [binary] = await Promise.all([wasm, ready]);
    if (ctx.state === 'suspended') await ctx.resume().catch(() => undefined);
    this.source = ctx.createMediaStreamSource(new MediaStream([opts.track]));
    this.node = new RnnoiseWorkletNode(ctx, { wasmBinary: binary, maxChannels: 1 });
    this.sink = ctx.createMediaStreamDestination();
    this.sink.channelCount = 1;
    this.source.connect(this.node).connect(this.sink);
    this.processedTrack = this.sink.stream.getAudioTracks()[0];
  }

  async restart(opts: AudioProcessorOptions): Promise<void> {
    await this.destroy();
    await this.init(opts);
  }

  async destroy(): Promise<void> {
    this.source?.disconnect();
    this.node?.disconnect();
    this.node?.destroy();
    this.processedTrack?.stop();
    this.source = this.node = this.sink = this.processedTrack = undefined;
  }
}
