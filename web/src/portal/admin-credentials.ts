// Admin tab "App credentials": the enterprise's API keys for signed /v1 requests. Creating one
// shows its SecretKey once (the server never lists it again); revoking one makes requests
// signed with it fail.

import { currentLocale, t } from '../i18n';
import { call, type Credential, type User } from './api';
import { h } from './dom';
import { formatShort } from './tz';
import { copyButton, errorBox, field, row, showError, table } from './widgets';

export function credentialsTab(box: HTMLElement, _me: User): void {
  const list = h('div');
  const error = errorBox('credentials-error');
  const fresh = h('div');
  const locale = currentLocale();

  const load = async () => {
    try {
      const answer = await call<{ credentials: Credential[] }>('GET', '/v1/credentials');
      list.replaceChildren(
        table(
          'credentials-table',
          ['admin.appId', 'admin.sdkId', 'admin.secretId', 'admin.created', 'admin.state', 'common.actions'],
          (answer.credentials ?? []).map((c) =>
            row({ testid: 'credential-row', 'data-secret-id': c.secret_id, 'data-revoked': String(Boolean(c.revoked_at)) }, [
              c.app_id,
              c.sdk_id,
              h('code', null, c.secret_id),
              formatShort(c.created_at, '', locale),
              c.revoked_at
                ? h('span', { class: 'badge badge-cancelled' }, `${t('admin.revoked')} ${formatShort(c.revoked_at, '', locale)}`)
                : h('span', { class: 'badge badge-started' }, t('admin.active')),
              c.revoked_at ? '' : h('button', { type: 'button', class: 'btn small danger', testid: 'credential-revoke', onclick: () => revoke(c) }, t('admin.revoke')),
            ]),
          ),
        ),
      );
    } catch (e) {
      showError(error, e);
    }
  };

  const revoke = async (c: Credential) => {
    if (!confirm(t('admin.confirmRevoke'))) return;
    try {
      await call('DELETE', `/v1/credentials/${encodeURIComponent(c.secret_id)}`);
      await load();
    } catch (e) {
      showError(error, e);
    }
  };

  const sdkId = h('input', { testid: 'credential-sdk-id', maxlength: 64 });
  const create = async (e: Event) => {
    e.preventDefault();
    showError(error, undefined);
    try {
      const c = await call<Credential>('POST', '/v1/credentials', sdkId.value.trim() ? { sdk_id: sdkId.value.trim() } : {});
      const line = (label: Parameters<typeof t>[0], value: string, testid: string) =>
        h('div', { class: 'secret-line' }, h('span', { class: 'muted' }, t(label)), h('code', { testid }, value));
      fresh.replaceChildren(
        h(
          'div',
          { class: 'secret-box', testid: 'new-credential' },
          h('strong', null, t('admin.secretOnce')),
          line('admin.appId', c.app_id, 'new-app-id'),
          line('admin.sdkId', c.sdk_id, 'new-sdk-id'),
          line('admin.secretId', c.secret_id, 'new-secret-id'),
          line('admin.secretKey', c.secret_key ?? '', 'new-secret-key'),
          h('div', { class: 'actions' }, copyButton('copy-secret-key', () => c.secret_key ?? '')),
        ),
      );
      sdkId.value = '';
      await load();
    } catch (err) {
      showError(error, err);
    }
  };

  box.append(
    h(
      'form',
      { class: 'panel form', testid: 'credential-form', onsubmit: create },
      h('h2', null, t('admin.credentials')),
      h('p', { class: 'muted' }, t('admin.credentialsHelp')),
      h('div', { class: 'form-row' }, field('admin.sdkIdOptional', sdkId)),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', testid: 'credential-create' }, t('admin.createCredential'))),
      fresh,
      error,
      list,
    ),
  );
  void load();
}
