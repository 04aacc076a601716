// The participant's media-effect choice (noise suppression, background, beauty) and where it is
// kept: localStorage `huiyi.effects` on this device, so the next meeting starts the same way. An
// uploaded background image stays in the browser too (`huiyi.effects.image`, a downscaled JPEG
// data URL); it is never sent to the server.

export type Background = 'none' | 'blur-light' | 'blur-strong' | 'image';

export interface EffectsChoice {
  /** RNNoise on the microphone (the browser's own noiseSuppression stays on underneath). */
  noise: boolean;
  background: Background;
  /** A shipped background's id (see BACKGROUNDS) or 'custom' for the uploaded image. */
  image: string;
  /** Beauty strength, 0 (off) to 100. */
  beauty: number;
}

/** Background images Huiyi ships (web/public/backgrounds), by id. */
export const BACKGROUNDS = ['office', 'library', 'sunrise', 'bamboo'] as const;

const KEY = 'huiyi.effects';
const IMAGE_KEY = 'huiyi.effects.image';

export const NO_EFFECTS: EffectsChoice = { noise: false, background: 'none', image: BACKGROUNDS[0], beauty: 0 };

export function savedEffects(): EffectsChoice {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) || '{}') as Partial<EffectsChoice>;
    const background: Background = (['none', 'blur-light', 'blur-strong', 'image'] as const).includes(v.background as Background)
      ? (v.background as Background)
      : 'none';
    const image = typeof v.image === 'string' && ((BACKGROUNDS as readonly string[]).includes(v.image) || v.image === 'custom') ? v.image : BACKGROUNDS[0];
    const beauty = typeof v.beauty === 'number' && Number.isFinite(v.beauty) ? Math.max(0, Math.min(100, Math.round(v.beauty))) : 0;
    return { noise: v.noise === true, background, image, beauty };
  } catch {
    return { ...NO_EFFECTS };
  }
}

export function saveEffects(choice: EffectsChoice): void {
  localStorage.setItem(KEY, JSON.stringify(choice));
}

/** Whether the camera needs the video pipeline at all. */
export function videoEffectsOn(c: EffectsChoice): boolean {
  return c.background !== 'none' || c.beauty > 0;
}

/** The address of the chosen background image, or undefined when there is none. */
export function backgroundUrl(c: EffectsChoice): string | undefined {
  if (c.background !== 'image') return undefined;
  if (c.image === 'custom') return localStorage.getItem(IMAGE_KEY) ?? undefined;
  return `/backgrounds/${c.image}.svg`;
}

/** Keeps an uploaded image in this browser, scaled to fit 1280×720, as a JPEG data URL. */
export async function keepCustomImage(file: File): Promise<void> {
  if (!file.type.startsWith('image/')) throw new Error('not an image');
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 1280 / bitmap.width, 720 / bitmap.height);
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.getContext('2d')!.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  localStorage.setItem(IMAGE_KEY, canvas.toDataURL('image/jpeg', 0.85));
}

export function hasCustomImage(): boolean {
  return localStorage.getItem(IMAGE_KEY) !== null;
}
