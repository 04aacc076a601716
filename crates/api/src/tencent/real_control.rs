//! Tencent's in-meeting controls (`/v1/real-control/meetings/{meeting_id}/…`), enforced by the
//! server. Served so far: `kickout`, which removes people from the meeting's room and, unless
//! `allow_rejoin`, keeps them out ([`super::admission`]) until a host lets them back. The other
//! controls (mutes, co-hosts, status, waiting room, …) are issue 8's.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::ToSchema;

use super::access::{acting_id, may_control, Caller, IdType};
use super::admission::person_of;
use super::error::{ApiError, ErrorBody};
use super::meetings::{load, Empty};
use super::{parse_body, unix_now};
use crate::AppState;

/// People one kickout may name.
const MAX_TARGETS: usize = 100;

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
    instanceid: Option<i64>,
}

impl Target {
    fn person(&self) -> Result<&str, ApiError> {
        let id = acting_id(self.userid.as_deref(), self.to_operator_id.as_deref(), self.to_operator_id_type.as_ref().or(Some(&IdType::Int(1))))?;
        id.filter(|p| !p.is_empty() && p.len() <= 256).ok_or_else(|| ApiError::invalid("each user needs to_operator_id (a userid or a guest id)"))
    }
}

#[derive(Deserialize, ToSchema)]
pub struct KickoutBody {
    #[serde(default)]
    operator_id: Option<String>,
    #[serde(default)]
    operator_id_type: Option<IdType>,
    #[serde(default)]
    userid: Option<String>,
    #[serde(default)]
    instanceid: Option<i64>,
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
    let _ = (b.instanceid, &b.reason);
    let user = caller.acting_user(&state, acting_id(b.userid.as_deref(), b.operator_id.as_deref(), b.operator_id_type.as_ref())?).await?;
    let m = load(&state, &caller, &user, &id, false).await?;
    if !may_control(&user, &m) {
        return Err(ApiError::forbidden("only the meeting's hosts or an enterprise admin may remove participants"));
    }
    if !m.status.is_live() {
        return Err(ApiError::conflict("the meeting has already ended or was cancelled"));
    }
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
