// The meeting page's Recordings section: the meeting's cloud recordings (/v1/records) with
// their start, length, size and state. Play plays one inline, Download saves it, and a host
// (or an admin) may delete it. Both Play and Download ask for a signed link only when clicked,
// since links expire (6 hours by default, see docs/egress.md).
//
// /v1/records lists a recording once its file is finished: one still being written is not
// listed yet, so while the meeting is in progress the section says it will appear there.

import { t, tf, type Key } from '../i18n';
import { deleteRecord, fetchMeetingRecords, fetchRecordAddress, type MeetingInfo, type RecordAddress, type RecordMeeting, type User } from './api';
import { fill, h } from './dom';
import { formatInstant, formatShort } from './tz';
import { errorBox, showError, table, unix } from './widgets';

/** How long a signed link is reused before a click asks for a new one (links live for hours). */
const LINK_REUSE_MS = 5 * 60_000;
/** A recording may start before the meeting's scheduled time (the host starts early): the list looks this far before it. */
const LOOK_BEFORE_START_SECS = 31 * 86_400;

/** Tencent's recording states, as the badge shows them. */
const STATES: Record<number, { key: Key; badge: string }> = {
  1: { key: 'recordings.recording', badge: 'badge-recording' },
  2: { key: 'recordings.processing', badge: 'badge-pending' },
  3: { key: 'recordings.ready', badge: 'badge-started' },
  4: { key: 'recordings.failed', badge: 'badge-failed' },
};

/** A box that holds the section; the section shows its own errors and never throws. */
export function recordingsSection(): HTMLElement {
  return h('section', { class: 'panel', testid: 'recordings' });
}

export async function fillRecordings(box: HTMLElement, m: MeetingInfo, user: User, zone: string, locale: string): Promise<void> {
  const me = user.userid;
  const error = errorBox('recordings-error');
  const list = h('div', { testid: 'recordings-list', 'aria-busy': true }, h('p', { class: 'empty' }, t('common.loading')));
  const refresh = h('button', { type: 'button', class: 'btn small', testid: 'recordings-refresh', onclick: () => void load() }, t('common.refresh'));
  fill(
    box,
    h('div', { class: 'section-head' }, h('h2', null, t('recordings.title')), refresh),
    m.status === 'MEETING_STATE_STARTED' ? h('p', { class: 'muted', testid: 'recordings-live-hint' }, t('recordings.liveHint')) : null,
    error,
    list,
  );

  /** Signed links by record file id, with when they were fetched. */
  const links = new Map<string, { address: RecordAddress; at: number }>();
  const signedLinks = async (fileId: string): Promise<RecordAddress> => {
    const cached = links.get(fileId);
    if (cached && Date.now() - cached.at < LINK_REUSE_MS) return cached.address;
    const address = await fetchRecordAddress(fileId, me);
    links.set(fileId, { address, at: Date.now() });
    return address;
  };
  /** The player row that is open, and the button that opened it. */
  let open: { player: HTMLElement; button: HTMLButtonElement } | undefined;
  const closePlayer = () => {
    if (!open) return;
    open.player.querySelector('video')?.pause();
    open.player.remove();
    open.button.textContent = t('recordings.play');
    open.button.setAttribute('aria-expanded', 'false');
    open = undefined;
  };

  const recordingRow = (r: RecordMeeting): HTMLTableRowElement => {
    const file = r.record_files?.[0];
    const state = STATES[r.state] ?? STATES[3]!;
    const startMs = file?.record_start_time || r.media_start_time;
    const when = formatShort(startMs / 1000, zone, locale);
    const hasFile = !!file && (r.state === 3 || r.state === 4);
    const mayDelete = user.role === 'admin' || r.host_user_id === me || !!m.hosts?.some((x) => x.userid === me);
    const tr = h('tr', { testid: 'recording-row', 'data-record-id': r.meeting_record_id, 'data-state': r.state });

    const play = h('button', { type: 'button', class: 'btn small', testid: 'recording-play', 'aria-expanded': 'false' }, t('recordings.play'));
    play.addEventListener('click', async () => {
      const wasOpen = open?.button === play;
      closePlayer();
      if (wasOpen || !file) return;
      play.disabled = true;
      try {
        const address = await signedLinks(file.record_file_id);
        const video = h('video', {
          src: address.view_address,
          controls: true,
          playsinline: true,
          preload: 'auto',
          testid: 'recording-video',
          'aria-label': tf('recordings.playerLabel', { time: formatInstant(startMs / 1000, zone, locale) }),
        });
        video.addEventListener('error', () => showError(error, t('recordings.cannotPlay')));
        const player = h('tr', { class: 'recording-player', testid: 'recording-player' }, h('td', { colspan: 5 }, video));
        tr.after(player);
        open = { player, button: play };
        play.textContent = t('recordings.closePlayer');
        play.setAttribute('aria-expanded', 'true');
        showError(error, undefined);
        // The click allows playing with sound; a browser that still refuses leaves the controls.
        video.play().catch(() => {});
      } catch (e) {
        showError(error, e);
      } finally {
        play.disabled = false;
      }
    });

    // A real link, so the browser downloads it as any other file; its href is a signed link,
    // asked for on the first click and again once it is no longer fresh.
    const download = h('a', { class: 'btn small', href: '#', download: true, testid: 'recording-download' }, t('recordings.download'));
    let downloadAt = 0;
    download.addEventListener('click', async (e) => {
      if (Date.now() - downloadAt < LINK_REUSE_MS) return;
      e.preventDefault();
      if (!file) return;
      try {
        const address = await signedLinks(file.record_file_id);
        // `download=1` makes the server send it as an attachment (docs/egress.md), so it is saved
        // even when the link's origin is not the portal's (where the attribute does nothing).
        const url = new URL(address.download_address, location.href);
        url.searchParams.set('download', '1');
        download.href = url.href;
        downloadAt = Date.now();
        download.click();
      } catch (err) {
        showError(error, err);
      }
    });

    const remove = async () => {
      if (!file || !confirm(t('recordings.confirmDelete'))) return;
      try {
        await deleteRecord(file.record_file_id, me);
        await load();
      } catch (e) {
        showError(error, e);
      }
    };

    tr.append(
      h('td', null, h('span', { title: zone, testid: 'recording-start' }, when)),
      h('td', { class: 'nums', testid: 'recording-duration' }, file ? formatDuration(file.record_duration) : ''),
      h('td', { class: 'nums', testid: 'recording-size' }, file ? formatBytes(file.record_size, locale) : ''),
      h('td', null, h('span', { class: `badge ${state.badge}`, testid: 'recording-state', title: r.state === 4 ? t('recordings.failedHint') : null }, t(state.key))),
      h(
        'td',
        null,
        h(
          'span',
          { class: 'row-actions' },
          hasFile ? [play, download] : null,
          hasFile && mayDelete ? h('button', { type: 'button', class: 'btn small danger', testid: 'recording-delete', onclick: remove }, t('common.delete')) : null,
        ),
      ),
    );
    return tr;
  };

  async function load(): Promise<void> {
    closePlayer();
    refresh.disabled = true;
    list.setAttribute('aria-busy', 'true');
    try {
      const now = Math.floor(Date.now() / 1000);
      const start = unix(m.start_time);
      const from = (Number.isNaN(start) ? now : Math.min(start, now)) - LOOK_BEFORE_START_SECS;
      const records = await fetchMeetingRecords(m.meeting_id, me, from, now + 60);
      showError(error, undefined);
      fill(
        list,
        table(
          'recordings-table',
          ['recordings.started', 'recordings.duration', 'recordings.size', 'recordings.status', 'common.actions'],
          records.map(recordingRow),
          'recordings.none',
        ),
      );
    } catch (e) {
      fill(list);
      showError(error, e);
    } finally {
      refresh.disabled = false;
      list.setAttribute('aria-busy', 'false');
    }
  }

  await load();
}

/** Milliseconds as `m:ss`, or `h:mm:ss` from an hour on. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const [hours, minutes, seconds] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const p2 = (n: number) => String(n).padStart(2, '0');
  return hours ? `${hours}:${p2(minutes)}:${p2(seconds)}` : `${minutes}:${p2(seconds)}`;
}

/** A file size in kB, MB or GB (powers of 1000, as the unit names say). */
export function formatBytes(bytes: number, locale: string): string {
  const units = ['kilobyte', 'megabyte', 'gigabyte'] as const;
  let value = bytes / 1000;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return new Intl.NumberFormat(locale, { style: 'unit', unit: units[i], maximumFractionDigits: 1 }).format(value);
}
