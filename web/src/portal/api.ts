// The portal's HTTP client: cookie-authenticated calls to /api/auth and /v1 (see
// docs/accounts-and-portal-api.md), the signed-in user, and the shapes of the answers.
//
// Every call sends the session cookie; every call but GET carries `X-Huiyi-Csrf: 1`, which a
// cross-site form cannot set. Errors arrive as {"error_info": {"error_code", "message"}} and
// become an ApiError whose message is shown to the user as is.

export interface User {
  userid: string;
  username: string;
  email: string;
  role: 'admin' | 'member';
  enterprise_id: string;
  enterprise_name: string;
}

export class ApiError extends Error {
  constructor(
    message: string,
    /** HTTP status; 0 when the request never got an answer. */
    readonly status: number,
    /** The /v1 error_code, 0 when the answer had none. */
    readonly code: number,
  ) {
    super(message);
  }
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

let onUnauthorized: (() => void) | undefined;

/** Called when a /v1 call answers 401: the session expired or was ended elsewhere. */
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

export async function call<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (method !== 'GET') headers['X-Huiyi-Csrf'] = '1';
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(e instanceof Error ? e.message : String(e), 0, 0);
  }
  const text = await res.text();
  let answer: unknown;
  try {
    answer = text ? JSON.parse(text) : {};
  } catch {
    // Not JSON: a proxy's error page, or index.html from a server without this endpoint.
    answer = undefined;
  }
  if (!res.ok) {
    const info = (answer as { error_info?: { error_code?: number; message?: string } } | undefined)?.error_info;
    const err = new ApiError(info?.message || `HTTP ${res.status} ${res.statusText}`.trim(), res.status, info?.error_code ?? 0);
    if (res.status === 401 && !path.startsWith('/api/auth/')) {
      session = null;
      onUnauthorized?.();
    }
    throw err;
  }
  if (typeof answer !== 'object' || answer === null) {
    throw new ApiError(`${method} ${path}: the server's answer is not JSON`, res.status, 0);
  }
  return answer as T;
}

/** A query string from the defined values, e.g. `?userid=ann&page=2`. */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

// ---- the session ----

/** undefined: not asked yet; null: signed out. */
let session: User | null | undefined;

/** The signed-in user, asked of the server once per page load; null when signed out. */
export async function currentUser(): Promise<User | null> {
  if (session !== undefined) return session;
  try {
    session = (await call<{ user?: User }>('GET', '/api/auth/me')).user ?? null;
  } catch {
    // 401, or a server that does not know accounts: either way nobody is signed in.
    session = null;
  }
  return session;
}

export async function signin(email: string, password: string): Promise<User> {
  session = (await call<{ user: User }>('POST', '/api/auth/signin', { email, password })).user;
  return session;
}

export async function signup(body: { username: string; email: string; password: string; enterprise_name: string }): Promise<User> {
  session = (await call<{ user: User }>('POST', '/api/auth/signup', body)).user;
  return session;
}

export async function signout(): Promise<void> {
  try {
    await call('POST', '/api/auth/signout');
  } finally {
    session = null;
  }
}

// ---- answer shapes of /v1 ----

export type MeetingStatus = 'MEETING_STATE_INIT' | 'MEETING_STATE_STARTED' | 'MEETING_STATE_ENDED' | 'MEETING_STATE_CANCELLED';

export interface MeetingSettings {
  mute_enable_join?: boolean;
  allow_in_before_host?: boolean;
  allow_multi_device?: boolean;
  only_user_join_type?: number;
}

export interface RecurringRule {
  recurring_type: number;
  until_type: number;
  until_date?: number;
  until_count?: number;
}

export interface SubMeeting {
  sub_meeting_id: string;
  status: number;
  start_time: string;
  end_time: string;
}

export interface MeetingInfo {
  meeting_id: string;
  meeting_code: string;
  subject: string;
  join_url: string;
  start_time: string;
  end_time: string;
  status?: MeetingStatus;
  time_zone?: string;
  location?: string;
  password?: string;
  need_password?: boolean;
  settings?: MeetingSettings;
  meeting_type?: number;
  recurring_rule?: RecurringRule;
  sub_meetings?: SubMeeting[];
  /** Who is invited (Huiyi's portal name; Tencent's is `participants`). */
  invitees?: { userid: string }[];
  /** Hosts named besides the creator (who is not listed here). */
  hosts?: { userid: string }[];
}

export interface MeetingList {
  meeting_info_list: MeetingInfo[];
  total_count?: number;
  total_page?: number;
  current_page?: number;
}

export interface Participant {
  userid: string;
  /** Base64 of the UTF-8 display name, as Tencent sends it. */
  user_name: string;
  role?: string;
  join_time: string;
  left_time: string;
}

export interface MeetingStatistics {
  unique_attendees: number;
  peak_concurrency: number;
  total_minutes: number;
  average_minutes: number;
  sessions?: number;
}

export interface Member {
  userid: string;
  username: string;
  email?: string;
  role?: string;
  create_time?: string | number;
}

export interface Credential {
  app_id: string;
  sdk_id: string;
  secret_id: string;
  secret_key?: string;
  created_at: number;
  revoked_at?: number | null;
}

export interface Webhook {
  webhook_id: string;
  url: string;
  events: string[];
  has_aes_key?: boolean;
  created_at: number;
}

export interface Delivery {
  delivery_id: string;
  event: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  last_status_code?: number | null;
  last_error?: string | null;
  /** When the next try is due; meaningful only while `pending`. */
  created_at: number;
  next_attempt_at?: number | null;
  delivered_at?: number | null;
}

export interface DayStatistics {
  date: string;
  meetings: number;
  participant_minutes: number;
  average_size: number;
}

export interface EnterpriseStatistics {
  days: DayStatistics[];
  total: { meetings: number; participant_minutes: number; average_size: number };
}

/** A recording's file, as `/v1/records` lists it. Times are unix milliseconds. */
export interface RecordFile {
  record_file_id: string;
  record_start_time: number;
  record_end_time: number;
  /** Bytes. */
  record_size: number;
  /** Milliseconds of media. */
  record_duration: number;
  allow_download?: boolean;
}

/**
 * One cloud recording. `state` is Tencent's: 1 recording, 2 being processed, 3 ready, 4 failed
 * (its file then holds what was recorded until the failure).
 */
export interface RecordMeeting {
  meeting_record_id: string;
  meeting_id: string;
  meeting_code: string;
  /** The meeting's creator. */
  host_user_id: string;
  /** Unix milliseconds. */
  media_start_time: number;
  subject: string;
  state: number;
  record_files?: RecordFile[];
}

export interface RecordList {
  total_count: number;
  current_page: number;
  total_page: number;
  record_meetings?: RecordMeeting[];
}

/** A recording file's links: signed, and valid for a limited time (6 hours by default). */
export interface RecordAddress {
  record_file_id: string;
  /** Plays in the browser (sent inline). */
  view_address: string;
  download_address: string;
  download_address_file_type?: string;
}

/** The longest time window one `/v1/records` query may cover, in seconds (Tencent's limit). */
const RECORDS_WINDOW = 31 * 86_400;
/** The most recordings one `/v1/records` page holds. */
const RECORDS_PAGE = 20;

/**
 * The recordings of meeting `meetingId` that started between `from` and `to` (unix seconds),
 * newest first. `/v1/records` answers for at most 31 days and 20 recordings at a time, so this
 * walks back from `to` one window after another, and through each window's pages.
 */
export async function fetchMeetingRecords(meetingId: string, userid: string, from: number, to: number): Promise<RecordMeeting[]> {
  const found = new Map<string, RecordMeeting>();
  for (let end = to; end >= from; end -= RECORDS_WINDOW) {
    const start = Math.max(from, end - RECORDS_WINDOW + 1);
    for (let page = 1; ; page++) {
      const params = { userid, meeting_id: meetingId, start_time: start, end_time: end, page, page_size: RECORDS_PAGE };
      const list = await call<RecordList>('GET', `/v1/records${query(params)}`);
      for (const r of list.record_meetings ?? []) found.set(r.meeting_record_id, r);
      if (page >= (list.total_page ?? 1)) break;
    }
  }
  return [...found.values()];
}

/** Fresh signed links to a recording's file. */
export function fetchRecordAddress(recordFileId: string, userid: string): Promise<RecordAddress> {
  return call<RecordAddress>('GET', `/v1/addresses/${encodeURIComponent(recordFileId)}${query({ userid })}`);
}

/** Deletes a recording's file (a host of its meeting or an admin). */
export async function deleteRecord(recordFileId: string, userid: string): Promise<void> {
  await call('DELETE', `/v1/records/${encodeURIComponent(recordFileId)}${query({ userid })}`);
}

/** One meeting as `userid` may see it. */
export async function fetchMeeting(id: string, userid: string): Promise<MeetingInfo> {
  const list = await call<MeetingList>('GET', `/v1/meetings/${encodeURIComponent(id)}${query({ userid, instanceid: 1 })}`);
  const m = list.meeting_info_list[0];
  if (!m) throw new ApiError('meeting not found', 404, 10006);
  return m;
}
