// How the app obtains what `room.connect(url, token)` needs.
//
// A link may carry `?token=` (minted by an integrator's backend); otherwise a server started with
// `--dev` hands out tokens at POST /api/dev/token. Without `--dev` that endpoint does not exist,
// and the error is shown to the user as is.

export interface Credentials {
  /** WebSocket base URL; livekit-client appends `/rtc`. */
  url: string;
  token: string;
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

export class TokenError extends Error {}

export async function devToken(room: string, name: string): Promise<Credentials> {
  let res: Response;
  try {
    res = await fetch('/api/dev/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room, name }),
    });
  } catch (e) {
    throw new TokenError(e instanceof Error ? e.message : String(e));
  }
  // The body may not be JSON at all (a 404 page from a proxy, say): fall back to the status line.
  const answer = (await res.json().catch(() => ({}))) as DevTokenAnswer;
  if (!res.ok || !answer.token) {
    throw new TokenError(answer.error ?? `HTTP ${res.status} ${res.statusText}`.trim());
  }
  return { url: answer.url || sameOriginWsUrl(), token: answer.token };
}

interface JoinAnswer {
  token?: string;
  url?: string;
  subject?: string;
  error_info?: { error_code: number; message: string };
}

/** Joins a scheduled meeting by its 9-digit code (a `/j/<code>` link) through the server's
 * POST /v1/meetings/join, with the password when the meeting has one. */
export async function joinByCode(code: string, name: string, password: string): Promise<Credentials> {
  let res: Response;
  try {
    res = await fetch('/v1/meetings/join', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ meeting_code: code, display_name: name, password: password || undefined }),
    });
  } catch (e) {
    throw new TokenError(e instanceof Error ? e.message : String(e));
  }
  const answer = (await res.json().catch(() => ({}))) as JoinAnswer;
  if (!res.ok || !answer.token) {
    throw new TokenError(answer.error_info?.message ?? `HTTP ${res.status} ${res.statusText}`.trim());
  }
  return { url: answer.url || sameOriginWsUrl(), token: answer.token };
}
