// Device settings during a meeting: camera, microphone and speaker, switched live with
// livekit-client's `switchActiveDevice` (no renegotiation), and remembered for the next join;
// and the media effects (noise suppression, background, beauty), applied live.

import { Room, type Room as RoomType } from 'livekit-client';
import type { EffectsController } from '../effects/controller';
import { effectsPanel } from '../effects/panel';
import { t } from '../i18n';
import { savedChoice } from '../prejoin';

export class SettingsPanel {
  readonly el: HTMLElement;
  private readonly body: HTMLDivElement;

  constructor(
    private readonly room: RoomType,
    private readonly effects: EffectsController,
    private readonly notice: (text: string) => void,
  ) {
    this.el = document.createElement('section');
    this.el.className = 'panel settings-panel';
    this.el.dataset.testid = 'settings-panel';
    this.el.setAttribute('aria-label', t('settings.title'));
    const head = document.createElement('h2');
    head.textContent = t('settings.title');
    this.body = document.createElement('div');
    this.body.className = 'settings-body';
    this.el.append(head, this.body);
  }

  async render(): Promise<void> {
    const rows = await Promise.all(
      ([
        ['videoinput', 'settings.camera'],
        ['audioinput', 'settings.microphone'],
        ['audiooutput', 'settings.speaker'],
      ] as const).map(async ([kind, label]) => {
        const devices = await Room.getLocalDevices(kind, false).catch(() => []);
        const select = document.createElement('select');
        select.dataset.testid = `settings-${kind}`;
        select.replaceChildren(...devices.map((d) => new Option(d.label || d.deviceId || t('settings.default'), d.deviceId)));
        const active = this.room.getActiveDevice(kind);
        if (active) select.value = active;
        select.disabled = devices.length === 0;
        select.onchange = () => void this.switchTo(kind, select.value);
        const l = document.createElement('label');
        const span = document.createElement('span');
        span.textContent = t(label);
        l.append(span, select);
        return l;
      }),
    );
    this.body.replaceChildren(...rows, effectsPanel(this.effects, this.notice));
  }

  private async switchTo(kind: MediaDeviceKind, deviceId: string): Promise<void> {
    await this.room.switchActiveDevice(kind, deviceId);
    const choice = savedChoice();
    if (kind === 'videoinput') choice.videoDeviceId = deviceId;
    if (kind === 'audioinput') choice.audioDeviceId = deviceId;
    localStorage.setItem('huiyi.devices', JSON.stringify(choice));
  }
}
