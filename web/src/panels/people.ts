// The participants panel: everyone in the meeting with their role, microphone, camera, raised
// hand and connection quality, live; raised hands first, in the order they were raised (the
// server's `huiyi.hand` attribute). For a host it carries the controls: per person (mute, ask
// to unmute, stop video, co-host, lower hand, remove) and for the meeting (mute all, lock,
// chat and screen-sharing rules, lower all hands). Hands go over LiveKit data (`huiyi.hand`);
// the rest through Tencent's real-control API (host-api.ts). The server enforces all of it.

import { ConnectionQuality, Track, type Participant, type Room } from 'livekit-client';
import { t, tf, type Key } from '../i18n';
import { icon } from '../icons';
import { HostApi, personOf } from './host-api';

export const HAND_TOPIC = 'huiyi.hand';
export const ROLE_ATTRIBUTE = 'huiyi.role';
export const HAND_ATTRIBUTE = 'huiyi.hand';
export const WAITING_ATTRIBUTE = 'huiyi.waiting';
export const SPOTLIGHT_ATTRIBUTE = 'huiyi.spotlight';

/** Whether a participant is in the waiting room (only hosts, and they themselves, see them). */
export function isWaiting(p: Participant): boolean {
  return !!p.attributes[WAITING_ATTRIBUTE];
}

export function roleOf(p: Participant): 'host' | 'cohost' | undefined {
  const r = p.attributes[ROLE_ATTRIBUTE];
  return r === 'host' || r === 'cohost' ? r : undefined;
}

/** Whether the join token names this participant a scheduled host of the meeting (its
 * metadata's `role`), whatever role they hold in the room now. */
export function scheduledHost(p: Participant): boolean {
  try {
    return (JSON.parse(p.metadata || '{}') as { role?: unknown }).role === 'host';
  } catch {
    return false;
  }
}

/** When the hand went up (server time), or undefined. */
export function handOf(p: Participant): number | undefined {
  const v = Number(p.attributes[HAND_ATTRIBUTE]);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

/** Everyone, raised hands first in the order raised, then hosts, then by name. */
export function ordered(participants: Participant[]): Participant[] {
  const rank = (p: Participant) => (roleOf(p) === 'host' ? 0 : roleOf(p) === 'cohost' ? 1 : 2);
  return [...participants].sort((a, b) => {
    const ha = handOf(a) ?? Infinity;
    const hb = handOf(b) ?? Infinity;
    if (ha !== hb) return ha - hb;
    if (rank(a) !== rank(b)) return rank(a) - rank(b);
    return (a.name || a.identity).localeCompare(b.name || b.identity);
  });
}

export async function sendHand(room: Room, body: Record<string, unknown>): Promise<void> {
  await room.localParticipant.publishData(new TextEncoder().encode(JSON.stringify(body)), { reliable: true, topic: HAND_TOPIC });
}

/** What this host last set; the API has no read for live controls, so the panel remembers. */
interface LiveControls {
  muteAll: boolean;
  selfUnmute: boolean;
  locked: boolean;
  chat: number;
  shareAll: boolean;
  waitingRoom: boolean;
}

export class PeoplePanel {
  readonly el: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly hostBar: HTMLDivElement;
  private readonly error: HTMLParagraphElement;
  private readonly live: LiveControls = { muteAll: false, selfUnmute: true, locked: false, chat: 0, shareAll: true, waitingRoom: false };
  private readonly waitingBox: HTMLDivElement;
  /** Tells the chat panel the rule this host set. */
  onChatRule: (rule: number) => void = () => undefined;

  constructor(
    private readonly room: Room,
    private readonly api: HostApi | undefined,
  ) {
    this.el = document.createElement('section');
    this.el.className = 'panel people-panel';
    this.el.dataset.testid = 'people-panel';
    this.el.setAttribute('aria-label', t('people.title'));
    this.hostBar = document.createElement('div');
    this.hostBar.className = 'host-bar';
    this.error = document.createElement('p');
    this.error.className = 'error';
    this.error.setAttribute('role', 'alert');
    this.error.hidden = true;
    this.list = document.createElement('ul');
    this.list.className = 'people-list';
    this.list.dataset.testid = 'people-list';
    const head = document.createElement('h2');
    head.dataset.testid = 'people-count';
    this.waitingBox = document.createElement('div');
    this.waitingBox.className = 'waiting-box';
    this.waitingBox.dataset.testid = 'waiting-box';
    this.reclaim = document.createElement('div');
    this.reclaim.className = 'host-bar';
    this.el.append(head, this.reclaim, this.hostBar, this.error, this.waitingBox, this.list);
  }

  /** The way back for a scheduled host who handed the host role to someone else. */
  private readonly reclaim: HTMLDivElement;

  private renderReclaim(): void {
    const lp = this.room.localParticipant;
    const api = this.api;
    const handedOver = !!api && roleOf(lp) !== 'host' && scheduledHost(lp);
    this.reclaim.hidden = !handedOver;
    this.reclaim.replaceChildren(...(handedOver && api ? [this.button('people.reclaimHost', 'reclaim-host', () => api.transferHost(personOf(lp.identity, lp.metadata)))] : []));
  }

  private get amHost(): boolean {
    return roleOf(this.room.localParticipant) !== undefined;
  }

  /** What the list showed last, so that frequent room events (speakers, stats) that change
   * nothing visible leave the DOM alone: a host's open menu or half-made click survives. */
  private shown = '';

  render(): void {
    const all = [this.room.localParticipant, ...this.room.remoteParticipants.values()];
    const everyone = ordered(all.filter((p) => !isWaiting(p)));
    const waiting = all.filter(isWaiting).sort((a, b) => Number(a.attributes[WAITING_ATTRIBUTE]) - Number(b.attributes[WAITING_ATTRIBUTE]));
    const rows = everyone.map((p) => this.rowState(p));
    const signature = JSON.stringify([this.amHost, this.live, rows, waiting.map((p) => [p.identity, p.name])]);
    if (signature === this.shown) return;
    this.shown = signature;
    this.el.querySelector('h2')!.textContent = `${t('people.title')} (${everyone.length})`;
    this.renderReclaim();
    this.renderHostBar(everyone);
    this.renderWaiting(waiting);
    this.list.replaceChildren(...everyone.map((p) => this.row(p)));
  }

  /** Who waits, longest first, with admit and deny, for a host who can act on it. */
  private renderWaiting(waiting: Participant[]): void {
    const api = this.api;
    this.waitingBox.hidden = waiting.length === 0 || !this.amHost;
    if (this.waitingBox.hidden || !api) {
      this.waitingBox.replaceChildren();
      return;
    }
    const head = document.createElement('h3');
    head.textContent = `${t('waiting.title')} (${waiting.length})`;
    const all = this.button('waiting.admitAll', 'admit-all', () => api.admitAll());
    const rows = waiting.map((p) => {
      const [li, name] = personRow('div', 'waiting-person', p, p.name || p.identity);
      const person = personOf(p.identity, p.metadata);
      li.append(name, this.button('waiting.admit', 'admit', () => api.waitingRoom(1, [person])), this.button('waiting.deny', 'deny', () => api.waitingRoom(3, [person])));
      return li;
    });
    this.waitingBox.replaceChildren(head, all, ...rows);
  }

  private rowState(p: Participant) {
    const mic = p.getTrackPublication(Track.Source.Microphone);
    const cam = p.getTrackPublication(Track.Source.Camera);
    return [p.identity, p.name, roleOf(p), handOf(p), !!mic && !mic.isMuted, !!cam && !cam.isMuted, p.connectionQuality, p.attributes[SPOTLIGHT_ATTRIBUTE]];
  }

  private renderHostBar(everyone: Participant[]): void {
    const host = this.amHost;
    this.hostBar.hidden = !host;
    if (!host) return;
    const bar: HTMLElement[] = [];
    if (this.api) {
      const api = this.api;
      bar.push(
        this.button(this.live.muteAll ? 'people.unmuteAll' : 'people.muteAll', 'mute-all', () => {
          const muteAll = !this.live.muteAll;
          return this.setLive({ muteAll }, () => api.status({ mute_all: muteAll, allow_unmute_by_self: this.live.selfUnmute }));
        }),
        this.checkbox('people.selfUnmute', 'self-unmute', this.live.selfUnmute, (on) => this.setLive({ selfUnmute: on }, () => api.status({ allow_unmute_by_self: on }))),
        this.checkbox('people.lock', 'lock', this.live.locked, (on) => this.setLive({ locked: on }, () => api.status({ meeting_locked: on }))),
        this.checkbox('waiting.enable', 'waiting-room', this.live.waitingRoom, (on) => this.setLive({ waitingRoom: on }, () => api.status({ auto_waiting_room: on }))),
        this.select('people.chatRule', 'chat-rule', [0, 1, 2, 3].map((v) => [String(v), t(`chatRule.${v}` as Key)]), String(this.live.chat), async (v) => {
          await this.setLive({ chat: Number(v) }, () => api.status({ allow_chat: Number(v) }));
          this.onChatRule(this.live.chat);
        }),
        this.select('people.shareRule', 'share-rule', [['all', t('people.shareAll')], ['hosts', t('people.shareHosts')]], this.live.shareAll ? 'all' : 'hosts', (v) =>
          this.setLive({ shareAll: v === 'all' }, () => api.status({ share_screen: v === 'all' })),
        ),
      );
    }
    if (everyone.some((p) => handOf(p) !== undefined)) {
      bar.push(this.button('people.lowerAll', 'lower-all', () => sendHand(this.room, { raised: false, all: true })));
    }
    this.hostBar.replaceChildren(...bar);
  }

  private row(p: Participant): HTMLLIElement {
    const [li, name] = personRow('li', 'person', p, `${p.name || p.identity}${p.isLocal ? ` ${t('people.you')}` : ''}`);
    const badges = document.createElement('span');
    badges.className = 'badges';
    const role = roleOf(p);
    if (role) badges.append(badge(t(role === 'host' ? 'people.host' : 'people.cohost'), 'role'));
    const hand = handOf(p);
    if (hand !== undefined) {
      const b = badge('', 'hand');
      b.innerHTML = icon('hand');
      b.title = t('people.handRaised');
      b.setAttribute('aria-label', t('people.handRaised'));
      badges.append(b);
    }
    const mic = p.getTrackPublication(Track.Source.Microphone);
    const cam = p.getTrackPublication(Track.Source.Camera);
    const micOn = !!mic && !mic.isMuted;
    const camOn = !!cam && !cam.isMuted;
    const state = document.createElement('span');
    state.className = 'person-state';
    state.innerHTML = icon(micOn ? 'mic' : 'micOff') + icon(camOn ? 'cam' : 'camOff');
    state.dataset.mic = String(micOn);
    state.dataset.camera = String(camOn);
    const quality = document.createElement('span');
    const q = qualityKey(p.connectionQuality);
    quality.className = `quality q-${q}`;
    quality.title = t(`quality.${q}` as Key);
    quality.setAttribute('role', 'img');
    quality.setAttribute('aria-label', t(`quality.${q}` as Key));
    li.append(name, badges, state, quality);
    if (p.attributes[SPOTLIGHT_ATTRIBUTE]) badges.append(badge(t('people.spotlit'), 'role'));
    if (this.amHost && !p.isLocal) li.append(this.actions(p, { micOn, camOn, hand: hand !== undefined }));
    if (p.isLocal) {
      // Renaming oneself: the server refuses it where the meeting does not allow it.
      const box = document.createElement('span');
      box.className = 'person-actions';
      box.append(
        this.button('people.renameSelf', 'rename-self', async () => {
          const name = prompt(t('people.newName'), p.name || '')?.trim();
          if (name) await this.room.localParticipant.setName(name.slice(0, 64));
        }),
      );
      li.append(box);
    }
    return li;
  }

  private actions(p: Participant, s: { micOn: boolean; camOn: boolean; hand: boolean }): HTMLElement {
    const box = document.createElement('span');
    box.className = 'person-actions';
    const person = personOf(p.identity, p.metadata);
    const api = this.api;
    if (s.hand) box.append(this.button('people.lowerHand', 'lower-hand', () => sendHand(this.room, { raised: false, identity: p.identity })));
    if (api) {
      if (s.micOn) box.append(this.button('people.mute', 'mute', () => api.mute(person, true)));
      else box.append(this.button('people.askUnmute', 'ask-unmute', () => api.mute(person, false)));
      if (s.camOn) box.append(this.button('people.stopVideo', 'stop-video', () => api.stopVideo(person)));
      const cohost = roleOf(p) === 'cohost';
      // Only the host hands the host role on; co-hosts do not.
      if (roleOf(this.room.localParticipant) === 'host' && roleOf(p) !== 'host' && !p.isLocal) {
        box.append(
          this.button('people.makeHost', 'make-host', async () => {
            if (!confirm(tf('people.makeHostConfirm', { name: p.name || p.identity }))) return;
            await api.transferHost(person);
          }),
        );
      }
      if (roleOf(p) !== 'host') box.append(this.button(cohost ? 'people.revokeCohost' : 'people.makeCohost', 'cohost', () => api.cohost(person, !cohost)));
      if (!roleOf(p) && this.live.waitingRoom) box.append(this.button('waiting.sendBack', 'send-to-waiting', () => api.waitingRoom(2, [person])));
      const lit = !!p.attributes[SPOTLIGHT_ATTRIBUTE];
      box.append(
        this.button(lit ? 'people.unspotlight' : 'people.spotlight', 'spotlight', () => api.spotlight(person, !lit)),
        this.button('people.rename', 'rename', async () => {
          const name = prompt(t('people.newName'), p.name || '')?.trim();
          if (name) await api.rename(person, name.slice(0, 64));
        }),
        this.button('people.remove', 'remove', async () => {
          if (!confirm(tf('people.removeConfirm', { name: p.name || p.identity }))) return;
          await api.remove(person);
        }),
      );
    }
    return box;
  }

  /** Records a control's new value before the call that sets it, and restores the old one if
   * the call fails: a re-render while the call is in flight (a speaker change, a join) shows
   * what the host chose, not the value from before their click. */
  private async setLive(change: Partial<LiveControls>, call: () => Promise<unknown>): Promise<void> {
    const before = { ...this.live };
    Object.assign(this.live, change);
    try {
      await call();
    } catch (e) {
      for (const key of Object.keys(change) as (keyof LiveControls)[]) (this.live[key] as unknown) = before[key];
      throw e;
    }
  }

  private async run(action: () => Promise<unknown>): Promise<void> {
    this.error.hidden = true;
    try {
      await action();
    } catch (e) {
      this.error.textContent = tf('people.controlFailed', { detail: e instanceof Error ? e.message : String(e) });
      this.error.hidden = false;
    }
    this.render();
  }

  private button(label: Key, testid: string, action: () => Promise<unknown>): HTMLButtonElement {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'small';
    b.textContent = t(label);
    b.dataset.testid = testid;
    b.onclick = () => void this.run(action);
    return b;
  }

  private checkbox(label: Key, testid: string, checked: boolean, action: (on: boolean) => Promise<unknown>): HTMLLabelElement {
    const l = document.createElement('label');
    l.className = 'check';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = checked;
    box.dataset.testid = testid;
    box.onchange = () => void this.run(() => action(box.checked));
    l.append(box, ` ${t(label)}`);
    return l;
  }

  private select(label: Key, testid: string, options: string[][], value: string, action: (v: string) => Promise<unknown>): HTMLLabelElement {
    const l = document.createElement('label');
    l.className = 'inline-select';
    const s = document.createElement('select');
    s.dataset.testid = testid;
    s.replaceChildren(...options.map(([v, text]) => new Option(text, v)));
    s.value = value;
    s.onchange = () => void this.run(() => action(s.value));
    l.append(`${t(label)} `, s);
    return l;
  }
}

/** A row for one person, with its name span (the caller appends the rest). */
function personRow<K extends 'li' | 'div'>(tag: K, testid: string, p: Participant, label: string): [HTMLElementTagNameMap[K], HTMLSpanElement] {
  const row = document.createElement(tag);
  row.className = 'person';
  row.dataset.testid = testid;
  row.dataset.identity = p.identity;
  const name = document.createElement('span');
  name.className = 'person-name';
  name.textContent = label;
  return [row, name];
}

function badge(text: string, kind: string): HTMLSpanElement {
  const b = document.createElement('span');
  b.className = `badge badge-${kind}`;
  b.textContent = text;
  return b;
}

function qualityKey(q: ConnectionQuality): 'excellent' | 'good' | 'poor' | 'lost' | 'unknown' {
  switch (q) {
    case ConnectionQuality.Excellent:
      return 'excellent';
    case ConnectionQuality.Good:
      return 'good';
    case ConnectionQuality.Poor:
      return 'poor';
    case ConnectionQuality.Lost:
      return 'lost';
    default:
      return 'unknown';
  }
}
