// /meetings/<id>: one meeting. Its details in the meeting's own time zone, the join link with a
// copy button, Join / Edit / Cancel, the .ics invitation, the occurrences of a recurring meeting,
// its recordings (recordings.ts), and the attendance report (statistics, sessions, CSV export).

import { currentLocale, t, tf, tryT, type Key } from '../i18n';
import { call, fetchMeeting, query, type MeetingInfo, type MeetingStatistics, type Participant, type RecurringRule } from './api';
import { append, fill, h } from './dom';
import { fillRecordings, recordingsSection } from './recordings';
import { rerender, type Page } from './router';
import { formatDate, formatRange, formatShort, validZone } from './tz';
import { copyButton, errorBox, pageHead, row, section, showError, statusBadge, table, unix } from './widgets';

const REPEAT_KEYS: Key[] = ['schedule.repeatDaily', 'schedule.repeatWeekdays', 'schedule.repeatWeekly', 'schedule.repeatBiweekly', 'schedule.repeatMonthly'];

export const meetingPage: Page = async (view, ctx) => {
  const me = ctx.user!.userid;
  const m = await fetchMeeting(ctx.params[0] ?? '', me);
  const id = encodeURIComponent(m.meeting_id);
  const zone = validZone(m.time_zone);
  const locale = currentLocale();
  const live = m.status === 'MEETING_STATE_INIT' || m.status === 'MEETING_STATE_STARTED';
  const error = errorBox('meeting-error');

  const cancel = async () => {
    if (!confirm(t('meeting.confirmCancel'))) return;
    try {
      await call('POST', `/v1/meetings/${id}/cancel`, { userid: me, instanceid: 1, reason_code: 1 });
      await rerender();
    } catch (e) {
      showError(error, e);
    }
  };

  const joinUrl = h('input', { class: 'link-field', testid: 'meeting-join-url', readonly: true, value: m.join_url, 'aria-label': t('meeting.joinLink') });
  const details: [Key, ...(Node | string)[]][] = [
    ['meeting.time', h('span', { testid: 'meeting-time' }, formatRange(unix(m.start_time), unix(m.end_time), zone, locale)), ' ', h('span', { class: 'muted' }, `(${zone})`)],
    ['meeting.code', h('span', { class: 'code', testid: 'meeting-code' }, m.meeting_code)],
    ['meeting.joinLink', h('span', { class: 'inline' }, joinUrl, copyButton('copy-join-url', () => m.join_url))],
  ];
  if (m.password) details.push(['meeting.password', h('span', { class: 'code', testid: 'meeting-password' }, m.password)]);
  if (m.location) details.push(['meeting.location', m.location]);
  if (m.meeting_type === 1 && m.recurring_rule) details.push(['meeting.repeat', repeatText(m.recurring_rule, zone, locale)]);
  details.push([
    'meeting.invitation',
    h('a', { href: `/v1/meetings/${id}/invitation.ics${query({ userid: me })}`, download: `${m.meeting_code}.ics`, testid: 'meeting-ics' }, t('meeting.downloadIcs')),
  ]);

  fill(
    view,
    pageHead(
      h('span', { testid: 'meeting-subject' }, m.subject),
      statusBadge(m.status),
      live ? h('a', { href: m.join_url, class: 'primary btn', testid: 'meeting-join' }, t('meeting.join')) : null,
      live ? h('a', { href: `/meetings/${id}/edit`, class: 'btn', testid: 'meeting-edit' }, t('meeting.edit')) : null,
      m.status === 'MEETING_STATE_INIT' ? h('button', { type: 'button', class: 'btn danger', testid: 'meeting-cancel', onclick: cancel }, t('meeting.cancel')) : null,
    ),
    error,
    h('section', { class: 'panel' }, h('dl', { class: 'details' }, details.map(([key, ...value]) => [h('dt', null, t(key)), h('dd', null, value)]))),
    m.sub_meetings?.length ? occurrences(m, zone, locale) : null,
  );
  // Both sections load at once, each showing its own errors.
  const recordings = recordingsSection();
  const attendance = section('meeting.attendance', 'attendance');
  view.append(recordings, attendance);
  await Promise.all([fillRecordings(recordings, m, ctx.user!, zone, locale), fillAttendance(attendance, m, me, zone, locale)]);
};

function repeatText(rule: RecurringRule, zone: string, locale: string): string {
  const every = t(REPEAT_KEYS[rule.recurring_type] ?? 'schedule.repeatWeekly');
  return rule.until_type === 1
    ? tf('meeting.repeatCount', { every, count: rule.until_count ?? 0 })
    : tf('meeting.repeatUntil', { every, date: formatDate(rule.until_date ?? 0, zone, locale) });
}

function occurrences(m: MeetingInfo, zone: string, locale: string): HTMLElement {
  const subs = m.sub_meetings ?? [];
  return section(
    'meeting.occurrences',
    'sub-meetings',
    h('p', { class: 'muted', testid: 'sub-meetings-count', 'data-count': subs.length }, tf('meeting.occurrenceCount', { count: subs.length })),
    table(
      'sub-meetings-table',
      ['common.number', 'meeting.time'],
      subs.map((s, i) => row({ testid: 'sub-meeting-row' }, [String(i + 1), formatRange(unix(s.start_time), unix(s.end_time), zone, locale)])),
    ),
  );
}

/** Statistics, the CSV link and the sessions; an error here leaves the rest of the page usable. */
async function fillAttendance(box: HTMLElement, m: MeetingInfo, me: string, zone: string, locale: string): Promise<void> {
  const id = encodeURIComponent(m.meeting_id);
  const error = errorBox('attendance-error');
  box.append(error);
  let stats: MeetingStatistics;
  let participants: Participant[];
  try {
    [stats, participants] = await Promise.all([
      call<MeetingStatistics>('GET', `/v1/meetings/${id}/statistics${query({ userid: me })}`),
      call<{ participants?: Participant[] }>('GET', `/v1/meetings/${id}/participants${query({ userid: me, page: 1, page_size: 100 })}`).then((p) => p.participants ?? []),
    ]);
  } catch (e) {
    showError(error, e);
    return;
  }
  const number = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
  const card = (key: Key, testid: string, value: number) =>
    h('div', { class: 'stat' }, h('div', { class: 'stat-value', testid, 'data-value': value }, number.format(value)), h('div', { class: 'stat-label' }, t(key)));
  const now = Date.now() / 1000;
  append(box, [
    h(
      'div',
      { class: 'stats' },
      card('meeting.uniqueAttendees', 'stat-unique', stats.unique_attendees),
      card('meeting.peak', 'stat-peak', stats.peak_concurrency),
      card('meeting.totalMinutes', 'stat-total', stats.total_minutes),
      card('meeting.averageMinutes', 'stat-average', stats.average_minutes),
    ),
    h(
      'p',
      { class: 'exports' },
      h('a', { href: `/v1/meetings/${id}/attendance.csv${query({ userid: me })}`, download: `attendance-${m.meeting_code}.csv`, class: 'btn', testid: 'attendance-csv' }, t('meeting.downloadCsv')),
      // What the meeting produced, for its hosts: the chat, the polls' results, the notes.
      h('a', { href: `/v1/meetings/${id}/chat.csv${query({ userid: me })}`, download: `chat-${m.meeting_code}.csv`, class: 'btn', testid: 'chat-csv' }, t('meeting.chatCsv')),
      h('a', { href: `/v1/meetings/${id}/polls.csv${query({ userid: me })}`, download: `polls-${m.meeting_code}.csv`, class: 'btn', testid: 'polls-csv' }, t('meeting.pollsCsv')),
      h('a', { href: `/v1/meetings/${id}/notes.md${query({ userid: me })}`, download: `notes-${m.meeting_code}.md`, class: 'btn', testid: 'notes-md' }, t('meeting.notesMd')),
    ),
    table(
      'participants-table',
      ['meeting.participant', 'meeting.role', 'meeting.joined', 'meeting.left', 'meeting.minutes'],
      participants.map((p) => {
        const joined = unix(p.join_time);
        const left = unix(p.left_time);
        const minutes = ((Number.isNaN(left) ? now : left) - joined) / 60;
        return row({ testid: 'participant-row' }, [
          h('span', { title: p.userid }, fromBase64(p.user_name) || p.userid),
          p.role ? (tryT(`role.${p.role}`) ?? p.role) : '',
          formatShort(joined, zone, locale),
          Number.isNaN(left) ? h('span', { class: 'badge badge-started' }, t('meeting.stillIn')) : formatShort(left, zone, locale),
          number.format(Math.max(0, minutes)),
        ]);
      }),
      'meeting.noAttendance',
    ),
  ]);
}

/** Tencent's attendance reports send names as base64 of their UTF-8. */
function fromBase64(text: string | undefined): string {
  if (!text) return '';
  try {
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes);
  } catch {
    return text;
  }
}
