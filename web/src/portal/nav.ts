// The portal's top navigation, in the top bar: My meetings, Schedule, Admin (admins only), the
// user's name, the zh/en switch and Sign out. Signed out, only the language switch shows.

import { currentLang, saveLang, setLang, t, type Lang } from '../i18n';
import { signout, type User } from './api';
import { h } from './dom';
import { navigate, rerender } from './router';

export function renderNav(nav: HTMLElement, user: User | null, active: string | undefined): void {
  const link = (name: string, href: string, label: string) =>
    h('a', { href, class: name === active ? 'nav-link active' : 'nav-link', testid: `nav-${name}`, 'aria-current': name === active ? 'page' : undefined }, label);

  const links = user
    ? h(
        'div',
        { class: 'nav-links' },
        link('meetings', '/meetings', t('nav.meetings')),
        link('schedule', '/meetings/new', t('nav.schedule')),
        user.role === 'admin' ? link('admin', '/admin', t('nav.admin')) : null,
      )
    : h('div', { class: 'nav-links' });

  const langButton = (lang: Lang, label: string) =>
    h(
      'button',
      {
        type: 'button',
        class: 'lang-btn',
        testid: `lang-${lang}`,
        'aria-pressed': String(currentLang() === lang),
        onclick: () => {
          setLang(lang);
          saveLang(lang);
          void rerender();
        },
      },
      label,
    );

  const right = h(
    'div',
    { class: 'nav-right' },
    user ? h('span', { class: 'nav-user', testid: 'nav-user', title: user.enterprise_name }, user.username) : null,
    h('div', { class: 'lang-switch', role: 'group', 'aria-label': t('nav.language') }, langButton('zh', '中文'), langButton('en', 'EN')),
    user
      ? h(
          'button',
          {
            type: 'button',
            class: 'btn',
            testid: 'nav-signout',
            onclick: async () => {
              await signout().catch(() => undefined);
              navigate('/signin');
            },
          },
          t('nav.signout'),
        )
      : null,
  );

  // The logo leads home: the user's meetings when signed in, else the join form.
  document.querySelector<HTMLAnchorElement>('.brand')?.setAttribute('href', user ? '/meetings' : '/');
  nav.replaceChildren(links, right);
  nav.hidden = false;
}
