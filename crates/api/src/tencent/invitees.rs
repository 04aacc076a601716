//! A meeting's invitees on their own, as Tencent's API serves them:
//! `GET /v1/meetings/{id}/invitees` (cursor paged) and `PUT /v1/meetings/{id}/invitees`
//! (replaces the list; an absent or empty list clears it, as Tencent documents and as its
//! SDKs send an empty list).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{acting_id, userids, Caller, IdType};
use super::error::{ApiError, ErrorBody};
use super::meetings::{check_people, load, UserRef, MAX_INVITEES};
use super::{parse_body, unix_now, Q};
use crate::webhook::Event;
use crate::AppState;

/// Invitees per page of `GET …/invitees`.
const PAGE: usize = 100;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InviteesQuery {
    /// The acting user.
    userid: Option<String>,
    /// The acting user, as Tencent names them (wins over `userid`); with `operator_id_type` 1.
    operator_id: Option<String>,
    operator_id_type: Option<IdType>,
    instanceid: Option<String>,
    /// Where to start (from `next_pos`), default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pos: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Invitee {
    pub userid: String,
    /// The user's display name.
    pub nick_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct InviteeList {
    pub invitees: Vec<Invitee>,
    pub has_remaining: bool,
    pub next_pos: i64,
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/invitees", tag = "meetings", params(("meeting_id" = String, Path), InviteesQuery),
    responses((status = 200, body = InviteeList), (status = "4XX", body = ErrorBody)))]
/// The meeting's invitees, 100 at a time.
pub async fn list(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<InviteesQuery>) -> Result<Json<InviteeList>, ApiError> {
    let _ = q.instanceid;
    let user = caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let m = load(&state, &caller, &user, &id, false).await?;
    let pos = q.pos.unwrap_or(0);
    if !(0..=1_000_000).contains(&pos) {
        return Err(ApiError::invalid("pos is 0 to 1000000"));
    }
    let all: Vec<&str> = userids(&m.data.invitees).collect();
    let mut invitees = Vec::new();
    for userid in all.iter().skip(pos as usize).take(PAGE) {
        // A user deleted since the invitation is still listed, under their userid.
        let nick_name = match state.store.user(&m.data.enterprise_id, userid).await {
            Ok(u) => u.username,
            Err(huiyi_store::StoreError::NotFound) => String::new(),
            Err(e) => return Err(e.into()),
        };
        invitees.push(Invitee { userid: (*userid).to_owned(), nick_name });
    }
    let next_pos = pos + invitees.len() as i64;
    Ok(Json(InviteeList { has_remaining: (next_pos as usize) < all.len(), next_pos, invitees }))
}

#[derive(Deserialize, ToSchema)]
pub struct InviteesBody {
    #[serde(default)]
    userid: Option<String>,
    #[serde(default)]
    operator_id: Option<String>,
    #[serde(default)]
    operator_id_type: Option<IdType>,
    #[serde(default)]
    instanceid: Option<i64>,
    /// The new list; absent or empty clears it. At most 300 users of the enterprise.
    #[serde(default)]
    invitees: Option<Vec<UserRef>>,
}

#[derive(Serialize, ToSchema)]
pub struct InviteesAnswer {
    /// Invitees that are not users of the enterprise: always empty (such lists are refused).
    pub user_non_registered: Vec<String>,
}

#[utoipa::path(put, path = "/v1/meetings/{meeting_id}/invitees", tag = "meetings", params(("meeting_id" = String, Path)), request_body = InviteesBody,
    responses((status = 200, body = InviteesAnswer), (status = "4XX", body = ErrorBody)))]
/// Replaces the meeting's invitees (hosts and admins).
pub async fn replace(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<InviteesAnswer>, ApiError> {
    let b: InviteesBody = parse_body(&body)?;
    let _ = b.instanceid;
    let user = caller.acting_user(&state, acting_id(b.userid.as_deref(), b.operator_id.as_deref(), b.operator_id_type.as_ref())?).await?;
    let current = load(&state, &caller, &user, &id, true).await?;
    if !current.status.is_live() {
        return Err(ApiError::conflict("an ended or cancelled meeting cannot be modified"));
    }
    let invitees = check_people(&state, &caller.enterprise_id, "invitees", b.invitees.unwrap_or_default(), MAX_INVITEES).await?;
    let mut d = current.data.clone();
    d.invitees = serde_json::to_value(&invitees).map_err(|_| ApiError::internal())?;
    let now = unix_now();
    let m = state.store.update_meeting(&current.meeting_id, &d, now).await?;
    state.webhooks.meeting_event(Event::MeetingUpdated, &m, Some(&user), now).await;
    Ok(Json(InviteesAnswer { user_non_registered: Vec::new() }))
}
