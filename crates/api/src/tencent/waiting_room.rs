//! A meeting's waiting room (Tencent's 等候室), enforced by the media server.
//!
//! When it is on (the meeting setting `auto_in_waiting_room`, or live with `status`'s
//! `auto_waiting_room`), `/rtc` puts every joiner who is not a host or co-host and was never
//! admitted into the engine's waiting room (`JoinParams::waiting`): connected, but with no
//! permission, seeing nobody, and seen only by the hosts. From here, hosts, co-hosts and
//! admins:
//! - act on it with Tencent's `PUT /v1/real-control/meetings/{id}/waiting-room`
//!   ([`control`]): admit (one, several, or with Huiyi's `admit_all` everyone), send someone
//!   in the meeting back, or turn someone away;
//! - read who waits now (`GET /v1/meetings/{id}/waiting-room-participants`, from the engine)
//!   and who waited (`GET /v1/meeting/{id}/waiting-room`, singular `meeting` as Tencent
//!   spells it, from the `waiting_room` table).
//!
//! Decisions are stored per person, so an admitted person reconnects or rejoins straight into
//! the meeting, and a denied one may knock again.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use huiyi_sfu_core::WAITING_ATTRIBUTE;
use huiyi_store::{Meeting, WaitingState};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{acting_id, Caller, IdType};
use super::admission::person_of;
use crate::meeting::controls::Controls;
use super::error::{ApiError, ErrorBody};
use super::meetings::Empty;
use super::real_control::{apply, controlled_meeting, load_controlled, Operator, Target, MAX_TARGETS};
use super::{paging, parse_body, Q};
use crate::webhook::{self, Event};
use crate::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitingQuery {
    userid: Option<String>,
    /// The acting user, as Tencent names them (wins over `userid`); with `operator_id_type` 1.
    operator_id: Option<String>,
    operator_id_type: Option<IdType>,
    #[param(minimum = 1)]
    page: Option<i64>,
    /// 1 to 50.
    #[param(minimum = 1, maximum = 50)]
    page_size: Option<i64>,
}

/// Someone in the waiting room, now or before.
#[derive(Serialize, ToSchema)]
pub struct Waiting {
    /// The person: a userid, or a guest's id; what `to_operator_id` names in the control.
    pub userid: String,
    /// Base64 of the display name's UTF-8.
    pub user_name: String,
    /// Their identity in the room (Huiyi's addition).
    pub identity: String,
    /// When they entered the waiting room, Unix milliseconds (Huiyi's addition).
    pub join_time: i64,
    /// History only: `waiting`, `admitted`, `denied` or `left` (Huiyi's addition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WaitingList {
    pub meeting_id: String,
    pub meeting_code: String,
    /// Base64 of the subject's UTF-8.
    pub subject: String,
    /// The scheduled start and end: unix seconds for the live list, milliseconds for the
    /// history, as in Tencent's API.
    pub schedule_start_time: i64,
    pub schedule_end_time: i64,
    pub total_count: i64,
    pub current_page: i64,
    pub current_size: i64,
    pub total_page: i64,
    pub participants: Vec<Waiting>,
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// The meeting, for a host, co-host or admin, and the page asked for.
async fn query_meeting(state: &AppState, caller: &Caller, id: &str, q: &WaitingQuery) -> Result<(Meeting, i64, i64), ApiError> {
    let user = caller.acting_user(state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let m = load_controlled(state, caller, &user, id).await?;
    let (page, size) = paging(q.page, q.page_size, 20, 50)?;
    Ok((m, page, size))
}

fn list(m: &Meeting, millis: bool, page: i64, size: i64, total: i64, participants: Vec<Waiting>) -> WaitingList {
    let scale = if millis { 1000 } else { 1 };
    WaitingList {
        meeting_id: m.meeting_id.clone(),
        meeting_code: m.meeting_code.clone(),
        subject: b64(&m.data.subject),
        schedule_start_time: m.data.start_time * scale,
        schedule_end_time: m.data.end_time * scale,
        total_count: total,
        current_page: page,
        current_size: participants.len() as i64,
        total_page: (total + size - 1) / size,
        participants,
    }
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/waiting-room-participants", tag = "attendance", params(("meeting_id" = String, Path), WaitingQuery),
    responses((status = 200, body = WaitingList), (status = "4XX", body = ErrorBody)))]
/// Who is in the waiting room now, longest waiting first (hosts, co-hosts and admins).
pub async fn now(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<WaitingQuery>) -> Result<Json<WaitingList>, ApiError> {
    let (m, page, size) = query_meeting(&state, &caller, &id, &q).await?;
    let room = m.meeting_id.clone();
    let in_room = state.sfu.with_engine(move |e, _| e.list_participants(&room).unwrap_or_default()).await.map_err(|_| ApiError::internal())?;
    let mut waiting: Vec<Waiting> = in_room
        .into_iter()
        .filter_map(|p| {
            let since = p.attributes.get(WAITING_ATTRIBUTE)?.parse().unwrap_or(0);
            Some(Waiting { userid: person_of(&p.metadata, &p.identity), user_name: b64(&p.name), identity: p.identity, join_time: since, state: None })
        })
        .collect();
    waiting.sort_by(|a, b| (a.join_time, &a.identity).cmp(&(b.join_time, &b.identity)));
    let total = waiting.len() as i64;
    let shown = waiting.into_iter().skip(((page - 1) * size) as usize).take(size as usize).collect();
    Ok(Json(list(&m, false, page, size, total, shown)))
}

#[utoipa::path(get, path = "/v1/meeting/{meeting_id}/waiting-room", tag = "attendance", params(("meeting_id" = String, Path), WaitingQuery),
    responses((status = 200, body = WaitingList), (status = "4XX", body = ErrorBody)))]
/// Everyone who was ever in the meeting's waiting room, with where they stand now, in order of
/// their latest entry (hosts, co-hosts and admins).
pub async fn history(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<WaitingQuery>) -> Result<Json<WaitingList>, ApiError> {
    let (m, page, size) = query_meeting(&state, &caller, &id, &q).await?;
    let (rows, total) = state.store.waiting_history(&m.meeting_id, (page - 1) * size, size).await?;
    let shown = rows
        .into_iter()
        .map(|r| Waiting { userid: r.person, user_name: b64(&r.display_name), identity: r.identity, join_time: r.entered_at, state: Some(r.state.as_str().to_owned()) })
        .collect();
    Ok(Json(list(&m, true, page, size, total, shown)))
}

/// Tencent's waiting-room control.
#[derive(Deserialize, ToSchema)]
pub struct WaitingRoomBody {
    /// Who acts: `operator_id` with `operator_id_type` 1, or `userid`.
    #[serde(flatten)]
    operator: Operator,
    /// 1: admit from the waiting room; 2: send from the meeting to the waiting room; 3: remove
    /// from the waiting room (turn away).
    #[schema(minimum = 1, maximum = 3)]
    operate_type: i64,
    /// 1 to 100 people (`to_operator_id`: a userid or a guest id); may be empty with `admit_all`.
    #[serde(default)]
    users: Vec<Target>,
    /// Huiyi's addition: with `operate_type` 1, admit everyone waiting.
    #[serde(default)]
    admit_all: bool,
    /// With `operate_type` 3 only: whether they may knock again (default `true`). `false`
    /// keeps them out of the meeting, as a kickout does.
    #[serde(default)]
    allow_rejoin: Option<bool>,
}

#[utoipa::path(put, path = "/v1/real-control/meetings/{meeting_id}/waiting-room", tag = "real-control", params(("meeting_id" = String, Path)), request_body = WaitingRoomBody,
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Admits people from the waiting room, sends people in the meeting to it, or turns people in
/// it away (hosts, co-hosts and admins). Every device of each person is acted on. 404 when
/// none of them is where the operation needs them.
pub async fn control(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Empty>, ApiError> {
    let b: WaitingRoomBody = parse_body(&body)?;
    if !(1..=3).contains(&b.operate_type) {
        return Err(ApiError::invalid("operate_type is 1 (admit), 2 (move to the waiting room) or 3 (remove from the waiting room)"));
    }
    if b.allow_rejoin.is_some() && b.operate_type != 3 {
        return Err(ApiError::invalid("allow_rejoin goes with operate_type 3 only"));
    }
    if b.admit_all && b.operate_type != 1 {
        return Err(ApiError::invalid("admit_all goes with operate_type 1 only"));
    }
    if (b.users.is_empty() && !b.admit_all) || b.users.len() > MAX_TARGETS {
        return Err(ApiError::invalid(format!("users names 1 to {MAX_TARGETS} people")));
    }
    let mut people = Vec::with_capacity(b.users.len());
    for t in &b.users {
        let _ = t.instanceid;
        people.push(t.person()?.to_owned());
    }
    let m = controlled_meeting(&state, &caller, &b.operator, &id).await?;
    let operator = b.operator.user(&state, &caller).await?;
    let controls = Controls::from_json(state.store.meeting_controls(&m.meeting_id).await?);
    let acted = match b.operate_type {
        1 => admit(&state, &m, &operator, &controls, if b.admit_all { None } else { Some(people) }).await?,
        2 => send_back(&state, &m, &operator, &controls, people).await?,
        _ => deny(&state, &m, people, b.allow_rejoin != Some(false)).await?,
    };
    // Admitting everyone when nobody waits is no error; naming someone who is not there is.
    if acted == 0 && !b.admit_all {
        return Err(ApiError::not_found(if b.operate_type == 2 { "participant in the meeting" } else { "participant in the waiting room" }));
    }
    tracing::info!(meeting_id = %m.meeting_id, operate_type = b.operate_type, acted, "waiting room control");
    Ok(Json(Empty {}))
}

/// One session acted on: the person, and the session as the webhook names it.
struct Acted {
    person: String,
    participant: webhook::Operator,
}

fn acted(p: &huiyi_proto::lk::ParticipantInfo) -> Acted {
    let device = serde_json::from_str::<serde_json::Value>(&p.metadata).ok().and_then(|v| v["device"].as_str().map(str::to_owned)).unwrap_or_default();
    Acted { person: person_of(&p.metadata, &p.identity), participant: webhook::Operator { userid: p.identity.clone(), user_name: p.name.clone(), instance_id: device } }
}

fn waits(p: &huiyi_proto::lk::ParticipantInfo) -> bool {
    p.attributes.contains_key(WAITING_ATTRIBUTE)
}

/// Admits the waiting sessions of `people` (everyone waiting with `None`), narrows their
/// permission by the meeting's controls, records the admissions and sends
/// `meeting.participant-admitted`. Returns how many sessions were admitted.
pub(super) async fn admit(state: &AppState, m: &Meeting, operator: &huiyi_store::User, controls: &Controls, people: Option<Vec<String>>) -> Result<usize, ApiError> {
    let room = m.meeting_id.clone();
    let controls = controls.clone();
    let done: Vec<Acted> = state
        .sfu
        .with_engine(move |e, _| {
            let mut done = Vec::new();
            for p in e.list_participants(&room).unwrap_or_default().iter().filter(|p| waits(p)) {
                let who = acted(p);
                if people.as_ref().is_some_and(|ps| !ps.contains(&who.person)) {
                    continue;
                }
                if e.admit(&room, &p.identity) == Ok(true) {
                    done.push(who);
                }
            }
            // Admission restores the permission they joined with; the controls may have
            // changed since.
            apply(e, &room, &controls, false);
            done
        })
        .await
        .map_err(|_| ApiError::internal())?;
    let now_ms = crate::unix_now() * 1000;
    let by = webhook::Operator::from(operator);
    for a in &done {
        state.store.decide_waiting(&m.meeting_id, &a.person, &a.participant.userid, &a.participant.user_name, WaitingState::Admitted, now_ms).await?;
        state.webhooks.control_event(Event::Admitted, m, &by, &a.participant, now_ms).await;
    }
    Ok(done.len())
}

/// Sends the sessions of `people` who are in the meeting (hosts and co-hosts excepted) to the
/// waiting room. Refused while the waiting room is off: a person sent back would otherwise
/// come straight in again by rejoining.
async fn send_back(state: &AppState, m: &Meeting, operator: &huiyi_store::User, controls: &Controls, people: Vec<String>) -> Result<usize, ApiError> {
    if !controls.waiting_room(&super::meetings::Settings::of(m)) {
        return Err(ApiError::conflict("the waiting room is off; turn it on first (status with auto_waiting_room: true)"));
    }
    let now_ms = crate::unix_now() * 1000;
    // Recorded first, so a rejoin racing the move waits too.
    let room = m.meeting_id.clone();
    let listed = state.sfu.with_engine(move |e, _| e.list_participants(&room).unwrap_or_default()).await.map_err(|_| ApiError::internal())?;
    let targets: Vec<(Acted, String)> = listed
        .iter()
        .filter(|p| !waits(p) && !p.attributes.contains_key(crate::rtc::ROLE_ATTRIBUTE))
        .map(|p| (acted(p), p.identity.clone()))
        .filter(|(a, _)| people.contains(&a.person))
        .collect();
    for (a, _) in &targets {
        state.store.decide_waiting(&m.meeting_id, &a.person, &a.participant.userid, &a.participant.user_name, WaitingState::Waiting, now_ms).await?;
    }
    let room = m.meeting_id.clone();
    let identities: Vec<String> = targets.iter().map(|(_, i)| i.clone()).collect();
    let moved: Vec<bool> = state
        .sfu
        .with_engine(move |e, _| identities.iter().map(|i| e.send_to_waiting(&room, i) == Ok(true)).collect())
        .await
        .map_err(|_| ApiError::internal())?;
    let by = webhook::Operator::from(operator);
    let mut n = 0;
    for ((a, _), ok) in targets.iter().zip(moved) {
        if ok {
            n += 1;
            state.webhooks.control_event(Event::PutInWaitingRoom, m, &by, &a.participant, now_ms).await;
        }
    }
    Ok(n)
}

/// Turns the waiting sessions of `people` away (`leave{USER_REJECTED}`). With `may_return`
/// false they are also kept out of the meeting. Their `meeting.participant-left-waiting-room`
/// comes from the room, as for anyone who leaves it.
async fn deny(state: &AppState, m: &Meeting, people: Vec<String>, may_return: bool) -> Result<usize, ApiError> {
    let now = crate::unix_now();
    // In milliseconds, like the entries the recorder writes: an entry it records late (after
    // this decision) must not undo the decision (`enter_waiting` compares the two).
    let now_ms = crate::rtc::unix_millis();
    let room = m.meeting_id.clone();
    let listed = state.sfu.with_engine(move |e, _| e.list_participants(&room).unwrap_or_default()).await.map_err(|_| ApiError::internal())?;
    let targets: Vec<(Acted, String)> = listed.iter().filter(|p| waits(p)).map(|p| (acted(p), p.identity.clone())).filter(|(a, _)| people.contains(&a.person)).collect();
    // Recorded first, so no rejoin slips in between.
    for (a, _) in &targets {
        state.store.decide_waiting(&m.meeting_id, &a.person, &a.participant.userid, &a.participant.user_name, WaitingState::Denied, now_ms).await?;
        if !may_return {
            state.store.remove_from_meeting(&m.meeting_id, &a.person, now).await?;
        }
    }
    let room = m.meeting_id.clone();
    let identities: Vec<String> = targets.into_iter().map(|(_, i)| i).collect();
    let denied = state
        .sfu
        .with_engine(move |e, now| identities.iter().filter(|i| e.deny(now, &room, i) == Ok(true)).count())
        .await
        .map_err(|_| ApiError::internal())?;
    Ok(denied)
}
