//! `/v1/meetings/{id}/participants` (attendance history, paged),
//! `/v1/meetings/{id}/real-time-participants` (who is in the room now) and
//! `/v1/meetings/{id}/dismiss` (end the meeting for everyone).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use huiyi_store::MeetingStatus;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{acting_id, Caller};
use super::error::{ApiError, ErrorBody};
use super::meetings::{load, Empty};
use super::{paging, parse_body, unix_now, Q};
use crate::webhook::Event;
use crate::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The acting user. A signed-in user may leave it out.
    pub userid: Option<String>,
    /// The acting user, as Tencent names them (wins over `userid`); with `operator_id_type` 1.
    pub operator_id: Option<String>,
    pub operator_id_type: Option<super::access::IdType>,
    /// From 1.
    #[param(minimum = 1)]
    pub page: Option<i64>,
    /// 1 to 100.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
    /// Tencent's cursor paging: the offset to start at (from `next_pos`); used with `size`.
    #[param(minimum = 0, maximum = 1099511627776_i64)]
    pub pos: Option<i64>,
    /// With `pos`: how many, 1 to 100.
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
}

/// The largest `pos` accepted: far beyond any meeting, small enough that no sum overflows.
const MAX_POS: i64 = 1 << 40;

/// Tencent sends names and subjects in these reports base64-encoded (UTF-8).
fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// One participant session.
#[derive(Serialize, ToSchema)]
pub struct Attendee {
    /// The participant's identity in the room: their userid, or a guest id.
    pub userid: String,
    /// The display name, base64 of its UTF-8, as Tencent sends it.
    pub user_name: String,
    /// `host`, `user` or `guest`.
    pub role: String,
    /// Which of the person's devices this session came from (Huiyi's addition).
    pub device: String,
    pub ip: String,
    /// Unix seconds.
    pub join_time: String,
    /// Unix seconds; empty while still in the meeting.
    pub left_time: String,
}

#[derive(Serialize, ToSchema)]
pub struct Attendance {
    pub meeting_id: String,
    pub meeting_code: String,
    /// Base64 of the subject's UTF-8, as Tencent sends it.
    pub subject: String,
    /// Unix seconds, as strings.
    pub schedule_start_time: String,
    pub schedule_end_time: String,
    pub total_count: i64,
    /// Whether sessions remain after this page, and the `pos` that fetches them.
    pub has_remaining: bool,
    pub next_pos: i64,
    pub current_page: i64,
    pub current_size: usize,
    pub total_page: i64,
    pub participants: Vec<Attendee>,
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/participants", tag = "attendance", params(("meeting_id" = String, Path), PageQuery),
    responses((status = 200, body = Attendance), (status = "4XX", body = ErrorBody)))]
/// Attendance: every session, in join order, with join and leave times.
pub async fn participants(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<PageQuery>) -> Result<Json<Attendance>, ApiError> {
    let user = caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let m = load(&state, &caller, &user, &id, false).await?;
    // Either Tencent's `pos`/`size` cursor or `page`/`page_size`.
    let (offset, size, page) = match q.pos {
        Some(pos) if (0..=MAX_POS).contains(&pos) => {
            let (_, size) = paging(Some(1), q.size, 20, 100)?;
            (pos, size, pos / size + 1)
        }
        Some(_) => return Err(ApiError::invalid(format!("pos is 0 to {MAX_POS}"))),
        None => {
            let (page, size) = paging(q.page, q.page_size, 20, 100)?;
            ((page - 1) * size, size, page)
        }
    };
    let (rows, total) = state.store.attendance_from(&m.meeting_id, offset, size).await?;
    let next_pos = offset + rows.len() as i64;
    let participants: Vec<Attendee> = rows
        .into_iter()
        .map(|r| Attendee {
            userid: r.identity,
            user_name: b64(&r.display_name),
            role: r.role,
            device: r.device,
            ip: r.client_addr,
            join_time: r.joined_at.to_string(),
            left_time: r.left_at.map(|t| t.to_string()).unwrap_or_default(),
        })
        .collect();
    Ok(Json(Attendance {
        meeting_id: m.meeting_id,
        meeting_code: m.meeting_code,
        subject: b64(&m.data.subject),
        schedule_start_time: m.data.start_time.to_string(),
        schedule_end_time: m.data.end_time.to_string(),
        total_count: total,
        has_remaining: next_pos < total,
        next_pos,
        current_page: page,
        current_size: participants.len(),
        total_page: (total + size - 1) / size,
        participants,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct LiveParticipant {
    pub userid: String,
    /// Base64 of the display name's UTF-8, as Tencent sends it.
    pub user_name: String,
    /// Unix seconds.
    pub join_time: String,
    /// Tencent's role numbers, as the room has them now: 2 a host (5 a guest who hosts), 6 a
    /// co-host, 0 a member, 4 a guest.
    pub user_role: i64,
}

/// Tencent's `user_role` of someone in the room, from the `huiyi.role` attribute.
fn user_role(p: &huiyi_proto::lk::ParticipantInfo) -> i64 {
    let guest = super::admission::person_of(&p.metadata, &p.identity).starts_with("guest-");
    match (p.attributes.get(crate::rtc::ROLE_ATTRIBUTE).map(String::as_str), guest) {
        (Some("host"), false) => 2,
        (Some("host"), true) => 5,
        (Some("cohost"), _) => 6,
        (_, false) => 0,
        (_, true) => 4,
    }
}

#[derive(Serialize, ToSchema)]
pub struct RealTimeParticipants {
    pub meeting_id: String,
    pub meeting_code: String,
    /// Base64 of the subject's UTF-8.
    pub subject: String,
    pub status: String,
    /// The scheduled start and end, unix seconds.
    pub schedule_start_time: String,
    pub schedule_end_time: String,
    pub total_count: usize,
    pub current_page: i64,
    pub current_size: usize,
    pub total_page: i64,
    pub participants: Vec<LiveParticipant>,
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/real-time-participants", tag = "attendance", params(("meeting_id" = String, Path), PageQuery),
    responses((status = 200, body = RealTimeParticipants), (status = "4XX", body = ErrorBody)))]
/// Who is connected right now, from the media engine.
pub async fn real_time(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<PageQuery>) -> Result<Json<RealTimeParticipants>, ApiError> {
    let user = caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let m = load(&state, &caller, &user, &id, false).await?;
    let room = m.meeting_id.clone();
    let now_in = state.sfu.with_engine(move |e, _| e.list_participants(&room).unwrap_or_default()).await.map_err(|_| ApiError::internal())?;
    let (page, size) = paging(q.page, q.page_size, 20, 100)?;
    // The waiting room is not in the meeting (see `waiting-room-participants`).
    let visible: Vec<_> = now_in.iter().filter(|p| !p.permission.as_ref().is_some_and(|x| x.hidden) && !p.attributes.contains_key(huiyi_sfu_core::WAITING_ATTRIBUTE)).collect();
    let total = visible.len();
    let participants: Vec<LiveParticipant> = visible
        .into_iter()
        .skip(((page - 1) * size) as usize)
        .take(size as usize)
        .map(|p| LiveParticipant { userid: p.identity.clone(), user_name: b64(&p.name), join_time: p.joined_at.to_string(), user_role: user_role(p) })
        .collect();
    Ok(Json(RealTimeParticipants {
        meeting_id: m.meeting_id,
        meeting_code: m.meeting_code,
        subject: b64(&m.data.subject),
        status: m.status.as_str().to_owned(),
        schedule_start_time: m.data.start_time.to_string(),
        schedule_end_time: m.data.end_time.to_string(),
        total_count: total,
        current_page: page,
        current_size: participants.len(),
        total_page: (total as i64 + size - 1) / size,
        participants,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct DismissBody {
    #[serde(default)]
    userid: Option<String>,
    /// The acting user, as Tencent names them (wins over `userid`); with `operator_id_type` 1.
    #[serde(default)]
    operator_id: Option<String>,
    #[serde(default)]
    operator_id_type: Option<super::access::IdType>,
    #[serde(default)]
    instanceid: Option<i64>,
}

#[utoipa::path(post, path = "/v1/meetings/{meeting_id}/dismiss", tag = "attendance", params(("meeting_id" = String, Path)), request_body = DismissBody,
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Ends the meeting for everyone: every participant is removed, and the meeting is ended.
pub async fn dismiss(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Empty>, ApiError> {
    let b: DismissBody = parse_body(&body)?;
    let _ = b.instanceid;
    let user = caller.acting_user(&state, acting_id(b.userid.as_deref(), b.operator_id.as_deref(), b.operator_id_type.as_ref())?).await?;
    let m = load(&state, &caller, &user, &id, true).await?;
    if !m.status.is_live() {
        return Err(ApiError::conflict("the meeting has already ended or was cancelled"));
    }
    // Ended first, so the leaves that follow do not end it a second time.
    let now = unix_now();
    let ended = state.store.transition(&caller.enterprise_id, &m.meeting_id, &[MeetingStatus::Init, MeetingStatus::Started], MeetingStatus::Ended, now).await?;
    let room = m.meeting_id.clone();
    // The room may not exist (nobody joined yet); ending the meeting still applies.
    let _ = state.sfu.with_engine(move |e, now| e.delete_room(now, &room)).await.map_err(|_| ApiError::internal())?;
    state.webhooks.meeting_event(Event::MeetingEnd, &ended, Some(&user), now).await;
    Ok(Json(Empty {}))
}

/// A person a host removed from the meeting.
#[derive(Serialize, ToSchema)]
pub struct Removed {
    /// The userid of a signed-in participant, or a guest's id (`guest-…`).
    pub person: String,
    /// Unix seconds.
    pub removed_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RemovedList {
    pub removed: Vec<Removed>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActingQuery {
    /// The acting user. A signed-in user may leave it out.
    pub userid: Option<String>,
    /// The acting user, as Tencent names them (wins over `userid`); with `operator_id_type` 1.
    pub operator_id: Option<String>,
    pub operator_id_type: Option<super::access::IdType>,
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/removed", tag = "attendance", params(("meeting_id" = String, Path), ActingQuery),
    responses((status = 200, body = RemovedList), (status = "4XX", body = ErrorBody)))]
/// The people removed from the meeting (Huiyi's addition): they cannot join it again, with
/// any token, until a host lets them back.
pub async fn removed(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<ActingQuery>) -> Result<Json<RemovedList>, ApiError> {
    let user = caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let m = load(&state, &caller, &user, &id, true).await?;
    let removed = state.store.removals(&m.meeting_id).await?.into_iter().map(|(person, removed_at)| Removed { person, removed_at }).collect();
    Ok(Json(RemovedList { removed }))
}

#[utoipa::path(delete, path = "/v1/meetings/{meeting_id}/removed/{person}", tag = "attendance", params(("meeting_id" = String, Path), ("person" = String, Path), ActingQuery),
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Lets a removed person join the meeting again (Huiyi's addition; hosts and admins).
pub async fn readmit(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path((id, person)): Path<(String, String)>, Q(q): Q<ActingQuery>) -> Result<Json<Empty>, ApiError> {
    let user = caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let m = load(&state, &caller, &user, &id, true).await?;
    match state.store.readmit(&m.meeting_id, &person).await {
        Ok(()) => Ok(Json(Empty {})),
        Err(huiyi_store::StoreError::NotFound) => Err(ApiError::not_found("removed person")),
        Err(e) => Err(e.into()),
    }
}
