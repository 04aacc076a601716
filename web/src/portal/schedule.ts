// /meetings/new and /meetings/<id>/edit: the schedule form. The date and times are wall-clock
// times in the chosen zone, turned into unix seconds by tz.ts; create is POST /v1/meetings,
// edit is PUT /v1/meetings/<id> with every field of the form.

import { t, type Key } from '../i18n';
import { call, fetchMeeting, type MeetingInfo, type MeetingList, type RecurringRule } from './api';
import { h } from './dom';
import { navigate, type Page } from './router';
import { addDays, browserZone, timeZones, unixToWall, validZone, zonedToUnix } from './tz';
import { errorBox, field, pageHead, showError, unix } from './widgets';

const DURATIONS = [15, 30, 45, 60, 90, 120, 180, 240];

/** Recurrence choices; the value is Tencent's `recurring_type`, or '' for none. */
const RECURRENCES: [string, Key][] = [
  ['', 'schedule.repeatNone'],
  ['0', 'schedule.repeatDaily'],
  ['1', 'schedule.repeatWeekdays'],
  ['2', 'schedule.repeatWeekly'],
  ['3', 'schedule.repeatBiweekly'],
  ['4', 'schedule.repeatMonthly'],
];

const JOIN_TYPES: [string, Key][] = [
  ['1', 'schedule.joinEveryone'],
  ['2', 'schedule.joinInvitees'],
  ['3', 'schedule.joinMembers'],
];

function options(choices: [string, Key][], selected: string): HTMLOptionElement[] {
  return choices.map(([value, key]) => h('option', { value, selected: value === selected }, t(key)));
}

/** The next half hour from now, in `tz`. */
function nextHalfHour(tz: string): { date: string; time: string } {
  const now = Math.floor(Date.now() / 1000);
  return unixToWall(Math.ceil((now + 60) / 1800) * 1800, tz);
}

/** `HH:MM` plus `minutes`, wrapping past midnight. */
function addMinutes(time: string, minutes: number): string {
  const [hh = 0, mm = 0] = time.split(':').map(Number);
  const total = (((hh * 60 + mm + minutes) % 1440) + 1440) % 1440;
  return `${String(Math.floor(total / 60)).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
}

/** Minutes from `start` to `end` (`HH:MM`), the end being on the next day when not later. */
function minutesBetween(start: string, end: string): number {
  const toMin = (s: string) => {
    const [hh = 0, mm = 0] = s.split(':').map(Number);
    return hh * 60 + mm;
  };
  const d = toMin(end) - toMin(start);
  return d > 0 ? d : d + 1440;
}

export const schedulePage: Page = async (view, ctx) => {
  const me = ctx.user!.userid;
  const editId = ctx.params[0];
  const existing: MeetingInfo | undefined = editId ? await fetchMeeting(editId, me) : undefined;

  // ---- initial values: the meeting being edited, or the next half hour for an hour ----
  const zone = validZone(existing?.time_zone || browserZone());
  const startWall = existing ? unixToWall(unix(existing.start_time), zone) : nextHalfHour(zone);
  const duration = existing ? Math.round((unix(existing.end_time) - unix(existing.start_time)) / 60) : 60;
  const settings = existing?.settings ?? {};
  const rule = existing?.meeting_type === 1 ? existing.recurring_rule : undefined;

  const subject = h('input', { testid: 'sched-subject', required: true, maxlength: 255, value: existing?.subject ?? '' });
  const date = h('input', { testid: 'sched-date', type: 'date', required: true, value: startWall.date });
  const start = h('input', { testid: 'sched-start', type: 'time', required: true, value: startWall.time });
  const end = h('input', { testid: 'sched-end', type: 'time', required: true, value: addMinutes(startWall.time, duration) });
  const durationSelect = h(
    'select',
    { testid: 'sched-duration' },
    DURATIONS.map((m) => h('option', { value: String(m) }, m < 60 ? `${m} ${t('schedule.min')}` : `${m / 60} ${t('schedule.hours')}`)),
    h('option', { value: '' }, t('schedule.custom')),
  );
  durationSelect.value = DURATIONS.includes(duration) ? String(duration) : '';
  const tz = h('select', { testid: 'sched-tz' }, timeZones().map((z) => h('option', { value: z }, z.replace(/_/g, ' '))));
  tz.value = zone;
  const password = h('input', {
    testid: 'sched-password',
    inputmode: 'numeric',
    pattern: '\\d{4,6}',
    maxlength: 6,
    autocomplete: 'off',
    value: existing?.password ?? '',
  });
  const place = h('input', { testid: 'sched-location', maxlength: 255, value: existing?.location ?? '' });

  const repeat = h('select', { testid: 'sched-recurrence' }, options(RECURRENCES, rule ? String(rule.recurring_type) : ''));
  const untilType = h(
    'select',
    { testid: 'sched-until-type' },
    options([['1', 'schedule.endAfter'], ['0', 'schedule.endOn']], rule?.until_type === 0 ? '0' : '1'),
  );
  const untilCount = h('input', { testid: 'sched-until-count', type: 'number', min: 1, max: 50, value: String(rule?.until_count ?? 4) });
  const untilDate = h('input', {
    testid: 'sched-until-date',
    type: 'date',
    value: rule?.until_type === 0 && rule.until_date ? unixToWall(rule.until_date, zone).date : addDays(startWall.date, 28),
  });
  const untilField = field('schedule.repeatEnds', untilType);
  const countField = field('schedule.occurrences', untilCount);
  const dateField = field('schedule.endDate', untilDate);

  const checkbox = (testid: string, label: Key, checked: boolean | undefined) => {
    const box = h('input', { type: 'checkbox', testid, checked: Boolean(checked) });
    return { box, label: h('label', { class: 'check' }, box, h('span', null, t(label))) };
  };
  const mute = checkbox('sched-mute', 'schedule.muteOnJoin', settings.mute_enable_join);
  const beforeHost = checkbox('sched-before-host', 'schedule.beforeHost', settings.allow_in_before_host ?? !existing);
  const multi = checkbox('sched-multi-device', 'schedule.multiDevice', settings.allow_multi_device);
  const joinType = h('select', { testid: 'sched-join-type' }, options(JOIN_TYPES, String(settings.only_user_join_type ?? 1)));

  // ---- invitees: the people an "invited people only" meeting admits ----
  const invited = new Set((existing?.invitees ?? []).map((i) => i.userid));
  const inviteeList = h('div', { class: 'invitee-list', testid: 'sched-invitees' });
  // Admins pick from the organisation's users; members type userids (they cannot list users).
  const inviteeText = h('textarea', { testid: 'sched-invitee-ids', rows: 3, placeholder: t('schedule.inviteeIdsHint') });
  inviteeText.value = [...invited].join('\n');
  if (ctx.user!.role === 'admin') {
    inviteeText.hidden = true;
    try {
      const users = await call<{ users: { userid: string; username: string; email?: string }[] }>('GET', `/v1/users/list?page=1&page_size=100`);
      inviteeList.append(
        ...users.users
          .filter((u) => u.userid !== me)
          .map((u) => {
            const box = h('input', { type: 'checkbox', value: u.userid, testid: 'sched-invitee', checked: invited.has(u.userid) });
            return h('label', { class: 'check' }, box, h('span', null, u.email ? `${u.username} (${u.email})` : u.username));
          }),
      );
    } catch {
      inviteeText.hidden = false;
    }
  }
  const chosenInvitees = (): string[] => {
    const boxes = [...inviteeList.querySelectorAll<HTMLInputElement>('input[type=checkbox]:checked')].map((b) => b.value);
    const typed = inviteeText.hidden ? [] : inviteeText.value.split(/[\s,;]+/).filter(Boolean);
    return [...new Set([...boxes, ...typed])];
  };
  const inviteeField = h('fieldset', { class: 'checks' }, h('legend', null, t('schedule.invitees')), inviteeList, inviteeText);
  const syncInvitees = () => (inviteeField.hidden = joinType.value !== '2' && chosenInvitees().length === 0);
  syncInvitees();
  joinType.addEventListener('change', syncInvitees);

  // ---- keeping start, end and duration consistent ----
  const syncRepeat = () => {
    untilField.hidden = repeat.value === '';
    countField.hidden = repeat.value === '' || untilType.value !== '1';
    dateField.hidden = repeat.value === '' || untilType.value !== '0';
  };
  syncRepeat();
  repeat.addEventListener('change', syncRepeat);
  untilType.addEventListener('change', syncRepeat);
  const currentDuration = () => minutesBetween(start.value, end.value);
  let lastDuration = duration;
  durationSelect.addEventListener('change', () => {
    if (durationSelect.value) end.value = addMinutes(start.value, Number(durationSelect.value));
    lastDuration = currentDuration();
  });
  start.addEventListener('change', () => (end.value = addMinutes(start.value, lastDuration)));
  end.addEventListener('change', () => {
    lastDuration = currentDuration();
    durationSelect.value = DURATIONS.includes(lastDuration) ? String(lastDuration) : '';
  });

  const error = errorBox('sched-error');
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'sched-submit' }, t(existing ? 'schedule.save' : 'schedule.create'));
  const back = existing ? `/meetings/${encodeURIComponent(existing.meeting_id)}` : '/meetings';
  const form = h(
    'form',
    { class: 'panel form', testid: 'schedule-form', novalidate: true },
    field('schedule.subject', subject),
    h('div', { class: 'form-row' }, field('schedule.date', date), field('schedule.start', start), field('schedule.duration', durationSelect), field('schedule.end', end)),
    h('div', { class: 'form-row' }, field('schedule.timeZone', tz), field('schedule.password', password, t('schedule.passwordHint')), field('schedule.location', place)),
    h('div', { class: 'form-row' }, field('schedule.repeat', repeat), untilField, countField, dateField),
    h('fieldset', { class: 'checks' }, h('legend', null, t('schedule.settings')), mute.label, beforeHost.label, multi.label, field('schedule.whoMayJoin', joinType)),
    inviteeField,
    error,
    h('div', { class: 'actions' }, submit, h('a', { href: back, class: 'btn' }, t('common.cancel'))),
  );

  // ---- submitting ----
  const body = (): Record<string, unknown> => {
    if (!subject.value.trim()) throw new Error(t('schedule.needSubject'));
    if (!date.value || !start.value || !end.value) throw new Error(t('schedule.needTime'));
    if (password.value && !/^\d{4,6}$/.test(password.value)) throw new Error(t('schedule.passwordHint'));
    const zoneName = tz.value;
    const startUnix = zonedToUnix(date.value, start.value, zoneName);
    const endDate = end.value > start.value ? date.value : addDays(date.value, 1);
    const endUnix = zonedToUnix(endDate, end.value, zoneName);
    // A few minutes of grace for "now" and for clocks a little apart; the server checks too.
    if (startUnix < Date.now() / 1000 - 300 && (!existing || startUnix !== unix(existing.start_time))) throw new Error(t('schedule.pastStart'));
    if (endUnix <= startUnix) throw new Error(t('schedule.endBeforeStart'));
    const invitees = chosenInvitees();
    if (joinType.value === '2' && invitees.length === 0) throw new Error(t('schedule.needInvitees'));
    let recurring: RecurringRule | undefined;
    if (repeat.value !== '') {
      recurring = { recurring_type: Number(repeat.value), until_type: Number(untilType.value) };
      if (untilType.value === '1') {
        const n = Number(untilCount.value);
        if (!Number.isInteger(n) || n < 1 || n > 50) throw new Error(t('schedule.countHint'));
        recurring.until_count = n;
      } else {
        if (!untilDate.value) throw new Error(t('schedule.needEndDate'));
        // The series may run through the whole of its last day, in the meeting's zone.
        recurring.until_date = zonedToUnix(addDays(untilDate.value, 1), '00:00', zoneName) - 1;
      }
    }
    return {
      userid: me,
      instanceid: 1,
      subject: subject.value.trim(),
      ...(existing ? {} : { type: 0 }),
      start_time: String(startUnix),
      end_time: String(endUnix),
      time_zone: zoneName,
      location: place.value.trim(),
      // Editing: an empty password removes it. Creating: no password is no field.
      ...(password.value || existing ? { password: password.value } : {}),
      settings: {
        mute_enable_join: mute.box.checked,
        allow_in_before_host: beforeHost.box.checked,
        allow_multi_device: multi.box.checked,
        only_user_join_type: Number(joinType.value),
      },
      invitees: invitees.map((userid) => ({ userid })),
      meeting_type: recurring ? 1 : 0,
      ...(recurring ? { recurring_rule: recurring } : {}),
    };
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    showError(error, undefined);
    submit.disabled = true;
    try {
      const answer = existing
        ? await call<MeetingList>('PUT', `/v1/meetings/${encodeURIComponent(existing.meeting_id)}`, body())
        : await call<MeetingList>('POST', '/v1/meetings', body());
      const id = answer.meeting_info_list[0]?.meeting_id ?? existing?.meeting_id;
      navigate(id ? `/meetings/${encodeURIComponent(id)}` : '/meetings');
    } catch (err) {
      showError(error, err);
    } finally {
      submit.disabled = false;
    }
  });

  view.append(pageHead(t(existing ? 'schedule.editTitle' : 'schedule.newTitle')), form);
  if (!existing) subject.focus();
};
