// /signin and /signup: the two account forms. Signing up creates a new enterprise with this
// person as its admin. Both go on to `?next=` (a portal or join path) or /meetings.

import { t, type Key } from '../i18n';
import { signin, signup } from './api';
import { h } from './dom';
import { navigate, type Page } from './router';
import { errorBox, field, showError } from './widgets';

/** Where to go after signing in: `next` when it is a path on this site, else /meetings. */
function nextPath(query: URLSearchParams): string {
  const next = query.get('next') ?? '';
  return next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/signin') && !next.startsWith('/signup')
    ? next
    : '/meetings';
}

function input(testid: string, type: string, autocomplete: string, extra: Record<string, unknown> = {}): HTMLInputElement {
  return h('input', { testid, type, autocomplete, required: true, ...extra });
}

/** The card both forms share: title, fields, error, submit, and a link to the other form. */
function authCard(opts: {
  title: Key;
  fields: HTMLElement[];
  submit: Key;
  testid: string;
  switchText: Key;
  switchLink: Key;
  switchHref: string;
  onSubmit: () => Promise<void>;
}): HTMLElement {
  const error = errorBox(`${opts.testid}-error`);
  const button = h('button', { type: 'submit', class: 'primary', testid: `${opts.testid}-submit` }, t(opts.submit));
  const form = h(
    'form',
    { class: 'card', testid: `${opts.testid}-form`, novalidate: true },
    h('h1', null, t(opts.title)),
    h('p', { class: 'tagline' }, t('app.tagline')),
    opts.fields,
    error,
    button,
    h('p', { class: 'hint' }, t(opts.switchText), ' ', h('a', { href: opts.switchHref }, t(opts.switchLink))),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    showError(error, undefined);
    button.disabled = true;
    try {
      await opts.onSubmit();
    } catch (err) {
      showError(error, err);
    } finally {
      button.disabled = false;
    }
  });
  return h('div', { class: 'auth-view' }, form);
}

export const signinPage: Page = (view, ctx) => {
  if (ctx.user) {
    navigate(nextPath(ctx.query), { replace: true });
    return;
  }
  const email = input('signin-email', 'email', 'username');
  const password = input('signin-password', 'password', 'current-password');
  view.append(
    authCard({
      title: 'auth.signinTitle',
      fields: [field('auth.email', email), field('auth.password', password)],
      submit: 'auth.signin',
      testid: 'signin',
      switchText: 'auth.noAccount',
      switchLink: 'auth.signupLink',
      switchHref: `/signup${location.search}`,
      onSubmit: async () => {
        if (!email.value.trim() || !password.value) throw new Error(t('auth.missing'));
        await signin(email.value.trim(), password.value);
        navigate(nextPath(ctx.query));
      },
    }),
  );
  email.focus();
};

export const signupPage: Page = (view, ctx) => {
  if (ctx.user) {
    navigate(nextPath(ctx.query), { replace: true });
    return;
  }
  const username = input('signup-username', 'text', 'name', { maxlength: 64 });
  const email = input('signup-email', 'email', 'username');
  const password = input('signup-password', 'password', 'new-password', { minlength: 8, maxlength: 128 });
  const enterprise = input('signup-enterprise', 'text', 'organization', { maxlength: 128 });
  view.append(
    authCard({
      title: 'auth.signupTitle',
      fields: [
        field('auth.username', username),
        field('auth.email', email),
        field('auth.password', password, t('auth.passwordRule')),
        field('auth.enterprise', enterprise),
      ],
      submit: 'auth.signup',
      testid: 'signup',
      switchText: 'auth.haveAccount',
      switchLink: 'auth.signinLink',
      switchHref: `/signin${location.search}`,
      onSubmit: async () => {
        if (!username.value.trim() || !email.value.trim() || !enterprise.value.trim()) throw new Error(t('auth.missing'));
        if (password.value.length < 8) throw new Error(t('auth.passwordRule'));
        await signup({
          username: username.value.trim(),
          email: email.value.trim(),
          password: password.value,
          enterprise_name: enterprise.value.trim(),
        });
        navigate(nextPath(ctx.query));
      },
    }),
  );
  username.focus();
};
