// Building blocks shared by the portal pages: labelled fields, error and notice boxes, tables,
// a pager, a copy button and status badges. Every visible string comes through t().

import { t, tf, type Key } from '../i18n';
import type { MeetingStatus } from './api';
import { h, type Children } from './dom';

/** A label over its control, like the join card's fields. */
export function field(label: Key, control: HTMLElement, hint?: Children): HTMLLabelElement {
  return h('label', { class: 'field' }, h('span', null, t(label)), control, hint ? h('small', { class: 'hint' }, hint) : null);
}

export function errorBox(testid: string): HTMLParagraphElement {
  return h('p', { class: 'error', testid, role: 'alert', hidden: true });
}

/** Shows `e`'s message (an ApiError carries the server's) in `box`, or hides the box. */
export function showError(box: HTMLElement, e: unknown): void {
  const message = e === undefined ? '' : e instanceof Error ? e.message : String(e);
  box.textContent = message;
  box.hidden = !message;
}

export function notice(testid: string): HTMLParagraphElement {
  return h('p', { class: 'notice', testid, role: 'status', hidden: true });
}

export function showNotice(box: HTMLElement, message: string | undefined): void {
  box.textContent = message ?? '';
  box.hidden = !message;
}

/** A table with a header row, or a muted line when there are no rows. */
export function table(testid: string, headers: Key[], rows: HTMLTableRowElement[], empty: Key = 'common.none'): HTMLElement {
  if (!rows.length) return h('p', { class: 'empty', testid: `${testid}-empty` }, t(empty));
  return h(
    'div',
    { class: 'table-wrap' },
    h('table', { class: 'table', testid }, h('thead', null, h('tr', null, headers.map((k) => h('th', null, t(k))))), h('tbody', null, rows)),
  );
}

export function row(attrs: Record<string, unknown>, cells: Children[]): HTMLTableRowElement {
  return h('tr', attrs, cells.map((c) => h('td', null, c)));
}

/** "Page 2 of 5" with previous and next buttons; nothing when everything fits on one page. */
export function pager(testid: string, page: number, totalPages: number, go: (page: number) => void): HTMLElement | null {
  if (totalPages <= 1) return null;
  return h(
    'div',
    { class: 'pager', testid },
    h('button', { type: 'button', class: 'btn', disabled: page <= 1, onclick: () => go(page - 1), testid: `${testid}-prev` }, t('common.prev')),
    h('span', null, tf('common.pageOf', { page, pages: totalPages })),
    h('button', { type: 'button', class: 'btn', disabled: page >= totalPages, onclick: () => go(page + 1), testid: `${testid}-next` }, t('common.next')),
  );
}

/** A button that copies `text()` and says so for a moment. */
export function copyButton(testid: string, text: () => string): HTMLButtonElement {
  const btn = h('button', { type: 'button', class: 'btn', testid }, t('common.copy'));
  btn.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text());
    } catch {
      // Clipboard API refused (plain http on a LAN address): the old way still works there.
      const area = h('textarea', { class: 'offscreen' }, text());
      document.body.append(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    btn.textContent = t('common.copied');
    setTimeout(() => (btn.textContent = t('common.copy')), 1500);
  });
  return btn;
}

const statusKeys: Record<MeetingStatus, Key> = {
  MEETING_STATE_INIT: 'mstatus.init',
  MEETING_STATE_STARTED: 'mstatus.started',
  MEETING_STATE_ENDED: 'mstatus.ended',
  MEETING_STATE_CANCELLED: 'mstatus.cancelled',
};

export function statusBadge(status: MeetingStatus | undefined): HTMLElement | null {
  if (!status) return null;
  const key = statusKeys[status];
  return h('span', { class: `badge badge-${status.replace('MEETING_STATE_', '').toLowerCase()}`, testid: 'meeting-status', 'data-status': status }, key ? t(key) : status);
}

/** A page's title row: the heading and, on the right, its actions. */
export function pageHead(title: Children, ...actions: Children[]): HTMLElement {
  return h('div', { class: 'page-head' }, h('h1', null, title), h('div', { class: 'actions' }, actions));
}

export function section(title: Key, testid: string, ...children: Children[]): HTMLElement {
  return h('section', { class: 'panel', testid }, h('h2', null, t(title)), ...children);
}

/** Unix seconds (a number or a string of digits) to a number; NaN when absent. */
export function unix(v: string | number | null | undefined): number {
  return v === null || v === undefined || v === '' ? NaN : Number(v);
}
