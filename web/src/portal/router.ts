// Client-side routing for the portal pages. The server answers every unknown path with
// index.html, so /signin, /meetings/… and /admin all start here; main.ts hands over when
// isPortalPath() says so, and every other path (/, /j/<code>) stays the join view.
//
// Links to portal paths are followed with history.pushState; a page is a function that fills
// a fresh element, so an answer that arrives after the user moved on lands in a detached node.

import { t, type Key } from '../i18n';
import { currentUser, setUnauthorizedHandler, type User } from './api';
import { h } from './dom';
import { renderNav } from './nav';
import { adminPage } from './admin';
import { meetingPage } from './meeting-page';
import { meetingsPage } from './meetings';
import { schedulePage } from './schedule';
import { signinPage, signupPage } from './signin';

export interface PageContext {
  /** null only on the pages that need no sign-in. */
  user: User | null;
  /** Path parts captured by the route, e.g. the meeting id. */
  params: string[];
  query: URLSearchParams;
}

export type Page = (view: HTMLElement, ctx: PageContext) => void | Promise<void>;

interface Route {
  path: RegExp;
  page: Page;
  title: Key;
  /** Which nav link is highlighted. */
  nav?: 'meetings' | 'schedule' | 'admin';
  access: 'public' | 'user' | 'admin';
}

const routes: Route[] = [
  { path: /^\/signin\/?$/, page: signinPage, title: 'auth.signin', access: 'public' },
  { path: /^\/signup\/?$/, page: signupPage, title: 'auth.signup', access: 'public' },
  { path: /^\/meetings\/?$/, page: meetingsPage, title: 'nav.meetings', nav: 'meetings', access: 'user' },
  { path: /^\/meetings\/new\/?$/, page: schedulePage, title: 'nav.schedule', nav: 'schedule', access: 'user' },
  { path: /^\/meetings\/([^/]+)\/edit\/?$/, page: schedulePage, title: 'schedule.editTitle', nav: 'meetings', access: 'user' },
  { path: /^\/meetings\/([^/]+)\/?$/, page: meetingPage, title: 'meeting.title', nav: 'meetings', access: 'user' },
  { path: /^\/admin\/?$/, page: adminPage, title: 'nav.admin', nav: 'admin', access: 'admin' },
];

export function isPortalPath(pathname: string): boolean {
  return routes.some((r) => r.path.test(pathname));
}

let els: { nav: HTMLElement; view: HTMLElement } | undefined;

/** Takes over the page: hides the join view, shows the nav, and renders the current path. */
export async function startPortal(nav: HTMLElement, view: HTMLElement): Promise<void> {
  els = { nav, view };
  setUnauthorizedHandler(() => navigate(signinPath(), { replace: true }));
  document.addEventListener('click', followLink);
  window.addEventListener('popstate', () => void render());
  await render();
}

export function navigate(path: string, opts: { replace?: boolean } = {}): void {
  const url = new URL(path, location.href);
  if (!isPortalPath(url.pathname)) {
    location.assign(url.href);
    return;
  }
  if (opts.replace) history.replaceState(null, '', url.href);
  else history.pushState(null, '', url.href);
  void render();
}

/** Renders the current path again, e.g. after the language changed. */
export function rerender(): Promise<void> {
  return render();
}

/** /signin, remembering where the user wanted to go. */
function signinPath(): string {
  return `/signin?next=${encodeURIComponent(location.pathname + location.search + location.hash)}`;
}

async function render(): Promise<void> {
  if (!els) return;
  const route = routes.find((r) => r.path.test(location.pathname));
  if (!route) {
    location.reload();
    return;
  }
  const user = await currentUser();
  if (route.access !== 'public' && !user) {
    navigate(signinPath(), { replace: true });
    return;
  }
  document.title = `${t(route.title)} · ${t('app.title')}`;
  renderNav(els.nav, user, route.nav);
  const view = h('div', { class: 'page', 'data-page': route.title });
  els.view.replaceChildren(view);
  if (route.access === 'admin' && user?.role !== 'admin') {
    view.append(h('p', { class: 'error', testid: 'admin-only' }, t('admin.only')));
    return;
  }
  const params = route.path.exec(location.pathname)?.slice(1).map(decodeURIComponent) ?? [];
  try {
    await route.page(view, { user, params, query: new URLSearchParams(location.search) });
  } catch (e) {
    view.append(h('p', { class: 'error', testid: 'page-error', role: 'alert' }, e instanceof Error ? e.message : String(e)));
  }
}

/** Follows a plain click on a link to a portal path without reloading the page. */
function followLink(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.('a');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !isPortalPath(url.pathname)) return;
  e.preventDefault();
  navigate(url.pathname + url.search + url.hash);
}
