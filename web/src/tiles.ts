// The participant grid. `TileGrid.sync` is called after any room event that may change what is
// shown; it reconciles DOM tiles with the room's participants, so event handlers stay trivial and
// a missed event is corrected by the next one.
//
// Each participant has one camera tile (`data-testid="tile"`), plus a screen tile
// (`data-testid="screen-tile"`) while they share. Tests rely on the data attributes.

import { Track, type Participant, type VideoTrack } from 'livekit-client';
import { t } from './i18n';
import { icon } from './icons';

/** A camera in the grid or strip, a shared screen, or the camera of the speaker on the stage. */
type TileKind = 'camera' | 'screen' | 'focus';

/** At most this many camera tiles on one gallery page. */
export const PAGE_SIZE = 25;

export type Layout = 'gallery' | 'speaker';

export class TileGrid {
  private readonly tiles = new Map<string, Tile>();
  private speakers = new Set<string>();
  private hands = new Set<string>();
  /** Shared screens, or the speaker in speaker view, large, above the cameras. */
  private readonly stage: HTMLDivElement;
  /** Camera tiles: a grid filling the view, or a strip under the stage. */
  private readonly cams: HTMLDivElement;
  private readonly pager: HTMLDivElement;
  private layoutMode: Layout = 'gallery';
  private page = 0;
  private pinned: string | undefined;
  /** The last remote participant who spoke: speaker view shows them. */
  private lastSpeaker: string | undefined;
  private participants: Participant[] = [];
  /** Called when the user pins or unpins a tile, so the owner can re-render. */
  onChange: () => void = () => undefined;

  private readonly resizeObserver = new ResizeObserver(() => this.layout());

  constructor(private readonly container: HTMLElement) {
    this.stage = document.createElement('div');
    this.stage.className = 'stage';
    this.cams = document.createElement('div');
    this.cams.className = 'cams';
    this.pager = document.createElement('div');
    this.pager.className = 'pager';
    this.pager.dataset.testid = 'pager';
    container.replaceChildren(this.stage, this.cams, this.pager);
    // Column counts depend on the space available, so a resized window re-lays the grid.
    this.resizeObserver.observe(container);
  }

  get mode(): Layout {
    return this.layoutMode;
  }

  setMode(mode: Layout): void {
    this.layoutMode = mode;
    this.sync(this.participants);
  }

  /** Pins someone to the stage (speaker view); pinning them again unpins. */
  togglePin(identity: string): void {
    this.pinned = this.pinned === identity ? undefined : identity;
    if (this.pinned) this.layoutMode = 'speaker';
    this.sync(this.participants);
    this.onChange();
  }

  get pinnedIdentity(): string | undefined {
    return this.pinned;
  }

  setActiveSpeakers(identities: Iterable<string>): void {
    this.speakers = new Set(identities);
    const remote = this.participants.find((p) => !p.isLocal && this.speakers.has(p.identity));
    if (remote) this.lastSpeaker = remote.identity;
  }

  /** Who has a hand up; shown on their camera tile at the next sync. */
  setHands(identities: Set<string>): void {
    this.hands = identities;
  }

  /** Shows an emoji over someone's camera tile for a few seconds. */
  react(identity: string, emoji: string): void {
    (this.tiles.get(`${identity}\u0000camera`) ?? this.tiles.get(`${identity}\u0000focus`))?.react(emoji);
  }

  sync(participants: Participant[]): void {
    this.participants = participants;
    const sharers = participants.filter((p) => p.getTrackPublication(Track.Source.ScreenShare)?.videoTrack);
    const ids = new Set(participants.map((p) => p.identity));
    if (this.pinned && !ids.has(this.pinned)) this.pinned = undefined;
    // A host's spotlight puts everyone in speaker view on that person, unless they pinned
    // someone themselves. Speaker view: the pinned person, the spotlight, else whoever spoke
    // last, else the first other person.
    const spot = participants.find((p) => p.attributes['huiyi.spotlight']);
    const focus =
      (this.layoutMode === 'speaker' || spot) && sharers.length === 0
        ? participants.find((p) => p.identity === this.pinned) ??
          spot ??
          participants.find((p) => p.identity === this.lastSpeaker) ??
          participants.find((p) => !p.isLocal) ??
          participants[0]
        : undefined;
    // Only the tiles on screen exist: with adaptive stream, video nobody shows is not sent.
    const pages = Math.max(1, Math.ceil(participants.length / PAGE_SIZE));
    this.page = Math.min(this.page, pages - 1);
    const onPage = sharers.length > 0 || focus ? participants.slice(0, PAGE_SIZE) : participants.slice(this.page * PAGE_SIZE, (this.page + 1) * PAGE_SIZE);

    const wanted = new Map<string, { p: Participant; kind: TileKind }>();
    for (const p of sharers) wanted.set(`${p.identity}\u0000screen`, { p, kind: 'screen' });
    if (focus) wanted.set(`${focus.identity}\u0000focus`, { p: focus, kind: 'focus' });
    for (const p of onPage) if (p !== focus) wanted.set(`${p.identity}\u0000camera`, { p, kind: 'camera' });
    for (const [key, tile] of this.tiles) {
      if (!wanted.has(key)) {
        tile.destroy();
        this.tiles.delete(key);
      }
    }
    let previous: Tile | undefined;
    for (const [key, { p, kind }] of wanted) {
      let tile = this.tiles.get(key);
      if (!tile) {
        tile = new Tile(kind, (identity) => this.togglePin(identity));
        this.tiles.set(key, tile);
      }
      // Keep DOM order as wanted: stage tiles first, then cameras in participant order.
      const parent = kind === 'camera' ? this.cams : this.stage;
      if (tile.el.parentElement !== parent || (previous && previous.el.parentElement === parent && previous.el.nextElementSibling !== tile.el)) {
        if (previous && previous.el.parentElement === parent) previous.el.after(tile.el);
        else parent.prepend(tile.el);
      }
      tile.update(p, this.speakers.has(p.identity), this.hands.has(p.identity), this.pinned === p.identity);
      previous = tile;
    }
    this.renderPager(pages, sharers.length > 0 || !!focus);
    this.layout();
  }

  /** What the pager shows; it is rebuilt only when that changes, so a click never lands on a
   * button that a room event just replaced. */
  private pagerShown = '';

  private renderPager(pages: number, strip: boolean): void {
    this.pager.hidden = strip || pages <= 1;
    const shown = `${this.pager.hidden}/${this.page}/${pages}`;
    if (this.pager.hidden || shown === this.pagerShown) return;
    this.pagerShown = shown;
    const turn = (step: number, text: string, label: 'common.prev' | 'common.next', testid: string, disabled: boolean) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'small';
      b.textContent = text;
      b.setAttribute('aria-label', t(label));
      b.dataset.testid = testid;
      b.disabled = disabled;
      b.onclick = () => {
        this.page += step;
        this.sync(this.participants);
      };
      return b;
    };
    const prev = turn(-1, '‹', 'common.prev', 'page-prev', this.page === 0);
    const next = turn(1, '›', 'common.next', 'page-next', this.page >= pages - 1);
    const label = document.createElement('span');
    label.dataset.testid = 'page-label';
    label.textContent = `${this.page + 1} / ${pages}`;
    this.pager.replaceChildren(prev, label, next);
  }

  /** Removes every tile and stops watching the container; the grid is not used again. */
  dispose(): void {
    this.sync([]);
    this.resizeObserver.disconnect();
  }

  private layout(): void {
    const staged = this.stage.childElementCount > 0;
    this.container.classList.toggle('sharing', staged);
    const n = this.cams.childElementCount;
    if (staged || n === 0) return;
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

  private readonly pin: HTMLButtonElement;

  constructor(
    private readonly kind: TileKind,
    onPin: (identity: string) => void,
  ) {
    this.el = document.createElement('div');
    this.el.className = `tile tile-${kind}`;
    this.el.dataset.testid = kind === 'screen' ? 'screen-tile' : kind === 'focus' ? 'focus-tile' : 'tile';
    this.pin = document.createElement('button');
    this.pin.type = 'button';
    this.pin.className = 'pin small';
    this.pin.dataset.testid = 'pin';
    this.pin.onclick = () => onPin(this.el.dataset.identity ?? '');
    this.el.ondblclick = () => onPin(this.el.dataset.identity ?? '');

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
    if (kind !== 'screen') this.el.append(this.pin);
  }

  react(emoji: string): void {
    const bubble = document.createElement('span');
    bubble.className = 'reaction';
    bubble.dataset.testid = 'tile-reaction';
    bubble.textContent = emoji;
    this.el.append(bubble);
    setTimeout(() => bubble.remove(), 4000);
  }

  update(p: Participant, speaking: boolean, hand: boolean, pinned: boolean): void {
    const source = this.kind === 'screen' ? Track.Source.ScreenShare : Track.Source.Camera;
    this.pin.textContent = t(pinned ? 'tile.unpin' : 'tile.pin');
    this.pin.setAttribute('aria-pressed', String(pinned));
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
    this.el.dataset.speaking = String(speaking && this.kind !== 'screen');
    this.el.classList.toggle('no-video', !track);
    this.el.classList.toggle('mirror', p.isLocal && this.kind !== 'screen');
    this.mic.hidden = this.kind === 'screen' || !micMuted;
    this.hand.hidden = this.kind === 'screen' || !hand;
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
