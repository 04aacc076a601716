//! `/v1/meetings`: schedule, read, query by code, list upcoming, modify and cancel, with
//! Tencent Meeting's paths, snake_case fields and `meeting_info_list` wrapper.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use huiyi_store::{Meeting, MeetingStatus, NewMeeting, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::recurrence::RecurringRule;
use super::signing::Caller;
use crate::AppState;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The body, parsed: malformed JSON and wrong types are a 400 with serde's reason.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
}

/// Tencent sends times as strings of unix seconds; numbers are accepted too.
fn unix_seconds(v: &Value, field: &str) -> Result<Option<i64>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => s.parse().map(Some).map_err(|_| ApiError::invalid(format!("{field} must be unix seconds"))),
        Value::Number(n) => n.as_i64().map(Some).ok_or_else(|| ApiError::invalid(format!("{field} must be unix seconds"))),
        _ => Err(ApiError::invalid(format!("{field} must be unix seconds as a string"))),
    }
}

#[derive(Deserialize)]
struct MeetingBody {
    userid: String,
    #[serde(default)]
    instanceid: Option<i64>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<i64>,
    #[serde(default)]
    start_time: Value,
    #[serde(default)]
    end_time: Value,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    hosts: Option<Value>,
    #[serde(default)]
    invitees: Option<Value>,
    #[serde(default)]
    settings: Option<Value>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    meeting_type: Option<i64>,
    #[serde(default)]
    recurring_rule: Option<RecurringRule>,
}

/// The settings Huiyi understands, with Tencent's names; unknown keys are refused so a typo
/// is not silently ignored.
const SETTINGS: &[&str] = &[
    "mute_enable_join",
    "allow_unmute_self",
    "allow_in_before_host",
    "auto_in_waiting_room",
    "only_user_join_type",
    "allow_multi_device",
    "auto_record_type",
    "change_nickname",
    "mute_enable_type_join",
];

fn check_settings(v: &Value) -> Result<(), ApiError> {
    let Value::Object(map) = v else { return Err(ApiError::invalid("settings must be an object")) };
    if let Some(k) = map.keys().find(|k| !SETTINGS.contains(&k.as_str())) {
        return Err(ApiError::invalid(format!("unknown setting {k}")));
    }
    Ok(())
}

fn check_password(p: &Option<String>) -> Result<(), ApiError> {
    match p.as_deref() {
        None | Some("") => Ok(()),
        Some(p) if (4..=6).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()) => Ok(()),
        Some(_) => Err(ApiError::invalid("password must be 4 to 6 digits")),
    }
}

async fn require_user(state: &AppState, caller: &Caller, userid: &str) -> Result<(), ApiError> {
    match state.store.user(&caller.enterprise_id, userid).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound) => Err(ApiError::not_found(&format!("user {userid}"))),
        Err(e) => Err(e.into()),
    }
}

/// One entry of `meeting_info_list`.
fn info(state: &AppState, m: &Meeting, with_status: bool) -> Value {
    let d = &m.data;
    let mut v = json!({
        "subject": d.subject,
        "meeting_id": m.meeting_id,
        "meeting_code": m.meeting_code,
        "type": d.meeting_kind,
        "meeting_type": d.meeting_type,
        "join_url": format!("{}/j/{}", state.public_url, m.meeting_code),
        "hosts": d.hosts,
        "invitees": d.invitees,
        "start_time": d.start_time.to_string(),
        "end_time": d.end_time.to_string(),
        "settings": d.settings,
        "time_zone": d.time_zone,
        "location": d.location,
        "need_password": d.password.as_deref().is_some_and(|p| !p.is_empty()),
    });
    if let Some(p) = d.password.as_deref().filter(|p| !p.is_empty()) {
        v["password"] = json!(p);
    }
    if with_status {
        v["status"] = json!(m.status.as_str());
    }
    if let Some(rule) = d.recurring_rule.as_ref().and_then(|r| serde_json::from_value::<RecurringRule>(r.clone()).ok()) {
        let length = d.end_time - d.start_time;
        let subs: Vec<Value> = rule
            .occurrences(d.start_time)
            .into_iter()
            .map(|start| json!({ "sub_meeting_id": start.to_string(), "status": 0, "start_time": start.to_string(), "end_time": (start + length).to_string() }))
            .collect();
        v["recurring_rule"] = serde_json::to_value(&rule).unwrap_or(Value::Null);
        v["current_sub_meeting_id"] = subs.first().map(|s| s["sub_meeting_id"].clone()).unwrap_or(Value::Null);
        v["sub_meetings"] = json!(subs);
    }
    v
}

fn list(state: &AppState, meetings: &[Meeting], with_status: bool) -> Value {
    json!({
        "meeting_number": meetings.len(),
        "meeting_info_list": meetings.iter().map(|m| info(state, m, with_status)).collect::<Vec<_>>(),
    })
}

/// `POST /v1/meetings`: schedule (type 0) or start an instant meeting (type 1).
pub async fn create(State(state): State<AppState>, Extension(caller): Extension<Caller>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let b: MeetingBody = parse(&body)?;
    require_user(&state, &caller, &b.userid).await?;
    let _ = b.instanceid;
    let subject = b.subject.unwrap_or_default();
    if subject.trim().is_empty() || subject.chars().count() > 255 {
        return Err(ApiError::invalid("subject is required, at most 255 characters"));
    }
    let kind = b.kind.unwrap_or(0);
    if !matches!(kind, 0 | 1) {
        return Err(ApiError::invalid("type must be 0 (scheduled) or 1 (instant)"));
    }
    let (start, end) = match (unix_seconds(&b.start_time, "start_time")?, unix_seconds(&b.end_time, "end_time")?) {
        (Some(s), Some(e)) => (s, e),
        (None, None) if kind == 1 => (now(), now() + 3600),
        _ => return Err(ApiError::invalid("start_time and end_time are required for a scheduled meeting")),
    };
    if end <= start {
        return Err(ApiError::invalid("end_time must be after start_time"));
    }
    check_password(&b.password)?;
    let settings = b.settings.unwrap_or_else(|| json!({}));
    check_settings(&settings)?;
    let meeting_type = b.meeting_type.unwrap_or(0);
    let rule = match (meeting_type, b.recurring_rule) {
        (0, _) => None,
        (1, Some(rule)) => {
            rule.validate().map_err(ApiError::invalid)?;
            Some(serde_json::to_value(rule).map_err(|_| ApiError::internal())?)
        }
        (1, None) => return Err(ApiError::invalid("meeting_type 1 needs a recurring_rule")),
        _ => return Err(ApiError::invalid("meeting_type must be 0 or 1")),
    };
    let new = NewMeeting {
        enterprise_id: caller.enterprise_id.clone(),
        creator_userid: b.userid,
        subject,
        meeting_kind: kind,
        meeting_type,
        start_time: start,
        end_time: end,
        password: b.password.filter(|p| !p.is_empty()),
        time_zone: b.time_zone.unwrap_or_default(),
        location: b.location.unwrap_or_default(),
        settings,
        hosts: b.hosts.unwrap_or_else(|| json!([])),
        invitees: b.invitees.unwrap_or_else(|| json!([])),
        recurring_rule: rule,
    };
    let m = state.store.create_meeting(&new, now()).await?;
    tracing::info!(meeting_id = %m.meeting_id, code = %m.meeting_code, "meeting created");
    Ok(Json(list(&state, &[m], false)).into_response())
}

#[derive(Deserialize)]
pub struct UserQuery {
    userid: Option<String>,
    meeting_code: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// `GET /v1/meetings/{meeting_id}?userid=…&instanceid=…`
pub async fn get(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Query(q): Query<UserQuery>) -> Result<Response, ApiError> {
    let userid = q.userid.ok_or_else(|| ApiError::invalid("userid is required"))?;
    require_user(&state, &caller, &userid).await?;
    let m = state.store.meeting(&caller.enterprise_id, &id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("meeting"),
        e => e.into(),
    })?;
    Ok(Json(list(&state, &[m], true)).into_response())
}

/// `GET /v1/meetings?meeting_code=…&userid=…`, or without a code the user's upcoming
/// meetings, paged with `page` (from 1) and `page_size` (1 to 20, default 20).
pub async fn query(State(state): State<AppState>, Extension(caller): Extension<Caller>, Query(q): Query<UserQuery>) -> Result<Response, ApiError> {
    let userid = q.userid.ok_or_else(|| ApiError::invalid("userid is required"))?;
    require_user(&state, &caller, &userid).await?;
    if let Some(code) = q.meeting_code {
        let m = match state.store.live_meeting_by_code(&code).await {
            Ok(m) if m.data.enterprise_id == caller.enterprise_id => m,
            Ok(_) | Err(StoreError::NotFound) => return Err(ApiError::not_found("meeting")),
            Err(e) => return Err(e.into()),
        };
        return Ok(Json(list(&state, &[m], true)).into_response());
    }
    let page = q.page.unwrap_or(1);
    let size = q.page_size.unwrap_or(20);
    if page < 1 || !(1..=20).contains(&size) {
        return Err(ApiError::invalid("page starts at 1; page_size is 1 to 20"));
    }
    let (meetings, total) = state.store.upcoming_meetings(&caller.enterprise_id, &userid, now(), page, size).await?;
    let mut v = list(&state, &meetings, true);
    v["total_count"] = json!(total);
    v["current_page"] = json!(page);
    v["current_size"] = json!(meetings.len());
    v["total_page"] = json!((total + size - 1) / size);
    Ok(Json(v).into_response())
}

/// `PUT /v1/meetings/{meeting_id}`: changes the fields given; ended or cancelled meetings
/// cannot be changed.
pub async fn update(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let b: MeetingBody = parse(&body)?;
    require_user(&state, &caller, &b.userid).await?;
    let current = state.store.meeting(&caller.enterprise_id, &id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("meeting"),
        e => e.into(),
    })?;
    if !current.status.is_live() {
        return Err(ApiError::conflict("an ended or cancelled meeting cannot be modified"));
    }
    let mut d = current.data.clone();
    if let Some(s) = b.subject {
        if s.trim().is_empty() || s.chars().count() > 255 {
            return Err(ApiError::invalid("subject must be 1 to 255 characters"));
        }
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
    if b.password.is_some() {
        check_password(&b.password)?;
        d.password = b.password.filter(|p| !p.is_empty());
    }
    if let Some(s) = b.settings {
        check_settings(&s)?;
        // Settings merge: the ones given replace, the others stay.
        if let (Value::Object(old), Value::Object(new)) = (&mut d.settings, s) {
            old.extend(new);
        }
    }
    if let Some(h) = b.hosts {
        d.hosts = h;
    }
    if let Some(i) = b.invitees {
        d.invitees = i;
    }
    if let Some(t) = b.time_zone {
        d.time_zone = t;
    }
    if let Some(l) = b.location {
        d.location = l;
    }
    if let Some(rule) = b.recurring_rule {
        rule.validate().map_err(ApiError::invalid)?;
        d.meeting_type = 1;
        d.recurring_rule = Some(serde_json::to_value(rule).map_err(|_| ApiError::internal())?);
    }
    let m = state.store.update_meeting(&id, &d, now()).await?;
    Ok(Json(json!({ "meeting_number": 1, "meeting_info_list": [{ "meeting_id": m.meeting_id, "meeting_code": m.meeting_code }] })).into_response())
}

#[derive(Deserialize)]
struct CancelBody {
    userid: String,
    #[serde(default)]
    reason_code: Option<i64>,
}

/// `POST /v1/meetings/{meeting_id}/cancel`: only a meeting that has not started; Tencent
/// refuses to cancel a started one (dismiss it instead).
pub async fn cancel(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let b: CancelBody = parse(&body)?;
    require_user(&state, &caller, &b.userid).await?;
    let _ = b.reason_code;
    match state.store.transition(&caller.enterprise_id, &id, &[MeetingStatus::Init], MeetingStatus::Cancelled, now()).await {
        Ok(_) => Ok((StatusCode::OK, Json(json!({}))).into_response()),
        Err(StoreError::NotFound) => Err(ApiError::not_found("meeting")),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict("only a meeting that has not started (and is not cancelled) can be cancelled")),
        Err(e) => Err(e.into()),
    }
}
