//! `GET /api/chat`: a participant's chat history, for a late joiner and after a reconnect.
//! The LiveKit access token is the credential (`Authorization: Bearer …` or `?access_token=`),
//! as for `/rtc`; the answer holds the room's public messages and the private ones the
//! token's identity sent or received. A meeting's history spans its whole life; a plain
//! LiveKit room's, the room's current instance. Messages get here through the engine
//! (`interaction`) and the recorder, never through this endpoint.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tracing::warn;

use crate::AppState;

/// The most messages one history answer holds: the newest ones.
pub const HISTORY_LIMIT: i64 = 500;

/// One message as apps receive it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChatLine {
    pub id: String,
    /// The sender's identity.
    pub from: String,
    pub from_name: String,
    /// The recipients' identities; empty for a message to everyone.
    pub to: Vec<String>,
    pub text: String,
    /// Unix milliseconds, by the server's clock.
    pub sent_at_ms: i64,
}

impl From<huiyi_store::ChatMessage> for ChatLine {
    fn from(m: huiyi_store::ChatMessage) -> Self {
        ChatLine { id: m.message_id, from: m.sender, from_name: m.sender_name, to: m.recipients, text: m.body, sent_at_ms: m.sent_at_ms }
    }
}

#[derive(Serialize)]
pub struct History {
    pub room: String,
    pub messages: Vec<ChatLine>,
}

pub async fn history(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let token = crate::rtc::token_from(&query, &headers);
    let claims = match state.keys.verify(token) {
        Ok(c) => c,
        Err(e) => return (StatusCode::UNAUTHORIZED, e.to_string()).into_response(),
    };
    let room = claims.video.room.clone();
    if room.is_empty() || !claims.video.room_join {
        return (StatusCode::FORBIDDEN, "the token does not grant joining a room").into_response();
    }
    // A meeting's room keeps its history across room instances; a plain room's ends with it.
    let instance = match state.store.meeting_for_room(&room).await {
        Ok(_) => None,
        Err(huiyi_store::StoreError::NotFound) => {
            let name = room.clone();
            let sid = state.sfu.with_engine(move |e, _| e.list_rooms(&[name]).into_iter().next().map(|r| r.sid)).await.ok().flatten();
            match sid {
                Some(sid) => Some(sid),
                None => return Json(History { room, messages: Vec::new() }).into_response(),
            }
        }
        Err(e) => {
            warn!(%e, "cannot look up the meeting of a room");
            return (StatusCode::SERVICE_UNAVAILABLE, "cannot read the chat right now; try again").into_response();
        }
    };
    match state.store.chat_tail(&room, instance.as_deref(), HISTORY_LIMIT).await {
        Ok(all) => {
            let messages = all.into_iter().filter(|m| m.visible_to(&claims.sub)).map(ChatLine::from).collect();
            Json(History { room, messages }).into_response()
        }
        Err(e) => {
            warn!(%e, "cannot read chat history");
            (StatusCode::SERVICE_UNAVAILABLE, "cannot read the chat right now; try again").into_response()
        }
    }
}
