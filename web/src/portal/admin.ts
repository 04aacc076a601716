// /admin: the enterprise admin page. Four tabs, the current one kept in the URL's hash
// (#members, #credentials, #webhooks, #statistics); this file holds the tab bar and Members
// (GET /v1/users/list, POST /v1/users, DELETE /v1/users/<userid>).

import { currentLocale, t, tf, type Key } from '../i18n';
import { call, query, type Member, type User } from './api';
import { credentialsTab } from './admin-credentials';
import { statisticsTab } from './admin-stats';
import { webhooksTab } from './admin-webhooks';
import { fill, h } from './dom';
import type { Page } from './router';
import { formatShort } from './tz';
import { errorBox, field, notice, pageHead, pager, row, showError, showNotice, table, unix } from './widgets';

type Tab = (box: HTMLElement, me: User) => void | Promise<void>;

const TABS: [string, Key, Tab][] = [
  ['members', 'admin.members', membersTab],
  ['credentials', 'admin.credentials', credentialsTab],
  ['webhooks', 'admin.webhooks', webhooksTab],
  ['statistics', 'admin.statistics', statisticsTab],
];

export const adminPage: Page = (view, ctx) => {
  const me = ctx.user!;
  const box = h('div', { class: 'tab-body' });
  const buttons = TABS.map(([name, label]) =>
    h('button', { type: 'button', role: 'tab', class: 'tab', testid: `tab-${name}`, onclick: () => show(name) }, t(label)),
  );
  const show = (name: string) => {
    const tab = TABS.find(([n]) => n === name) ?? TABS[0]!;
    history.replaceState(null, '', `#${tab[0]}`);
    buttons.forEach((b, i) => b.setAttribute('aria-selected', String(TABS[i]![0] === tab[0])));
    const body = h('div', { testid: `admin-${tab[0]}` });
    box.replaceChildren(body);
    void tab[2](body, me);
  };
  view.append(
    pageHead(t('admin.title'), h('span', { class: 'muted', testid: 'admin-enterprise' }, me.enterprise_name)),
    h('div', { class: 'tabs', role: 'tablist' }, buttons),
    box,
  );
  show(location.hash.slice(1));
};

const PAGE_SIZE = 20;

function membersTab(box: HTMLElement, me: User): void {
  const list = h('div');
  const listError = errorBox('members-error');
  const load = async (page: number) => {
    try {
      const answer = await call<{ total_count: number; users: Member[] }>('GET', `/v1/users/list${query({ page, page_size: PAGE_SIZE })}`);
      const remove = async (u: Member) => {
        if (!confirm(tf('admin.confirmDelete', { name: u.username || u.userid }))) return;
        try {
          await call('DELETE', `/v1/users/${encodeURIComponent(u.userid)}`);
          await load(page);
        } catch (e) {
          showError(listError, e);
        }
      };
      showError(listError, undefined);
      fill(
        list,
        table(
          'members-table',
          ['admin.userid', 'admin.name', 'auth.email', 'admin.role', 'admin.created', 'common.actions'],
          (answer.users ?? []).map((u) =>
            row({ testid: 'member-row', 'data-userid': u.userid }, [
              u.userid,
              u.username,
              u.email ?? '',
              u.role === 'admin' ? t('admin.roleAdmin') : t('admin.roleMember'),
              createdText(u.create_time),
              u.userid === me.userid
                ? h('span', { class: 'muted' }, t('admin.you'))
                : h('button', { type: 'button', class: 'btn small danger', testid: 'member-delete', onclick: () => remove(u) }, t('common.delete')),
            ]),
          ),
        ),
        pager('members-pager', page, Math.ceil((answer.total_count ?? 0) / PAGE_SIZE), (p) => void load(p)),
      );
    } catch (e) {
      showError(listError, e);
    }
  };

  const userid = h('input', { testid: 'member-userid', maxlength: 64, pattern: '[A-Za-z0-9_.@-]{1,64}', required: true });
  const username = h('input', { testid: 'member-username', maxlength: 64, required: true });
  const email = h('input', { testid: 'member-email', type: 'email' });
  const password = h('input', { testid: 'member-password', type: 'password', autocomplete: 'new-password' });
  const role = h('select', { testid: 'member-role' }, h('option', { value: 'member' }, t('admin.roleMember')), h('option', { value: 'admin' }, t('admin.roleAdmin')));
  const formError = errorBox('member-form-error');
  const done = notice('member-added');
  const form = h(
    'form',
    { class: 'panel form', testid: 'member-form', novalidate: true },
    h('h2', null, t('admin.addMember')),
    h('div', { class: 'form-row' }, field('admin.userid', userid), field('admin.name', username), field('auth.email', email)),
    h('div', { class: 'form-row' }, field('auth.password', password, t('admin.passwordHint')), field('admin.role', role)),
    formError,
    done,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', testid: 'member-submit' }, t('admin.addMember'))),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    showError(formError, undefined);
    showNotice(done, undefined);
    try {
      if (!userid.value.trim() || !username.value.trim()) throw new Error(t('admin.needUser'));
      await call('POST', '/v1/users', {
        userid: userid.value.trim(),
        username: username.value.trim(),
        email: email.value.trim() || undefined,
        password: password.value || undefined,
        role: role.value,
      });
      showNotice(done, tf('admin.memberAdded', { name: username.value.trim() }));
      form.reset();
      await load(1);
    } catch (err) {
      showError(formError, err);
    }
  });

  box.append(h('section', { class: 'panel' }, h('h2', null, t('admin.members')), listError, list), form);
  void load(1);
}

/** Tencent's `create_time` may be unix seconds or already a date text. */
function createdText(v: string | number | undefined): string {
  const n = unix(v);
  return Number.isNaN(n) ? String(v ?? '') : formatShort(n, '', currentLocale());
}
