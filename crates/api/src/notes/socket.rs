//! The notes endpoints for participants, authenticated by the LiveKit access token like
//! `/api/chat`: the WebSocket `GET /api/notes` (and `/api/notes/{room}`, the URL y-websocket's
//! `WebsocketProvider(url, room, doc)` builds) and the Markdown download `GET /api/notes.md`.
//!
//! Only an admitted participant of a meeting's room gets in (`presence`), and the socket
//! checks again every few seconds: a participant removed from the meeting loses the socket
//! (1008), and a co-host made or unmade during the meeting gains or loses the host's right to
//! edit read-only notes. Each socket enforces its own frame size and message rate; the room
//! task does the rest.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::doc::{markdown_of, Role};
use super::room::Command;
use super::wire::{self, close_code, Refusal};
use super::Out;
use crate::presence::Member;
use crate::{AppState, Claims};

/// `GET /api/notes?access_token=…`: the notes of the token's room.
pub async fn connect(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap, ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>) -> Response {
    upgrade(state, query, headers, None, ws).await
}

/// `GET /api/notes/{room}?access_token=…`: the same, with the room named in the path as
/// y-websocket does; it must be the token's room.
pub async fn connect_room(
    State(state): State<AppState>,
    Path(room): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    upgrade(state, query, headers, Some(room), ws).await
}

/// Who may open the notes: the verified claims and the participant they are now.
async fn participant(state: &AppState, query: &HashMap<String, String>, headers: &HeaderMap, room: Option<&str>) -> Result<(Claims, Member, huiyi_store::Meeting), Response> {
    let claims = state.keys.verify(crate::rtc::token_from(query, headers)).map_err(|e| (StatusCode::UNAUTHORIZED, e.to_string()).into_response())?;
    if room.is_some_and(|r| r != claims.video.room) {
        return Err((StatusCode::FORBIDDEN, "the access token is for another room").into_response());
    }
    let member = crate::presence::member_of(state, &claims).await?;
    let meeting = match state.store.meeting_for_room(&member.room).await {
        Ok(m) => m,
        Err(huiyi_store::StoreError::NotFound) => return Err((StatusCode::NOT_FOUND, "shared notes are kept for meetings only").into_response()),
        Err(e) => {
            warn!(%e, "cannot look up the meeting of a room");
            return Err((StatusCode::SERVICE_UNAVAILABLE, "cannot open the notes right now; try again").into_response());
        }
    };
    Ok((claims, member, meeting))
}

async fn upgrade(state: AppState, query: HashMap<String, String>, headers: HeaderMap, room: Option<String>, ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>) -> Response {
    let (claims, member, _) = match participant(&state, &query, &headers, room.as_deref()).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let Ok(ws) = ws else {
        return (StatusCode::BAD_REQUEST, "expected a WebSocket upgrade").into_response();
    };
    // Frames over our own limit still arrive, so they get a clear 1009 from us.
    let max = state.notes.config().max_frame_bytes * 4;
    ws.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| session(state, claims, member, socket))
}

fn role_of(member: &Member) -> Role {
    if member.host { Role::Host } else { Role::Participant }
}

async fn close(tx: &mut (impl SinkExt<Message> + Unpin), why: &Refusal) {
    let frame = CloseFrame { code: why.code, reason: why.reason.clone().into() };
    let _ = tx.send(Message::Close(Some(frame))).await;
}

async fn session(state: AppState, claims: Claims, member: Member, socket: WebSocket) {
    let notes = state.notes.clone();
    let config = notes.config().clone();
    let (mut tx, mut rx) = socket.split();
    let (out, mut outgoing) = tokio::sync::mpsc::channel(config.outgoing_queue);
    let room = member.room.clone();
    let (peer, membership) = match notes.join(&room, out) {
        Ok(m) => m,
        Err(why) => {
            info!(%room, identity = %member.identity, reason = %why.reason, "notes socket refused");
            close(&mut tx, &why).await;
            return;
        }
    };
    let commands = membership.commands;
    match membership.joined.await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            info!(%room, identity = %member.identity, reason = %why.reason, "notes socket refused");
            close(&mut tx, &why).await;
            return;
        }
        Err(_) => {
            close(&mut tx, &Refusal::new(close_code::INTERNAL, "the notes could not be opened; try again")).await;
            return;
        }
    }
    debug!(%room, identity = %member.identity, peer, "notes socket open");
    let mut role = role_of(&member);
    let mut rate = RateLimit::new(config.message_burst, config.messages_per_second, Instant::now());
    let period = config.presence_interval.max(Duration::from_millis(100));
    let mut presence = tokio::time::interval_at(Instant::now() + period, period);
    let mut shutdown = state.shutdown.clone();
    let why: Option<Refusal> = loop {
        tokio::select! {
            incoming = rx.next() => {
                let frame = match incoming {
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Text(_))) => break Some(Refusal::new(close_code::UNSUPPORTED_DATA, "the notes protocol is binary (y-websocket messages)")),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Err(e)) => {
                        debug!(%e, "notes socket error");
                        break None;
                    }
                };
                if frame.len() > config.max_frame_bytes {
                    break Some(Refusal::new(close_code::TOO_BIG, format!("a frame is larger than {} KiB", config.max_frame_bytes / 1024)));
                }
                if !rate.take(Instant::now()) {
                    break Some(Refusal::new(close_code::POLICY, "too many messages; slow down"));
                }
                let message = match wire::parse(&frame) {
                    Ok(m) => m,
                    Err(why) => break Some(why),
                };
                if commands.send(Command::Message { peer, role, message }).await.is_err() {
                    break Some(Refusal::new(close_code::INTERNAL, "the notes closed; reconnect"));
                }
            }
            sent = outgoing.recv() => match sent {
                Some(Out::Frame(f)) => {
                    if tx.send(Message::Binary(f)).await.is_err() {
                        break None;
                    }
                }
                Some(Out::Close(why)) => break Some(why),
                None => break Some(Refusal::new(close_code::INTERNAL, "the notes closed; reconnect")),
            },
            _ = presence.tick() => match crate::presence::member_of(&state, &claims).await {
                Ok(now) => role = role_of(&now),
                Err(refused) if refused.status() == StatusCode::SERVICE_UNAVAILABLE => break Some(Refusal::new(close_code::GOING_AWAY, "server shutting down")),
                Err(_) => break Some(Refusal::new(close_code::POLICY, "not in the meeting")),
            },
            _ = shutdown.changed() => break Some(Refusal::new(close_code::GOING_AWAY, "server shutting down")),
        }
    };
    if let Some(why) = &why {
        if why.code != close_code::GOING_AWAY {
            info!(%room, identity = %member.identity, code = why.code, reason = %why.reason, "notes socket closed by the server");
        }
        close(&mut tx, why).await;
    }
    let _ = commands.send(Command::Leave { peer }).await;
}

/// A token bucket: `burst` messages at once, then `per_second`.
#[derive(Debug)]
pub struct RateLimit {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl RateLimit {
    pub fn new(burst: u32, per_second: u32, now: Instant) -> Self {
        RateLimit { tokens: f64::from(burst), burst: f64::from(burst), per_second: f64::from(per_second), last: now }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// `GET /api/notes.md?access_token=…`: the notes' Markdown, for a participant in the meeting.
pub async fn markdown(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let (_, _, meeting) = match participant(&state, &query, &headers, None).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    match stored_markdown(&state.store, &meeting.meeting_id).await {
        Ok(text) => markdown_response(&meeting, text),
        Err(e) => {
            warn!(%e, "cannot read the notes");
            (StatusCode::SERVICE_UNAVAILABLE, "cannot read the notes right now; try again").into_response()
        }
    }
}

/// A meeting's notes as Markdown, from the store (which holds every update the notes took).
pub async fn stored_markdown(store: &huiyi_store::Store, room: &str) -> Result<String, String> {
    let rows = store.notes_updates(room).await.map_err(|e| e.to_string())?;
    markdown_of(rows.iter().map(|r| r.data.as_slice())).map_err(|e| e.to_string())
}

/// The download: `text/markdown`, named after the meeting code.
pub fn markdown_response(meeting: &huiyi_store::Meeting, text: String) -> Response {
    let disposition = format!("attachment; filename=\"notes-{}.md\"", meeting.meeting_code);
    ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(3, 10, t0);
        assert!(r.take(t0) && r.take(t0) && r.take(t0));
        assert!(!r.take(t0), "the burst is spent");
        assert!(!r.take(t0 + Duration::from_millis(50)), "half a token");
        assert!(r.take(t0 + Duration::from_millis(100)));
        // Idle time refills up to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        assert!(r.take(later) && r.take(later) && r.take(later));
        assert!(!r.take(later));
    }
}
