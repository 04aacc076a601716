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

/** One meeting as `userid` may see it. */
export async function fetchMeeting(id: string, userid: string): Promise<MeetingInfo> {
  const list = await call<MeetingList>('GET', `/v1/meetings/${encodeURIComponent(id)}${query({ userid, instanceid: 1 })}`);
  const m = list.meeting_info_list[0];
  if (!m) throw new ApiError('meeting not found', 404, 10006);
  return m;
}
