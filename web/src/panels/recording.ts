// Recording and live streaming in the meeting: the indicator every participant sees while the
// meeting is recorded (LiveKit's `Room.isRecording`, set by the server), and, for a signed-in
// host, the Record button (start, pause, resume, stop) and the Go-live dialog (HLS at the
// meeting's public viewer page, and optionally RTMP to a platform with its stream key). The
// server does the work (crates/api/src/egress.rs); these are calls to Huiyi's `record` and
// `live` controls with the host's session.

import { RoomEvent, type Room } from 'livekit-client';
import { t } from '../i18n';
import { setButtonContent } from '../icons';
import type { HostApi } from './host-api';

export interface RecordingElements {
  indicator: HTMLElement;
  record: HTMLButtonElement;
  recordMenu: HTMLElement;
  live: HTMLButtonElement;
  liveDialog: HTMLDialogElement;
}

type RecState = 'off' | 'starting' | 'recording' | 'paused';

export class RecordingControls {
  private state: RecState = 'off';
  private liveUrl: string | undefined;

  constructor(
    private readonly room: Room,
    private readonly els: RecordingElements,
    private readonly api: HostApi | undefined,
    /** Whether the local participant runs the meeting now (host or co-host). */
    private readonly isHost: () => boolean,
    private readonly report: (message: string) => void,
  ) {
    room.on(RoomEvent.RecordingStatusChanged, () => this.render());
    room.on(RoomEvent.Connected, () => this.render());
    room.on(RoomEvent.ParticipantAttributesChanged, () => this.render());
    if (api) this.wire(api);
    this.render();
  }

  /** The indicator and the buttons, from the room's state and this host's last actions. */
  render(): void {
    const controls = !!this.api && this.isHost();
    this.els.record.hidden = !controls;
    this.els.live.hidden = !controls;
    const recording = this.room.isRecording;
    if (!recording && (this.state === 'recording' || this.state === 'paused')) this.state = 'off';
    if (recording && this.state === 'off') this.state = 'recording';
    const ind = this.els.indicator;
    ind.hidden = !recording && !this.liveUrl;
    ind.dataset.state = this.state === 'paused' ? 'paused' : recording ? 'recording' : 'live';
    const text = this.state === 'paused' ? t('rec.paused') : recording ? t('rec.recording') : t('live.onAir');
    ind.replaceChildren(Object.assign(document.createElement('span'), { className: 'rec-dot' }), text);
    ind.title = text;
    const rec = this.els.record;
    setButtonContent(rec, 'record', this.state === 'off' ? t('rec.start') : t('rec.recording'));
    rec.classList.toggle('on', this.state !== 'off');
    rec.setAttribute('aria-pressed', String(this.state !== 'off'));
    const live = this.els.live;
    setButtonContent(live, 'live', this.liveUrl ? t('live.stop') : t('live.start'));
    live.classList.toggle('on', !!this.liveUrl);
  }

  private wire(api: HostApi): void {
    const menu = this.els.recordMenu;
    const item = (key: 'rec.pause' | 'rec.resume' | 'rec.stop', action: 'pause' | 'resume' | 'stop') => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = t(key);
      b.setAttribute('role', 'menuitem');
      b.dataset.testid = `record-${action}`;
      b.onclick = () => {
        menu.hidden = true;
        void this.act(async () => {
          await api.record(action);
          this.state = action === 'pause' ? 'paused' : action === 'resume' ? 'recording' : 'off';
        });
      };
      return b;
    };
    this.els.record.onclick = () => {
      if (this.state === 'off') {
        this.state = 'starting';
        this.render();
        void this.act(async () => {
          try {
            await api.record('start');
            this.state = 'recording';
          } catch (e) {
            this.state = 'off';
            throw e;
          }
        });
        return;
      }
      menu.replaceChildren(this.state === 'paused' ? item('rec.resume', 'resume') : item('rec.pause', 'pause'), item('rec.stop', 'stop'));
      menu.hidden = !menu.hidden;
    };

    const dialog = this.els.liveDialog;
    const form = dialog.querySelector('form') as HTMLFormElement;
    const server = dialog.querySelector<HTMLInputElement>('[name=rtmp-server]')!;
    const key = dialog.querySelector<HTMLInputElement>('[name=rtmp-key]')!;
    const error = dialog.querySelector<HTMLElement>('.error')!;
    dialog.querySelector<HTMLButtonElement>('[data-testid=live-cancel]')!.onclick = () => dialog.close();
    this.els.live.onclick = () => {
      if (this.liveUrl) {
        void this.act(async () => {
          await api.live('stop');
          this.liveUrl = undefined;
        });
        return;
      }
      error.hidden = true;
      dialog.showModal();
    };
    form.onsubmit = (e) => {
      e.preventDefault();
      const base = server.value.trim();
      const urls = base ? [`${base.replace(/\/+$/, '')}/${key.value.trim()}`.replace(/\/$/, '')] : [];
      if (base && !/^rtmps?:\/\/[^/\s]+/.test(base)) {
        error.textContent = t('live.badUrl');
        error.hidden = false;
        return;
      }
      void (async () => {
        try {
          const answer = await api.live('start', urls);
          this.liveUrl = answer.view_url ?? location.origin;
          dialog.close();
          this.report(`${t('live.started')} ${this.liveUrl}`);
          void navigator.clipboard?.writeText(this.liveUrl).catch(() => undefined);
          this.render();
        } catch (err) {
          error.textContent = err instanceof Error ? err.message : String(err);
          error.hidden = false;
        }
      })();
    };
  }

  private async act(f: () => Promise<void>): Promise<void> {
    try {
      await f();
    } catch (e) {
      this.report(`${t('rec.failed')} ${e instanceof Error ? e.message : String(e)}`);
    }
    this.render();
  }
}
