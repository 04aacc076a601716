//! Tencent's waiting-room queries: who waits now (`GET /v1/meetings/{id}/waiting-room-participants`)
//! and who waited (`GET /v1/meeting/{id}/waiting-room`, singular `meeting`, as Tencent spells it).
//! Huiyi has no waiting room yet (issue 8), so both lists are empty; they are answered in
//! Tencent's shape so that an integrator's sync job reads "nobody" rather than an error.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{acting_id, Caller, IdType};
use super::error::{ApiError, ErrorBody};
use super::meetings::load;
use super::{paging, Q};
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

/// Someone in the waiting room (never listed yet; the shape is Tencent's).
#[derive(Serialize, ToSchema)]
pub struct Waiting {
    pub userid: String,
    /// Base64 of the display name's UTF-8.
    pub user_name: String,
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

async fn answer(state: &AppState, caller: &Caller, id: &str, q: &WaitingQuery, millis: bool) -> Result<WaitingList, ApiError> {
    let user = caller.acting_user(state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let m = load(state, caller, &user, id, false).await?;
    let (page, _) = paging(q.page, q.page_size, 20, 50)?;
    let scale = if millis { 1000 } else { 1 };
    use base64::Engine as _;
    Ok(WaitingList {
        meeting_id: m.meeting_id,
        meeting_code: m.meeting_code,
        subject: base64::engine::general_purpose::STANDARD.encode(m.data.subject.as_bytes()),
        schedule_start_time: m.data.start_time * scale,
        schedule_end_time: m.data.end_time * scale,
        total_count: 0,
        current_page: page,
        current_size: 0,
        total_page: 0,
        participants: Vec::new(),
    })
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/waiting-room-participants", tag = "attendance", params(("meeting_id" = String, Path), WaitingQuery),
    responses((status = 200, body = WaitingList), (status = "4XX", body = ErrorBody)))]
/// Who is in the waiting room now: nobody, until Huiyi has a waiting room.
pub async fn now(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<WaitingQuery>) -> Result<Json<WaitingList>, ApiError> {
    answer(&state, &caller, &id, &q, false).await.map(Json)
}

#[utoipa::path(get, path = "/v1/meeting/{meeting_id}/waiting-room", tag = "attendance", params(("meeting_id" = String, Path), WaitingQuery),
    responses((status = 200, body = WaitingList), (status = "4XX", body = ErrorBody)))]
/// Who waited in the waiting room: nobody, until Huiyi has a waiting room.
pub async fn history(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<WaitingQuery>) -> Result<Json<WaitingList>, ApiError> {
    answer(&state, &caller, &id, &q, true).await.map(Json)
}
