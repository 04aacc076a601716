// The pre-join preview beside the join form: the camera as others will see it, a live
// microphone level, camera and microphone choice, and whether to join with each on. The choice
// is remembered on this device (localStorage `huiyi.devices`). A blocked or missing device gets
// plain help, and joining still works without it. The effects (noise suppression, background,
// beauty) are chosen here too, and the preview shows them before anyone else sees the camera.

import { createLocalAudioTrack, createLocalVideoTrack, Room, type LocalAudioTrack, type LocalVideoTrack } from 'livekit-client';
import { EffectsController } from './effects/controller';
import { effectsPanel, noticeText } from './effects/panel';
import { t, type Key } from './i18n';

export interface DeviceChoice {
  micOn: boolean;
  cameraOn: boolean;
  audioDeviceId?: string;
  videoDeviceId?: string;
}

const KEY = 'huiyi.devices';

declare global {
  interface Window {
    /** The pre-join preview's effects, for tests (the meeting's are on `__huiyi`). */
    __huiyiPreview?: { effects: EffectsController };
  }
}

export function savedChoice(): DeviceChoice {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) || '{}') as Partial<DeviceChoice>;
    return { micOn: v.micOn !== false, cameraOn: v.cameraOn !== false, audioDeviceId: v.audioDeviceId, videoDeviceId: v.videoDeviceId };
  } catch {
    return { micOn: true, cameraOn: true };
  }
}

/** Why a device could not be opened, as help for the user. */
function deviceHelp(e: unknown): Key {
  const name = e instanceof DOMException ? e.name : e instanceof Error ? e.name : '';
  if (name === 'NotAllowedError' || name === 'SecurityError') return 'prejoin.denied';
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'prejoin.missing';
  if (name === 'NotReadableError') return 'prejoin.busy';
  return 'prejoin.failed';
}

export class PreJoin {
  private video: LocalVideoTrack | undefined;
  private audio: LocalAudioTrack | undefined;
  private meterFrame = 0;
  private audioContext: AudioContext | undefined;
  readonly choice: DeviceChoice = savedChoice();
  private fx: EffectsController | undefined;

  constructor(private readonly root: HTMLElement) {}

  /** Builds the preview and opens the chosen devices. */
  async start(): Promise<void> {
    const r = this.root;
    r.replaceChildren();
    const stage = el('div', 'prejoin-video');
    const videoEl = document.createElement('video');
    videoEl.muted = true;
    videoEl.playsInline = true;
    videoEl.autoplay = true;
    videoEl.dataset.testid = 'prejoin-video';
    const off = el('div', 'prejoin-off');
    off.textContent = t('prejoin.cameraOff');
    stage.append(videoEl, off);
    const meter = el('div', 'meter');
    meter.setAttribute('role', 'meter');
    meter.setAttribute('aria-label', t('prejoin.micLevel'));
    meter.setAttribute('aria-valuemin', '0');
    meter.setAttribute('aria-valuemax', '100');
    meter.dataset.testid = 'mic-meter';
    const bar = el('div', 'meter-bar');
    meter.append(bar);
    const help = el('p', 'error');
    help.dataset.testid = 'prejoin-help';
    help.setAttribute('role', 'alert');
    help.hidden = true;
    const camSelect = document.createElement('select');
    camSelect.dataset.testid = 'camera-select';
    const micSelect = document.createElement('select');
    micSelect.dataset.testid = 'mic-select';
    const camOn = checkbox('prejoin-camera-on', this.choice.cameraOn);
    const micOn = checkbox('prejoin-mic-on', this.choice.micOn);
    const fx = new EffectsController();
    this.fx = fx;
    window.__huiyiPreview = { effects: fx };
    fx.onNotice = (n, detail) => {
      help.hidden = false;
      help.textContent = noticeText(n, detail);
    };
    r.append(
      stage,
      meter,
      labelled(t('settings.camera'), camSelect),
      labelled(t('settings.microphone'), micSelect),
      labelled(t('prejoin.joinWithCamera'), camOn, 'check'),
      labelled(t('prejoin.joinWithMic'), micOn, 'check'),
      effectsPanel(fx, (text) => {
        help.hidden = false;
        help.textContent = text;
      }),
      help,
    );

    const problems = new Set<Key>();
    const showHelp = () => {
      help.hidden = problems.size === 0;
      help.textContent = [...problems].map((k) => t(k)).join(' ');
    };
    const openVideo = async () => {
      this.video?.stop();
      this.video = undefined;
      stage.classList.toggle('off', !this.choice.cameraOn);
      if (!this.choice.cameraOn) return;
      try {
        this.video = await createLocalVideoTrack({ deviceId: this.choice.videoDeviceId, resolution: { width: 640, height: 360 } });
        this.video.attach(videoEl);
        problems.delete('prejoin.denied');
        await fx.attach(this.video);
      } catch (e) {
        problems.add(deviceHelp(e));
        stage.classList.add('off');
      }
      showHelp();
    };
    const openAudio = async () => {
      this.audio?.stop();
      this.audio = undefined;
      cancelAnimationFrame(this.meterFrame);
      bar.style.width = '0%';
      if (!this.choice.micOn) return;
      try {
        this.audio = await createLocalAudioTrack({ deviceId: this.choice.audioDeviceId });
        await fx.attach(this.audio);
        this.meter(this.audio, bar, meter);
      } catch (e) {
        problems.add(deviceHelp(e));
      }
      showHelp();
    };
    await Promise.all([openVideo(), openAudio()]);
    // Device labels are only readable once permission is given, so list them after opening.
    const fill = async (select: HTMLSelectElement, kind: MediaDeviceKind, chosen: string | undefined) => {
      const devices = await Room.getLocalDevices(kind, false).catch(() => []);
      select.replaceChildren(new Option(t('settings.default'), ''), ...devices.filter((d) => d.deviceId && d.deviceId !== 'default').map((d) => new Option(d.label || d.deviceId, d.deviceId)));
      select.value = devices.some((d) => d.deviceId === chosen) ? chosen! : '';
    };
    await Promise.all([fill(camSelect, 'videoinput', this.choice.videoDeviceId), fill(micSelect, 'audioinput', this.choice.audioDeviceId)]);
    camSelect.onchange = () => {
      this.choice.videoDeviceId = camSelect.value || undefined;
      this.save();
      void openVideo();
    };
    micSelect.onchange = () => {
      this.choice.audioDeviceId = micSelect.value || undefined;
      this.save();
      void openAudio();
    };
    camOn.onchange = () => {
      this.choice.cameraOn = camOn.checked;
      this.save();
      void openVideo();
    };
    micOn.onchange = () => {
      this.choice.micOn = micOn.checked;
      this.save();
      void openAudio();
    };
  }

  private meter(track: LocalAudioTrack, bar: HTMLElement, meter: HTMLElement): void {
    const ctx = new AudioContext();
    this.audioContext = ctx;
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    ctx.createMediaStreamSource(new MediaStream([track.mediaStreamTrack])).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const draw = () => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      // RMS in dBFS, shown from -60 dB (silence) to 0.
      const db = 10 * Math.log10(sum / samples.length + 1e-12);
      const level = Math.max(0, Math.min(100, ((db + 60) / 60) * 100));
      bar.style.width = `${level.toFixed(0)}%`;
      meter.setAttribute('aria-valuenow', level.toFixed(0));
      this.meterFrame = requestAnimationFrame(draw);
    };
    draw();
  }

  private save(): void {
    localStorage.setItem(KEY, JSON.stringify(this.choice));
  }

  /** Releases the devices, so the meeting can open them. */
  stop(): void {
    cancelAnimationFrame(this.meterFrame);
    void this.audioContext?.close();
    this.fx?.detach();
    void this.video?.stopProcessor();
    void this.audio?.stopProcessor();
    void this.fx?.close();
    this.fx = undefined;
    this.video?.stop();
    this.audio?.stop();
    this.video = this.audio = undefined;
  }
}

function el(tag: string, className: string): HTMLElement {
  const e = document.createElement(tag);
  e.className = className;
  return e;
}

function checkbox(testid: string, checked: boolean): HTMLInputElement {
  const c = document.createElement('input');
  c.type = 'checkbox';
  c.checked = checked;
  c.dataset.testid = testid;
  return c;
}

function labelled(text: string, control: HTMLElement, className = ''): HTMLLabelElement {
  const l = document.createElement('label');
  if (className) l.className = className;
  const span = document.createElement('span');
  span.textContent = text;
  if (className === 'check') l.append(control, span);
  else l.append(span, control);
  return l;
}
