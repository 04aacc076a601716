// The status line in the top bar: one of four connection states plus an optional detail
// (the room name, a disconnect reason, a device error). `data-state` lets tests and CSS read it.

import { t } from './i18n';

export type StatusState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

export function showStatus(state: StatusState, detail?: string): void {
  const el = document.querySelector<HTMLElement>('[data-testid="status"]');
  if (!el) return;
  el.dataset.state = state;
  const text = t(`status.${state}`);
  el.querySelector('.text')!.textContent = detail ? `${text} · ${detail}` : text;
}
