//! `GET /v1/meetings/{id}/chat` and `/chat.csv`: a meeting's chat, public and private, for its
//! hosts and the enterprise's admins, during and after the meeting. Huiyi's addition (Tencent
//! has no chat API); paged like the attendance report.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::access::{acting_id, Caller};
use super::attendance::PageQuery;
use super::error::{ApiError, ErrorBody};
use super::meetings::load;
use super::{paging, Q};
use crate::chat::ChatLine;
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct MeetingChat {
    pub meeting_id: String,
    pub current_page: i64,
    pub current_size: usize,
    pub messages: Vec<ChatLine>,
}

async fn chat_meeting(state: &AppState, caller: &Caller, q: &PageQuery, id: &str) -> Result<huiyi_store::Meeting, ApiError> {
    let user = caller.acting_user(state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    // Private messages are in it: the meeting's hosts and the admins only.
    load(state, caller, &user, id, true).await
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/chat", tag = "chat", params(("meeting_id" = String, Path), PageQuery),
    responses((status = 200, body = MeetingChat), (status = "4XX", body = ErrorBody)))]
/// The meeting's chat in the order it was sent, private messages included (hosts and admins).
pub async fn list(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<PageQuery>) -> Result<Json<MeetingChat>, ApiError> {
    let m = chat_meeting(&state, &caller, &q, &id).await?;
    let (page, size) = paging(q.page, q.page_size, 50, 100)?;
    let rows = state.store.chat_of_room(&m.meeting_id, None, (page - 1) * size, size).await?;
    let messages: Vec<ChatLine> = rows.into_iter().map(ChatLine::from).collect();
    Ok(Json(MeetingChat { meeting_id: m.meeting_id, current_page: page, current_size: messages.len(), messages }))
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/chat.csv", tag = "chat", params(("meeting_id" = String, Path), PageQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = "4XX", body = ErrorBody)))]
/// The whole chat as CSV: time (UTC), sender, recipients (empty: everyone), text.
pub async fn csv(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<PageQuery>) -> Result<Response, ApiError> {
    let m = chat_meeting(&state, &caller, &q, &id).await?;
    let rows = state.store.chat_of_room(&m.meeting_id, None, 0, huiyi_store::MAX_ROOM_MESSAGES).await?;
    let text = csv_text(&rows)?;
    let disposition = format!("attachment; filename=\"chat-{}.csv\"", m.meeting_code);
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)], text).into_response())
}

/// A cell a spreadsheet will not run as a formula.
pub(crate) fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() }
}

pub fn csv_text(rows: &[huiyi_store::ChatMessage]) -> Result<String, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |_| ApiError::internal();
    w.write_record(["time", "from", "from_name", "to", "text"]).map_err(fail)?;
    for m in rows {
        let time = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(m.sent_at_ms).map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()).unwrap_or_default();
        w.write_record([time, cell(&m.sender), cell(&m.sender_name), m.recipients.join(" "), cell(&m.body)]).map_err(fail)?;
    }
    String::from_utf8(w.into_inner().map_err(|_| ApiError::internal())?).map_err(|_| ApiError::internal())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_keeps_newlines_and_defuses_formulas() {
        let m = huiyi_store::ChatMessage {
            room: "m".into(),
            room_sid: "RM_1".into(),
            message_id: "1".into(),
            sender: "alice".into(),
            sender_name: "=HYPERLINK(\"x\")".into(),
            recipients: vec!["bob".into(), "carol".into()],
            body: "line one\nline \"two\"".into(),
            sent_at_ms: 1_700_000_000_123,
        };
        let text = csv_text(&[m]).unwrap();
        let mut r = ::csv::Reader::from_reader(text.as_bytes());
        let row = r.records().next().unwrap().unwrap();
        assert_eq!(&row[0], "2023-11-14T22:13:20.123Z");
        assert_eq!(&row[2], "'=HYPERLINK(\"x\")");
        assert_eq!(&row[3], "bob carol");
        assert_eq!(&row[4], "line one\nline \"two\"");
    }
}
