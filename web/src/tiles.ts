// The participant grid. `TileGrid.sync` is called after any room event that may change what is
// shown; it reconciles DOM tiles with the room's participants, so event handlers stay trivial and
// a missed event is corrected by the next one.
//
// Each participant has one camera tile (`data-testid="tile"`), plus a screen tile
// (`data-testid="screen-tile"`) while they share. Tests rely on the data attributes.

import { Track, type Participant, type VideoTrack } from 'livekit-client';
import { t } from './i18n';
import { icon } from './icons';

type TileKind = 'camera' | 'screen';

export class TileGrid {
  private readonly tiles = new Map<string, Tile>();
  private speakers = new Set<string>();
  private hands = new Set<string>();
  /** Shared screens, large, above the cameras. Hidden while nobody shares. */
  private readonly stage: HTMLDivElement;
  /** Camera tiles: a grid filling the view, or a strip under the stage while someone shares. */
  private readonly cams: HTMLDivElement;

  private readonly resizeObserver = new ResizeObserver(() => this.layout());

  constructor(private readonly container: HTMLElement) {
    this.stage = document.createElement('div');
    this.stage.className = 'stage';
    this.cams = document.createElement('div');
    this.cams.className = 'cams';
    container.replaceChildren(this.stage, this.cams);
    // Column counts depend on the space available, so a resized window re-lays the grid.
    this.resizeObserver.observe(container);
  }

  setActiveSpeakers(identities: Iterable<string>): void {
    this.speakers = new Set(identities);
  }

  /** Who has a hand up; shown on their camera tile at the next sync. */
  setHands(identities: Set<string>): void {
    this.hands = identities;
  }

  /** Shows an emoji over someone's camera tile for a few seconds. */
  react(identity: string, emoji: string): void {
    this.tiles.get(`${identity}\u0000camera`)?.react(emoji);
  }

  sync(participants: Participant[]): void {
    const wanted = new Map<string, { p: Participant; kind: TileKind }>();
    for (const p of participants) {
      wanted.set(`${p.identity}\u0000camera`, { p, kind: 'camera' });
      if (p.getTrackPublication(Track.Source.ScreenShare)?.videoTrack) {
        wanted.set(`${p.identity}\u0000screen`, { p, kind: 'screen' });
      }
    }
    for (const [key, tile] of this.tiles) {
      if (!wanted.has(key)) {
        tile.destroy();
        this.tiles.delete(key);
      }
    }
    for (const [key, { p, kind }] of wanted) {
      let tile = this.tiles.get(key);
      if (!tile) {
        tile = new Tile(kind);
        this.tiles.set(key, tile);
        (kind === 'screen' ? this.stage : this.cams).append(tile.el);
      }
      tile.update(p, this.speakers.has(p.identity), this.hands.has(p.identity));
    }
    this.layout();
  }

  /** Removes every tile and stops watching the container; the grid is not used again. */
  dispose(): void {
    this.sync([]);
    this.resizeObserver.disconnect();
  }

  private layout(): void {
    const sharing = this.stage.childElementCount > 0;
    this.container.classList.toggle('sharing', sharing);
    const n = this.cams.childElementCount;
    if (sharing || n === 0) return;
    const cols = bestColumns(n, this.cams.clientWidth, this.cams.clientHeight);
    this.cams.style.gridTemplateColumns = `repeat(${cols}, minmax(0, 1fr))`;
    this.cams.style.gridTemplateRows = `repeat(${Math.ceil(n / cols)}, minmax(0, 1fr))`;
  }
}

/** The column count that gives `n` tiles of 16:9 video the largest size in a `width`×`height` box. */
function bestColumns(n: number, width: number, height: number): number {
  let best = 1;
  let bestWidth = 0;
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const tileWidth = Math.min(width / cols, ((height / rows) * 16) / 9);
    if (tileWidth > bestWidth) {
      best = cols;
      bestWidth = tileWidth;
    }
  }
  return best;
}

class Tile {
  readonly el: HTMLDivElement;
  private readonly video: HTMLVideoElement;
  private readonly avatar: HTMLDivElement;
  private readonly label: HTMLSpanElement;
  private readonly mic: HTMLSpanElement;
  private readonly hand: HTMLSpanElement;
  /** The track currently attached to `video`; compared on each update to attach only on change. */
  private track: VideoTrack | undefined;

  constructor(private readonly kind: TileKind) {
    this.el = document.createElement('div');
    this.el.className = `tile tile-${kind}`;
    this.el.dataset.testid = kind === 'camera' ? 'tile' : 'screen-tile';

    this.video = document.createElement('video');
    this.video.autoplay = true;
    this.video.playsInline = true;
    // Sound plays through separate <audio> elements (see meeting.ts); video elements stay silent.
    this.video.muted = true;

    this.avatar = document.createElement('div');
    this.avatar.className = 'avatar';

    const footer = document.createElement('div');
    footer.className = 'tile-footer';
    this.mic = document.createElement('span');
    this.mic.className = 'mic';
    this.mic.innerHTML = icon('micOff');
    this.mic.title = t('tile.micMuted');
    this.label = document.createElement('span');
    this.label.className = 'name';
    this.hand = document.createElement('span');
    this.hand.className = 'hand';
    this.hand.innerHTML = icon('hand');
    this.hand.dataset.testid = 'tile-hand';
    this.hand.title = t('people.handRaised');
    this.hand.hidden = true;
    footer.append(this.mic, this.label, this.hand);

    this.el.append(this.avatar, this.video, footer);
  }

  react(emoji: string): void {
    const bubble = document.createElement('span');
    bubble.className = 'reaction';
    bubble.dataset.testid = 'tile-reaction';
    bubble.textContent = emoji;
    this.el.append(bubble);
    setTimeout(() => bubble.remove(), 4000);
  }

  update(p: Participant, speaking: boolean, hand: boolean): void {
    const source = this.kind === 'camera' ? Track.Source.Camera : Track.Source.ScreenShare;
    const pub = p.getTrackPublication(source);
    const track = pub && !pub.isMuted ? pub.videoTrack : undefined;
    if (track !== this.track) {
      this.track?.detach(this.video);
      this.track = track;
      track?.attach(this.video);
    }

    const name = p.name || p.identity;
    const mic = p.getTrackPublication(Track.Source.Microphone);
    const micMuted = !mic || mic.isMuted;

    this.el.dataset.identity = p.identity;
    this.el.dataset.muted = String(micMuted);
    this.el.dataset.speaking = String(speaking && this.kind === 'camera');
    this.el.classList.toggle('no-video', !track);
    this.el.classList.toggle('mirror', p.isLocal && this.kind === 'camera');
    this.mic.hidden = this.kind !== 'camera' || !micMuted;
    this.hand.hidden = this.kind !== 'camera' || !hand;
    this.avatar.textContent = initials(name);
    this.label.textContent =
      this.kind === 'screen' ? `${name} · ${t('tile.screen')}` : p.isLocal ? `${name} ${t('tile.you')}` : name;
  }

  destroy(): void {
    this.track?.detach(this.video);
    this.el.remove();
  }
}

/** Up to two letters; a CJK name shows its first character (usually the family name). */
function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  const first = [...words[0]!][0]!;
  if (/\p{Script=Han}/u.test(first)) return first;
  const second = words.length > 1 ? [...words[1]!][0]! : '';
  return (first + second).toUpperCase();
}
