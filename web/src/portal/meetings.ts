// /meetings: "my meetings". Upcoming meetings (GET /v1/meetings?userid=, soonest first) and the
// history of ended ones (GET /v1/history/meetings/<userid>), each paged, times in the meeting's
// own zone.

import { currentLocale, t } from '../i18n';
import { call, query, type MeetingInfo, type MeetingList } from './api';
import { fill, h } from './dom';
import type { Page } from './router';
import { browserZone, formatInstant, formatRange, validZone } from './tz';
import { errorBox, pageHead, pager, row, section, showError, statusBadge, table, unix } from './widgets';

const PAGE_SIZE = 10;

export const meetingsPage: Page = (view, ctx) => {
  const me = ctx.user!.userid;
  const upcoming = h('div', { testid: 'upcoming' });
  const history = h('div', { testid: 'history' });
  view.append(
    pageHead(t('meetings.title'), h('a', { href: '/meetings/new', class: 'primary btn', testid: 'new-meeting' }, t('meetings.schedule'))),
    section('meetings.upcoming', 'upcoming-section', upcoming),
    section('meetings.history', 'history-section', history),
  );

  const loadUpcoming = (page: number) =>
    load(upcoming, 'upcoming', page, `/v1/meetings${query({ userid: me, page, page_size: PAGE_SIZE })}`, loadUpcoming, (m) =>
      row({ testid: 'upcoming-row', 'data-meeting-id': m.meeting_id }, [
        subjectLink(m),
        [formatInstant(unix(m.start_time), m.time_zone ?? '', currentLocale()), zoneNote(m)],
        m.meeting_code,
        statusBadge(m.status),
        h('a', { href: m.join_url, class: 'btn small', testid: 'upcoming-join' }, t('meeting.join')),
      ]),
      ['meetings.subject', 'meetings.start', 'meetings.code', 'meetings.status', 'common.actions'],
    );
  const loadHistory = (page: number) =>
    load(history, 'history', page, `/v1/history/meetings/${encodeURIComponent(me)}${query({ page, page_size: PAGE_SIZE })}`, loadHistory, (m) =>
      row({ testid: 'history-row', 'data-meeting-id': m.meeting_id }, [
        subjectLink(m),
        [formatRange(unix(m.start_time), unix(m.end_time), m.time_zone ?? '', currentLocale()), zoneNote(m)],
        m.meeting_code,
        statusBadge(m.status),
      ]),
      ['meetings.subject', 'meetings.time', 'meetings.code', 'meetings.status'],
    );
  void loadUpcoming(1);
  void loadHistory(1);
};

/** The meeting's zone, when it is not the one the viewer's clock is in. */
function zoneNote(m: MeetingInfo): HTMLElement | null {
  const zone = validZone(m.time_zone);
  return zone === browserZone() ? null : h('span', { class: 'muted' }, ` (${zone})`);
}

function subjectLink(m: MeetingInfo): HTMLElement {
  return h('a', { href: `/meetings/${encodeURIComponent(m.meeting_id)}`, testid: 'meeting-link' }, m.subject);
}

/** Fills `box` with one page of a meeting list, or with the error that prevented it. */
async function load(
  box: HTMLElement,
  testid: string,
  page: number,
  path: string,
  go: (page: number) => void,
  toRow: (m: MeetingInfo) => HTMLTableRowElement,
  headers: Parameters<typeof table>[1],
): Promise<void> {
  box.replaceChildren(h('p', { class: 'empty' }, t('common.loading')));
  try {
    const list = await call<MeetingList>('GET', path);
    const meetings = list.meeting_info_list ?? [];
    fill(
      box,
      table(`${testid}-table`, headers, meetings.map(toRow), 'meetings.none'),
      pager(`${testid}-pager`, page, list.total_page ?? 1, go),
    );
  } catch (e) {
    const error = errorBox(`${testid}-error`);
    showError(error, e);
    box.replaceChildren(error);
  }
}
