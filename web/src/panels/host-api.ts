// The host's controls, as calls to Tencent's real-control API (`/v1/real-control/meetings/…`)
// with the portal's session cookie: only a signed-in host (or admin) can make them, and the
// server checks that on every call. The media server enforces what they change.

export class ControlError extends Error {}

/** The person a participant is, for the API: `person` in the join token's metadata (a userid
 * or a guest id), else the identity. */
export function personOf(identity: string, metadata: string | undefined): string {
  try {
    const m = JSON.parse(metadata || '{}') as { person?: unknown };
    if (typeof m.person === 'string' && m.person) return m.person;
  } catch {
    /* not JSON: a plain LiveKit token */
  }
  return identity;
}

export class HostApi {
  constructor(private readonly meetingId: string) {}

  private async put(control: string, body: Record<string, unknown>): Promise<void> {
    await this.call('PUT', `/v1/real-control/meetings/${encodeURIComponent(this.meetingId)}/${control}`, body);
  }

  private async call(method: string, path: string, body: Record<string, unknown>): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'X-Huiyi-Csrf': '1' },
        // instanceid 5: a web browser, in Tencent's device numbering.
        body: JSON.stringify({ instanceid: 5, ...body }),
      });
    } catch (e) {
      throw new ControlError(e instanceof Error ? e.message : String(e));
    }
    if (!res.ok) {
      const answer = (await res.json().catch(() => ({}))) as { error_info?: { message?: string } };
      throw new ControlError(answer.error_info?.message ?? `HTTP ${res.status}`);
    }
    return res.json().catch(() => ({}));
  }

  private static user(person: string) {
    return { to_operator_id: person, to_operator_id_type: 1 };
  }

  status(fields: { mute_all?: boolean; allow_unmute_by_self?: boolean; meeting_locked?: boolean; share_screen?: boolean; allow_chat?: number; auto_waiting_room?: boolean }) {
    return this.put('status', fields);
  }
  mute(person: string, mute: boolean) {
    return this.put('mutes', { user: HostApi.user(person), mute });
  }
  stopVideo(person: string) {
    return this.put('video', { user: HostApi.user(person), video: false });
  }
  cohost(person: string, action: boolean) {
    return this.put('cohosts', { user: HostApi.user(person), action });
  }
  spotlight(person: string, action: boolean) {
    return this.put('spotlight', { user: HostApi.user(person), action });
  }
  rename(person: string, name: string) {
    return this.put('names', { users: [{ to_operator_id: person, nick_name: name }] });
  }
  /** Makes the shared notes read-only for participants, or editable again. */
  notesReadOnly(readOnly: boolean) {
    return this.put('notes', { read_only: readOnly });
  }
  /** Hands the host role to someone in the meeting (a scheduled host naming themself takes it back). */
  transferHost(person: string) {
    return this.put('host', { user: HostApi.user(person) });
  }
  remove(person: string) {
    return this.put('kickout', { users: [HostApi.user(person)], allow_rejoin: false });
  }

  /** The waiting room: 1 admits, 2 sends someone in the meeting back, 3 turns away. */
  waitingRoom(operateType: 1 | 2 | 3, persons: string[]) {
    return this.put('waiting-room', { operate_type: operateType, users: persons.map(HostApi.user) });
  }
  admitAll() {
    return this.put('waiting-room', { operate_type: 1, admit_all: true });
  }

  /** Ends the meeting for everyone (Tencent's dismiss). */
  async endForAll(): Promise<void> {
    await this.call('POST', `/v1/meetings/${encodeURIComponent(this.meetingId)}/dismiss`, { reason_code: 1 });
  }

  /** The meeting's cloud recording: start, pause, resume or stop (Huiyi's `record` control). */
  record(action: 'start' | 'pause' | 'resume' | 'stop') {
    return this.put('record', { action });
  }

  /** The meeting's live stream: HLS at its viewer page, and RTMP to `rtmpUrls`. */
  async live(action: 'start' | 'stop', rtmpUrls: string[] = []): Promise<{ view_url?: string }> {
    const path = `/v1/real-control/meetings/${encodeURIComponent(this.meetingId)}/live`;
    return (await this.call('PUT', path, { action, rtmp_urls: rtmpUrls })) as { view_url?: string };
  }

  /** The meeting's chat as CSV, for the host. */
  chatCsvUrl(): string {
    return `/v1/meetings/${encodeURIComponent(this.meetingId)}/chat.csv`;
  }
  pollsCsvUrl(): string {
    return `/v1/meetings/${encodeURIComponent(this.meetingId)}/polls.csv`;
  }
}
