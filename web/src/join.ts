// The join view: the form at `/` (a room name, through the dev token endpoint) and at
// `/j/<9-digit code>` (a scheduled meeting, through POST /v1/meetings/join), and the swap to a
// Meeting once joined.
//
// URL parameters: `room`, `name` (prefill the form), `token` (join with this access token instead
// of asking the dev token endpoint). Signed in to the portal, the name defaults to the username.

import { currentLocale, t, tf, tryT } from './i18n';
import { Meeting } from './meeting';
import { PreJoin } from './prejoin';
import { currentUser } from './portal/api';
import { showStatus } from './status';
import { devToken, joinByCode, looksLikeCode, meetingCodeIn, sameOriginWsUrl, TokenError, type Credentials } from './token';

/** A join failure in the user's language: the server's code when it gave one. */
export function joinErrorText(e: unknown): string {
  if (e instanceof TokenError && e.code === 10011 && e.startTime) {
    const when = new Intl.DateTimeFormat(currentLocale(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(e.startTime * 1000));
    return tf('joinError.notStartedAt', { when });
  }
  if (e instanceof TokenError && e.code !== undefined) {
    const known = tryT(`joinError.${e.code}`);
    if (known) return known.replace('{detail}', e.message);
  }
  return tf('joinError.other', { detail: e instanceof Error ? e.message : String(e) });
}

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html lacks #${id}`);
  return el as T;
}

export function startJoinView(params: URLSearchParams): void {
  showStatus('idle');
  const joinView = byId('join-view');
  const meetingView = byId('meeting-view');
  const form = byId<HTMLFormElement>('join-form');
  const nameInput = byId<HTMLInputElement>('join-name');
  const roomInput = byId<HTMLInputElement>('join-room');
  const joinButton = byId<HTMLButtonElement>('join-button');
  const joinError = byId('join-error');
  const urlToken = params.get('token');
  // A join link: /j/<9-digit meeting code>. The room field becomes the code, and a password
  // field appears (left empty when the meeting has none).
  const meetingCode = /^\/j\/(\d{9})\/?$/.exec(location.pathname)?.[1];
  const passwordInput = byId<HTMLInputElement>('join-password');
  if (meetingCode) {
    roomInput.value = meetingCode;
    roomInput.readOnly = true;
    byId('join-room-label').textContent = t('join.code');
    passwordInput.closest('label')!.hidden = false;
  }

  // The home page takes a meeting code as well as a room name.
  if (!meetingCode) {
    byId('join-room-label').textContent = t('join.codeOrRoom');
    passwordInput.closest('label')!.hidden = !params.get('password');
  }

  nameInput.value = params.get('name') ?? localStorage.getItem('huiyi.name') ?? '';
  let nameTyped = false;
  nameInput.addEventListener('input', () => (nameTyped = true));
  // Signed in to the portal: the name defaults to the username, and the card links to the
  // user's meetings; signed out, it offers to sign in and come back here.
  void currentUser().then((user) => {
    const link = byId<HTMLAnchorElement>('join-portal-link');
    link.href = user ? '/meetings' : `/signin?next=${encodeURIComponent(location.pathname + location.search)}`;
    link.textContent = t(user ? 'join.myMeetings' : 'join.signin');
    link.hidden = false;
    if (user && !params.get('name') && !nameTyped) nameInput.value = user.username;
  });
  if (!meetingCode) roomInput.value = params.get('room') ?? '';
  if (urlToken) {
    // The token already names the room and the participant, so the fields would only mislead.
    const hint = byId('join-hint');
    hint.textContent = t('join.withToken');
    hint.hidden = false;
    nameInput.closest('label')!.hidden = true;
    roomInput.closest('label')!.hidden = true;
  }

  const preview = new PreJoin(byId('prejoin'));
  void preview.start();

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void join();
  });

  async function join(): Promise<void> {
    const name = nameInput.value.trim();
    const room = roomInput.value.trim();
    if (!urlToken && (!name || !room)) {
      showJoinError(t('join.missingField'));
      return;
    }
    showJoinError(undefined);
    joinButton.disabled = true;
    showStatus('connecting');

    // On the home page, a 9-digit code (spaces and dashes allowed) joins that meeting; other
    // digits are a mistyped code, not a room name.
    const typedCode = meetingCode ?? (urlToken ? undefined : meetingCodeIn(room));
    if (!urlToken && !typedCode && looksLikeCode(room)) {
      showJoinError(t('join.badCode'));
      showStatus('idle');
      joinButton.disabled = false;
      return;
    }
    let creds: Credentials;
    try {
      creds = urlToken
        ? { url: sameOriginWsUrl(), token: urlToken }
        : typedCode
          ? await joinByCode(typedCode, name, passwordInput.value)
          : await devToken(room, name);
    } catch (e) {
      // The code was right but needs a password: show the field.
      if (e instanceof TokenError && e.code === 10009) passwordInput.closest('label')!.hidden = false;
      const msg = joinErrorText(e);
      showStatus('disconnected', msg);
      showJoinError(msg);
      joinButton.disabled = false;
      return;
    }
    if (name) localStorage.setItem('huiyi.name', name);

    const meeting = new Meeting(
      {
        grid: byId('grid'),
        audioSink: byId('audio-sink'),
        mic: byId('toggle-mic'),
        camera: byId('toggle-camera'),
        screen: byId('toggle-screen'),
        hand: byId('toggle-hand'),
        react: byId('react'),
        reactMenu: byId('react-menu'),
        people: byId('toggle-people'),
        chat: byId('toggle-chat'),
        polls: byId('toggle-polls'),
        notes: byId('toggle-notes'),
        leave: byId('leave'),
        side: byId('side-panel'),
        title: byId('meeting-title'),
        code: byId('meeting-code'),
        timer: byId('meeting-timer'),
        copyInvite: byId('copy-invite'),
        viewToggle: byId('view-toggle'),
        waitingOverlay: byId('waiting-overlay'),
        settings: byId('open-settings'),
        toasts: byId('toasts'),
        leaveDialog: byId('leave-dialog'),
        leaveConfirm: byId('leave-confirm'),
        endAll: byId('end-all'),
        leaveCancel: byId('leave-cancel'),
        leaveHostHint: byId('leave-host-hint'),
        handOver: byId('hand-over'),
        nextHost: byId('next-host'),
        recording: {
          indicator: byId('rec-indicator'),
          record: byId('toggle-record'),
          recordMenu: byId('record-menu'),
          live: byId('toggle-live'),
          liveDialog: byId('live-dialog'),
        },
      },
      {
        title: creds.meeting?.subject || room || t('app.title'),
        meetingId: creds.meeting?.id || undefined,
        code: creds.meeting?.code,
        password: passwordInput.value || undefined,
        signedIn: !!creds.meeting && creds.meeting.role !== 'guest',
      },
      () => {
        document.title = t('app.title');
        void preview.start();
        meetingView.hidden = true;
        joinView.hidden = false;
        joinButton.disabled = false;
      },
    );
    preview.stop();
    joinView.hidden = true;
    meetingView.hidden = false;
    await meeting.start(creds, preview.choice);
  }

  function showJoinError(msg: string | undefined): void {
    joinError.textContent = msg ?? '';
    joinError.hidden = !msg;
  }
}
