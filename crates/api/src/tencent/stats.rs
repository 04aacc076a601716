//! Attendance reports: per-meeting statistics, the CSV export and the `.ics` invitation, and
//! enterprise statistics over a date range. Everything is computed from the durable
//! participant sessions; a session still open counts until now.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use huiyi_store::{Meeting, ParticipantSession};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{acting_id, Caller};
use super::error::{ApiError, ErrorBody};
use super::meetings::{load, rule_of};
use super::{unix_now, Q};
use crate::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// The acting user. A signed-in user may leave it out.
    userid: Option<String>,
    /// The acting user, as Tencent names them (wins over `userid`); with `operator_id_type` 1.
    operator_id: Option<String>,
    operator_id_type: Option<super::access::IdType>,
}

/// Longest range enterprise statistics cover.
const MAX_DAYS: i64 = 366;

#[derive(Serialize, ToSchema, Debug, PartialEq)]
pub struct MeetingStatistics {
    pub meeting_id: String,
    /// People, each counted once however often they joined: by userid, or a guest's browser.
    pub unique_attendees: usize,
    /// The most people connected at the same moment.
    pub peak_concurrency: usize,
    /// The sum of every session's length, in minutes (one decimal).
    pub total_minutes: f64,
    /// `total_minutes / unique_attendees`.
    pub average_minutes: f64,
    pub sessions: usize,
}

fn person(s: &ParticipantSession) -> &str {
    if s.person.is_empty() {
        &s.identity
    } else {
        &s.person
    }
}

fn minutes(secs: i64) -> f64 {
    (secs as f64 / 6.0).round() / 10.0
}

fn session_secs(s: &ParticipantSession, now: i64) -> i64 {
    (s.left_at.unwrap_or(now) - s.joined_at).max(0)
}

/// The statistics of one meeting's sessions.
pub fn summarize(meeting_id: &str, sessions: &[ParticipantSession], now: i64) -> MeetingStatistics {
    let unique: HashSet<&str> = sessions.iter().map(person).collect();
    // Sweep joins and leaves in time order, counting people rather than connections: someone
    // with two devices, or reconnecting (a leave and a join in the same second), is one.
    // At the same second joins come first, so a session shorter than a second still counts.
    let mut edges: Vec<(i64, u8, &str)> = sessions.iter().flat_map(|s| [(s.joined_at, 0, person(s)), (s.left_at.unwrap_or(now).max(s.joined_at), 1, person(s))]).collect();
    edges.sort_unstable();
    let mut connections: HashMap<&str, usize> = HashMap::new();
    let (mut present, mut peak) = (0usize, 0usize);
    for (_, kind, who) in edges {
        let n = connections.entry(who).or_default();
        if kind == 0 {
            *n += 1;
            if *n == 1 {
                present += 1;
                peak = peak.max(present);
            }
        } else if *n > 0 {
            *n -= 1;
            if *n == 0 {
                present -= 1;
            }
        }
    }
    let total: i64 = sessions.iter().map(|s| session_secs(s, now)).sum();
    let total_minutes = minutes(total);
    MeetingStatistics {
        meeting_id: meeting_id.to_owned(),
        unique_attendees: unique.len(),
        peak_concurrency: peak,
        total_minutes,
        average_minutes: if unique.is_empty() { 0.0 } else { (total_minutes / unique.len() as f64 * 10.0).round() / 10.0 },
        sessions: sessions.len(),
    }
}

async fn meeting_and_sessions(state: &AppState, caller: &Caller, userid: Option<&str>, id: &str) -> Result<(Meeting, Vec<ParticipantSession>), ApiError> {
    let user = caller.acting_user(state, userid).await?;
    let m = load(state, caller, &user, id, false).await?;
    let sessions = state.store.all_sessions(&m.meeting_id).await?;
    Ok((m, sessions))
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/statistics", tag = "attendance", params(("meeting_id" = String, Path), UserQuery),
    responses((status = 200, body = MeetingStatistics), (status = "4XX", body = ErrorBody)))]
/// Unique attendees, peak concurrency, total and average minutes.
pub async fn meeting_statistics(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<UserQuery>) -> Result<Json<MeetingStatistics>, ApiError> {
    let (m, sessions) = meeting_and_sessions(&state, &caller, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?, &id).await?;
    Ok(Json(summarize(&m.meeting_id, &sessions, unix_now())))
}

fn iso(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

/// The CSV text of an attendance report.
pub fn attendance_csv_text(sessions: &[ParticipantSession], now: i64) -> Result<String, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |_| ApiError::internal();
    w.write_record(["userid", "user_name", "role", "device", "ip", "join_time", "left_time", "minutes"]).map_err(fail)?;
    for s in sessions {
        // A leading =, +, - or @ would make a spreadsheet run the name as a formula.
        let name = if s.display_name.starts_with(['=', '+', '-', '@']) { format!("'{}", s.display_name) } else { s.display_name.clone() };
        let left = s.left_at.map(iso).unwrap_or_default();
        w.write_record([person(s), &name, &s.role, &s.device, &s.client_addr, &iso(s.joined_at), &left, &minutes(session_secs(s, now)).to_string()]).map_err(fail)?;
    }
    String::from_utf8(w.into_inner().map_err(|_| ApiError::internal())?).map_err(|_| ApiError::internal())
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/attendance.csv", tag = "attendance", params(("meeting_id" = String, Path), UserQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = "4XX", body = ErrorBody)))]
/// The attendance report as CSV, one row per session.
pub async fn attendance_csv(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<UserQuery>) -> Result<Response, ApiError> {
    let (m, sessions) = meeting_and_sessions(&state, &caller, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?, &id).await?;
    let text = attendance_csv_text(&sessions, unix_now())?;
    let disposition = format!("attachment; filename=\"attendance-{}.csv\"", m.meeting_code);
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)], text).into_response())
}

/// iCalendar TEXT escaping.
fn ics_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace(';', "\\;").replace(',', "\\,").replace('\r', "").replace('\n', "\\n")
}

/// Folds a content line at 75 octets, as RFC 5545 asks, without splitting a character.
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
    out
}

fn ics_utc(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0).map(|d| d.format("%Y%m%dT%H%M%SZ").to_string()).unwrap_or_default()
}

/// `±HHMM`, as iCalendar writes UTC offsets.
fn ics_offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let m = secs.unsigned_abs() / 60;
    format!("{sign}{:02}{:02}", m / 60, m % 60)
}

/// A VTIMEZONE for `tz` covering `[from, to]`: its offset at `from`, then one component per
/// offset change in the range, each found to the second. Explicit instants rather than rules,
/// so it is exact for the series without modelling a zone's history.
fn vtimezone(tz: chrono_tz::Tz, from: i64, to: i64) -> Vec<String> {
    use chrono_tz::{OffsetComponents, OffsetName};
    let at = |t: i64| {
        let utc = DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default().naive_utc();
        let o = tz.offset_from_utc_datetime(&utc);
        let total = (o.base_utc_offset() + o.dst_offset()).num_seconds() as i32;
        (total, !o.dst_offset().is_zero(), o.abbreviation().unwrap_or("").to_owned())
    };
    let component = |t: i64, from_offset: i32, (to_offset, dst, name): (i32, bool, String)| {
        let kind = if dst { "DAYLIGHT" } else { "STANDARD" };
        let wall = DateTime::<Utc>::from_timestamp(t + from_offset as i64, 0).unwrap_or_default().format("%Y%m%dT%H%M%S");
        let mut c = vec![format!("BEGIN:{kind}"), format!("DTSTART:{wall}"), format!("TZOFFSETFROM:{}", ics_offset(from_offset)), format!("TZOFFSETTO:{}", ics_offset(to_offset))];
        if !name.is_empty() {
            c.push(format!("TZNAME:{name}"));
        }
        c.push(format!("END:{kind}"));
        c
    };
    let first = at(from);
    let mut lines = vec!["BEGIN:VTIMEZONE".to_owned(), format!("TZID:{}", tz.name())];
    lines.extend(component(from, first.0, first.clone()));
    // Day by day (bounded by the range, at most a few years), bisecting each change.
    let (mut t, mut current) = (from, first.0);
    while t < to {
        let next = (t + 86_400).min(to);
        if at(next).0 != current {
            let (mut lo, mut hi) = (t, next);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if at(mid).0 == current {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let changed = at(hi);
            let to_offset = changed.0;
            lines.extend(component(hi, current, changed));
            current = to_offset;
        }
        t = next;
    }
    lines.push("END:VTIMEZONE".into());
    lines
}

/// The invitation for a meeting: one VEVENT, with an RRULE when it recurs. With a time zone
/// the times carry its IANA name and a VTIMEZONE describes it over the series, so the series
/// keeps its local time across daylight saving.
pub fn invitation(m: &Meeting, join_url: &str, now: i64) -> String {
    let d = &m.data;
    let tz: Option<chrono_tz::Tz> = d.time_zone.parse().ok();
    let when = |t: i64| match tz {
        Some(tz) => match tz.timestamp_opt(t, 0).single() {
            Some(local) => format!(";TZID={}:{}", tz.name(), local.format("%Y%m%dT%H%M%S")),
            None => format!(":{}", ics_utc(t)),
        },
        None => format!(":{}", ics_utc(t)),
    };
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Huiyi//Meetings//EN".to_owned(),
        "METHOD:PUBLISH".to_owned(),
    ];
    if let Some(tz) = tz {
        let last_end = rule_of(m).and_then(|r| r.occurrences(d.start_time, &d.time_zone).last().copied()).map_or(d.end_time, |s| s + d.end_time - d.start_time);
        lines.extend(vtimezone(tz, d.start_time - 86_400, last_end + 86_400));
    }
    lines.extend([
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}@huiyi", m.meeting_id),
        format!("DTSTAMP:{}", ics_utc(now)),
        format!("DTSTART{}", when(d.start_time)),
        format!("DTEND{}", when(d.end_time)),
        format!("SUMMARY:{}", ics_text(&d.subject)),
    ]);
    // A cancelled meeting offers no way in; a live one carries everything needed to join:
    // the link, the code, and the password when there is one.
    if m.status == huiyi_store::MeetingStatus::Cancelled {
        lines.push("DESCRIPTION:This meeting was cancelled.".into());
    } else {
        let password = d.password.as_deref().filter(|p| !p.is_empty()).map(|p| format!("\nPassword: {p}")).unwrap_or_default();
        lines.push(format!("URL:{join_url}"));
        lines.push(format!("DESCRIPTION:{}", ics_text(&format!("{join_url}\nMeeting code: {}{password}", m.meeting_code))));
    }
    if !d.location.is_empty() {
        lines.push(format!("LOCATION:{}", ics_text(&d.location)));
    }
    if let Some(rule) = rule_of(m) {
        let freq = match rule.recurring_type {
            0 => "FREQ=DAILY",
            1 => "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
            2 => "FREQ=WEEKLY",
            3 => "FREQ=WEEKLY;INTERVAL=2",
            _ => "FREQ=MONTHLY",
        };
        let end = if rule.until_type == 1 { format!("COUNT={}", rule.until_count) } else { format!("UNTIL={}", ics_utc(rule.until_date)) };
        lines.push(format!("RRULE:{freq};{end}"));
    }
    if m.status == huiyi_store::MeetingStatus::Cancelled {
        lines.push("STATUS:CANCELLED".into());
    }
    lines.extend(["END:VEVENT".to_owned(), "END:VCALENDAR".to_owned()]);
    lines.iter().map(|l| fold(l)).collect()
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/invitation.ics", tag = "meetings", params(("meeting_id" = String, Path), UserQuery),
    responses((status = 200, content_type = "text/calendar", body = String), (status = "4XX", body = ErrorBody)))]
/// An iCalendar invitation with the join link and code.
pub async fn invitation_ics(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<UserQuery>) -> Result<Response, ApiError> {
    let user = caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let m = load(&state, &caller, &user, &id, false).await?;
    let url = format!("{}/j/{}", state.public_url, m.meeting_code);
    let disposition = format!("attachment; filename=\"meeting-{}.ics\"", m.meeting_code);
    Ok(([(header::CONTENT_TYPE, "text/calendar; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)], invitation(&m, &url, unix_now())).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// First day, `YYYY-MM-DD`.
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    start_date: String,
    /// Last day (included), `YYYY-MM-DD`; at most 366 days after `start_date`.
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    end_date: String,
    /// IANA time zone the days are counted in; UTC by default.
    time_zone: Option<String>,
}

#[derive(Serialize, ToSchema, Debug, PartialEq, Clone)]
pub struct DayStatistics {
    /// `YYYY-MM-DD` (the day totals have the range's first day).
    pub date: String,
    /// Meetings that started that day.
    pub meetings: usize,
    /// The sum of every session's minutes in those meetings.
    pub participant_minutes: f64,
    /// Unique attendees per meeting, on average.
    pub average_size: f64,
}

#[derive(Serialize, ToSchema)]
pub struct EnterpriseStatistics {
    pub start_date: String,
    pub end_date: String,
    pub time_zone: String,
    pub days: Vec<DayStatistics>,
    pub total: DayStatistics,
}

/// Day-by-day figures for the sessions of meetings that started in the range.
pub fn by_day<Z: TimeZone>(sessions: &[ParticipantSession], tz: &Z, first: NaiveDate, last: NaiveDate, now: i64) -> (Vec<DayStatistics>, DayStatistics) {
    let mut meetings: HashMap<&str, Vec<&ParticipantSession>> = HashMap::new();
    for s in sessions {
        meetings.entry(&s.meeting_id).or_default().push(s);
    }
    // Per day: (meetings, seconds, sum of sizes).
    let mut days: BTreeMap<NaiveDate, (usize, i64, usize)> = BTreeMap::new();
    let mut day = first;
    while day <= last {
        days.insert(day, (0, 0, 0));
        day = day.succ_opt().unwrap_or(last + chrono::Days::new(1));
    }
    for list in meetings.values() {
        let start = list.iter().map(|s| s.joined_at).min().unwrap_or(0);
        let Some(date) = DateTime::<Utc>::from_timestamp(start, 0).map(|d| d.with_timezone(tz).date_naive()) else { continue };
        let Some(entry) = days.get_mut(&date) else { continue };
        let people: HashSet<&str> = list.iter().map(|s| person(s)).collect();
        entry.0 += 1;
        entry.1 += list.iter().map(|s| session_secs(s, now)).sum::<i64>();
        entry.2 += people.len();
    }
    let stat = |date: NaiveDate, (n, secs, sizes): (usize, i64, usize)| DayStatistics {
        date: date.format("%Y-%m-%d").to_string(),
        meetings: n,
        participant_minutes: minutes(secs),
        average_size: if n == 0 { 0.0 } else { (sizes as f64 / n as f64 * 10.0).round() / 10.0 },
    };
    let total = days.values().fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    (days.into_iter().map(|(d, v)| stat(d, v)).collect(), stat(first, total))
}

#[utoipa::path(get, path = "/v1/enterprise/statistics", tag = "attendance", params(RangeQuery),
    responses((status = 200, body = EnterpriseStatistics), (status = "4XX", body = ErrorBody)))]
/// Meetings per day, participant-minutes and average size over a date range (admins only).
pub async fn enterprise_statistics(State(state): State<AppState>, Extension(caller): Extension<Caller>, Q(q): Q<RangeQuery>) -> Result<Json<EnterpriseStatistics>, ApiError> {
    caller.require_admin()?;
    let date = |s: &str, f: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| ApiError::invalid(format!("{f} must be a date, YYYY-MM-DD")));
    let (first, last) = (date(&q.start_date, "start_date")?, date(&q.end_date, "end_date")?);
    if last < first || (last - first).num_days() >= MAX_DAYS {
        return Err(ApiError::invalid(format!("end_date must be on or after start_date, at most {MAX_DAYS} days")));
    }
    let tz_name = q.time_zone.filter(|t| !t.is_empty()).unwrap_or_else(|| "UTC".into());
    let tz: chrono_tz::Tz = tz_name.parse().map_err(|_| ApiError::invalid(format!("time_zone {tz_name:?} is not an IANA time zone")))?;
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).and_then(|n| tz.from_local_datetime(&n).earliest()).map(|t| t.timestamp());
    let (Some(from), Some(to)) = (midnight(first), last.succ_opt().and_then(midnight)) else {
        return Err(ApiError::invalid("the date range is outside the calendar"));
    };
    let sessions = state.store.sessions_of_meetings_started_between(&caller.enterprise_id, from, to).await?;
    let (days, total) = by_day(&sessions, &tz, first, last, unix_now());
    Ok(Json(EnterpriseStatistics { start_date: q.start_date, end_date: q.end_date, time_zone: tz_name, days, total }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(meeting: &str, person: &str, join: i64, left: Option<i64>) -> ParticipantSession {
        ParticipantSession {
            participant_sid: format!("{person}-{join}"),
            meeting_id: meeting.into(),
            identity: person.into(),
            display_name: person.into(),
            role: "guest".into(),
            client_addr: String::new(),
            person: person.into(),
            device: String::new(),
            joined_at: join,
            left_at: left,
        }
    }

    #[test]
    fn a_meeting_is_summarised() {
        // Ann 0–600 and again 600–1200 (a reconnect), Bob 300–900, Cat still in since 1000.
        let sessions = [s("m", "ann", 0, Some(600)), s("m", "ann", 600, Some(1200)), s("m", "bob", 300, Some(900)), s("m", "cat", 1000, None)];
        let st = summarize("m", &sessions, 1300);
        assert_eq!(st.unique_attendees, 3);
        assert_eq!(st.peak_concurrency, 2, "Ann's reconnect at 600 is not a third person");
        assert_eq!(st.total_minutes, 35.0); // 600 + 600 + 600 + 300 seconds
        assert_eq!(st.average_minutes, 11.7);
        assert_eq!(st.sessions, 4);
        assert_eq!(summarize("m", &[], 0).average_minutes, 0.0);
        // Two people who were each in for less than a second were still there together.
        assert_eq!(summarize("m", &[s("m", "ann", 5, Some(5)), s("m", "bob", 5, Some(5))], 9).peak_concurrency, 2);
    }

    #[test]
    fn csv_has_a_header_and_defuses_formulas() {
        let mut x = s("m", "ann", 0, Some(90));
        x.display_name = "=HYPERLINK(\"evil\")".into();
        let text = attendance_csv_text(&[x, s("m", "bob, jr", 60, None)], 120).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "userid,user_name,role,device,ip,join_time,left_time,minutes");
        assert!(lines[1].contains("\"'=HYPERLINK(\"\"evil\"\")\""), "{}", lines[1]);
        assert!(lines[1].ends_with("1970-01-01T00:00:00Z,1970-01-01T00:01:30Z,1.5"));
        assert!(lines[2].starts_with("\"bob, jr\""));
    }

    #[test]
    fn days_are_counted_in_the_time_zone() {
        // 2026-11-20T17:00Z is 21 November in Shanghai.
        let t = 1_795_194_000;
        let sessions = [s("m1", "ann", t, Some(t + 600)), s("m1", "bob", t + 60, Some(t + 660)), s("m2", "ann", t - 86_400, Some(t - 86_400 + 120))];
        let first = NaiveDate::from_ymd_opt(2026, 11, 19).unwrap();
        let last = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let (days, total) = by_day(&sessions, &chrono_tz::Asia::Shanghai, first, last, t + 1000);
        assert_eq!(days.iter().map(|d| d.meetings).collect::<Vec<_>>(), vec![0, 1, 1]);
        assert_eq!((days[2].participant_minutes, days[2].average_size), (20.0, 2.0));
        assert_eq!((total.meetings, total.participant_minutes, total.average_size), (2, 22.0, 1.5));
        let (utc_days, _) = by_day(&sessions, &Utc, first, last, t + 1000);
        assert_eq!(utc_days.iter().map(|d| d.meetings).collect::<Vec<_>>(), vec![1, 1, 0]);
    }

    #[test]
    fn a_time_zone_with_daylight_saving_lists_its_changes() {
        // 2026-10-01 to 2027-04-01 in New York: back to EST on 1 November 2026 at 02:00 EDT,
        // forward to EDT on 14 March 2027 at 02:00 EST.
        let lines = vtimezone(chrono_tz::America::New_York, 1_790_812_800, 1_806_537_600);
        let text = lines.join("\n");
        assert!(text.contains("BEGIN:DAYLIGHT\nDTSTART:20260930T200000\nTZOFFSETFROM:-0400\nTZOFFSETTO:-0400\nTZNAME:EDT"), "{text}");
        assert!(text.contains("BEGIN:STANDARD\nDTSTART:20261101T020000\nTZOFFSETFROM:-0400\nTZOFFSETTO:-0500\nTZNAME:EST"), "{text}");
        assert!(text.contains("BEGIN:DAYLIGHT\nDTSTART:20270314T020000\nTZOFFSETFROM:-0500\nTZOFFSETTO:-0400\nTZNAME:EDT"), "{text}");
        assert_eq!(lines.iter().filter(|l| l.starts_with("BEGIN:")).count(), 4);
    }

    #[test]
    fn invitations_are_valid_icalendar() {
        let mut m = super::super::testing::meeting("u");
        let d = &mut m.data;
        d.subject = "Review; part 1, 评审".into();
        d.meeting_type = 1;
        (d.start_time, d.end_time) = (1_795_194_000, 1_795_197_600);
        d.time_zone = "Asia/Shanghai".into();
        d.recurring_rule = Some(serde_json::json!({"recurring_type": 2, "until_type": 1, "until_count": 4}));
        let ics = invitation(&m, "http://h/j/123456789", 0);
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.ends_with("END:VCALENDAR\r\n"));
        assert!(ics.contains("DTSTART;TZID=Asia/Shanghai:20261121T010000\r\n"));
        assert!(ics.contains("SUMMARY:Review\\; part 1\\, 评审\r\n"));
        assert!(ics.contains("RRULE:FREQ=WEEKLY;COUNT=4\r\n"));
        // Shanghai has one offset: a VTIMEZONE with a single STANDARD component.
        assert!(ics.contains("BEGIN:VTIMEZONE\r\nTZID:Asia/Shanghai\r\nBEGIN:STANDARD\r\n"));
        assert!(ics.contains("TZOFFSETFROM:+0800\r\nTZOFFSETTO:+0800\r\n"));
        assert_eq!(ics.matches("BEGIN:STANDARD").count() + ics.matches("BEGIN:DAYLIGHT").count(), 1);
        assert!(ics.split("\r\n").all(|l| l.len() <= 75));
    }

    #[test]
    fn invitations_carry_the_password_and_cancelled_ones_no_link() {
        let mut m = super::super::testing::meeting("u");
        m.data.password = Some("2468".into());
        let ics = invitation(&m, "http://h/j/123456789", 0);
        assert!(ics.contains("URL:http://h/j/123456789\r\n"));
        assert!(ics.contains("Meeting code: 123456789\\nPassword: 2468"), "{ics}");
        m.status = huiyi_store::MeetingStatus::Cancelled;
        let ics = invitation(&m, "http://h/j/123456789", 0);
        assert!(!ics.contains("/j/123456789") && !ics.contains("2468"), "{ics}");
        assert!(ics.contains("STATUS:CANCELLED\r\n"));
    }
}
