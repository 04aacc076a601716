// The public viewer page of a live meeting, `/live/<code>`: the meeting as a composite picture
// with its sound, played from the HLS stream Huiyi serves beside it
// (`/live/<code>/index.m3u8`), with hls.js where the browser has Media Source Extensions and
// natively where it plays HLS itself (Safari). Viewers need no account and take no seat in the
// meeting. Until the stream starts (or after it ends) the page says so and checks again.

import Hls from 'hls.js';
import { t } from './i18n';

/** How often a page waiting for the stream checks whether it has started. */
const RETRY_MS = 3000;

export function startLiveView(root: HTMLElement, code: string): void {
  document.title = `${t('live.title')} · ${code}`;
  const video = document.createElement('video');
  video.controls = true;
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true;
  video.dataset.testid = 'live-video';
  video.className = 'live-video';
  const state = document.createElement('p');
  state.className = 'live-state';
  state.dataset.testid = 'live-state';
  state.setAttribute('role', 'status');
  const heading = document.createElement('h1');
  heading.textContent = `${t('live.title')} · ${code.replace(/(\d{3})(\d{3})(\d{3})/, '$1 $2 $3')}`;
  const unmute = document.createElement('button');
  unmute.type = 'button';
  unmute.textContent = t('live.unmute');
  unmute.onclick = () => {
    video.muted = false;
    unmute.hidden = true;
  };
  root.replaceChildren(heading, video, unmute, state);
  const src = `/live/${encodeURIComponent(code)}/index.m3u8`;

  const waiting = () => {
    state.textContent = t('live.notStarted');
    state.dataset.state = 'waiting';
    video.hidden = true;
    setTimeout(tryPlay, RETRY_MS);
  };
  const playing = () => {
    state.textContent = t('live.onAir');
    state.dataset.state = 'live';
    video.hidden = false;
  };

  let hls: Hls | undefined;
  const tryPlay = async () => {
    const probe = await fetch(src, { cache: 'no-store' }).catch(() => undefined);
    if (!probe?.ok) return waiting();
    if (Hls.isSupported()) {
      hls?.destroy();
      hls = new Hls({ liveDurationInfinity: true, lowLatencyMode: false });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (data.fatal) {
          hls?.destroy();
          hls = undefined;
          waiting();
        }
      });
      hls.loadSource(src);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src;
    } else {
      state.textContent = t('live.unsupported');
      return;
    }
    playing();
    void video.play().catch(() => undefined);
  };
  void tryPlay();
}
