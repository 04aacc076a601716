//! `/v1/meetings/{id}/participants` (attendance history, paged),
//! `/v1/meetings/{id}/real-time-participants` (who is in the room now) and
//! `/v1/meetings/{id}/dismiss` (end the meeting for everyone).

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use huiyi_store::{Meeting, MeetingStatus, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::signing::Caller;
use crate::AppState;

#[derive(Deserialize)]
pub struct PageQuery {
    userid: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

async fn meeting_of(state: &AppState, caller: &Caller, userid: Option<&str>, id: &str) -> Result<Meeting, ApiError> {
    let userid = userid.ok_or_else(|| ApiError::invalid("userid is required"))?;
    match state.store.user(&caller.enterprise_id, userid).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(ApiError::not_found(&format!("user {userid}"))),
        Err(e) => return Err(e.into()),
    }
    state.store.meeting(&caller.enterprise_id, id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("meeting"),
        e => e.into(),
    })
}

/// Attendance: every session, with join and leave times (unix seconds as strings; an empty
/// `left_time` means still in the meeting), paged with `page` and `page_size` (1 to 100).
pub async fn participants(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Query(q): Query<PageQuery>) -> Result<Json<Value>, ApiError> {
    let m = meeting_of(&state, &caller, q.userid.as_deref(), &id).await?;
    let (page, size) = (q.page.unwrap_or(1), q.page_size.unwrap_or(20));
    if page < 1 || !(1..=100).contains(&size) {
        return Err(ApiError::invalid("page starts at 1; page_size is 1 to 100"));
    }
    let (rows, total) = state.store.attendance(&m.meeting_id, page, size).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "userid": r.identity,
                "user_name": r.display_name,
                "role": r.role,
                "ip": r.client_addr,
                "join_time": r.joined_at.to_string(),
                "left_time": r.left_at.map(|t| t.to_string()).unwrap_or_default(),
            })
        })
        .collect();
    Ok(Json(json!({
        "meeting_id": m.meeting_id,
        "meeting_code": m.meeting_code,
        "subject": m.data.subject,
        "total_count": total,
        "current_page": page,
        "current_size": list.len(),
        "total_page": (total + size - 1) / size,
        "participants": list,
    })))
}

/// Who is connected right now, from the media engine.
pub async fn real_time(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Query(q): Query<PageQuery>) -> Result<Json<Value>, ApiError> {
    let m = meeting_of(&state, &caller, q.userid.as_deref(), &id).await?;
    let room = m.meeting_id.clone();
    let now_in = state.sfu.with_engine(move |e, _| e.list_participants(&room).unwrap_or_default()).await.map_err(|_| ApiError::internal())?;
    let list: Vec<Value> = now_in
        .iter()
        .filter(|p| !p.permission.as_ref().is_some_and(|x| x.hidden))
        .map(|p| json!({ "userid": p.identity, "user_name": p.name, "join_time": (p.joined_at).to_string() }))
        .collect();
    Ok(Json(json!({
        "meeting_id": m.meeting_id,
        "meeting_code": m.meeting_code,
        "status": m.status.as_str(),
        "total_count": list.len(),
        "participants": list,
    })))
}

#[derive(Deserialize)]
pub struct DismissBody {
    userid: String,
}

/// Ends the meeting for everyone: every participant is removed, and the meeting is ended.
pub async fn dismiss(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Value>, ApiError> {
    let b: DismissBody = serde_json::from_slice(&body).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
    let m = meeting_of(&state, &caller, Some(&b.userid), &id).await?;
    if !m.status.is_live() {
        return Err(ApiError::conflict("the meeting has already ended or was cancelled"));
    }
    let room = m.meeting_id.clone();
    // The room may not exist (nobody joined yet); ending the meeting still applies.
    let _ = state.sfu.with_engine(move |e, now| e.delete_room(now, &room)).await.map_err(|_| ApiError::internal())?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    state.store.transition(&caller.enterprise_id, &m.meeting_id, &[MeetingStatus::Init, MeetingStatus::Started], MeetingStatus::Ended, now).await?;
    Ok(Json(json!({})))
}
