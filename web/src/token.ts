// How the app obtains what `room.connect(url, token)` needs.
//
// A link may carry `?token=` (minted by an integrator's backend); a `/j/<code>` link joins
// through POST /v1/meetings/join; otherwise a server started with `--dev` hands out tokens at
// POST /api/dev/token. Without `--dev` that endpoint does not exist,
// and the error is shown to the user as is.

export interface Credentials {
  /** WebSocket base URL; livekit-client appends `/rtc`. */
  url: string;
  token: string;
  /** Join with the microphone off: the meeting's `mute_enable_join` setting. */
  muted?: boolean;
  /** A scheduled meeting's details, from the join answer. */
  meeting?: { id: string; code: string; subject: string; role: string };
}

interface DevTokenAnswer {
  token?: string;
  identity?: string;
  url?: string;
  error?: string;
}

/** The server that served this page also speaks signalling, unless it says otherwise. */
export function sameOriginWsUrl(loc: Location = location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}`;
}

/** Why no token was given: the server's `/v1` error code when there is one (see i18n's
 * `joinError.*`), `network` when the server could not be reached. */
export class TokenError extends Error {
  constructor(
    message: string,
    readonly code?: number | 'network',
    /** For a meeting that has not started: its scheduled start, Unix seconds. */
    readonly startTime?: number,
  ) {
    super(message);
  }
}

export async function devToken(room: string, name: string): Promise<Credentials> {
  let res: Response;
  try {
    res = await fetch('/api/dev/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room, name }),
    });
  } catch (e) {
    throw new TokenError(e instanceof Error ? e.message : String(e), 'network');
  }
  // The body may not be JSON at all (a 404 page from a proxy, say): fall back to the status line.
  const answer = (await res.json().catch(() => ({}))) as DevTokenAnswer;
  if (!res.ok || !answer.token) {
    throw new TokenError(answer.error ?? `HTTP ${res.status} ${res.statusText}`.trim());
  }
  return { url: answer.url || sameOriginWsUrl(), token: answer.token };
}

/**
 * A random id this browser keeps (localStorage `huiyi.clientId`), so a guest who rejoins counts
 * as the same attendee. getRandomValues, unlike randomUUID, works on plain-http LAN addresses.
 */
export function clientId(): string {
  const saved = localStorage.getItem('huiyi.clientId');
  if (saved) return saved;
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const id = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  localStorage.setItem('huiyi.clientId', id);
  return id;
}

interface JoinAnswer {
  token?: string;
  url?: string;
  subject?: string;
  meeting_id?: string;
  meeting_code?: string;
  role?: string;
  mute_on_join?: boolean;
  error_info?: { error_code: number; message: string; start_time?: number };
}

/** The 9-digit meeting code in what someone typed ("123 456 789", "123-456-789"), if it is one. */
export function meetingCodeIn(text: string): string | undefined {
  const digits = text.replace(/[\s-]/g, '');
  return /^\d{9}$/.test(digits) ? digits : undefined;
}

/** Whether the text looks like an attempt at a meeting code (only digits, spaces and dashes). */
export function looksLikeCode(text: string): boolean {
  return /^[\d\s-]+$/.test(text.trim());
}

/** Joins a scheduled meeting by its 9-digit code (a `/j/<code>` link) through the server's
 * POST /v1/meetings/join, with the password when the meeting has one. */
export async function joinByCode(code: string, name: string, password: string): Promise<Credentials> {
  let res: Response;
  try {
    res = await fetch('/v1/meetings/join', {
      method: 'POST',
      // Signed in, the session cookie makes the participant the user (and host of their own
      // meetings); the CSRF header is what every cookie-authenticated write carries.
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'X-Huiyi-Csrf': '1' },
      body: JSON.stringify({ meeting_code: code, display_name: name, password: password || undefined, client_id: clientId() }),
    });
  } catch (e) {
    throw new TokenError(e instanceof Error ? e.message : String(e), 'network');
  }
  const answer = (await res.json().catch(() => ({}))) as JoinAnswer;
  if (!res.ok || !answer.token) {
    throw new TokenError(answer.error_info?.message ?? `HTTP ${res.status} ${res.statusText}`.trim(), answer.error_info?.error_code, answer.error_info?.start_time);
  }
  return {
    url: answer.url || sameOriginWsUrl(),
    token: answer.token,
    muted: answer.mute_on_join === true,
    meeting: { id: answer.meeting_id ?? '', code: answer.meeting_code ?? code, subject: answer.subject ?? '', role: answer.role ?? 'guest' },
  };
}
