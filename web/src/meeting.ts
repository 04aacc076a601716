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
  type RemoteTrack,
} from 'livekit-client';
import type { Credentials } from './token';
import { TileGrid } from './tiles';
import { icon, type IconName } from './icons';
import { t, tryT, type Key } from './i18n';
import { showStatus } from './status';

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
  leave: HTMLButtonElement;
}

declare global {
  interface Window {
    /** Test hook: browser tests read stats and state through the live Room. */
    __huiyi?: { room: Room };
  }
}

/** `?codec=h264` publishes camera video as H.264; VP8 otherwise (the two Huiyi forwards). */
function videoCodecFromUrl(): 'vp8' | 'h264' {
  return new URLSearchParams(location.search).get('codec')?.toLowerCase() === 'h264' ? 'h264' : 'vp8';
}

export class Meeting {
  readonly room = new Room({
    adaptiveStream: true,
    dynacast: true,
    publishDefaults: { videoCodec: videoCodecFromUrl() },
  });
  private readonly grid: TileGrid;
  private ended = false;
  /** The muted microphone a mute-on-join meeting publishes at join; the mic button waits for it. */
  private micReady: Promise<void> = Promise.resolve();

  constructor(
    private readonly els: MeetingElements,
    private readonly onEnd: () => void,
  ) {
    this.grid = new TileGrid(els.grid);
    window.__huiyi = { room: this.room };
    this.wireRoom();
    this.wireControls();
  }

  async start(creds: Credentials): Promise<void> {
    showStatus('connecting');
    try {
      await withTimeout(this.room.connect(creds.url, creds.token), CONNECT_TIMEOUT_MS);
    } catch (e) {
      this.end(`${t('error.connect')}: ${message(e)}`);
      // After end(), so the Disconnected event this may emit no longer reaches our handler.
      void this.room.disconnect();
      return;
    }
    this.render();
    // Unlocks audio playback on browsers that require a gesture; the join click was one.
    void this.room.startAudio();
    try {
      // Camera is published with livekit-client's default simulcast layers. A meeting set to
      // mute on join starts with the microphone published but muted (the server would mute an
      // unmuted one: mute on entry is enforced there); the mic button unmutes it.
      if (creds.muted) {
        // The mic button waits for this, so a quick click cannot publish a second microphone.
        this.micReady = (async () => {
          const mic = await createLocalAudioTrack();
          await mic.mute();
          await this.room.localParticipant.publishTrack(mic, { source: Track.Source.Microphone });
        })();
        await this.room.localParticipant.setCameraEnabled(true);
        await this.micReady;
      } else await this.room.localParticipant.enableCameraAndMicrophone();
    } catch (e) {
      showStatus('connected', `${t('error.devices')}: ${message(e)}`);
    }
    this.render();
  }

  private wireRoom(): void {
    const room = this.room;
    const render = () => this.render();
    room
      .on(RoomEvent.ConnectionStateChanged, (state) => {
        if (state === ConnectionState.Connected) showStatus('connected', `${t('status.room')}: ${room.name}`);
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
      .on(RoomEvent.ParticipantConnected, render)
      .on(RoomEvent.ParticipantDisconnected, render)
      .on(RoomEvent.ParticipantNameChanged, render)
      .on(RoomEvent.TrackPublished, render)
      .on(RoomEvent.TrackUnpublished, render)
      .on(RoomEvent.TrackMuted, render)
      .on(RoomEvent.TrackUnmuted, render)
      .on(RoomEvent.TrackSubscriptionStatusChanged, render)
      .on(RoomEvent.LocalTrackPublished, render)
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
    this.els.leave.innerHTML = `${icon('leave')}<span>${t('controls.leave')}</span>`;
    this.els.leave.onclick = () => void this.room.disconnect();
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
    this.grid.sync([room.localParticipant, ...room.remoteParticipants.values()]);
    const lp = room.localParticipant;
    setControl(this.els.mic, lp.isMicrophoneEnabled, ['mic', 'micOff'], ['controls.mute', 'controls.unmute']);
    setControl(this.els.camera, lp.isCameraEnabled, ['cam', 'camOff'], ['controls.cameraOff', 'controls.cameraOn']);
    setControl(
      this.els.screen,
      lp.isScreenShareEnabled,
      ['screenStop', 'screen'],
      ['controls.shareStop', 'controls.shareStart'],
    );
  }

  private end(detail: string): void {
    if (this.ended) return;
    this.ended = true;
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
  btn.innerHTML = `${icon(icons[i])}<span>${t(labels[i])}</span>`;
  btn.setAttribute('aria-pressed', String(on));
  btn.classList.toggle('off', !on);
}

function reasonText(reason: DisconnectReason | undefined): string {
  const name = DisconnectReason[reason ?? DisconnectReason.UNKNOWN_REASON] ?? String(reason);
  return tryT(`reason.${name}`) ?? name;
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
