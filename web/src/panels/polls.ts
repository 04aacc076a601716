// The polls panel ("1-minute surveys"): hosts and co-hosts draft single- and multiple-choice
// questions, launch and close them; everyone votes once and sees the results live when the
// poll shows them. Requests go to /api/polls with this participant's access token (the server
// checks the role and the one-ballot rule); the server announces every change on the
// `huiyi.poll` data topic, so the panel only listens (docs/protocol.md, "Polls").

import { RoomEvent, type Participant, type Room } from 'livekit-client';
import { t, tf, tryT, type Key } from '../i18n';
import { roleOf } from './people';

export const POLL_TOPIC = 'huiyi.poll';
const MAX_QUESTIONS = 10;
const MAX_OPTIONS = 10;

export interface Question {
  text: string;
  multiple: boolean;
  options: string[];
}

export interface PollView {
  id: string;
  title: string;
  questions: Question[];
  anonymous: boolean;
  show_results: boolean;
  state: 'draft' | 'live' | 'closed';
  created_by: string;
  created_at: number;
  launched_at?: number | null;
  closed_at?: number | null;
  results?: { voters: number; counts: number[][]; ballots?: { name: string; answers: number[][] }[] };
  my_answers?: number[][];
}

interface Refusal {
  code?: string;
  message?: string;
}

export class PollError extends Error {}

/** Sorts polls: the live one first, then drafts, then closed ones, newest first. */
export function ordered(polls: PollView[]): PollView[] {
  const rank = { live: 0, draft: 1, closed: 2 } as const;
  return [...polls].sort((a, b) => rank[a.state] - rank[b.state] || b.created_at - a.created_at);
}

/** The share of `count` in `total`, as a whole percentage (0 when nobody voted). */
export function percent(count: number, total: number): number {
  return total > 0 ? Math.round((100 * count) / total) : 0;
}

export class PollsPanel {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private readonly notice: HTMLParagraphElement;
  private readonly polls = new Map<string, PollView>();
  /** The draft being written (a new poll, or an existing draft's id). */
  private editing: { id?: string; draft: { title: string; questions: Question[]; anonymous: boolean; show_results: boolean } } | undefined;
  /** Choices made in a ballot not yet sent, by poll: announcements re-render the panel, and
   * must not wipe what someone is choosing. */
  private readonly choosing = new Map<string, Set<string>>();
  /** Called when a poll goes live, for the toast and the badge. */
  onLaunched: (poll: PollView) => void = () => undefined;

  constructor(
    private readonly room: Room,
    private readonly token: () => string,
    private readonly exportUrl: string | undefined,
  ) {
    this.el = document.createElement('section');
    this.el.className = 'panel polls-panel';
    this.el.dataset.testid = 'polls-panel';
    this.el.setAttribute('aria-label', t('polls.title'));
    const head = document.createElement('h2');
    head.textContent = t('polls.title');
    this.notice = document.createElement('p');
    this.notice.className = 'hint error-text';
    this.notice.setAttribute('role', 'alert');
    this.notice.hidden = true;
    this.body = document.createElement('div');
    this.body.className = 'polls-body';
    this.el.append(head, this.notice, this.body);
    this.room
      .on(RoomEvent.DataReceived, (payload: Uint8Array, participant?: Participant, _kind?: unknown, topic?: string) => {
        // The server's announcements have no participant; anyone else's would be dropped by it.
        if (topic !== POLL_TOPIC || participant) return;
        try {
          const m = JSON.parse(new TextDecoder().decode(payload)) as { type?: string; poll?: PollView };
          if (m.type === 'poll' && m.poll?.id) this.merge(m.poll, true);
        } catch {
          /* not an announcement */
        }
      })
      .on(RoomEvent.ParticipantAttributesChanged, (_changed, p) => {
        if (p.isLocal) void this.load();
      })
      .on(RoomEvent.Reconnected, () => void this.load());
    this.render();
  }

  get live(): PollView | undefined {
    return [...this.polls.values()].find((p) => p.state === 'live');
  }

  private get host(): boolean {
    return roleOf(this.room.localParticipant) !== undefined;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T | undefined> {
    const res = await fetch(path, {
      method,
      headers: { Authorization: `Bearer ${this.token()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status === 204) return undefined;
    const answer = (await res.json().catch(() => ({}))) as T & Refusal;
    if (!res.ok) {
      throw new PollError(tryT(`polls.error.${answer.code ?? ''}`) ?? answer.message ?? `HTTP ${res.status}`);
    }
    return answer;
  }

  /** Reads the meeting's polls (on joining, after a reconnect, when this participant's role changes). */
  async load(): Promise<void> {
    try {
      const answer = await this.call<{ polls: PollView[] }>('GET', '/api/polls');
      this.polls.clear();
      for (const p of answer?.polls ?? []) this.merge(p, false);
    } catch {
      /* the panel shows what announcements bring */
    }
    this.render();
  }

  private merge(poll: PollView, announced: boolean): void {
    const known = this.polls.get(poll.id);
    // Announcements carry no ballot of one's own: keep the one we know.
    const mine = poll.my_answers ?? known?.my_answers;
    this.polls.set(poll.id, { ...poll, my_answers: mine });
    if (announced && poll.state === 'live' && known?.state !== 'live') this.onLaunched(poll);
    this.render();
  }

  private async act(action: () => Promise<void>): Promise<void> {
    this.notice.hidden = true;
    try {
      await action();
    } catch (e) {
      this.notice.hidden = false;
      this.notice.textContent = e instanceof Error ? e.message : String(e);
    }
    this.render();
  }

  private newDraft(): void {
    this.editing = { draft: { title: '', questions: [{ text: '', multiple: false, options: ['', ''] }], anonymous: false, show_results: true } };
    this.render();
  }

  render(): void {
    const parts: HTMLElement[] = [];
    if (this.host && !this.editing) {
      const add = button(t('polls.new'), 'primary small', 'poll-new');
      add.onclick = () => this.newDraft();
      parts.push(add);
    }
    if (this.editing) parts.push(this.editor());
    const polls = ordered([...this.polls.values()]);
    if (polls.length === 0 && !this.editing) parts.push(hint(this.host ? t('polls.emptyHost') : t('polls.empty')));
    for (const p of polls) parts.push(this.card(p));
    if (this.host && this.exportUrl && polls.some((p) => p.state !== 'draft')) {
      const a = document.createElement('a');
      a.href = this.exportUrl;
      a.download = '';
      a.className = 'hint-link';
      a.textContent = t('polls.export');
      parts.push(a);
    }
    this.body.replaceChildren(...parts);
  }

  private card(p: PollView): HTMLElement {
    const card = document.createElement('article');
    card.className = `poll-card poll-${p.state}`;
    card.dataset.testid = 'poll-card';
    card.dataset.state = p.state;
    const title = document.createElement('h3');
    title.textContent = p.title;
    const meta = document.createElement('p');
    meta.className = 'hint';
    const facts = [t(`polls.state.${p.state}` as Key)];
    if (p.anonymous) facts.push(t('polls.anonymous'));
    if (p.results) facts.push(tf('polls.voters', { n: String(p.results.voters) }));
    meta.textContent = facts.join(' · ');
    card.append(title, meta);
    const canVote = p.state === 'live' && !p.my_answers;
    if (canVote) card.append(this.ballotForm(p));
    // Hosts follow the results while they are still to vote themselves.
    if (p.results && (!canVote || this.host)) card.append(results(p));
    else if (p.state === 'draft') card.append(questionsPreview(p));
    else if (!canVote) card.append(hint(p.my_answers ? t('polls.thanks') : t('polls.resultsHidden')));
    if (p.my_answers && p.state === 'live') card.append(hint(t('polls.voted')));
    if (this.host) card.append(this.hostActions(p));
    return card;
  }

  private ballotForm(p: PollView): HTMLElement {
    const form = document.createElement('form');
    form.className = 'poll-ballot';
    form.dataset.testid = 'poll-ballot';
    p.questions.forEach((q, qi) => {
      const set = document.createElement('fieldset');
      const legend = document.createElement('legend');
      legend.textContent = `${qi + 1}. ${q.text}${q.multiple ? ` (${t('polls.multiple')})` : ''}`;
      set.append(legend);
      q.options.forEach((o, oi) => {
        const label = document.createElement('label');
        const input = document.createElement('input');
        input.type = q.multiple ? 'checkbox' : 'radio';
        input.name = `q${qi}`;
        input.value = String(oi);
        input.dataset.testid = 'poll-option';
        const key = `${qi}:${oi}`;
        const chosen = this.choosing.get(p.id) ?? new Set<string>();
        input.checked = chosen.has(key);
        input.onchange = () => {
          // A radio button's neighbours are cleared by the browser; mirror the whole question.
          for (const other of form.querySelectorAll<HTMLInputElement>(`input[name="q${qi}"]`)) {
            chosen.delete(`${qi}:${other.value}`);
            if (other.checked) chosen.add(`${qi}:${other.value}`);
          }
          this.choosing.set(p.id, chosen);
        };
        label.append(input, ` ${o}`);
        set.append(label);
      });
      form.append(set);
    });
    const submit = button(t('polls.submit'), 'primary small', 'poll-submit');
    submit.type = 'submit';
    form.append(submit);
    form.onsubmit = (e) => {
      e.preventDefault();
      const answers = p.questions.map((_, qi) => [...form.querySelectorAll<HTMLInputElement>(`input[name="q${qi}"]:checked`)].map((i) => Number(i.value)));
      if (answers.some((a) => a.length === 0)) {
        this.notice.hidden = false;
        this.notice.textContent = t('polls.answerAll');
        return;
      }
      void this.act(async () => {
        const mine = await this.call<PollView>('POST', `/api/polls/${encodeURIComponent(p.id)}/votes`, { answers });
        this.choosing.delete(p.id);
        if (mine) this.merge(mine, false);
      });
    };
    return form;
  }

  private hostActions(p: PollView): HTMLElement {
    const row = document.createElement('div');
    row.className = 'poll-actions';
    const path = `/api/polls/${encodeURIComponent(p.id)}`;
    const act = (label: string, testid: string, cls: string, run: () => Promise<void>) => {
      const b = button(label, cls, testid);
      b.onclick = () => void this.act(run);
      row.append(b);
    };
    const refresh = async (view: PollView | undefined) => {
      if (view) this.merge(view, false);
    };
    if (p.state === 'draft') {
      act(t('polls.launch'), 'poll-launch', 'primary small', async () => refresh(await this.call<PollView>('POST', `${path}/launch`)));
      act(t('polls.edit'), 'poll-edit', 'small', async () => {
        this.editing = { id: p.id, draft: { title: p.title, questions: structuredClone(p.questions), anonymous: p.anonymous, show_results: p.show_results } };
      });
      act(t('polls.delete'), 'poll-delete', 'small', async () => {
        await this.call('DELETE', path);
        this.polls.delete(p.id);
      });
    } else if (p.state === 'live') {
      act(t('polls.close'), 'poll-close', 'small danger', async () => refresh(await this.call<PollView>('POST', `${path}/close`)));
    }
    return row;
  }

  private editor(): HTMLElement {
    const editing = this.editing!;
    const d = editing.draft;
    const form = document.createElement('form');
    form.className = 'poll-editor';
    form.dataset.testid = 'poll-editor';
    const title = input(d.title, t('polls.pollTitle'), 'poll-title', 200, (v) => (d.title = v));
    form.append(labelled(t('polls.pollTitle'), title));
    d.questions.forEach((q, qi) => {
      const set = document.createElement('fieldset');
      set.className = 'poll-question';
      const legend = document.createElement('legend');
      legend.textContent = tf('polls.question', { n: String(qi + 1) });
      set.append(legend, input(q.text, t('polls.questionText'), 'poll-question', 300, (v) => (q.text = v)));
      q.options.forEach((o, oi) => {
        const row = document.createElement('div');
        row.className = 'poll-option-row';
        row.append(input(o, tf('polls.option', { n: String(oi + 1) }), 'poll-option-text', 100, (v) => (q.options[oi] = v)));
        if (q.options.length > 2) {
          const remove = button('×', 'small', 'poll-option-remove');
          remove.setAttribute('aria-label', t('polls.removeOption'));
          remove.onclick = () => {
            q.options.splice(oi, 1);
            this.render();
          };
          row.append(remove);
        }
        set.append(row);
      });
      const tools = document.createElement('div');
      tools.className = 'poll-actions';
      if (q.options.length < MAX_OPTIONS) {
        const addOption = button(t('polls.addOption'), 'small', 'poll-add-option');
        addOption.onclick = () => {
          q.options.push('');
          this.render();
        };
        tools.append(addOption);
      }
      tools.append(checkbox(t('polls.multiple'), q.multiple, 'poll-multiple', (v) => (q.multiple = v)));
      if (d.questions.length > 1) {
        const remove = button(t('polls.removeQuestion'), 'small', 'poll-remove-question');
        remove.onclick = () => {
          d.questions.splice(qi, 1);
          this.render();
        };
        tools.append(remove);
      }
      set.append(tools);
      form.append(set);
    });
    if (d.questions.length < MAX_QUESTIONS) {
      const addQuestion = button(t('polls.addQuestion'), 'small', 'poll-add-question');
      addQuestion.onclick = () => {
        d.questions.push({ text: '', multiple: false, options: ['', ''] });
        this.render();
      };
      form.append(addQuestion);
    }
    form.append(
      checkbox(t('polls.anonymous'), d.anonymous, 'poll-anonymous', (v) => (d.anonymous = v)),
      checkbox(t('polls.showResults'), d.show_results, 'poll-show-results', (v) => (d.show_results = v)),
    );
    const actions = document.createElement('div');
    actions.className = 'poll-actions';
    const save = button(t('polls.save'), 'primary small', 'poll-save');
    save.type = 'submit';
    const cancel = button(t('common.cancel'), 'small', 'poll-cancel');
    cancel.onclick = () => {
      this.editing = undefined;
      this.render();
    };
    actions.append(save, cancel);
    form.append(actions);
    form.onsubmit = (e) => {
      e.preventDefault();
      void this.act(async () => {
        const saved = editing.id
          ? await this.call<PollView>('PUT', `/api/polls/${encodeURIComponent(editing.id)}`, d)
          : await this.call<PollView>('POST', '/api/polls', d);
        this.editing = undefined;
        if (saved) this.merge(saved, false);
      });
    };
    return form;
  }
}

function button(text: string, className: string, testid: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = text;
  b.dataset.testid = testid;
  return b;
}

function hint(text: string): HTMLParagraphElement {
  const p = document.createElement('p');
  p.className = 'hint';
  p.textContent = text;
  return p;
}

function input(value: string, label: string, testid: string, max: number, set: (v: string) => void): HTMLInputElement {
  const i = document.createElement('input');
  i.value = value;
  i.placeholder = label;
  i.maxLength = max;
  i.required = true;
  i.setAttribute('aria-label', label);
  i.dataset.testid = testid;
  i.oninput = () => set(i.value);
  return i;
}

function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  const l = document.createElement('label');
  l.className = 'poll-field';
  l.append(text, control);
  return l;
}

function checkbox(text: string, checked: boolean, testid: string, set: (v: boolean) => void): HTMLLabelElement {
  const l = document.createElement('label');
  l.className = 'poll-check';
  const c = document.createElement('input');
  c.type = 'checkbox';
  c.checked = checked;
  c.dataset.testid = testid;
  c.onchange = () => set(c.checked);
  l.append(c, ` ${text}`);
  return l;
}

function questionsPreview(p: PollView): HTMLElement {
  const ol = document.createElement('ol');
  ol.className = 'poll-preview';
  for (const q of p.questions) {
    const li = document.createElement('li');
    li.textContent = `${q.text} — ${q.options.join(' / ')}`;
    ol.append(li);
  }
  return ol;
}

function results(p: PollView): HTMLElement {
  const r = p.results!;
  const wrap = document.createElement('div');
  wrap.className = 'poll-results';
  wrap.dataset.testid = 'poll-results';
  p.questions.forEach((q, qi) => {
    const h = document.createElement('h4');
    h.textContent = `${qi + 1}. ${q.text}`;
    wrap.append(h);
    q.options.forEach((o, oi) => {
      const count = r.counts[qi]?.[oi] ?? 0;
      const share = percent(count, r.voters);
      const row = document.createElement('div');
      row.className = 'poll-result';
      row.dataset.testid = 'poll-result';
      const mine = p.my_answers?.[qi]?.includes(oi);
      row.classList.toggle('mine', !!mine);
      const label = document.createElement('span');
      label.className = 'poll-result-label';
      label.textContent = `${o}${mine ? ' ✓' : ''}`;
      const bar = document.createElement('span');
      bar.className = 'poll-bar';
      bar.style.setProperty('--share', `${share}%`);
      bar.setAttribute('role', 'img');
      bar.setAttribute('aria-label', `${share}%`);
      const figure = document.createElement('span');
      figure.className = 'poll-figure';
      figure.textContent = `${count} · ${share}%`;
      row.append(label, bar, figure);
      wrap.append(row);
    });
  });
  if (r.ballots && r.ballots.length) {
    const details = document.createElement('details');
    const summary = document.createElement('summary');
    summary.textContent = t('polls.whoVoted');
    const list = document.createElement('ul');
    for (const b of r.ballots) {
      const li = document.createElement('li');
      li.textContent = `${b.name}: ${b.answers.map((a, qi) => a.map((o) => p.questions[qi]?.options[o] ?? '?').join(', ')).join(' | ')}`;
      list.append(li);
    }
    details.append(summary, list);
    wrap.append(details);
  }
  return wrap;
}
