// Admin tab "Webhooks": subscriptions to meeting events (the server checks the URL the Tencent
// way before saving), and each subscription's delivery log.

import { currentLocale, t, tf } from '../i18n';
import { call, query, type Delivery, type User, type Webhook } from './api';
import { h } from './dom';
import { formatShort } from './tz';
import { errorBox, field, pager, row, section, showError, table } from './widgets';

export const EVENTS = [
  'meeting.created',
  'meeting.updated',
  'meeting.canceled',
  'meeting.started',
  'meeting.end',
  'meeting.participant-joined',
  'meeting.participant-left',
];

const PAGE_SIZE = 20;

export function webhooksTab(box: HTMLElement, _me: User): void {
  const locale = currentLocale();
  const list = h('div');
  const error = errorBox('webhooks-error');
  const deliveries = h('div');

  const load = async () => {
    try {
      const answer = await call<{ webhooks: Webhook[] }>('GET', '/v1/webhooks');
      list.replaceChildren(
        table(
          'webhooks-table',
          ['admin.url', 'admin.events', 'admin.aes', 'admin.created', 'common.actions'],
          (answer.webhooks ?? []).map((w) =>
            row({ testid: 'webhook-row', 'data-webhook-id': w.webhook_id }, [
              h('code', { class: 'wrap' }, w.url),
              h('span', { class: 'events' }, w.events.join(', ')),
              w.has_aes_key ? t('common.yes') : t('common.no'),
              formatShort(w.created_at, '', locale),
              h(
                'span',
                { class: 'row-actions' },
                h('button', { type: 'button', class: 'btn small', testid: 'webhook-deliveries', onclick: () => void showDeliveries(w, 1) }, t('admin.deliveries')),
                h('button', { type: 'button', class: 'btn small danger', testid: 'webhook-delete', onclick: () => remove(w) }, t('common.delete')),
              ),
            ]),
          ),
        ),
      );
    } catch (e) {
      showError(error, e);
    }
  };

  const remove = async (w: Webhook) => {
    if (!confirm(tf('admin.confirmDeleteWebhook', { url: w.url }))) return;
    try {
      await call('DELETE', `/v1/webhooks/${encodeURIComponent(w.webhook_id)}`);
      deliveries.replaceChildren();
      await load();
    } catch (e) {
      showError(error, e);
    }
  };

  const showDeliveries = async (w: Webhook, page: number) => {
    const deliveriesError = errorBox('deliveries-error');
    try {
      const answer = await call<{ total_count: number; deliveries: Delivery[] }>(
        'GET',
        `/v1/webhooks/${encodeURIComponent(w.webhook_id)}/deliveries${query({ page, page_size: PAGE_SIZE })}`,
      );
      const when = (v: number | null | undefined) => (v ? formatShort(v, '', locale) : '');
      deliveries.replaceChildren(
        section(
          'admin.deliveries',
          'deliveries',
          h('p', { class: 'muted' }, tf('admin.deliveriesFor', { url: w.url })),
          h(
            'div',
            { class: 'actions' },
            h('button', { type: 'button', class: 'btn small', testid: 'deliveries-refresh', onclick: () => void showDeliveries(w, page) }, t('common.refresh')),
            h('button', { type: 'button', class: 'btn small', onclick: () => deliveries.replaceChildren() }, t('common.close')),
          ),
          table(
            'deliveries-table',
            ['admin.event', 'admin.state', 'admin.attempts', 'admin.lastStatus', 'admin.lastError', 'admin.created', 'admin.deliveredAt'],
            (answer.deliveries ?? []).map((d) =>
              row({ testid: 'delivery-row', 'data-status': d.status }, [
                d.event,
                h('span', { class: `badge badge-${d.status}` }, t(`admin.delivery.${d.status}`)),
                String(d.attempts),
                d.last_status_code ? String(d.last_status_code) : '',
                h('span', { class: 'wrap' }, d.last_error ?? ''),
                when(d.created_at),
                d.delivered_at ? when(d.delivered_at) : d.status === 'pending' && d.next_attempt_at ? tf('admin.nextAttempt', { time: when(d.next_attempt_at) }) : '',
              ]),
            ),
            'admin.noDeliveries',
          ),
          pager('deliveries-pager', page, Math.ceil((answer.total_count ?? 0) / PAGE_SIZE), (p) => void showDeliveries(w, p)),
        ),
      );
    } catch (e) {
      showError(deliveriesError, e);
      deliveries.replaceChildren(deliveriesError);
    }
  };

  // ---- the add form ----
  const url = h('input', { testid: 'webhook-url', type: 'url', placeholder: 'https://example.com/huiyi-events', required: true });
  const token = h('input', { testid: 'webhook-token', required: true, maxlength: 128 });
  const aesKey = h('input', { testid: 'webhook-aes', maxlength: 64, autocomplete: 'off' });
  const checks = EVENTS.map((ev) => h('input', { type: 'checkbox', value: ev, checked: true, testid: `webhook-event-${ev}` }));
  const formError = errorBox('webhook-form-error');
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'webhook-submit' }, t('admin.addWebhook'));
  const form = h(
    'form',
    { class: 'panel form', testid: 'webhook-form', novalidate: true },
    h('h2', null, t('admin.addWebhook')),
    h('p', { class: 'muted' }, t('admin.webhookHelp')),
    h('div', { class: 'form-row' }, field('admin.url', url), field('admin.token', token), field('admin.aesKey', aesKey, t('admin.aesHint'))),
    h('fieldset', { class: 'checks' }, h('legend', null, t('admin.events')), checks.map((c) => h('label', { class: 'check' }, c, h('code', null, c.value)))),
    formError,
    h('div', { class: 'actions' }, submit),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    showError(formError, undefined);
    submit.disabled = true;
    try {
      const events = checks.filter((c) => c.checked).map((c) => c.value);
      if (!url.value.trim() || !token.value.trim() || !events.length) throw new Error(t('admin.needWebhook'));
      await call('POST', '/v1/webhooks', {
        url: url.value.trim(),
        token: token.value.trim(),
        events,
        ...(aesKey.value.trim() ? { aes_key: aesKey.value.trim() } : {}),
      });
      form.reset();
      checks.forEach((c) => (c.checked = true));
      await load();
    } catch (err) {
      showError(formError, err);
    } finally {
      submit.disabled = false;
    }
  });

  box.append(h('section', { class: 'panel' }, h('h2', null, t('admin.webhooks')), error, list), deliveries, form);
  void load();
}
