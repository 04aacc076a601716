// Admin tab "Statistics": the enterprise's meetings per day over a date range, with days
// counted in the chosen time zone (GET /v1/enterprise/statistics), and the totals.

import { currentLocale, t, type Key } from '../i18n';
import { call, query, type EnterpriseStatistics, type User } from './api';
import { h } from './dom';
import { addDays, browserZone, timeZones, unixToWall } from './tz';
import { errorBox, field, row, showError } from './widgets';

const HEADERS: Key[] = ['admin.date', 'admin.meetingsCount', 'admin.participantMinutes', 'admin.averageSize'];

export function statisticsTab(box: HTMLElement, _me: User): void {
  const zone = browserZone();
  const today = unixToWall(Math.floor(Date.now() / 1000), zone).date;
  const startDate = h('input', { type: 'date', testid: 'stats-start', value: addDays(today, -29) });
  const endDate = h('input', { type: 'date', testid: 'stats-end', value: today });
  const tz = h('select', { testid: 'stats-tz' }, timeZones().map((z) => h('option', { value: z }, z.replace(/_/g, ' '))));
  tz.value = zone;
  const error = errorBox('stats-error');
  const result = h('div');

  const load = async (e?: Event) => {
    e?.preventDefault();
    showError(error, undefined);
    try {
      const s = await call<EnterpriseStatistics>(
        'GET',
        `/v1/enterprise/statistics${query({ start_date: startDate.value, end_date: endDate.value, time_zone: tz.value })}`,
      );
      const n = new Intl.NumberFormat(currentLocale(), { maximumFractionDigits: 1 });
      const cells = (x: { meetings: number; participant_minutes: number; average_size: number }) => [
        n.format(x.meetings),
        n.format(x.participant_minutes),
        n.format(x.average_size),
      ];
      result.replaceChildren(
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'table numeric', testid: 'stats-table' },
            h('thead', null, h('tr', null, HEADERS.map((k) => h('th', null, t(k))))),
            h('tbody', null, (s.days ?? []).map((d) => row({ testid: 'stats-row', 'data-date': d.date, class: d.meetings ? undefined : 'zero' }, [d.date, ...cells(d)]))),
            h('tfoot', null, h('tr', { testid: 'stats-total' }, [t('admin.total'), ...cells(s.total)].map((c) => h('td', null, c)))),
          ),
        ),
      );
    } catch (err) {
      showError(error, err);
      result.replaceChildren();
    }
  };

  box.append(
    h(
      'form',
      { class: 'panel form', testid: 'stats-form', onsubmit: load },
      h('h2', null, t('admin.statistics')),
      h(
        'div',
        { class: 'form-row' },
        field('admin.from', startDate),
        field('admin.to', endDate),
        field('schedule.timeZone', tz),
        h('div', { class: 'field end' }, h('button', { type: 'submit', class: 'primary', testid: 'stats-submit' }, t('admin.show'))),
      ),
      error,
      result,
    ),
  );
  void load();
}
