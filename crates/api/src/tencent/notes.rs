//! The shared notes in the `/v1` API (Huiyi's additions): `PUT /v1/real-control/meetings/{id}/notes`
//! makes them read-only for everyone but the hosts and co-hosts (or editable again), pushed at
//! once to every connected editor; `GET /v1/meetings/{id}/notes.md` downloads them as Markdown
//! for the meeting's hosts and the enterprise's admins, during and after the meeting. The
//! notes themselves live in [`crate::notes`].

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::ToSchema;

use super::access::{acting_id, Caller};
use super::attendance::ActingQuery;
use crate::meeting::controls::Controls;
use super::error::{ApiError, ErrorBody};
use super::meetings::{load, Empty};
use super::real_control::{controlled_meeting, Operator};
use super::{parse_body, unix_now, Q};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
pub struct NotesControlBody {
    /// Who acts: `operator_id` with `operator_id_type` 1, or `userid`.
    #[serde(flatten)]
    operator: Operator,
    /// `true`: only hosts and co-hosts may edit the notes; `false`: everyone in the meeting.
    read_only: bool,
}

#[utoipa::path(put, path = "/v1/real-control/meetings/{meeting_id}/notes", tag = "real-control", params(("meeting_id" = String, Path)), request_body = NotesControlBody,
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Makes the meeting's shared notes read-only for participants, or editable again (hosts,
/// co-hosts and admins; Huiyi's addition). Connected editors see the mode at once in the
/// server's awareness entry, `{"huiyi":{"readOnly":true}}`; a participant's edit while it is on
/// is refused with Yjs's permission-denied message.
pub async fn control(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Empty>, ApiError> {
    let b: NotesControlBody = parse_body(&body)?;
    let m = controlled_meeting(&state, &caller, &b.operator, &id).await?;
    let mut controls = Controls::from_json(state.store.meeting_controls(&m.meeting_id).await?);
    if controls.notes_read_only != b.read_only {
        controls.notes_read_only = b.read_only;
        let json = serde_json::to_value(&controls).map_err(|_| ApiError::internal())?;
        state.store.set_meeting_controls(&m.meeting_id, &json, unix_now()).await?;
    }
    // Stored first: a document loaded from now on reads the new mode; a loaded one is told.
    state.notes.set_read_only(&m.meeting_id, b.read_only).await;
    tracing::info!(meeting_id = %m.meeting_id, read_only = b.read_only, "notes mode set");
    Ok(Json(Empty {}))
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/notes.md", tag = "notes", params(("meeting_id" = String, Path), ActingQuery),
    responses((status = 200, content_type = "text/markdown", body = String), (status = "4XX", body = ErrorBody)))]
/// The meeting's shared notes as Markdown (hosts and admins; Huiyi's addition): what the
/// editors wrote, as the server holds it. Empty if nobody wrote any.
pub async fn markdown(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<ActingQuery>) -> Result<Response, ApiError> {
    let user = caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let m = load(&state, &caller, &user, &id, true).await?;
    let text = crate::notes::socket::stored_markdown(&state.store, &m.meeting_id).await.map_err(|e| {
        tracing::error!(meeting_id = %m.meeting_id, error = %e, "cannot read the notes");
        ApiError::internal()
    })?;
    Ok(crate::notes::socket::markdown_response(&m, text))
}
