// The effects controls, shown in the pre-join screen and in the meeting's settings: AI noise
// suppression, background (none, light or strong blur, a shipped image, or one the participant
// uploads, which stays in this browser), and a beauty slider. Changes apply at once.

import { t } from '../i18n';
import { BACKGROUNDS, hasCustomImage, keepCustomImage, type Background } from './choice';
import type { EffectsController, Notice } from './controller';

export function effectsPanel(fx: EffectsController, notice: (text: string) => void): HTMLElement {
  const root = document.createElement('fieldset');
  root.className = 'effects';
  root.dataset.testid = 'effects';
  const legend = document.createElement('legend');
  legend.textContent = t('effects.title');
  root.append(legend);

  const noise = document.createElement('input');
  noise.type = 'checkbox';
  noise.dataset.testid = 'effect-noise';
  noise.disabled = !fx.noiseSupported;
  const noiseLabel = document.createElement('label');
  noiseLabel.className = 'check';
  const noiseText = document.createElement('span');
  noiseText.textContent = fx.noiseSupported ? t('effects.noise') : `${t('effects.noise')} (${t('effects.noiseUnsupported')})`;
  noiseLabel.append(noise, noiseText);

  const bgRow = document.createElement('div');
  bgRow.className = 'effects-backgrounds';
  bgRow.setAttribute('role', 'radiogroup');
  bgRow.setAttribute('aria-label', t('effects.background'));
  const options: { id: string; label: string; background: Background; image?: string; thumb?: string }[] = [
    { id: 'none', label: t('effects.none'), background: 'none' },
    { id: 'blur-light', label: t('effects.blurLight'), background: 'blur-light' },
    { id: 'blur-strong', label: t('effects.blurStrong'), background: 'blur-strong' },
    ...BACKGROUNDS.map((b) => ({ id: `image-${b}`, label: t(`effects.bg.${b}`), background: 'image' as const, image: b, thumb: `/backgrounds/${b}.svg` })),
    { id: 'image-custom', label: t('effects.custom'), background: 'image', image: 'custom' },
  ];
  const buttons = options.map((o) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'effects-choice';
    b.dataset.testid = `effect-${o.id}`;
    b.setAttribute('role', 'radio');
    b.title = o.label;
    if (o.thumb) b.style.backgroundImage = `url("${o.thumb}")`;
    const span = document.createElement('span');
    span.textContent = o.label;
    b.append(span);
    b.onclick = () => {
      if (o.image === 'custom' && !hasCustomImage()) {
        upload.click();
        return;
      }
      void fx.set({ ...fx.choice, background: o.background, image: o.image ?? fx.choice.image });
    };
    return { b, o };
  });
  bgRow.append(...buttons.map((x) => x.b));
  const upload = document.createElement('input');
  upload.type = 'file';
  upload.accept = 'image/*';
  upload.hidden = true;
  upload.dataset.testid = 'effect-upload';
  upload.onchange = async () => {
    const file = upload.files?.[0];
    upload.value = '';
    if (!file) return;
    try {
      await keepCustomImage(file);
      await fx.set({ ...fx.choice, background: 'image', image: 'custom' });
    } catch {
      notice(t('effects.badImage'));
    }
  };
  const uploadButton = document.createElement('button');
  uploadButton.type = 'button';
  uploadButton.className = 'link';
  uploadButton.textContent = t('effects.upload');
  uploadButton.onclick = () => upload.click();

  const beauty = document.createElement('input');
  beauty.type = 'range';
  beauty.min = '0';
  beauty.max = '100';
  beauty.step = '5';
  beauty.dataset.testid = 'effect-beauty';
  const beautyLabel = document.createElement('label');
  const beautyText = document.createElement('span');
  beautyText.textContent = t('effects.beauty');
  beautyLabel.append(beautyText, beauty);

  const status = document.createElement('p');
  status.className = 'effects-status';
  status.dataset.testid = 'effects-status';
  status.setAttribute('aria-live', 'polite');

  noise.onchange = () => void fx.set({ ...fx.choice, noise: noise.checked });
  beauty.oninput = () => void fx.set({ ...fx.choice, beauty: Number(beauty.value) });

  const render = () => {
    const c = fx.choice;
    noise.checked = c.noise && fx.noiseSupported;
    beauty.value = String(c.beauty);
    beauty.disabled = !fx.videoSupported;
    for (const { b, o } of buttons) {
      const on = o.background === c.background && (o.background !== 'image' || o.image === c.image);
      b.classList.toggle('on', on);
      b.setAttribute('aria-checked', String(on));
      b.disabled = o.background !== 'none' && !fx.videoSupported;
    }
    status.textContent = !fx.videoSupported ? t('effects.videoUnsupported') : fx.videoDisabled ? t('effects.tooSlow') : '';
    status.hidden = !status.textContent;
  };
  // One effects panel is on screen at a time (pre-join or settings); the newest one follows.
  fx.onChange = render;
  render();
  root.append(noiseLabel, bgRow, uploadButton, upload, beautyLabel, status);
  return root;
}

export function noticeText(n: Notice, detail?: string): string {
  return detail ? `${t(n)} (${detail})` : t(n);
}
