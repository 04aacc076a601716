//! Tencent's in-meeting controls (`/v1/real-control/meetings/{meeting_id}/…`), enforced by the
//! server. Served so far: `kickout`, which removes people from the meeting's room and, unless
//! `allow_rejoin`, keeps them out ([`super::admission`]) until a host lets them back; and
//! `status`: mute all (with or without self-unmute), lock, and screen sharing, applied through
//! each participant's LiveKit permission ([`crate::meeting::controls`]); and per person `mutes`, `video`
//! and `screen-shared`, which mute those tracks (the owner is told); `cohosts`; and `names`.
//! The waiting room's own control (`waiting-room`) is in [`super::waiting_room`]; `status`
//! turns it on and off (`auto_waiting_room`).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::ToSchema;

use super::access::{acting_id, may_control, Caller, IdType};
use super::admission::person_of;
use crate::meeting::controls::{Controls, Role};
use super::error::{ApiError, ErrorBody};
use super::meetings::{load, Empty};
use super::{parse_body, unix_now};
use crate::AppState;

/// The meeting, if `user` may run its controls: a host, a co-host, or an enterprise admin.
/// Co-hosts may read a meeting they were not invited to, for this.
pub(super) async fn load_controlled(state: &AppState, caller: &Caller, user: &huiyi_store::User, id: &str) -> Result<huiyi_store::Meeting, ApiError> {
    let m = match state.store.meeting(&caller.enterprise_id, id).await {
        Ok(m) => m,
        Err(huiyi_store::StoreError::NotFound) => return Err(ApiError::not_found("meeting")),
        Err(e) => return Err(e.into()),
    };
    if may_control(user, &m) || Controls::from_json(state.store.meeting_controls(&m.meeting_id).await?).role(&user.userid, false).runs_meeting() {
        return Ok(m);
    }
    // As elsewhere, a meeting the user may not see is not found.
    load(state, caller, user, id, false).await?;
    Err(ApiError::forbidden("only the meeting's hosts, co-hosts or an enterprise admin may do this"))
}

/// The acting user of a control, in the fields Tencent's bodies carry them.
#[derive(Deserialize, ToSchema)]
pub struct Operator {
    #[serde(default)]
    operator_id: Option<String>,
    #[serde(default)]
    operator_id_type: Option<IdType>,
    #[serde(default)]
    userid: Option<String>,
    #[serde(default)]
    instanceid: Option<i64>,
}

impl Operator {
    pub(super) async fn user(&self, state: &AppState, caller: &Caller) -> Result<huiyi_store::User, ApiError> {
        let _ = self.instanceid;
        caller.acting_user(state, acting_id(self.userid.as_deref(), self.operator_id.as_deref(), self.operator_id_type.as_ref())?).await
    }
}

/// The live meeting whose controls `operator` may run ([`load_controlled`]).
pub(super) async fn controlled_meeting(state: &AppState, caller: &Caller, operator: &Operator, id: &str) -> Result<huiyi_store::Meeting, ApiError> {
    let user = operator.user(state, caller).await?;
    let m = load_controlled(state, caller, &user, id).await?;
    if !m.status.is_live() {
        return Err(ApiError::conflict("the meeting has already ended or was cancelled"));
    }
    Ok(m)
}

/// People one kickout may name.
pub(super) const MAX_TARGETS: usize = 100;

/// Someone a control acts on: `to_operator_id` is their userid, or a guest's id (`guest-…`,
/// as the participant lists show it), with `to_operator_id_type` 1 (or left out).
#[derive(Deserialize, ToSchema)]
pub struct Target {
    #[serde(default)]
    to_operator_id: Option<String>,
    #[serde(default)]
    to_operator_id_type: Option<IdType>,
    /// The older name for the same, accepted too.
    #[serde(default)]
    userid: Option<String>,
    #[serde(default)]
    pub(super) instanceid: Option<i64>,
}

impl Target {
    pub(super) fn person(&self) -> Result<&str, ApiError> {
        let id = acting_id(self.userid.as_deref(), self.to_operator_id.as_deref(), self.to_operator_id_type.as_ref().or(Some(&IdType::Int(1))))?;
        id.filter(|p| !p.is_empty() && p.len() <= 256).ok_or_else(|| ApiError::invalid("each user needs to_operator_id (a userid or a guest id)"))
    }
}

#[derive(Deserialize, ToSchema)]
pub struct KickoutBody {
    /// Who acts: `operator_id` with `operator_id_type` 1, or `userid`.
    #[serde(flatten)]
    operator: Operator,
    /// 1 to 100 people.
    users: Vec<Target>,
    /// Whether they may join again; `false` keeps them out until a host lets them back
    /// (`DELETE /v1/meetings/{meeting_id}/removed/{person}`).
    #[serde(default)]
    allow_rejoin: bool,
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(put, path = "/v1/real-control/meetings/{meeting_id}/kickout", tag = "real-control", params(("meeting_id" = String, Path)), request_body = KickoutBody,
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Removes people from the meeting, every device of each, whether or not they are connected
/// now. The operator must host the meeting or be an enterprise admin, also when the request is
/// signed by an application.
pub async fn kickout(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Empty>, ApiError> {
    let b: KickoutBody = parse_body(&body)?;
    let _ = &b.reason;
    let m = controlled_meeting(&state, &caller, &b.operator, &id).await?;
    if b.users.is_empty() || b.users.len() > MAX_TARGETS {
        return Err(ApiError::invalid(format!("users names 1 to {MAX_TARGETS} people")));
    }
    let mut people = Vec::with_capacity(b.users.len());
    for t in &b.users {
        let _ = t.instanceid;
        people.push(t.person()?.to_owned());
    }
    // Kept out first, so no join slips in between the removal and the record.
    if !b.allow_rejoin {
        let now = unix_now();
        for p in &people {
            state.store.remove_from_meeting(&m.meeting_id, p, now).await?;
        }
    }
    let room = m.meeting_id.clone();
    let removed = state
        .sfu
        .with_engine(move |e, now| {
            let mut removed = 0usize;
            for p in e.list_participants(&room).unwrap_or_default() {
                if people.iter().any(|x| *x == person_of(&p.metadata, &p.identity)) && e.remove_participant(now, &room, &p.identity).is_ok() {
                    removed += 1;
                }
            }
            removed
        })
        .await
        .map_err(|_| ApiError::internal())?;
    tracing::info!(meeting_id = %m.meeting_id, removed, allow_rejoin = b.allow_rejoin, "participants kicked out");
    Ok(Json(Empty {}))
}

#[derive(Deserialize, ToSchema)]
pub struct StatusBody {
    /// Who acts: `operator_id` with `operator_id_type` 1, or `userid`.
    #[serde(flatten)]
    operator: Operator,
    /// Mute everyone but the hosts (`true`), or lift it (`false`).
    #[serde(default)]
    mute_all: Option<bool>,
    /// While muted by the host, whether participants may unmute themselves. With `false` the
    /// server takes their microphone: they cannot publish audio until the mute is lifted.
    #[serde(default)]
    allow_unmute_by_self: Option<bool>,
    /// Lock the meeting: nobody new joins, hosts excepted.
    #[serde(default)]
    meeting_locked: Option<bool>,
    /// Whether participants may share their screen.
    #[serde(default)]
    share_screen: Option<bool>,
    /// Who may chat: 0 freely, 1 in public (privately with the hosts only), 2 with the hosts
    /// only, 3 nobody (Huiyi's addition). Hosts and co-hosts always may.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 3)]
    allow_chat: Option<serde_json::Value>,
    /// Turn the waiting room on (`true`: newcomers who are not hosts or co-hosts wait to be
    /// admitted) or off (`false`: everyone waiting is admitted at once).
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    auto_waiting_room: Option<serde_json::Value>,
    // Tencent's other status fields: refused with a clear error until they are enforced.
    #[serde(default)]
    enable_red_envelope: Option<serde_json::Value>,
    #[serde(default)]
    hide_meeting_code_password: Option<serde_json::Value>,
    #[serde(default)]
    only_enterprise_user_allowed: Option<serde_json::Value>,
    #[serde(default)]
    participant_join_mute: Option<serde_json::Value>,
    #[serde(default)]
    play_ivr_on_join: Option<serde_json::Value>,
}

#[utoipa::path(put, path = "/v1/real-control/meetings/{meeting_id}/status", tag = "real-control", params(("meeting_id" = String, Path)), request_body = StatusBody,
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Changes the meeting's live controls (hosts and admins) and applies them at once to everyone
/// in the room, through their LiveKit permissions, and to everyone who joins later.
pub async fn status(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Empty>, ApiError> {
    let b: StatusBody = parse_body(&body)?;
    let unsupported = [
        ("enable_red_envelope", b.enable_red_envelope.is_some()),
        ("hide_meeting_code_password", b.hide_meeting_code_password.is_some()),
        ("only_enterprise_user_allowed", b.only_enterprise_user_allowed.is_some()),
        ("participant_join_mute", b.participant_join_mute.is_some()),
        ("play_ivr_on_join", b.play_ivr_on_join.is_some()),
    ];
    if let Some((name, _)) = unsupported.iter().find(|(_, given)| *given) {
        return Err(ApiError::invalid(format!("{name} cannot be changed during a meeting yet; supported: mute_all, allow_unmute_by_self, meeting_locked, share_screen, allow_chat, auto_waiting_room")));
    }
    let waiting_room = match b.auto_waiting_room {
        None => None,
        Some(v) => Some(v.as_bool().ok_or_else(|| ApiError::invalid("auto_waiting_room is true or false"))?),
    };
    let chat = match b.allow_chat {
        None => None,
        Some(v) => Some(v.as_i64().and_then(huiyi_sfu_core::ChatRule::from_code).ok_or_else(|| ApiError::invalid("allow_chat is 0 (free), 1 (public only), 2 (with the hosts only) or 3 (nobody)"))?),
    };
    let m = controlled_meeting(&state, &caller, &b.operator, &id).await?;
    let mut controls = Controls::from_json(state.store.meeting_controls(&m.meeting_id).await?);
    let newly_muted = b.mute_all == Some(true) && !controls.mute_all;
    if let Some(v) = b.mute_all {
        controls.mute_all = v;
    }
    if let Some(v) = b.allow_unmute_by_self {
        controls.allow_unmute_self = Some(v);
    }
    if let Some(v) = b.meeting_locked {
        controls.locked = v;
    }
    if let Some(v) = b.share_screen {
        controls.share_screen = Some(v);
    }
    if let Some(rule) = chat {
        controls.allow_chat = Some(rule.code());
    }
    if let Some(on) = waiting_room {
        controls.waiting_room = Some(on);
    }
    let json = serde_json::to_value(&controls).map_err(|_| ApiError::internal())?;
    state.store.set_meeting_controls(&m.meeting_id, &json, unix_now()).await?;
    let room = m.meeting_id.clone();
    let applied = controls.clone();
    state
        .sfu
        .with_engine(move |e, _| apply(e, &room, &applied, newly_muted))
        .await
        .map_err(|_| ApiError::internal())?;
    if waiting_room == Some(false) {
        // With the waiting room closed, nobody is kept in it.
        let operator = b.operator.user(&state, &caller).await?;
        super::waiting_room::admit(&state, &m, &operator, &controls, None).await?;
    }
    tracing::info!(meeting_id = %m.meeting_id, ?controls, "meeting controls changed");
    Ok(Json(Empty {}))
}

/// Applies the controls to everyone in the room now: each participant who is not a host gets
/// the permission the controls leave them (which unpublishes what they may no longer publish,
/// so its packets are dropped), and on a new mute-all their microphones are muted.
pub(super) fn apply(e: &mut huiyi_sfu_core::Engine, room: &str, controls: &Controls, newly_muted: bool) {
    let _ = e.set_chat_rule(room, controls.chat_rule());
    for p in e.list_participants(room).unwrap_or_default() {
        // The waiting room has no permission to narrow; admission applies the controls.
        if p.attributes.contains_key(huiyi_sfu_core::WAITING_ATTRIBUTE) {
            continue;
        }
        let scheduled_host = serde_json::from_str::<serde_json::Value>(&p.metadata).is_ok_and(|v| v["role"] == "host");
        let role = controls.role(&person_of(&p.metadata, &p.identity), scheduled_host);
        let (host, cohost) = (role == Role::Host, role == Role::Cohost);
        // The spotlight attribute follows the spotlight control.
        let lit = controls.spotlight.as_deref() == Some(person_of(&p.metadata, &p.identity).as_str());
        if lit != p.attributes.contains_key(SPOTLIGHT_ATTRIBUTE) {
            let attributes = [(SPOTLIGHT_ATTRIBUTE.to_owned(), if lit { "1".to_owned() } else { String::new() })].into();
            let req = huiyi_proto::lk::UpdateParticipantRequest { room: room.to_owned(), identity: p.identity.clone(), attributes, ..Default::default() };
            let _ = e.update_participant(&req);
        }
        // The role attribute follows the co-host list and the handed-over host role.
        let shown = p.attributes.get(crate::rtc::ROLE_ATTRIBUTE).map(String::as_str);
        let wanted = role.attribute();
        if shown != wanted {
            // An empty value removes the attribute.
            let attributes = [(crate::rtc::ROLE_ATTRIBUTE.to_owned(), wanted.unwrap_or_default().to_owned())].into();
            let req = huiyi_proto::lk::UpdateParticipantRequest { room: room.to_owned(), identity: p.identity.clone(), attributes, ..Default::default() };
            let _ = e.update_participant(&req);
        }
        if host || cohost {
            // Co-hosts (and a participant handed the host role) get back what a control took
            // while they were participants.
            if cohost || (host && !scheduled_host) {
                let current = p.permission.clone().unwrap_or_default();
                let full = huiyi_proto::lk::ParticipantPermission { can_publish: true, can_publish_sources: Vec::new(), ..current.clone() };
                if full != current {
                    let req = huiyi_proto::lk::UpdateParticipantRequest { room: room.to_owned(), identity: p.identity.clone(), permission: Some(full), ..Default::default() };
                    let _ = e.update_participant(&req);
                }
            }
            continue;
        }
        let current = p.permission.clone().unwrap_or_default();
        // In a meeting's room the controls decide what a participant may publish; the rest of
        // the permission stays as it is.
        let base = huiyi_proto::lk::ParticipantPermission { can_publish: true, can_publish_sources: Vec::new(), ..current.clone() };
        let wanted = crate::meeting::controls::permission(&base, controls, false);
        if wanted != current {
            let req = huiyi_proto::lk::UpdateParticipantRequest { room: room.to_owned(), identity: p.identity.clone(), permission: Some(wanted), ..Default::default() };
            let _ = e.update_participant(&req);
        }
        if newly_muted && !controls.mic_locked() {
            for t in p.tracks.iter().filter(|t| t.source == huiyi_proto::lk::TrackSource::Microphone as i32 && !t.muted) {
                let _ = e.mute_published_track(room, &p.identity, &t.sid, true);
            }
        }
    }
}

/// The data topic on which Huiyi tells a participant's app what a host asked of it (LiveKit
/// data packets, so any SDK can listen): `{"action": "ask-unmute"}` for now.
pub const CONTROL_TOPIC: &str = "huiyi.control";

/// A control aimed at one person: `{operator…, "instanceid", "user": {"to_operator_id", …}}`
/// plus the control's own field.
#[derive(Deserialize, ToSchema)]
pub struct PersonBody {
    /// Who acts: `operator_id` with `operator_id_type` 1, or `userid`.
    #[serde(flatten)]
    operator: Operator,
    user: Target,
    /// `mutes`: mute (`true`) or ask to unmute (`false`).
    #[serde(default)]
    mute: Option<bool>,
    /// `video`: only `false` (stop the camera); nobody's camera is turned on for them.
    #[serde(default)]
    video: Option<bool>,
}

/// Checks the operator of a per-person control and returns the meeting's room and the person.
async fn person_control(state: &AppState, caller: &Caller, id: &str, b: &PersonBody) -> Result<(String, String), ApiError> {
    let _ = b.user.instanceid;
    let m = controlled_meeting(state, caller, &b.operator, id).await?;
    Ok((m.meeting_id, b.user.person()?.to_owned()))
}

/// Mutes every track from `sources` of every session of `person` in the room (the owner is
/// told, and may unmute unless a control forbids it). Returns how many tracks were muted;
/// `None` if the person is not in the room.
fn mute_sources(e: &mut huiyi_sfu_core::Engine, room: &str, person: &str, sources: &[huiyi_proto::lk::TrackSource]) -> Option<usize> {
    let sessions: Vec<_> = e.list_participants(room).unwrap_or_default().into_iter().filter(|p| person_of(&p.metadata, &p.identity) == person).collect();
    if sessions.is_empty() {
        return None;
    }
    let mut muted = 0;
    for p in sessions {
        for t in p.tracks.iter().filter(|t| sources.iter().any(|s| *s as i32 == t.source) && !t.muted) {
            if e.mute_published_track(room, &p.identity, &t.sid, true).is_ok() {
                muted += 1;
            }
        }
    }
    Some(muted)
}

fn not_in_meeting() -> ApiError {
    ApiError::not_found("participant in the meeting")
}

#[utoipa::path(put, path = "/v1/real-control/meetings/{meeting_id}/mutes", tag = "real-control", params(("meeting_id" = String, Path)), request_body = PersonBody,
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Mutes one person's microphone (`mute: true`), or asks them to unmute (`mute: false`): a
/// host never turns someone's microphone on; their app gets a data packet on the
/// `huiyi.control` topic and they choose.
pub async fn mutes(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Empty>, ApiError> {
    let b: PersonBody = parse_body(&body)?;
    let mute = b.mute.ok_or_else(|| ApiError::invalid("mute (true or false) is required"))?;
    let (room, person) = person_control(&state, &caller, &id, &b).await?;
    let done = state
        .sfu
        .with_engine(move |e, now| {
            if mute {
                return mute_sources(e, &room, &person, &[huiyi_proto::lk::TrackSource::Microphone]).map(|_| ());
            }
            let targets: Vec<String> = e.list_participants(&room).unwrap_or_default().into_iter().filter(|p| person_of(&p.metadata, &p.identity) == person).map(|p| p.identity).collect();
            if targets.is_empty() {
                return None;
            }
            let ask = huiyi_proto::lk::SendDataRequest {
                room: room.clone(),
                data: br#"{"action":"ask-unmute"}"#.to_vec(),
                kind: huiyi_proto::lk::data_packet::Kind::Reliable as i32,
                destination_identities: targets,
                topic: Some(CONTROL_TOPIC.to_owned()),
                ..Default::default()
            };
            e.send_data_from_server(now, &ask).ok()
        })
        .await
        .map_err(|_| ApiError::internal())?;
    done.ok_or_else(not_in_meeting)?;
    Ok(Json(Empty {}))
}

#[utoipa::path(put, path = "/v1/real-control/meetings/{meeting_id}/video", tag = "real-control", params(("meeting_id" = String, Path)), request_body = PersonBody,
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Stops one person's camera (`video: false`, the default). Turning a camera on for someone
/// is refused: that is theirs to do.
pub async fn video(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Empty>, ApiError> {
    let b: PersonBody = parse_body(&body)?;
    if b.video == Some(true) {
        return Err(ApiError::invalid("a host cannot turn on someone's camera; video must be false"));
    }
    mute_person(&state, &caller, &id, &b, &[huiyi_proto::lk::TrackSource::Camera]).await
}

#[utoipa::path(put, path = "/v1/real-control/meetings/{meeting_id}/screen-shared", tag = "real-control", params(("meeting_id" = String, Path)), request_body = PersonBody,
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Stops one person's screen share (its video and audio). To keep sharing to hosts for good,
/// set `share_screen: false` with `status`.
pub async fn screen_shared(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Empty>, ApiError> {
    let b: PersonBody = parse_body(&body)?;
    mute_person(&state, &caller, &id, &b, &[huiyi_proto::lk::TrackSource::ScreenShare, huiyi_proto::lk::TrackSource::ScreenShareAudio]).await
}

/// A per-person control that mutes `sources`: checks the operator, then mutes the tracks.
async fn mute_person(state: &AppState, caller: &Caller, id: &str, b: &PersonBody, sources: &'static [huiyi_proto::lk::TrackSource]) -> Result<Json<Empty>, ApiError> {
    let (room, person) = person_control(state, caller, id, b).await?;
    let done = state.sfu.with_engine(move |e, _| mute_sources(e, &room, &person, sources)).await.map_err(|_| ApiError::internal())?;
    done.ok_or_else(not_in_meeting)?;
    Ok(Json(Empty {}))
}

/// The participant attribute that marks the person in the spotlight (`"1"`): every app shows
/// them large. Set by the server only, like every `huiyi.` attribute.
pub const SPOTLIGHT_ATTRIBUTE: &str = "huiyi.spotlight";

#[derive(Deserialize, ToSchema)]
pub struct SpotlightBody {
    /// Who acts: `operator_id` with `operator_id_type` 1, or `userid`.
    #[serde(flatten)]
    operator: Operator,
    /// `true` puts the person in the spotlight (replacing whoever was), `false` ends it.
    action: bool,
    user: Target,
}

#[utoipa::path(put, path = "/v1/real-control/meetings/{meeting_id}/spotlight", tag = "real-control", params(("meeting_id" = String, Path)), request_body = SpotlightBody,
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Puts someone in the spotlight for everyone, or takes them out (hosts, co-hosts and admins;
/// Huiyi's addition). Everyone sees the attribute `huiyi.spotlight` on that participant; the
/// web app shows them large. It holds when they rejoin, until a host ends it.
pub async fn spotlight(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Empty>, ApiError> {
    let b: SpotlightBody = parse_body(&body)?;
    let _ = b.user.instanceid;
    let m = controlled_meeting(&state, &caller, &b.operator, &id).await?;
    let person = b.user.person()?.to_owned();
    let mut controls = Controls::from_json(state.store.meeting_controls(&m.meeting_id).await?);
    match (b.action, controls.spotlight.as_deref() == Some(person.as_str())) {
        (true, _) => controls.spotlight = Some(person),
        (false, true) => controls.spotlight = None,
        // Ending a spotlight someone else has is no change.
        (false, false) => return Ok(Json(Empty {})),
    }
    let json = serde_json::to_value(&controls).map_err(|_| ApiError::internal())?;
    state.store.set_meeting_controls(&m.meeting_id, &json, unix_now()).await?;
    let room = m.meeting_id.clone();
    state.sfu.with_engine(move |e, _| apply(e, &room, &controls, false)).await.map_err(|_| ApiError::internal())?;
    Ok(Json(Empty {}))
}

#[derive(Deserialize, ToSchema)]
pub struct CohostBody {
    /// Who acts: `operator_id` with `operator_id_type` 1, or `userid`.
    #[serde(flatten)]
    operator: Operator,
    /// `true` makes the person a co-host, `false` revokes it.
    action: bool,
    user: Target,
}

/// Co-hosts one meeting may have.
const MAX_COHOSTS: usize = 10;

#[utoipa::path(put, path = "/v1/real-control/meetings/{meeting_id}/cohosts", tag = "real-control", params(("meeting_id" = String, Path)), request_body = CohostBody,
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Makes someone a co-host, or revokes it (hosts and admins; a co-host cannot make others).
/// A co-host runs the meeting's controls and is exempt from them; everyone sees the
/// `huiyi.role` attribute `cohost`. It holds for that person's later joins too.
pub async fn cohosts(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Empty>, ApiError> {
    let b: CohostBody = parse_body(&body)?;
    let _ = b.user.instanceid;
    let user = b.operator.user(&state, &caller).await?;
    let m = load(&state, &caller, &user, &id, false).await?;
    if !may_control(&user, &m) {
        return Err(ApiError::forbidden("only the meeting's hosts or an enterprise admin may appoint co-hosts"));
    }
    if !m.status.is_live() {
        return Err(ApiError::conflict("the meeting has already ended or was cancelled"));
    }
    let person = b.user.person()?.to_owned();
    let mut controls = Controls::from_json(state.store.meeting_controls(&m.meeting_id).await?);
    let was = controls.is_cohost(&person);
    controls.cohosts.retain(|c| *c != person);
    if b.action {
        if controls.cohosts.len() >= MAX_COHOSTS {
            return Err(ApiError::invalid(format!("a meeting has at most {MAX_COHOSTS} co-hosts")));
        }
        controls.cohosts.push(person.clone());
    }
    let json = serde_json::to_value(&controls).map_err(|_| ApiError::internal())?;
    state.store.set_meeting_controls(&m.meeting_id, &json, unix_now()).await?;
    let room = m.meeting_id.clone();
    let name = state.sfu.with_engine({
        let person = person.clone();
        move |e, _| {
            apply(e, &room, &controls, false);
            // The person's name in the room, for the event.
            e.list_participants(&room).unwrap_or_default().into_iter().find(|p| person_of(&p.metadata, &p.identity) == person).map(|p| p.name)
        }
    });
    let name = name.await.map_err(|_| ApiError::internal())?;
    if was != b.action {
        // Tencent's roles: 6 co-host; back to 0 (a member) or 4 (a guest).
        let role = if b.action { 6 } else if person.starts_with("guest-") { 4 } else { 0 };
        let to = crate::webhook::Operator { userid: person, user_name: name.unwrap_or_default(), instance_id: String::new() };
        state.webhooks.role_changed(&m, &crate::webhook::Operator::from(&user), &to, role, unix_now() * 1000).await;
    }
    Ok(Json(Empty {}))
}

#[derive(Deserialize, ToSchema)]
pub struct HostBody {
    /// Who acts: `operator_id` with `operator_id_type` 1, or `userid`.
    #[serde(flatten)]
    operator: Operator,
    /// The new host: someone in the meeting now.
    user: Target,
}

#[utoipa::path(put, path = "/v1/real-control/meetings/{meeting_id}/host", tag = "real-control", params(("meeting_id" = String, Path)), request_body = HostBody,
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Hands the host role to someone in the meeting (Huiyi's addition; Tencent's apps call it
/// "transfer host"). The operator is the current host, or one of the meeting's scheduled hosts
/// or an admin (who may also take the role back by naming a scheduled host, present or not).
/// While it is handed over, that person hosts the room (`huiyi.role` `host`, exempt from the
/// controls) and the scheduled hosts take part as participants; co-hosts stay co-hosts. 404
/// when the person is not in the meeting.
pub async fn host(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Empty>, ApiError> {
    let b: HostBody = parse_body(&body)?;
    let _ = b.user.instanceid;
    let user = b.operator.user(&state, &caller).await?;
    let m = load(&state, &caller, &user, &id, false).await?;
    let mut controls = Controls::from_json(state.store.meeting_controls(&m.meeting_id).await?);
    let live_host = controls.host.as_deref() == Some(user.userid.as_str());
    if !may_control(&user, &m) && !live_host {
        return Err(ApiError::forbidden("only the host, the meeting's scheduled hosts or an enterprise admin may hand over the host role"));
    }
    if !m.status.is_live() {
        return Err(ApiError::conflict("the meeting has already ended or was cancelled"));
    }
    let person = b.user.person()?.to_owned();
    let room = m.meeting_id.clone();
    let present = state
        .sfu
        .with_engine({
            let person = person.clone();
            move |e, _| {
                e.list_participants(&room)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|p| person_of(&p.metadata, &p.identity) == person && !p.attributes.contains_key(huiyi_sfu_core::WAITING_ATTRIBUTE))
                    .map(|p| p.name)
            }
        })
        .await
        .map_err(|_| ApiError::internal())?;
    let scheduled = super::access::is_host(&m, &person);
    // Anyone else must be here to take the role; a scheduled host takes it back from anywhere.
    let name = match present {
        Some(name) => name,
        None if scheduled => String::new(),
        None => return Err(not_in_meeting()),
    };
    let before = controls.role(&person, scheduled);
    // Back to a scheduled host: the meeting's own hosts host again.
    controls.host = if scheduled { None } else { Some(person.clone()) };
    let json = serde_json::to_value(&controls).map_err(|_| ApiError::internal())?;
    state.store.set_meeting_controls(&m.meeting_id, &json, unix_now()).await?;
    let room = m.meeting_id.clone();
    state.sfu.with_engine(move |e, _| apply(e, &room, &controls, false)).await.map_err(|_| ApiError::internal())?;
    if before != Role::Host {
        // Tencent's roles: 2 a host who is a member, 5 a guest who hosts.
        let role = if person.starts_with("guest-") { 5 } else { 2 };
        let to = crate::webhook::Operator { userid: person, user_name: name, instance_id: String::new() };
        state.webhooks.role_changed(&m, &crate::webhook::Operator::from(&user), &to, role, unix_now() * 1000).await;
    }
    Ok(Json(Empty {}))
}

/// One rename: the person (`to_operator_id`, or Tencent's `ms_open_id`, taken as the same id)
/// and the new name.
#[derive(Deserialize, ToSchema)]
pub struct Rename {
    #[serde(default)]
    to_operator_id: Option<String>,
    #[serde(default)]
    ms_open_id: Option<String>,
    #[serde(default)]
    instanceid: Option<i64>,
    /// 1 to 64 characters.
    nick_name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct NamesBody {
    /// Who acts: `operator_id` with `operator_id_type` 1, or `userid`.
    #[serde(flatten)]
    operator: Operator,
    /// 1 to 100 renames.
    users: Vec<Rename>,
}

#[utoipa::path(put, path = "/v1/real-control/meetings/{meeting_id}/names", tag = "real-control", params(("meeting_id" = String, Path)), request_body = NamesBody,
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Renames people in the meeting (hosts, co-hosts and admins): every device of each shows the
/// new name to everyone at once. 404 when none of them is in the meeting.
pub async fn names(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Empty>, ApiError> {
    let b: NamesBody = parse_body(&body)?;
    if b.users.is_empty() || b.users.len() > MAX_TARGETS {
        return Err(ApiError::invalid(format!("users names 1 to {MAX_TARGETS} people")));
    }
    let mut renames = Vec::with_capacity(b.users.len());
    for r in &b.users {
        let _ = r.instanceid;
        let person = r.to_operator_id.as_deref().or(r.ms_open_id.as_deref()).filter(|p| !p.is_empty() && p.len() <= 256);
        let Some(person) = person else { return Err(ApiError::invalid("each user needs to_operator_id (a userid or a guest id)")) };
        let name = r.nick_name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(ApiError::invalid("nick_name must be 1 to 64 characters"));
        }
        renames.push((person.to_owned(), name.to_owned()));
    }
    let m = controlled_meeting(&state, &caller, &b.operator, &id).await?;
    let room = m.meeting_id.clone();
    let renamed = state
        .sfu
        .with_engine(move |e, _| {
            let mut renamed = 0usize;
            for p in e.list_participants(&room).unwrap_or_default() {
                let person = person_of(&p.metadata, &p.identity);
                if let Some((_, name)) = renames.iter().find(|(who, _)| *who == person) {
                    let req = huiyi_proto::lk::UpdateParticipantRequest { room: room.clone(), identity: p.identity.clone(), name: name.clone(), ..Default::default() };
                    renamed += usize::from(e.update_participant(&req).is_ok());
                }
            }
            renamed
        })
        .await
        .map_err(|_| ApiError::internal())?;
    if renamed == 0 {
        return Err(not_in_meeting());
    }
    Ok(Json(Empty {}))
}
