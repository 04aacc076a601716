// The chat panel: group and private messages over LiveKit's own chat channels, with the
// history the server keeps (GET /api/chat, with this participant's access token) for a late
// joiner and after a reconnect. Public messages go out with livekit-client's `sendChatMessage`;
// private ones as JSON on the `lk-chat-topic` topic with destination identities (the form
// LiveKit's chat components use), since `sendChatMessage` has no recipients. The server applies
// the host's chat rule to both and stamps their time (docs/protocol.md, "In-meeting messages").

import { RoomEvent, type Participant, type Room } from 'livekit-client';
import { t, tf, currentLocale, type Key } from '../i18n';

export const CHAT_TOPIC = 'lk-chat-topic';
const MAX_CHARS = 4000;

export interface ChatLine {
  id: string;
  from: string;
  fromName: string;
  /** Recipients' identities; empty for everyone. */
  to: string[];
  text: string;
  at: number;
}

interface HistoryAnswer {
  messages?: { id: string; from: string; from_name: string; to: string[]; text: string; sent_at_ms: number }[];
}

export class ChatPanel {
  readonly el: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly input: HTMLTextAreaElement;
  private readonly target: HTMLSelectElement;
  private readonly notice: HTMLParagraphElement;
  private readonly lines = new Map<string, ChatLine>();
  /** Called with each message from someone else, for the unread badge and the toast. */
  onIncoming: (line: ChatLine) => void = () => undefined;

  constructor(
    private readonly room: Room,
    private readonly token: () => string,
    exportUrl: string | undefined,
  ) {
    this.el = document.createElement('section');
    this.el.className = 'panel chat-panel';
    this.el.dataset.testid = 'chat-panel';
    this.el.setAttribute('aria-label', t('chat.title'));
    const head = document.createElement('h2');
    head.textContent = t('chat.title');
    this.list = document.createElement('ol');
    this.list.className = 'chat-list';
    this.list.dataset.testid = 'chat-list';
    this.list.setAttribute('aria-live', 'polite');
    this.notice = document.createElement('p');
    this.notice.className = 'hint';
    this.notice.hidden = true;

    const form = document.createElement('form');
    form.className = 'chat-form';
    const toLabel = document.createElement('label');
    toLabel.className = 'chat-to';
    toLabel.textContent = `${t('chat.to')} `;
    this.target = document.createElement('select');
    this.target.dataset.testid = 'chat-to';
    toLabel.append(this.target);
    this.input = document.createElement('textarea');
    this.input.rows = 2;
    this.input.maxLength = MAX_CHARS;
    this.input.placeholder = t('chat.placeholder');
    this.input.setAttribute('aria-label', t('chat.placeholder'));
    this.input.dataset.testid = 'chat-input';
    const send = document.createElement('button');
    send.type = 'submit';
    send.className = 'primary';
    send.textContent = t('chat.send');
    send.dataset.testid = 'chat-send';
    form.append(toLabel, this.input, send);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.send();
    });
    // Enter sends; Shift+Enter is a new line.
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.send();
      }
    });
    this.el.append(head, this.list, this.notice, form);
    if (exportUrl) {
      const a = document.createElement('a');
      a.href = exportUrl;
      a.textContent = t('chat.export');
      a.className = 'hint-link';
      a.download = '';
      this.el.append(a);
    }
    this.wire();
    this.syncRecipients();
    this.render();
  }

  private wire(): void {
    this.room
      .on(RoomEvent.ChatMessage, (msg, participant?: Participant) => {
        if (!participant || participant.isLocal) return;
        this.add({ id: msg.id, from: participant.identity, fromName: participant.name || participant.identity, to: [], text: msg.message, at: msg.timestamp }, true);
      })
      .on(RoomEvent.DataReceived, (payload: Uint8Array, participant?: Participant, _kind?: unknown, topic?: string) => {
        if (topic !== CHAT_TOPIC || !participant) return;
        try {
          const m = JSON.parse(new TextDecoder().decode(payload)) as { id?: string; message?: string; timestamp?: number; to?: string[] };
          if (typeof m.message !== 'string') return;
          const to = Array.isArray(m.to) ? m.to.filter((x) => typeof x === 'string') : [];
          this.add({ id: m.id || `${participant.identity}-${Date.now()}`, from: participant.identity, fromName: participant.name || participant.identity, to, text: m.message, at: Date.now() }, true);
        } catch {
          /* not our JSON: ignore */
        }
      })
      .on(RoomEvent.ParticipantConnected, () => this.syncRecipients())
      .on(RoomEvent.ParticipantDisconnected, () => this.syncRecipients())
      .on(RoomEvent.ParticipantNameChanged, () => this.syncRecipients())
      .on(RoomEvent.Reconnected, () => void this.loadHistory());
  }

  /** Fetches what the server kept and merges it in (by message id). */
  async loadHistory(): Promise<void> {
    try {
      const res = await fetch('/api/chat', { headers: { Authorization: `Bearer ${this.token()}` } });
      if (!res.ok) return;
      const answer = (await res.json()) as HistoryAnswer;
      for (const m of answer.messages ?? []) {
        this.add({ id: m.id, from: m.from, fromName: m.from_name, to: m.to, text: m.text, at: m.sent_at_ms }, false);
      }
    } catch {
      /* history is a convenience: live chat still works */
    }
  }

  /** The host's chat rule (0 to 3), as the live controls report it; shown as a notice. */
  setRule(rule: number): void {
    this.notice.hidden = rule === 0;
    if (rule !== 0) this.notice.textContent = tf('chat.limited', { rule: t(`chatRule.${rule}` as Key) });
  }

  syncRecipients(): void {
    const chosen = this.target.value;
    const options = [new Option(t('chat.everyone'), '')];
    for (const p of this.room.remoteParticipants.values()) options.push(new Option(p.name || p.identity, p.identity));
    this.target.replaceChildren(...options);
    this.target.value = options.some((o) => o.value === chosen) ? chosen : '';
  }

  private async send(): Promise<void> {
    const text = this.input.value.trim();
    if (!text) return;
    if (text.length > MAX_CHARS) {
      this.notice.hidden = false;
      this.notice.textContent = t('chat.tooLong');
      return;
    }
    const lp = this.room.localParticipant;
    const to = this.target.value ? [this.target.value] : [];
    this.input.value = '';
    let id: string;
    if (to.length === 0) {
      id = (await lp.sendChatMessage(text)).id;
    } else {
      id = randomId();
      const body = JSON.stringify({ id, timestamp: Date.now(), message: text, to });
      await lp.publishData(new TextEncoder().encode(body), { reliable: true, topic: CHAT_TOPIC, destinationIdentities: to });
    }
    this.add({ id, from: lp.identity, fromName: lp.name || lp.identity, to, text, at: Date.now() }, false);
  }

  private add(line: ChatLine, live: boolean): void {
    const known = this.lines.get(line.id);
    // The server's copy wins: its time is the one everyone shares.
    this.lines.set(line.id, known && !live ? { ...known, at: line.at, to: line.to.length ? line.to : known.to } : known ?? line);
    if (!known && live) this.onIncoming(line);
    this.render();
  }

  private render(): void {
    const lines = [...this.lines.values()].sort((a, b) => a.at - b.at);
    if (lines.length === 0) {
      const empty = document.createElement('li');
      empty.className = 'hint';
      empty.textContent = t('chat.empty');
      this.list.replaceChildren(empty);
      return;
    }
    const me = this.room.localParticipant.identity;
    const nameOf = (identity: string) => {
      const p = identity === me ? this.room.localParticipant : this.room.remoteParticipants.get(identity);
      return p?.name || identity;
    };
    const fmt = new Intl.DateTimeFormat(currentLocale(), { hour: '2-digit', minute: '2-digit' });
    this.list.replaceChildren(
      ...lines.map((l) => {
        const li = document.createElement('li');
        li.className = 'chat-line';
        li.dataset.testid = 'chat-line';
        li.classList.toggle('mine', l.from === me);
        li.classList.toggle('private', l.to.length > 0);
        const meta = document.createElement('div');
        meta.className = 'chat-meta';
        const who = l.from === me ? `${l.fromName} ${t('people.you')}` : l.fromName;
        const whom = l.to.length ? ` → ${l.to.map(nameOf).join(', ')} (${t('chat.private')})` : '';
        meta.textContent = `${who}${whom} · ${fmt.format(new Date(l.at))}`;
        const body = document.createElement('div');
        body.className = 'chat-text';
        body.textContent = l.text;
        li.append(meta, body);
        return li;
      }),
    );
    this.list.scrollTop = this.list.scrollHeight;
  }
}

function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
}
