// The shared notes panel: one Markdown document per meeting that everyone edits at once,
// CodeMirror bound to a Yjs text (`notes`) synchronised with the server over y-websocket's
// protocol at /api/notes/<room>, with this participant's access token. The server holds the
// authoritative document, stores it, and refuses edits from participants while the host has
// made the notes read-only; it says so in its own awareness entry (`huiyi.readOnly`), which
// this panel follows. Others' cursors show with their names. Loaded on first open, so the
// editor costs nothing to someone who never opens it (docs/protocol.md, "Shared notes").

import type { Room } from 'livekit-client';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next';
import { Compartment, EditorState } from '@codemirror/state';
import { EditorView, keymap, placeholder } from '@codemirror/view';
import { defaultKeymap } from '@codemirror/commands';
import { markdown } from '@codemirror/lang-markdown';
import { t } from '../i18n';
import type { HostApi } from './host-api';
import { roleOf } from './people';

/** The Yjs text the server keeps (and exports as Markdown). */
export const NOTES_TEXT = 'notes';

const COLOURS = ['#f87171', '#fb923c', '#facc15', '#4ade80', '#22d3ee', '#818cf8', '#e879f9'];

/** The read-only flag in the server's awareness entry, if any entry carries one. */
export function readOnlyFrom(states: Map<number, Record<string, unknown>>): boolean {
  for (const state of states.values()) {
    const huiyi = state.huiyi as { readOnly?: unknown } | undefined;
    if (huiyi && typeof huiyi.readOnly === 'boolean') return huiyi.readOnly;
  }
  return false;
}

export class NotesPanel {
  readonly el: HTMLElement;
  private readonly status: HTMLParagraphElement;
  private readonly lock: HTMLLabelElement;
  private readonly lockBox: HTMLInputElement;
  private readonly editorHost: HTMLDivElement;
  private doc!: Y.Doc;
  private provider!: WebsocketProvider;
  private readonly editable = new Compartment();
  private view!: EditorView;
  private readOnly = false;
  /** What the editor was last set to. */
  private mayEdit = true;
  private readonly onRoleChange = () => this.render();

  constructor(
    private readonly room: Room,
    private readonly token: () => string,
    private readonly api: HostApi | undefined,
  ) {
    this.el = document.createElement('section');
    this.el.className = 'panel notes-panel';
    this.el.dataset.testid = 'notes-panel';
    this.el.setAttribute('aria-label', t('notes.title'));
    const head = document.createElement('h2');
    head.textContent = t('notes.title');
    this.status = document.createElement('p');
    this.status.className = 'hint';
    this.status.dataset.testid = 'notes-status';
    this.status.setAttribute('aria-live', 'polite');
    this.lock = document.createElement('label');
    this.lock.className = 'poll-check';
    this.lockBox = document.createElement('input');
    this.lockBox.type = 'checkbox';
    this.lockBox.dataset.testid = 'notes-read-only';
    this.lock.append(this.lockBox, ` ${t('notes.readOnlyControl')}`);
    this.lockBox.onchange = () => void this.setReadOnly(this.lockBox.checked);
    this.editorHost = document.createElement('div');
    this.editorHost.className = 'notes-editor';
    this.editorHost.dataset.testid = 'notes-editor';
    const download = document.createElement('button');
    download.type = 'button';
    download.className = 'small';
    download.dataset.testid = 'notes-download';
    download.textContent = t('notes.download');
    download.onclick = () => void this.download(this.token());
    const tools = document.createElement('div');
    tools.className = 'poll-actions';
    tools.append(this.lock, download);
    this.el.append(head, this.status, tools, this.editorHost);

    this.connect();
    room.on('participantAttributesChanged', this.onRoleChange);
  }

  /** A fresh document, its connection and the editor on it. */
  private connect(): void {
    this.mayEdit = true;
    this.doc = new Y.Doc();
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.provider = new WebsocketProvider(`${scheme}//${location.host}/api/notes`, this.room.name, this.doc, {
      params: { access_token: this.token() },
      // The server's limits close a socket for good reasons; don't hammer it.
      maxBackoffTime: 10_000,
      // Removed from the meeting: no point in knocking again.
      shouldReconnect: (e) => !(e.code === 1008 && e.reason === 'not in the meeting') && !(e.code >= 4400 && e.code < 4500),
    });
    // An edit the server refused (read-only) stays in this document and would poison every
    // later one: start again from the server's copy.
    this.provider.messageHandlers[2] = () => queueMicrotask(() => this.restart());
    const lp = this.room.localParticipant;
    this.provider.awareness.setLocalStateField('user', {
      name: lp.name || lp.identity,
      color: COLOURS[Math.abs(hash(lp.identity)) % COLOURS.length],
    });
    const text = this.doc.getText(NOTES_TEXT);
    this.view = new EditorView({
      parent: this.editorHost,
      state: EditorState.create({
        doc: text.toString(),
        extensions: [
          keymap.of([...yUndoManagerKeymap, ...defaultKeymap]),
          markdown(),
          EditorView.lineWrapping,
          placeholder(t('notes.placeholder')),
          EditorView.contentAttributes.of({ 'aria-label': t('notes.title') }),
          yCollab(text, this.provider.awareness),
          this.editable.of(EditorView.editable.of(true)),
        ],
      }),
    });
    this.provider.on('status', () => {
      // Tokens are refreshed during the meeting; a reconnect carries the newest.
      this.provider.params = { access_token: this.token() };
      this.render();
    });
    this.provider.on('sync', () => this.render());
    this.provider.awareness.on('change', () => this.render());
    this.render();
  }

  private teardown(): void {
    this.provider.destroy();
    this.view.destroy();
    this.doc.destroy();
  }

  private restart(): void {
    console.info('notes: the server refused an edit; starting again from its copy');
    this.teardown();
    this.connect();
  }

  private get host(): boolean {
    return roleOf(this.room.localParticipant) !== undefined;
  }

  private render(): void {
    const states = this.provider.awareness.getStates() as Map<number, Record<string, unknown>>;
    this.readOnly = readOnlyFrom(states);
    const mayEdit = !this.readOnly || this.host;
    if (mayEdit !== this.mayEdit) {
      console.info(`notes: ${mayEdit ? 'editable' : 'read-only'}`);
      this.mayEdit = mayEdit;
      // Awareness changes arrive in the middle of the editor's own updates (its cursor is
      // awareness too): reconfigure after that update, and only on a real change.
      const view = this.view;
      queueMicrotask(() => {
        if (view === this.view) view.dispatch({ effects: this.editable.reconfigure([EditorView.editable.of(this.mayEdit), EditorState.readOnly.of(!this.mayEdit)]) });
      });
    }
    this.editorHost.classList.toggle('locked', !mayEdit);
    this.lock.hidden = !(this.host && this.api);
    this.lockBox.checked = this.readOnly;
    const editors = [...states.values()].filter((s) => s.user).length;
    const parts: string[] = [];
    if (!this.provider.wsconnected) parts.push(t('notes.connecting'));
    else if (!this.provider.synced) parts.push(t('notes.syncing'));
    if (this.readOnly) parts.push(this.host ? t('notes.readOnlyHost') : t('notes.readOnly'));
    if (editors > 1) parts.push(`${t('notes.editors')} ${editors}`);
    this.status.textContent = parts.join(' · ');
    this.status.hidden = parts.length === 0;
  }

  private async setReadOnly(on: boolean): Promise<void> {
    try {
      await this.api?.notesReadOnly(on);
    } catch (e) {
      this.status.hidden = false;
      this.status.textContent = e instanceof Error ? e.message : String(e);
    }
  }

  private async download(token: string): Promise<void> {
    const res = await fetch('/api/notes.md', { headers: { Authorization: `Bearer ${token}` } });
    if (!res.ok) return;
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = `notes-${this.room.name}.md`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  destroy(): void {
    this.room.off('participantAttributesChanged', this.onRoleChange);
    this.teardown();
  }
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return h;
}
