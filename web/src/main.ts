// Entry point: picks the language, then hands the page to the portal (/signin, /meetings…,
// /admin; see portal/router.ts) or to the join view (/, /j/<code>; see join.ts).
//
// URL parameters: `lang=zh|en` overrides the saved and the browser language; the join view
// reads more (see join.ts).

import './style.css';
import { currentLang, pickLang, saveLang, savedLang, setLang, t, translateDom } from './i18n';
import { startJoinView } from './join';
import { isPortalPath, startPortal } from './portal/router';

const params = new URLSearchParams(location.search);
setLang(pickLang(params, navigator.language, savedLang()));
translateDom(document);
document.title = t('app.title');

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html lacks #${id}`);
  return el as T;
}

// The join and meeting screens' language switch (the portal has its own in its navigation).
// Before joining it reloads the page in the other language; during a meeting it is hidden,
// since a reload would leave the call.
const langSwitch = byId<HTMLButtonElement>('lang-switch');
langSwitch.textContent = t('lang.switch');
// The accessible name starts with the visible text (WCAG 2.5.3), then says what it does.
langSwitch.setAttribute('aria-label', `${t('lang.switch')} · ${t('nav.language')}`);
langSwitch.onclick = () => {
  saveLang(currentLang() === 'zh' ? 'en' : 'zh');
  const url = new URL(location.href);
  url.searchParams.delete('lang');
  location.href = url.toString();
};

const liveCode = /^\/live\/(\d{9})\/?$/.exec(location.pathname)?.[1];
if (liveCode) {
  // A live meeting's viewer page: no join form, no meeting.
  byId('join-view').hidden = true;
  byId('status').hidden = true;
  const view = byId('live-view');
  view.hidden = false;
  // hls.js is loaded only here, not by every meeting page.
  void import('./live').then((m) => m.startLiveView(view, liveCode));
} else if (isPortalPath(location.pathname)) {
  langSwitch.hidden = true;
  byId('join-view').hidden = true;
  byId('status').hidden = true;
  byId('portal-view').hidden = false;
  document.body.classList.add('portal');
  void startPortal(byId('portal-nav'), byId('portal-view'));
} else {
  startJoinView(params);
}
