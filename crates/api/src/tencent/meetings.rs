//! `/v1/meetings`: schedule, read, query by code, list upcoming, modify, cancel, and a user's
//! history, with Tencent Meeting's paths, snake_case fields and `meeting_info_list` wrapper.
//! Changes are announced to webhooks (`meeting.created`, `meeting.updated`, `meeting.canceled`).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use huiyi_store::{Meeting, MeetingStatus, NewMeeting, StoreError, User};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::access::{acting_id, may_read, may_write, Caller};
use super::error::{ApiError, ErrorBody};
use super::recurrence::RecurringRule;
use super::{paging, parse_body, unix_now, Q};
use crate::webhook::Event;
use crate::AppState;

/// The most hosts and invitees one meeting may name (Tencent Meeting's own limits).
pub const MAX_HOSTS: usize = 10;
pub const MAX_INVITEES: usize = 300;

/// `hosts` or `invitees`, checked: at most `max` people, each a user of the caller's
/// enterprise, each once (duplicates are dropped, in order).
/// How far in the past a new start time may be: "now" as a form sends it, and clock skew.
const PAST_START_GRACE_SECS: i64 = 300;

pub async fn check_people(state: &AppState, enterprise_id: &str, field: &str, people: Vec<UserRef>, max: usize) -> Result<Vec<UserRef>, ApiError> {
    if people.len() > max {
        return Err(ApiError::invalid(format!("{field} names at most {max} users")));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(people.len());
    for p in people {
        if !seen.insert(p.userid.clone()) {
            continue;
        }
        match state.store.user(enterprise_id, &p.userid).await {
            Ok(_) => out.push(p),
            Err(huiyi_store::StoreError::NotFound) => return Err(ApiError::invalid(format!("{field}: no user {:?} in this enterprise", p.userid))),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// A person named in `hosts` or `invitees`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct UserRef {
    pub userid: String,
}

/// Meeting settings, with Tencent's names. Unknown keys are refused, so a typo is not
/// silently ignored.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mute_enable_join: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mute_enable_type_join: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_unmute_self: Option<bool>,
    /// Whether others may join before a host has (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_in_before_host: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_in_waiting_room: Option<bool>,
    /// Who may join: 1 everyone (default), 2 invitees only, 3 members of the enterprise only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 3)]
    pub only_user_join_type: Option<i64>,
    /// Whether one person may be connected from several devices at once (default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_multi_device: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_record_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_nickname: Option<i64>,
    /// Members of the enterprise only; the same as `only_user_join_type` 3, which wins when
    /// both are given. Enforced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_enterprise_user_allowed: Option<bool>,
    /// The answer-side name of `only_enterprise_user_allowed` in Tencent's API; accepted too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_allow_enterprise_user_join: Option<bool>,
    // Stored and returned, not yet enforced (docs/tencent-api.md lists them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_screen_shared_watermark: Option<bool>,
    /// 0 single row, 1 several rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1)]
    pub water_mark_type: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant_join_auto_record: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_host_pause_auto_record: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play_ivr_on_join: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play_ivr_on_leave: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_asr: Option<bool>,
    /// 0 open, 1 closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1)]
    pub open_asr_view: Option<i64>,
}

impl Settings {
    /// The stored settings of a meeting (unknown or malformed keys read as unset).
    pub fn of(meeting: &Meeting) -> Settings {
        serde_json::from_value(meeting.data.settings.clone()).unwrap_or_default()
    }

    /// Who may join: `only_user_join_type` (1 everyone, 2 invitees, 3 members), made 3 when it
    /// says everyone but only enterprise members are allowed.
    pub fn join_type(&self) -> i64 {
        let enterprise_only = self.only_enterprise_user_allowed.or(self.only_allow_enterprise_user_join) == Some(true);
        // The stricter wins: "everyone" never undoes "members only".
        match self.only_user_join_type.unwrap_or(1) {
            1 if enterprise_only => 3,
            t => t,
        }
    }
}

/// The body of `POST /v1/meetings` and `PUT /v1/meetings/{meeting_id}`.
#[derive(Deserialize, ToSchema)]
pub struct MeetingBody {
    /// The acting user. A signed-in user may leave it out.
    #[serde(default)]
    pub userid: Option<String>,
    /// The acting user, as Tencent names them (wins over `userid`); with `operator_id_type` 1.
    #[serde(default)]
    pub operator_id: Option<String>,
    #[serde(default)]
    pub operator_id_type: Option<super::access::IdType>,
    #[serde(default)]
    pub instanceid: Option<i64>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
    pub subject: Option<String>,
    /// 0 scheduled, 1 instant.
    #[serde(default, rename = "type")]
    #[schema(minimum = 0, maximum = 1)]
    pub kind: Option<i64>,
    /// Unix seconds, as a string (a number is accepted too).
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{1,12}$")]
    pub start_time: Value,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{1,12}$")]
    pub end_time: Value,
    /// 4 to 6 digits; empty for none.
    #[serde(default)]
    #[schema(pattern = "^([0-9]{4,6})?$")]
    pub password: Option<String>,
    #[serde(default)]
    pub hosts: Option<Vec<UserRef>>,
    #[serde(default)]
    pub invitees: Option<Vec<UserRef>>,
    #[serde(default)]
    pub settings: Option<Settings>,
    /// An IANA time zone, e.g. `Asia/Shanghai`; recurrences are computed in it.
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    #[schema(max_length = 255)]
    pub location: Option<String>,
    /// 0 a single meeting, 1 recurring (needs `recurring_rule`).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1)]
    pub meeting_type: Option<i64>,
    #[serde(default)]
    pub recurring_rule: Option<RecurringRule>,
}

/// One occurrence of a recurring meeting.
#[derive(Serialize, ToSchema)]
pub struct SubMeeting {
    pub sub_meeting_id: String,
    pub status: i64,
    pub start_time: String,
    pub end_time: String,
}

/// One entry of `meeting_info_list`.
#[derive(Serialize, ToSchema)]
pub struct MeetingInfo {
    pub subject: String,
    pub meeting_id: String,
    pub meeting_code: String,
    #[serde(rename = "type")]
    pub kind: i64,
    pub meeting_type: i64,
    pub join_url: String,
    pub hosts: Vec<UserRef>,
    /// The invited users, under Tencent's name for them.
    pub participants: Vec<UserRef>,
    /// The same list, under the name Huiyi's earlier answers used (kept for its portal).
    pub invitees: Vec<UserRef>,
    /// Invitees that are not users of the enterprise: always empty, since such invitees are
    /// refused when a meeting is created or changed.
    pub user_non_registered: Vec<String>,
    pub start_time: String,
    pub end_time: String,
    pub settings: Settings,
    pub time_zone: String,
    pub location: String,
    pub need_password: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// `MEETING_STATE_INIT`, `MEETING_STATE_STARTED`, `MEETING_STATE_ENDED` or
    /// `MEETING_STATE_CANCELLED`; absent in the answer to a create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurring_rule: Option<RecurringRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_sub_meeting_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_meetings: Option<Vec<SubMeeting>>,
}

/// The `{meeting_number, meeting_info_list}` wrapper; the paging fields appear on lists.
#[derive(Serialize, ToSchema)]
pub struct MeetingList {
    pub meeting_number: usize,
    pub meeting_info_list: Vec<MeetingInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_page: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_page: Option<i64>,
}

/// The answer to a modify: the meeting's id and code.
#[derive(Serialize, ToSchema)]
pub struct MeetingRef {
    pub meeting_id: String,
    pub meeting_code: String,
}

#[derive(Serialize, ToSchema)]
pub struct MeetingRefList {
    pub meeting_number: usize,
    pub meeting_info_list: Vec<MeetingRef>,
}

/// An empty JSON object, the answer of actions that return nothing.
#[derive(Serialize, ToSchema)]
pub struct Empty {}

fn unix_seconds(v: &Value, field: &str) -> Result<Option<i64>, ApiError> {
    let bad = || ApiError::invalid(format!("{field} must be unix seconds"));
    let t = match v {
        Value::Null => return Ok(None),
        Value::String(s) => s.parse::<i64>().map_err(|_| bad())?,
        Value::Number(n) => n.as_i64().ok_or_else(bad)?,
        _ => return Err(ApiError::invalid(format!("{field} must be unix seconds as a string"))),
    };
    // Year 1970 to 9999: beyond that, calendars and time zones have nothing to say.
    if !(0..=253_402_300_799).contains(&t) {
        return Err(bad());
    }
    Ok(Some(t))
}

fn check_password(p: &Option<String>) -> Result<(), ApiError> {
    match p.as_deref() {
        None | Some("") => Ok(()),
        Some(p) if (4..=6).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()) => Ok(()),
        Some(_) => Err(ApiError::invalid("password must be 4 to 6 digits")),
    }
}

fn check_subject(s: &str) -> Result<(), ApiError> {
    if s.trim().is_empty() || s.chars().count() > 255 {
        return Err(ApiError::invalid("subject is required, at most 255 characters"));
    }
    Ok(())
}

fn check_time_zone(tz: &str) -> Result<(), ApiError> {
    if !tz.is_empty() && tz.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::invalid(format!("time_zone {tz:?} is not an IANA time zone")));
    }
    Ok(())
}

fn check_settings(s: &Settings) -> Result<(), ApiError> {
    if s.only_user_join_type.is_some_and(|t| !(1..=3).contains(&t)) {
        return Err(ApiError::invalid("settings.only_user_join_type must be 1 (everyone), 2 (invitees) or 3 (enterprise members)"));
    }
    for (name, v, max) in [("water_mark_type", s.water_mark_type, 1), ("open_asr_view", s.open_asr_view, 1), ("mute_enable_type_join", s.mute_enable_type_join, 2)] {
        if v.is_some_and(|v| !(0..=max).contains(&v)) {
            return Err(ApiError::invalid(format!("settings.{name} must be 0 to {max}")));
        }
    }
    if s.change_nickname.is_some_and(|v| !(1..=2).contains(&v)) {
        return Err(ApiError::invalid("settings.change_nickname must be 1 (allowed) or 2 (not allowed)"));
    }
    if s.auto_record_type.as_deref().is_some_and(|t| !matches!(t, "none" | "local" | "cloud")) {
        return Err(ApiError::invalid("settings.auto_record_type must be none, local or cloud"));
    }
    Ok(())
}

fn check_text(field: &str, s: &str, max: usize) -> Result<(), ApiError> {
    if s.chars().count() > max {
        return Err(ApiError::invalid(format!("{field} is at most {max} characters")));
    }
    Ok(())
}

fn to_value<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|_| ApiError::internal())
}

fn refs(v: &Value) -> Vec<UserRef> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// The meeting's recurrence rule, if it has one.
pub fn rule_of(m: &Meeting) -> Option<RecurringRule> {
    m.data.recurring_rule.as_ref().and_then(|r| serde_json::from_value(r.clone()).ok())
}

/// The public form of a stored meeting.
pub fn info(state: &AppState, m: &Meeting, with_status: bool) -> MeetingInfo {
    let d = &m.data;
    let password = d.password.clone().filter(|p| !p.is_empty());
    let rule = rule_of(m);
    let sub_meetings = rule.as_ref().map(|rule| {
        let length = d.end_time - d.start_time;
        rule.occurrences(d.start_time, &d.time_zone)
            .into_iter()
            .map(|start| SubMeeting { sub_meeting_id: start.to_string(), status: 0, start_time: start.to_string(), end_time: (start + length).to_string() })
            .collect::<Vec<_>>()
    });
    MeetingInfo {
        subject: d.subject.clone(),
        meeting_id: m.meeting_id.clone(),
        meeting_code: m.meeting_code.clone(),
        kind: d.meeting_kind,
        meeting_type: d.meeting_type,
        join_url: format!("{}/j/{}", state.public_url, m.meeting_code),
        hosts: refs(&d.hosts),
        participants: refs(&d.invitees),
        invitees: refs(&d.invitees),
        user_non_registered: Vec::new(),
        start_time: d.start_time.to_string(),
        end_time: d.end_time.to_string(),
        settings: Settings::of(m),
        time_zone: d.time_zone.clone(),
        location: d.location.clone(),
        need_password: password.is_some(),
        password,
        status: with_status.then(|| m.status.as_str().to_owned()),
        // The occurrence that has not ended yet (the last one once all have).
        current_sub_meeting_id: sub_meetings.as_ref().and_then(|s| {
            let now = unix_now();
            s.iter().find(|o| o.end_time.parse::<i64>().is_ok_and(|end| end > now)).or(s.last()).map(|o| o.sub_meeting_id.clone())
        }),
        sub_meetings,
        recurring_rule: rule,
    }
}

fn list(state: &AppState, meetings: &[Meeting], with_status: bool) -> MeetingList {
    MeetingList {
        meeting_number: meetings.len(),
        meeting_info_list: meetings.iter().map(|m| info(state, m, with_status)).collect(),
        total_count: None,
        current_page: None,
        current_size: None,
        total_page: None,
    }
}

/// A meeting of the caller's enterprise that `user` may read (or, with `write`, change).
pub async fn load(state: &AppState, caller: &Caller, user: &User, id: &str, write: bool) -> Result<Meeting, ApiError> {
    let m = match state.store.meeting(&caller.enterprise_id, id).await {
        Ok(m) => m,
        Err(StoreError::NotFound) => return Err(ApiError::not_found("meeting")),
        Err(e) => return Err(e.into()),
    };
    if !may_read(caller, user, &m) {
        // Not revealing whether it exists.
        return Err(ApiError::not_found("meeting"));
    }
    if write && !may_write(caller, user, &m) {
        return Err(ApiError::forbidden("only the meeting's hosts or an admin may change it"));
    }
    Ok(m)
}

#[utoipa::path(post, path = "/v1/meetings", tag = "meetings", request_body = MeetingBody,
    responses((status = 200, body = MeetingList), (status = "4XX", body = ErrorBody)))]
/// Schedule (type 0) or start an instant meeting (type 1).
pub async fn create(State(state): State<AppState>, Extension(caller): Extension<Caller>, body: axum::body::Bytes) -> Result<Json<MeetingList>, ApiError> {
    let b: MeetingBody = parse_body(&body)?;
    let user = caller.acting_user(&state, acting_id(b.userid.as_deref(), b.operator_id.as_deref(), b.operator_id_type.as_ref())?).await?;
    let subject = b.subject.unwrap_or_default();
    check_subject(&subject)?;
    let kind = b.kind.unwrap_or(0);
    if !matches!(kind, 0 | 1) {
        return Err(ApiError::invalid("type must be 0 (scheduled) or 1 (instant)"));
    }
    let now = unix_now();
    let (start, end) = match (unix_seconds(&b.start_time, "start_time")?, unix_seconds(&b.end_time, "end_time")?) {
        (Some(s), Some(e)) => (s, e),
        (None, None) if kind == 1 => (now, now + 3600),
        _ => return Err(ApiError::invalid("start_time and end_time are required for a scheduled meeting")),
    };
    if end <= start {
        return Err(ApiError::invalid("end_time must be after start_time"));
    }
    // A single meeting cannot be scheduled in the past (a few minutes of grace for "now" and
    // clocks a little apart). A recurring series may have begun: its past occurrences are history.
    if b.meeting_type.unwrap_or(0) == 0 && start < now - PAST_START_GRACE_SECS {
        return Err(ApiError::invalid("start_time is in the past; choose a time from now on"));
    }
    check_password(&b.password)?;
    let time_zone = b.time_zone.unwrap_or_default();
    check_time_zone(&time_zone)?;
    let location = b.location.unwrap_or_default();
    check_text("location", &location, 255)?;
    let meeting_type = b.meeting_type.unwrap_or(0);
    let rule = match (meeting_type, b.recurring_rule) {
        (0, _) => None,
        (1, Some(rule)) => {
            rule.validate().map_err(ApiError::invalid)?;
            Some(to_value(&rule)?)
        }
        (1, None) => return Err(ApiError::invalid("meeting_type 1 needs a recurring_rule")),
        _ => return Err(ApiError::invalid("meeting_type must be 0 or 1")),
    };
    let new = NewMeeting {
        enterprise_id: caller.enterprise_id.clone(),
        creator_userid: user.userid.clone(),
        subject,
        meeting_kind: kind,
        meeting_type,
        start_time: start,
        end_time: end,
        password: b.password.filter(|p| !p.is_empty()),
        time_zone,
        location,
        settings: {
            let settings = b.settings.unwrap_or_default();
            check_settings(&settings)?;
            to_value(&settings)?
        },
        hosts: to_value(&check_people(&state, &caller.enterprise_id, "hosts", b.hosts.unwrap_or_default(), MAX_HOSTS).await?)?,
        invitees: to_value(&check_people(&state, &caller.enterprise_id, "invitees", b.invitees.unwrap_or_default(), MAX_INVITEES).await?)?,
        recurring_rule: rule,
    };
    let m = state.store.create_meeting(&new, now).await?;
    tracing::info!(meeting_id = %m.meeting_id, code = %m.meeting_code, "meeting created");
    state.webhooks.meeting_event(Event::MeetingCreated, &m, Some(&user), now).await;
    Ok(Json(list(&state, &[m], false)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// The acting user. A signed-in user may leave it out.
    userid: Option<String>,
    /// The acting user, as Tencent names them (wins over `userid`); with `operator_id_type` 1.
    operator_id: Option<String>,
    operator_id_type: Option<super::access::IdType>,
    instanceid: Option<i64>,
    meeting_code: Option<String>,
    /// From 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// 1 to 20.
    #[param(minimum = 1, maximum = 20)]
    page_size: Option<i64>,
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}", tag = "meetings", params(("meeting_id" = String, Path), UserQuery),
    responses((status = 200, body = MeetingList), (status = "4XX", body = ErrorBody)))]
/// One meeting, with its status.
pub async fn get(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<UserQuery>) -> Result<Json<MeetingList>, ApiError> {
    let _ = q.instanceid;
    let user = caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let m = load(&state, &caller, &user, &id, false).await?;
    Ok(Json(list(&state, &[m], true)))
}

#[utoipa::path(get, path = "/v1/meetings", tag = "meetings", params(UserQuery),
    responses((status = 200, body = MeetingList), (status = "4XX", body = ErrorBody)))]
/// With `meeting_code`: the live meeting with that code. Without: the user's upcoming
/// meetings, soonest first, paged with `page` (from 1) and `page_size` (1 to 20, default 20).
pub async fn query(State(state): State<AppState>, Extension(caller): Extension<Caller>, Q(q): Q<UserQuery>) -> Result<Json<MeetingList>, ApiError> {
    let user = caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    if let Some(code) = q.meeting_code {
        let m = match state.store.live_meeting_by_code(&code).await {
            Ok(m) if m.data.enterprise_id == caller.enterprise_id && may_read(&caller, &user, &m) => m,
            Ok(_) | Err(StoreError::NotFound) => return Err(ApiError::not_found("meeting")),
            Err(e) => return Err(e.into()),
        };
        return Ok(Json(list(&state, &[m], true)));
    }
    let (page, size) = paging(q.page, q.page_size, 20, 20)?;
    let (meetings, total) = state.store.upcoming_meetings(&caller.enterprise_id, &user.userid, unix_now(), page, size).await?;
    let mut v = list(&state, &meetings, true);
    v.total_count = Some(total);
    v.current_page = Some(page);
    v.current_size = Some(meetings.len());
    v.total_page = Some((total + size - 1) / size);
    Ok(Json(v))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// From 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// 1 to 20.
    #[param(minimum = 1, maximum = 20)]
    page_size: Option<i64>,
}

/// One ended meeting in a user's history, in Tencent's shape (times are integers here).
#[derive(Serialize, ToSchema)]
pub struct HistoryMeeting {
    pub meeting_id: String,
    pub meeting_code: String,
    pub subject: String,
    pub status: String,
    pub meeting_type: i64,
    /// The occurrence of a recurring meeting; empty for a single meeting.
    pub sub_meeting_id: String,
    /// Unix seconds: the scheduled start and end.
    pub start_time: i64,
    pub end_time: i64,
    pub time_zone: String,
    pub location: String,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryList {
    pub meeting_number: usize,
    pub total_count: i64,
    pub current_page: i64,
    pub current_size: usize,
    pub total_page: i64,
    pub meeting_info_list: Vec<HistoryMeeting>,
}

#[utoipa::path(get, path = "/v1/history/meetings/{userid}", tag = "meetings", params(("userid" = String, Path), PageQuery),
    responses((status = 200, body = HistoryList), (status = "4XX", body = ErrorBody)))]
/// A user's ended meetings (created or attended), most recent first.
pub async fn history(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(userid): Path<String>, Q(q): Q<PageQuery>) -> Result<Json<HistoryList>, ApiError> {
    let user = caller.acting_user(&state, Some(&userid)).await?;
    let (page, size) = paging(q.page, q.page_size, 20, 20)?;
    let (meetings, total) = state.store.history_meetings(&caller.enterprise_id, &user.userid, page, size).await?;
    let items: Vec<HistoryMeeting> = meetings
        .into_iter()
        .map(|m| HistoryMeeting {
            status: m.status.as_str().to_owned(),
            meeting_type: m.data.meeting_type,
            sub_meeting_id: String::new(),
            start_time: m.data.start_time,
            end_time: m.data.end_time,
            time_zone: m.data.time_zone,
            location: m.data.location,
            subject: m.data.subject,
            meeting_code: m.meeting_code,
            meeting_id: m.meeting_id,
        })
        .collect();
    Ok(Json(HistoryList {
        meeting_number: items.len(),
        total_count: total,
        current_page: page,
        current_size: items.len(),
        total_page: (total + size - 1) / size,
        meeting_info_list: items,
    }))
}

#[utoipa::path(put, path = "/v1/meetings/{meeting_id}", tag = "meetings", params(("meeting_id" = String, Path)), request_body = MeetingBody,
    responses((status = 200, body = MeetingRefList), (status = "4XX", body = ErrorBody)))]
/// Changes the fields given; settings merge. Ended or cancelled meetings cannot be changed.
pub async fn update(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<MeetingRefList>, ApiError> {
    let b: MeetingBody = parse_body(&body)?;
    let user = caller.acting_user(&state, acting_id(b.userid.as_deref(), b.operator_id.as_deref(), b.operator_id_type.as_ref())?).await?;
    let current = load(&state, &caller, &user, &id, true).await?;
    if !current.status.is_live() {
        return Err(ApiError::conflict("an ended or cancelled meeting cannot be modified"));
    }
    let mut d = current.data.clone();
    if let Some(s) = b.subject {
        check_subject(&s)?;
        d.subject = s;
    }
    if let Some(s) = unix_seconds(&b.start_time, "start_time")? {
        d.start_time = s;
    }
    if let Some(e) = unix_seconds(&b.end_time, "end_time")? {
        d.end_time = e;
    }
    if d.end_time <= d.start_time {
        return Err(ApiError::invalid("end_time must be after start_time"));
    }
    if d.start_time != current.data.start_time && d.meeting_type == 0 && d.start_time < unix_now() - PAST_START_GRACE_SECS {
        return Err(ApiError::invalid("start_time is in the past; choose a time from now on"));
    }
    if b.password.is_some() {
        check_password(&b.password)?;
        d.password = b.password.filter(|p| !p.is_empty());
    }
    if let Some(s) = b.settings {
        check_settings(&s)?;
        // Settings merge: the ones given replace, the others stay.
        if let (Value::Object(old), Value::Object(new)) = (&mut d.settings, to_value(&s)?) {
            old.extend(new);
        }
    }
    if let Some(h) = b.hosts {
        d.hosts = to_value(&check_people(&state, &caller.enterprise_id, "hosts", h, MAX_HOSTS).await?)?;
    }
    if let Some(i) = b.invitees {
        d.invitees = to_value(&check_people(&state, &caller.enterprise_id, "invitees", i, MAX_INVITEES).await?)?;
    }
    if let Some(t) = b.time_zone {
        check_time_zone(&t)?;
        d.time_zone = t;
    }
    if let Some(l) = b.location {
        check_text("location", &l, 255)?;
        d.location = l;
    }
    match (b.meeting_type, b.recurring_rule) {
        (Some(0), _) => {
            d.meeting_type = 0;
            d.recurring_rule = None;
        }
        (Some(1) | None, Some(rule)) => {
            rule.validate().map_err(ApiError::invalid)?;
            d.meeting_type = 1;
            d.recurring_rule = Some(to_value(&rule)?);
        }
        (Some(1), None) if d.recurring_rule.is_none() => return Err(ApiError::invalid("meeting_type 1 needs a recurring_rule")),
        (Some(1) | None, None) => {}
        (Some(_), _) => return Err(ApiError::invalid("meeting_type must be 0 or 1")),
    }
    let now = unix_now();
    let m = state.store.update_meeting(&id, &d, now).await?;
    state.webhooks.meeting_event(Event::MeetingUpdated, &m, Some(&user), now).await;
    Ok(Json(MeetingRefList { meeting_number: 1, meeting_info_list: vec![MeetingRef { meeting_id: m.meeting_id, meeting_code: m.meeting_code }] }))
}

#[derive(Deserialize, ToSchema)]
pub struct CancelBody {
    #[serde(default)]
    userid: Option<String>,
    /// The acting user, as Tencent names them (wins over `userid`); with `operator_id_type` 1.
    #[serde(default)]
    operator_id: Option<String>,
    #[serde(default)]
    operator_id_type: Option<super::access::IdType>,
    #[serde(default)]
    instanceid: Option<i64>,
    #[serde(default)]
    reason_code: Option<i64>,
}

#[utoipa::path(post, path = "/v1/meetings/{meeting_id}/cancel", tag = "meetings", params(("meeting_id" = String, Path)), request_body = CancelBody,
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Cancels a meeting that has not started; a started one is refused (dismiss it instead).
pub async fn cancel(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Empty>, ApiError> {
    let b: CancelBody = parse_body(&body)?;
    let _ = (b.reason_code, b.instanceid);
    let user = caller.acting_user(&state, acting_id(b.userid.as_deref(), b.operator_id.as_deref(), b.operator_id_type.as_ref())?).await?;
    load(&state, &caller, &user, &id, true).await?;
    let now = unix_now();
    match state.store.transition(&caller.enterprise_id, &id, &[MeetingStatus::Init], MeetingStatus::Cancelled, now).await {
        Ok(m) => {
            state.webhooks.meeting_event(Event::MeetingCanceled, &m, Some(&user), now).await;
            Ok(Json(Empty {}))
        }
        Err(StoreError::NotFound) => Err(ApiError::not_found("meeting")),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict("only a meeting that has not started (and is not cancelled) can be cancelled")),
        Err(e) => Err(e.into()),
    }
}
