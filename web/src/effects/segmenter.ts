// Person segmentation for background effects: MediaPipe's Selfie Segmentation (the landscape
// model, 256×144, for 16:9 cameras) from the @mediapipe/selfie_segmentation npm package. Its
// script, WebAssembly and model files are copied into web/dist/effects/mediapipe by the Vite build
// and served by Huiyi, so a meeting behind a firewall never reaches a CDN. The package is a
// classic script that defines `window.SelfieSegmentation`; it is loaded once, on first use.

interface Results {
  segmentationMask: CanvasImageSource;
}
interface SelfieSegmentation {
  setOptions(o: { modelSelection?: 0 | 1; selfieMode?: boolean; useCpuInference?: boolean }): void;
  onResults(cb: (r: Results) => void): void;
  initialize(): Promise<void>;
  send(input: { image: HTMLVideoElement | HTMLCanvasElement | ImageBitmap }): Promise<void>;
  close(): Promise<void>;
}
declare global {
  interface Window {
    SelfieSegmentation?: new (c: { locateFile: (file: string) => string }) => SelfieSegmentation;
  }
}

export const MEDIAPIPE_BASE = '/effects/mediapipe/';

let script: Promise<void> | undefined;

function loadScript(): Promise<void> {
  script ??= new Promise<void>((resolve, reject) => {
    if (window.SelfieSegmentation) return resolve();
    const s = document.createElement('script');
    s.src = `${MEDIAPIPE_BASE}selfie_segmentation.js`;
    s.async = true;
    s.onload = () => (window.SelfieSegmentation ? resolve() : reject(new Error('selfie_segmentation.js did not define SelfieSegmentation')));
    s.onerror = () => reject(new Error(`could not load ${s.src}`));
    document.head.append(s);
  }).catch((e) => {
    script = undefined;
    throw e;
  });
  return script;
}

/**
 * One segmenter per video pipeline. `segment` hands the mask to `use` while it is valid (the
 * mask is MediaPipe's own WebGL canvas, only good inside its callback).
 */
export class Segmenter {
  private model: SelfieSegmentation | undefined;
  private use: ((mask: CanvasImageSource) => void) | undefined;

  async init(): Promise<void> {
    await loadScript();
    const model = new window.SelfieSegmentation!({ locateFile: (file) => `${MEDIAPIPE_BASE}${file}` });
    // CPU inference (XNNPACK, WebAssembly SIMD): a few milliseconds for this small model on any
    // device, and it leaves the GPU (or a software WebGL) to the compositor.
    model.setOptions({ modelSelection: 1, selfieMode: false, useCpuInference: true });
    model.onResults((r) => this.use?.(r.segmentationMask));
    await model.initialize();
    this.model = model;
  }

  async segment(image: HTMLVideoElement | HTMLCanvasElement, use: (mask: CanvasImageSource) => void): Promise<void> {
    if (!this.model) throw new Error('segmenter not initialised');
    this.use = use;
    try {
      await this.model.send({ image });
    } finally {
      this.use = undefined;
    }
  }

  async close(): Promise<void> {
    await this.model?.close().catch(() => undefined);
    this.model = undefined;
  }
}
