// Time zones for the portal, with Intl only: a wall-clock date and time in an IANA zone ⇄ unix
// seconds, and dates shown in a meeting's own zone.
//
// Self-contained on purpose (no imports): web/test/tz.test.mjs loads this file in Node.

/** `YYYY-MM-DD` and `HH:MM`, as `<input type=date>` and `<input type=time>` read and write them. */
export interface WallClock {
  date: string;
  time: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Year, month (1–12), day, hour, minute and second that clocks in `tz` show at `utcMs`. */
function wallParts(utcMs: number, tz: string): number[] {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(tz, f);
  }
  const parts = f.formatToParts(new Date(utcMs));
  const num = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? NaN);
  return [num('year'), num('month'), num('day'), num('hour'), num('minute'), num('second')];
}

/** How far `tz`'s clocks are ahead of UTC at `utcMs`, in milliseconds (negative west of Greenwich). */
export function offsetMs(utcMs: number, tz: string): number {
  const [y = 0, mo = 1, d = 1, h = 0, mi = 0, s = 0] = wallParts(utcMs, tz);
  return Date.UTC(y, mo - 1, d, h, mi, s) - Math.floor(utcMs / 1000) * 1000;
}

function parseWall(date: string, time: string): number {
  const dm = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const tm = /^(\d{2}):(\d{2})/.exec(time);
  if (!dm || !tm) throw new RangeError(`not a date and time: ${date} ${time}`);
  return Date.UTC(Number(dm[1]), Number(dm[2]) - 1, Number(dm[3]), Number(tm[1]), Number(tm[2]));
}

/**
 * The unix seconds at which clocks in `tz` show `date` `time`.
 *
 * Around a daylight-saving change a wall-clock time can occur twice (clocks go back: the earlier
 * instant is taken) or not at all (clocks go forward: the time is read with the offset before
 * the change, so 02:30 becomes 03:30). This is what Temporal calls "compatible".
 */
export function zonedToUnix(date: string, time: string, tz: string): number {
  const naive = parseWall(date, time);
  // The offsets a day either side bracket any change near this time (zones change at most
  // once in two days).
  const before = offsetMs(naive - 86_400_000, tz);
  const after = offsetMs(naive + 86_400_000, tz);
  const valid = [naive - before, naive - after].filter((t) => offsetMs(t, tz) === naive - t);
  const utcMs = valid.length ? Math.min(...valid) : naive - before;
  return Math.floor(utcMs / 1000);
}

/** The date and time that clocks in `tz` show at `unix` seconds. */
export function unixToWall(unix: number, tz: string): WallClock {
  const [y = 0, mo = 1, d = 1, h = 0, mi = 0] = wallParts(unix * 1000, tz);
  const p2 = (n: number) => String(n).padStart(2, '0');
  return { date: `${y}-${p2(mo)}-${p2(d)}`, time: `${p2(h)}:${p2(mi)}` };
}

/** `date` (`YYYY-MM-DD`) plus `days` calendar days. */
export function addDays(date: string, days: number): string {
  const ms = parseWall(date, '00:00') + days * 86_400_000;
  return new Date(ms).toISOString().slice(0, 10);
}

/** The browser's own zone, e.g. `Asia/Shanghai`. */
export function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** `tz` if Intl knows it, else the browser's zone (a meeting saved without one, say). */
export function validZone(tz: string | undefined | null): string {
  if (!tz) return browserZone();
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz;
  } catch {
    return browserZone();
  }
}

/** Every zone the browser knows, sorted, always including UTC and the browser's own. */
export function timeZones(): string[] {
  let zones: string[] = [];
  try {
    zones = Intl.supportedValuesOf('timeZone');
  } catch {
    // Older browsers: the list shrinks to the two that always exist.
  }
  return [...new Set([...zones, 'UTC', browserZone()])].sort();
}

/** A meeting's time span in its zone, e.g. "Nov 22, 2026, 10:00 – 11:00". */
export function formatRange(startUnix: number, endUnix: number, tz: string, locale: string): string {
  const f = new Intl.DateTimeFormat(locale, { timeZone: validZone(tz), dateStyle: 'medium', timeStyle: 'short' });
  return f.formatRange(new Date(startUnix * 1000), new Date(endUnix * 1000));
}

/** One instant in `tz`, short, for table cells: e.g. "11/22/26, 10:00". */
export function formatShort(unix: number, tz: string, locale: string): string {
  const f = new Intl.DateTimeFormat(locale, { timeZone: validZone(tz), dateStyle: 'short', timeStyle: 'short' });
  return f.format(new Date(unix * 1000));
}

/** The calendar date in `tz` at `unix`, e.g. "Nov 22, 2026". */
export function formatDate(unix: number, tz: string, locale: string): string {
  return new Intl.DateTimeFormat(locale, { timeZone: validZone(tz), dateStyle: 'medium' }).format(new Date(unix * 1000));
}

/** One instant in `tz`, e.g. "Nov 22, 2026, 10:00". */
export function formatInstant(unix: number, tz: string, locale: string): string {
  const f = new Intl.DateTimeFormat(locale, { timeZone: validZone(tz), dateStyle: 'medium', timeStyle: 'short' });
  return f.format(new Date(unix * 1000));
}
