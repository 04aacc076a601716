// One meeting session: a livekit-client Room, the tile grid, remote audio, and the control bar.
// A Meeting is used once: `start` connects, and `onEnd` runs exactly once when the room is gone
// (left, kicked, failed to connect), after which main.ts shows the join form again.

import {
  ConnectionState,
  createLocalAudioTrack,
  DisconnectReason,
  MediaDeviceFailure,
  Room,
  RoomEvent,
  Track,
  type Participant,
  type RemoteTrack,
} from 'livekit-client';
import type { Credentials } from './token';
import type { DeviceChoice } from './prejoin';
import { TileGrid } from './tiles';
import { icon, setButtonContent, type IconName } from './icons';
import { t, tf, tryT, type Key } from './i18n';
import { showStatus } from './status';
import { ChatPanel } from './panels/chat';
import { PollsPanel } from './panels/polls';
import type { NotesPanel } from './panels/notes';
import { HostApi, personOf } from './panels/host-api';
import { handOf, isWaiting, PeoplePanel, roleOf, sendHand } from './panels/people';
import { SettingsPanel } from './panels/settings';
import { EffectsController } from './effects/controller';
import { noticeText } from './effects/panel';
import { RecordingControls, type RecordingElements } from './panels/recording';

/**
 * livekit-client retries some failures without end (a server that answers 404 on both signalling
 * paths, for one), so the user gets an answer after this long whatever the cause.
 */
const CONNECT_TIMEOUT_MS = 30_000;

export interface MeetingElements {
  grid: HTMLElement;
  audioSink: HTMLElement;
  mic: HTMLButtonElement;
  camera: HTMLButtonElement;
  screen: HTMLButtonElement;
  hand: HTMLButtonElement;
  react: HTMLButtonElement;
  reactMenu: HTMLElement;
  people: HTMLButtonElement;
  chat: HTMLButtonElement;
  polls: HTMLButtonElement;
  notes: HTMLButtonElement;
  leave: HTMLButtonElement;
  side: HTMLElement;
  title: HTMLElement;
  code: HTMLElement;
  timer: HTMLElement;
  copyInvite: HTMLButtonElement;
  viewToggle: HTMLButtonElement;
  waitingOverlay: HTMLElement;
  settings: HTMLButtonElement;
  toasts: HTMLElement;
  leaveDialog: HTMLDialogElement;
  leaveConfirm: HTMLButtonElement;
  endAll: HTMLButtonElement;
  leaveCancel: HTMLButtonElement;
  leaveHostHint: HTMLElement;
  handOver: HTMLElement;
  nextHost: HTMLSelectElement;
  recording: RecordingElements;
}

/** What the join answer said about the meeting (absent for a plain room). */
export interface MeetingInfo {
  /** The subject, or the room's name. */
  title: string;
  meetingId?: string;
  code?: string;
  password?: string;
  /** Whether the participant is signed in (a host or member), so the host API can be called. */
  signedIn: boolean;
}

/** The emoji offered as reactions. */
const REACTIONS = ['👍', '👏', '😂', '🎉', '❤️', '😮'];
const REACTION_TOPIC = 'huiyi.reaction';
/** Join and leave chimes play while the meeting has at most this many others. */
const CHIME_MAX_PEOPLE = 15;
const CONTROL_TOPIC = 'huiyi.control';

declare global {
  interface Window {
    /** Test hook: browser tests read stats and state through the live Room. */
    __huiyi?: { room: Room; effects?: EffectsController };
  }
}

/** `?codec=h264` publishes camera video as H.264; VP8 otherwise (the two Huiyi forwards). */
function videoCodecFromUrl(): 'vp8' | 'h264' {
  return new URLSearchParams(location.search).get('codec')?.toLowerCase() === 'h264' ? 'h264' : 'vp8';
}

type PanelName = 'people' | 'chat' | 'polls' | 'notes' | 'settings';

export class Meeting {
  readonly room = new Room({
    adaptiveStream: true,
    dynacast: true,
    publishDefaults: { videoCodec: videoCodecFromUrl() },
  });
  private readonly grid: TileGrid;
  private ended = false;
  private chatPanel: ChatPanel | undefined;
  private peoplePanel: PeoplePanel | undefined;
  private pollsPanel: PollsPanel | undefined;
  /** Made on first open: the editor and its connection are loaded only then. */
  private notesPanel: NotesPanel | undefined;
  private currentToken: () => string = () => this.token;
  /** A poll went live while its panel was closed. */
  private pollWaiting = false;
  private panel: PanelName | undefined;
  private settingsPanel: SettingsPanel | undefined;
  /** Noise suppression, background and beauty on this participant's own tracks. */
  private readonly effects = new EffectsController();
  private unread = 0;
  private token = '';
  private joinedAt = 0;
  private timerHandle: ReturnType<typeof setInterval> | undefined;
  private readonly api: HostApi | undefined;
  private readonly recording: RecordingControls;
  private readonly onKey = (e: KeyboardEvent) => this.shortcut(e);
  private audioContext: AudioContext | undefined;
  /** The muted microphone a mute-on-join meeting publishes at join; the mic button waits for it. */
  private micReady: Promise<void> = Promise.resolve();

  constructor(
    private readonly els: MeetingElements,
    private readonly info: MeetingInfo,
    private readonly onEnd: () => void,
  ) {
    this.grid = new TileGrid(els.grid);
    this.grid.onChange = () => this.render();
    this.api = info.meetingId && info.signedIn ? new HostApi(info.meetingId) : undefined;
    window.__huiyi = { room: this.room, effects: this.effects };
    this.effects.onNotice = (n, detail) => this.toast(noticeText(n, detail));
    this.wireRoom();
    this.wireControls();
    this.showHeader();
    this.recording = new RecordingControls(this.room, els.recording, this.api, () => roleOf(this.room.localParticipant) !== undefined, (m) =>
      showStatus('connected', m),
    );
  }

  private showHeader(): void {
    const { title, code, timer, copyInvite } = this.els;
    title.textContent = this.info.title;
    document.title = `${this.info.title} · ${t('app.title')}`;
    code.hidden = !this.info.code;
    code.textContent = this.info.code ? `${t('meeting.code')} ${formatCode(this.info.code)}` : '';
    copyInvite.hidden = !this.info.code;
    copyInvite.textContent = t('meeting.copyInvite');
    copyInvite.onclick = () => void this.copyInvitation();
    timer.textContent = '';
    timer.setAttribute('aria-label', t('meeting.duration'));
    this.els.settings.textContent = t('controls.settings');
    this.els.settings.onclick = () => this.togglePanel('settings');
    this.els.viewToggle.onclick = () => {
      this.grid.setMode(this.grid.mode === 'gallery' ? 'speaker' : 'gallery');
      this.render();
    };
  }

  private async copyInvitation(): Promise<void> {
    const { code, password, title } = this.info;
    if (!code) return;
    const lines = [
      t('meeting.inviteTitle'),
      `${t('meeting.inviteSubject')}: ${title}`,
      `${t('meeting.inviteLink')}: ${location.origin}/j/${code}`,
      `${t('meeting.code')}: ${formatCode(code)}`,
    ];
    if (password) lines.push(`${t('meeting.invitePassword')}: ${password}`);
    try {
      await navigator.clipboard.writeText(lines.join('\n'));
      this.toast(t('meeting.inviteCopied'));
    } catch {
      // No clipboard permission (plain http on a LAN address): show the text to copy by hand.
      prompt(t('meeting.copyInvite'), lines.join(' · '));
    }
  }

  async start(creds: Credentials, choice: DeviceChoice = { micOn: true, cameraOn: true }): Promise<void> {
    showStatus('connecting');
    this.token = creds.token;
    try {
      await withTimeout(this.room.connect(creds.url, creds.token), CONNECT_TIMEOUT_MS);
    } catch (e) {
      this.end(`${t('error.connect')}: ${message(e)}`);
      // After end(), so the Disconnected event this may emit no longer reaches our handler.
      void this.room.disconnect();
      return;
    }
    this.startPanels();
    this.joinedAt = Date.now();
    this.timerHandle = setInterval(() => this.tick(), 1000);
    this.tick();
    document.addEventListener('keydown', this.onKey);
    this.render();
    // Unlocks audio playback on browsers that require a gesture; the join click was one.
    void this.room.startAudio();
    this.pending = { creds, choice };
    this.wasWaiting = isWaiting(this.room.localParticipant);
    // In the waiting room nothing may be published: that waits for the admission.
    if (!isWaiting(this.room.localParticipant)) await this.publishChosen();
    this.render();
  }

  /** What to publish once in the meeting proper (at join, or when admitted from waiting). */
  private pending: { creds: Credentials; choice: DeviceChoice } | undefined;

  private async publishChosen(): Promise<void> {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) return;
    const { creds, choice } = pending;
    try {
      // Camera is published with livekit-client's default simulcast layers. A meeting set to
      // mute on join starts with the microphone published but muted (the server would mute an
      // unmuted one: mute on entry is enforced there); the mic button unmutes it.
      const lp = this.room.localParticipant;
      const audio = { deviceId: choice.audioDeviceId };
      if (creds.muted) {
        // The mic button waits for this, so a quick click cannot publish a second microphone.
        this.micReady = (async () => {
          const mic = await createLocalAudioTrack(audio);
          await mic.mute();
          await lp.publishTrack(mic, { source: Track.Source.Microphone });
        })();
      } else if (choice.micOn) {
        this.micReady = lp.setMicrophoneEnabled(true, audio).then(() => undefined);
      }
      if (choice.cameraOn) await lp.setCameraEnabled(true, { deviceId: choice.videoDeviceId });
      await this.micReady;
    } catch (e) {
      showStatus('connected', `${t('error.devices')}: ${message(e)}`);
    }
    this.render();
  }

  /** Waiting-room changes: this participant admitted or sent back, or someone knocking (hosts). */
  private onAttributes(p: Participant): void {
    const lp = this.room.localParticipant;
    if (p === lp || p.identity === lp.identity) {
      const waiting = isWaiting(lp);
      if (!waiting && this.wasWaiting) void this.publishChosen();
      if (waiting && !this.wasWaiting && this.joinedAt) {
        // Sent back: the server unpublished our tracks; publish them again once admitted.
        this.pending = { creds: { url: '', token: this.token }, choice: { micOn: lp.isMicrophoneEnabled, cameraOn: lp.isCameraEnabled } };
        this.toast(t('waiting.sentBack'));
      }
      this.wasWaiting = waiting;
    } else if (isWaiting(p) && !this.knocked.has(p.identity)) {
      this.knock(p);
    }
    this.render();
  }

  private wasWaiting = false;
  /** Who has been announced as waiting, so each knock shows once. */
  private readonly knocked = new Set<string>();

  /** Tells a host that someone waits, with a button to let them in. */
  private knock(p: Participant): void {
    this.knocked.add(p.identity);
    if (!this.api || !roleOf(this.room.localParticipant)) return;
    const el = document.createElement('div');
    el.className = 'toast ask';
    el.dataset.testid = 'knock';
    const text = document.createElement('span');
    text.textContent = tf('waiting.knocking', { name: p.name || p.identity });
    const admit = document.createElement('button');
    admit.className = 'primary small';
    admit.textContent = t('waiting.admit');
    admit.dataset.testid = 'knock-admit';
    const api = this.api;
    admit.onclick = () => {
      el.remove();
      void this.act(() => api.waitingRoom(1, [personOf(p.identity, p.metadata)]));
    };
    const later = document.createElement('button');
    later.className = 'small';
    later.textContent = t('common.close');
    later.onclick = () => el.remove();
    el.append(text, admit, later);
    this.els.toasts.append(el);
    setTimeout(() => el.remove(), 30_000);
  }

  /** The panels need the local identity and role, which exist once connected. */
  private startPanels(): void {
    const currentToken = () => (this.room.engine as unknown as { token?: string }).token ?? this.token;
    this.currentToken = currentToken;
    this.chatPanel = new ChatPanel(this.room, currentToken, this.api ? this.api.chatCsvUrl() : undefined);
    this.chatPanel.onIncoming = (line) => {
      if (this.panel !== 'chat') {
        this.unread++;
        this.toast(`${tf('chat.newMessage', { name: line.fromName })}: ${line.text.slice(0, 80)}`);
      }
      this.render();
    };
    void this.chatPanel.loadHistory();
    this.peoplePanel = new PeoplePanel(this.room, this.api);
    this.peoplePanel.onChatRule = (rule) => this.chatPanel?.setRule(rule);
    this.settingsPanel = new SettingsPanel(this.room, this.effects, (text) => this.toast(text));
    this.pollsPanel = new PollsPanel(this.room, currentToken, this.api?.pollsCsvUrl());
    this.pollsPanel.onLaunched = (poll) => {
      if (this.panel !== 'polls') {
        this.pollWaiting = true;
        this.toast(tf('polls.launched', { title: poll.title }));
      }
      this.render();
    };
    void this.pollsPanel.load();
  }

  private async openNotes(): Promise<void> {
    if (!this.notesPanel) {
      // The editor is a separate chunk, fetched on first open: a failed fetch (the server
      // restarting, a flaky link) says so and leaves the button to try again.
      let NotesPanel: typeof import('./panels/notes').NotesPanel;
      try {
        ({ NotesPanel } = await import('./panels/notes'));
      } catch (e) {
        console.warn('notes: the editor did not load', e);
        this.toast(t('notes.loadFailed'));
        return;
      }
      if (this.ended || this.notesPanel) return;
      this.notesPanel = new NotesPanel(this.room, this.currentToken, this.api);
    }
    this.togglePanel('notes');
  }

  private togglePanel(which: PanelName): void {
    this.panel = this.panel === which ? undefined : which;
    if (this.panel === 'chat') this.unread = 0;
    if (this.panel === 'polls') this.pollWaiting = false;
    const side = this.els.side;
    side.hidden = !this.panel;
    if (this.panel === 'settings') void this.settingsPanel?.render();
    const panels = { chat: this.chatPanel?.el, people: this.peoplePanel?.el, polls: this.pollsPanel?.el, notes: this.notesPanel?.el, settings: this.settingsPanel?.el };
    const el = this.panel ? panels[this.panel] : undefined;
    side.replaceChildren(...(el ? [el] : []));
    if (this.panel === 'chat') side.querySelector<HTMLTextAreaElement>('textarea')?.focus();
    this.render();
  }

  private tick(): void {
    const s = Math.max(0, Math.floor((Date.now() - this.joinedAt) / 1000));
    const hh = Math.floor(s / 3600);
    const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
    const ss = String(s % 60).padStart(2, '0');
    this.els.timer.textContent = hh > 0 ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
  }

  private toast(text: string): void {
    const el = document.createElement('div');
    el.className = 'toast';
    el.textContent = text;
    this.els.toasts.append(el);
    setTimeout(() => el.remove(), 5000);
  }

  /** The host asked this participant to unmute (`huiyi.control`); they choose. */
  private askedToUnmute(): void {
    const el = document.createElement('div');
    el.className = 'toast ask';
    el.dataset.testid = 'ask-unmute';
    const text = document.createElement('span');
    text.textContent = t('people.askedUnmute');
    const yes = document.createElement('button');
    yes.className = 'primary small';
    yes.textContent = t('people.unmuteNow');
    const no = document.createElement('button');
    no.className = 'small';
    no.textContent = t('people.stayMuted');
    yes.onclick = () => {
      el.remove();
      void this.act(() => this.room.localParticipant.setMicrophoneEnabled(true));
    };
    no.onclick = () => el.remove();
    el.append(text, yes, no);
    this.els.toasts.append(el);
  }

  /** A short rising (joined) or falling (left) two-note chime; quiet in big meetings, where
   * arrivals would never stop. */
  private chime(joined: boolean): void {
    if (this.room.remoteParticipants.size > CHIME_MAX_PEOPLE) return;
    try {
      this.audioContext ??= new AudioContext();
      const ctx = this.audioContext;
      const notes = joined ? [660, 880] : [880, 660];
      notes.forEach((freq, i) => {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        const at = ctx.currentTime + i * 0.12;
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.08, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.11);
        osc.connect(gain).connect(ctx.destination);
        osc.start(at);
        osc.stop(at + 0.12);
      });
    } catch {
      /* no audio output: no chime */
    }
  }

  private showReaction(identity: string, emoji: string): void {
    this.grid.react(identity, emoji);
  }

  private shortcut(e: KeyboardEvent): void {
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    const target = e.target as HTMLElement | null;
    if (target && (target.tagName === 'TEXTAREA' || target.tagName === 'INPUT')) return;
    // Tencent Meeting's and Zoom's: Alt+A microphone, Alt+V camera; Zoom's Alt+Y hand, Alt+U
    // participants, Alt+H chat.
    const k = e.code;
    if (k === 'KeyA') this.els.mic.click();
    else if (k === 'KeyV') this.els.camera.click();
    else if (k === 'KeyY') this.els.hand.click();
    else if (k === 'KeyU') this.els.people.click();
    else if (k === 'KeyH') this.els.chat.click();
    else return;
    e.preventDefault();
  }

  private wireRoom(): void {
    const room = this.room;
    const render = () => this.render();
    room
      .on(RoomEvent.DataReceived, (payload: Uint8Array, participant, _kind, topic) => {
        if (topic === REACTION_TOPIC && participant) this.showReaction(participant.identity, new TextDecoder().decode(payload));
        if (topic === CONTROL_TOPIC) {
          try {
            const m = JSON.parse(new TextDecoder().decode(payload)) as { action?: string };
            if (m.action === 'ask-unmute') this.askedToUnmute();
          } catch {
            /* not ours */
          }
        }
      })
      .on(RoomEvent.ParticipantAttributesChanged, (_changed, p) => this.onAttributes(p))
      .on(RoomEvent.ConnectionQualityChanged, render)
      .on(RoomEvent.ParticipantPermissionsChanged, render)
      .on(RoomEvent.ConnectionStateChanged, (state) => {
        if (state === ConnectionState.Connected) showStatus('connected', this.info.title);
        else if (state === ConnectionState.Reconnecting || state === ConnectionState.SignalReconnecting)
          showStatus('reconnecting');
        else if (state === ConnectionState.Connecting) showStatus('connecting');
      })
      .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => this.end(reasonText(reason)))
      .on(RoomEvent.ActiveSpeakersChanged, (speakers) => {
        this.grid.setActiveSpeakers(speakers.map((p) => p.identity));
        this.render();
      })
      .on(RoomEvent.TrackSubscribed, (track) => {
        if (track.kind === Track.Kind.Audio) this.els.audioSink.append(track.attach());
        this.render();
      })
      .on(RoomEvent.TrackUnsubscribed, (track: RemoteTrack) => {
        // attach() made these <audio> elements; detach() hands them back so we can drop them.
        if (track.kind === Track.Kind.Audio) track.detach().forEach((el) => el.remove());
        this.render();
      })
      .on(RoomEvent.MediaDevicesError, (e: Error) => {
        const kind = MediaDeviceFailure.getFailure(e);
        showStatus('connected', `${t('error.devices')}${kind ? ` (${kind})` : ''}`);
      })
      .on(RoomEvent.ParticipantConnected, (p) => {
        if (isWaiting(p)) this.onAttributes(p);
        else this.chime(true);
        render();
      })
      .on(RoomEvent.ParticipantDisconnected, () => {
        this.chime(false);
        render();
      })
      .on(RoomEvent.ParticipantNameChanged, render)
      .on(RoomEvent.TrackPublished, render)
      .on(RoomEvent.TrackUnpublished, render)
      .on(RoomEvent.TrackMuted, render)
      .on(RoomEvent.TrackUnmuted, render)
      .on(RoomEvent.TrackSubscriptionStatusChanged, render)
      .on(RoomEvent.LocalTrackPublished, (pub) => {
        // A camera or microphone (at join, after a waiting room, or a new device) gets the
        // chosen effects; a screen share never does.
        if (pub.source === Track.Source.Camera || pub.source === Track.Source.Microphone) void this.effects.attach(pub.track);
        render();
      })
      .on(RoomEvent.LocalTrackUnpublished, render);
  }

  private wireControls(): void {
    const lp = () => this.room.localParticipant;
    this.els.mic.onclick = () =>
      this.act(async () => {
        await this.micReady.catch(() => undefined);
        await lp().setMicrophoneEnabled(!lp().isMicrophoneEnabled);
      });
    this.els.camera.onclick = () => this.act(() => lp().setCameraEnabled(!lp().isCameraEnabled));
    this.els.screen.onclick = () =>
      this.act(
        // `audio: true` offers tab or system audio in the browser's picker; it is shared if chosen.
        () => lp().setScreenShareEnabled(!lp().isScreenShareEnabled, { audio: true }),
        'error.share',
      );
    this.els.hand.onclick = () =>
      this.act(() => sendHand(this.room, { raised: handOf(lp()) === undefined }));
    this.els.react.onclick = () => {
      const menu = this.els.reactMenu;
      menu.hidden = !menu.hidden;
      this.els.react.setAttribute('aria-expanded', String(!menu.hidden));
    };
    this.els.reactMenu.replaceChildren(
      ...REACTIONS.map((emoji) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = emoji;
        b.setAttribute('role', 'menuitem');
        b.dataset.testid = 'reaction';
        b.onclick = () => {
          this.els.reactMenu.hidden = true;
          this.els.react.setAttribute('aria-expanded', 'false');
          this.showReaction(lp().identity, emoji);
          void lp().publishData(new TextEncoder().encode(emoji), { reliable: true, topic: REACTION_TOPIC });
        };
        return b;
      }),
    );
    this.els.people.onclick = () => this.togglePanel('people');
    this.els.chat.onclick = () => this.togglePanel('chat');
    this.els.polls.onclick = () => this.togglePanel('polls');
    this.els.notes.onclick = () => (this.panel === 'notes' ? this.togglePanel('notes') : void this.openNotes());
    this.els.leave.innerHTML = `${icon('leave')}<span>${t('controls.leave')}</span>`;
    const dialog = this.els.leaveDialog;
    this.els.leave.onclick = () => {
      const host = !!this.api && roleOf(lp()) !== undefined;
      this.els.endAll.hidden = !host;
      this.els.leaveHostHint.hidden = !host;
      // The host hands the role on before leaving a meeting that goes on.
      const candidates = this.api && roleOf(lp()) === 'host' ? nextHostCandidates(this.room) : [];
      this.els.handOver.hidden = candidates.length === 0;
      this.els.nextHost.replaceChildren(...candidates.map((p) => new Option(p.name || p.identity, personOf(p.identity, p.metadata))));
      dialog.showModal();
    };
    this.els.leaveCancel.onclick = () => dialog.close();
    this.els.leaveConfirm.onclick = async () => {
      const next = this.els.handOver.hidden ? '' : this.els.nextHost.value;
      if (next && this.api) {
        try {
          await this.api.transferHost(next);
        } catch (e) {
          dialog.close();
          showStatus('connected', `${t('people.controlFailed').replace('{detail}', message(e))}`);
          return;
        }
      }
      dialog.close();
      void this.room.disconnect();
    };
    this.els.endAll.onclick = async () => {
      dialog.close();
      try {
        await this.api?.endForAll();
      } catch (e) {
        showStatus('connected', `${t('people.controlFailed').replace('{detail}', message(e))}`);
        return;
      }
      void this.room.disconnect();
    };
  }

  /** Runs one control action, then re-renders whatever it changed; failures go to the status line. */
  private async act(action: () => Promise<unknown>, errorKey: Key = 'error.devices'): Promise<void> {
    try {
      await action();
    } catch (e) {
      // Cancelling the screen picker is a choice, not an error worth shouting about.
      if (!(e instanceof DOMException && e.name === 'NotAllowedError')) {
        showStatus('connected', `${t(errorKey)}: ${message(e)}`);
      }
    }
    this.render();
  }

  private render(): void {
    if (this.ended) return;
    const room = this.room;
    // Waiting participants (which only hosts and they themselves see) get no tile.
    this.grid.sync([room.localParticipant, ...room.remoteParticipants.values()].filter((p) => p.isLocal || !isWaiting(p)));
    this.els.waitingOverlay.hidden = !isWaiting(room.localParticipant);
    // The recording controls exist from the constructor's end; render can run before.
    this.recording?.render();
    const lp = room.localParticipant;
    setControl(this.els.mic, lp.isMicrophoneEnabled, ['mic', 'micOff'], ['controls.mute', 'controls.unmute']);
    setControl(this.els.camera, lp.isCameraEnabled, ['cam', 'camOff'], ['controls.cameraOff', 'controls.cameraOn']);
    setControl(
      this.els.screen,
      lp.isScreenShareEnabled,
      ['screenStop', 'screen'],
      ['controls.shareStop', 'controls.shareStart'],
    );
    // The button offers the other view.
    this.els.viewToggle.textContent = t(this.grid.mode === 'gallery' ? 'view.speaker' : 'view.gallery');
    const raised = handOf(lp) !== undefined;
    setControl(this.els.hand, raised, ['hand', 'hand'], ['controls.lowerHand', 'controls.raiseHand']);
    this.els.react.innerHTML = `${icon('smile')}<span>${t('controls.react')}</span>`;
    const count = 1 + [...room.remoteParticipants.values()].filter((p) => !isWaiting(p)).length;
    this.els.people.innerHTML = `${icon('people')}<span>${t('controls.participants')} ${count}</span>`;
    this.els.people.setAttribute('aria-pressed', String(this.panel === 'people'));
    this.els.chat.innerHTML = `${icon('chat')}<span>${t('controls.chat')}</span>${this.unread ? `<b class="unread" data-testid="unread">${this.unread}</b>` : ''}`;
    this.els.chat.setAttribute('aria-pressed', String(this.panel === 'chat'));
    this.els.polls.innerHTML = `${icon('poll')}<span>${t('controls.polls')}</span>${this.pollWaiting ? '<b class="unread" data-testid="poll-badge">1</b>' : ''}`;
    this.els.polls.setAttribute('aria-pressed', String(this.panel === 'polls'));
    this.els.notes.innerHTML = `${icon('notes')}<span>${t('controls.notes')}</span>`;
    this.els.notes.setAttribute('aria-pressed', String(this.panel === 'notes'));
    // A microphone the host took (mute all without self-unmute) cannot be turned on.
    const sources = lp.permissions?.canPublishSources ?? [];
    const micAllowed = lp.permissions?.canPublish !== false && (sources.length === 0 || sources.includes(2));
    this.els.mic.disabled = !micAllowed;
    this.els.mic.title = micAllowed ? t('controls.shortcuts') : t('people.mutedByHost');
    this.grid.setHands(new Set([lp, ...room.remoteParticipants.values()].filter((p) => handOf(p) !== undefined).map((p) => p.identity)));
    if (this.panel === 'people') this.peoplePanel?.render();
  }

  private end(detail: string): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.timerHandle);
    void this.audioContext?.close();
    this.effects.detach();
    void this.effects.close();
    this.notesPanel?.destroy();
    document.removeEventListener('keydown', this.onKey);
    this.els.side.replaceChildren();
    this.els.side.hidden = true;
    if (this.els.leaveDialog.open) this.els.leaveDialog.close();
    showStatus('disconnected', detail);
    this.grid.dispose();
    this.els.audioSink.replaceChildren();
    this.room.removeAllListeners();
    this.onEnd();
  }
}

/**
 * `on` is the state the button reports (mic live, camera live, sharing). The icon shows that state;
 * the label says what pressing the button does.
 */
function setControl(btn: HTMLButtonElement, on: boolean, icons: [IconName, IconName], labels: [Key, Key]): void {
  const i = on ? 0 : 1;
  setButtonContent(btn, icons[i], t(labels[i]));
  btn.setAttribute('aria-pressed', String(on));
  btn.classList.toggle('off', !on);
}

function reasonText(reason: DisconnectReason | undefined): string {
  const name = DisconnectReason[reason ?? DisconnectReason.UNKNOWN_REASON] ?? String(reason);
  return tryT(`reason.${name}`) ?? name;
}

/** 123456789 → "123 456 789", as Tencent Meeting shows codes. */
export function formatCode(code: string): string {
  return code.replace(/^(\d{3})(\d{3})(\d{3})$/, '$1 $2 $3');
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Who may take the host role when the host leaves: co-hosts first, then the others in the
 * order they joined; never someone in the waiting room. */
export function nextHostCandidates(room: Room): Participant[] {
  const others = [...room.remoteParticipants.values()].filter((p) => !isWaiting(p));
  const rank = (p: Participant) => (roleOf(p) === 'cohost' ? 0 : 1);
  return others.sort((a, b) => rank(a) - rank(b) || (a.joinedAt?.getTime() ?? 0) - (b.joinedAt?.getTime() ?? 0));
}
