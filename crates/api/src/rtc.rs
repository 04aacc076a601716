//! LiveKit signalling: the `/rtc` WebSocket and `/rtc/validate`.
//!
//! One task per client socket: frames in are decoded and handed to the engine, engine
//! messages out are encoded as binary frames. Every way a client can misbehave ends in a
//! close code from [`close_code`], never in a panic, and never touches another session.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use huiyi_proto::lk::{self, signal_response::Message as SignalMessage};
use huiyi_proto::{decode_request, encode_response, DecodeError, MAX_SIGNAL_MESSAGE};
use huiyi_sfu::{Joined, SessionMessage};
use huiyi_sfu_core::{CloseReason, JoinParams, ParticipantIdentity, RoomName};
use tracing::{debug, info, warn};

use crate::auth::{AuthError, Claims};
use crate::tencent::admission;
use crate::meeting::controls;
use crate::AppState;

/// Bytes a signalling socket reads into at first (see `connect`): an offer fits.
const SIGNAL_READ_BUFFER: usize = 8 * 1024;

/// Close codes Huiyi uses on the signalling socket (RFC 6455 §7.4.1).
pub mod close_code {
    /// The session ended normally (leave, removal, room closed).
    pub const NORMAL: u16 = 1000;
    /// A text frame: the protocol is binary protobuf only.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A frame that is not a valid `SignalRequest`.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// The join was refused (room full, not permitted).
    pub const POLICY: u16 = 1008;
    /// A frame larger than the limit.
    pub const TOO_BIG: u16 = 1009;
    /// The server is shutting down; the client should reconnect.
    pub const GOING_AWAY: u16 = 1001;
    /// The engine failed internally.
    pub const INTERNAL: u16 = 1011;
    /// The client sent nothing (not even a ping) for the ping timeout.
    pub const PING_TIMEOUT: u16 = 4000;
}

pub(crate) fn unix_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Reads the token from `?access_token=` (JS SDK) or `Authorization: Bearer` (Rust/Python SDK).
pub(crate) fn token_from<'a>(query: &'a HashMap<String, String>, headers: &'a HeaderMap) -> &'a str {
    if let Some(t) = query.get("access_token").filter(|t| !t.is_empty()) {
        return t;
    }
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

/// A join request, checked: what the token allows, in the engine's terms.
pub(crate) fn join_params(claims: &Claims, query: &HashMap<String, String>, client: Option<std::net::SocketAddr>) -> Result<JoinParams, AuthError> {
    let v = &claims.video;
    if !v.room_join {
        return Err(AuthError::NotPermitted("roomJoin"));
    }
    let room = RoomName::parse(&v.room).map_err(|_| AuthError::NotPermitted("a valid room"))?;
    let identity = ParticipantIdentity::parse(&claims.sub).map_err(|_| AuthError::NotPermitted("a valid identity"))?;
    let sources = v
        .can_publish_sources
        .iter()
        .filter_map(|s| match s.as_str() {
            "camera" => Some(lk::TrackSource::Camera),
            "microphone" => Some(lk::TrackSource::Microphone),
            "screen_share" => Some(lk::TrackSource::ScreenShare),
            "screen_share_audio" => Some(lk::TrackSource::ScreenShareAudio),
            _ => None,
        })
        .map(|s| s as i32)
        .collect();
    let permission = lk::ParticipantPermission {
        can_subscribe: v.can_subscribe.unwrap_or(true),
        can_publish: v.can_publish.unwrap_or(true),
        can_publish_data: v.can_publish_data.unwrap_or(true),
        can_publish_sources: sources,
        hidden: v.hidden,
        can_update_metadata: v.can_update_own_metadata.unwrap_or(false),
        ..Default::default()
    };
    let auto_subscribe = !matches!(query.get("auto_subscribe").map(String::as_str), Some("0" | "false"));
    Ok(JoinParams {
        room,
        identity,
        name: claims.name.clone(),
        metadata: claims.metadata.clone(),
        attributes: claims.attributes.clone(),
        permission,
        auto_subscribe,
        now_ms: unix_millis(),
        client_addr: client.map(|a| a.ip().to_string()),
        mute_on_entry: huiyi_sfu_core::MuteOnEntry::Never,
        chat: huiyi_sfu_core::ChatRule::Free,
        waiting: false,
        may_rename: false,
    })
}

fn unauthorized(e: AuthError) -> Response {
    (StatusCode::UNAUTHORIZED, e.to_string()).into_response()
}

/// The participant attribute that names a host (`"host"`) or co-host (`"cohost"`), visible to
/// every LiveKit SDK; the engine reads it for the chat rule and for who may lower hands.
pub use huiyi_sfu_core::interaction::ROLE_ATTRIBUTE;

/// Whether a token is a host's: `roomAdmin` (join tokens carry it for hosts), or the role its
/// metadata names.
pub fn hosts_room(claims: &Claims) -> bool {
    claims.video.room_admin || serde_json::from_str::<serde_json::Value>(&claims.metadata).is_ok_and(|m| m["role"] == "host")
}

/// Whether the token's room admits its holder now: a meeting that ended or was cancelled, a
/// person the host removed, or a newcomer to a locked meeting is refused however valid the
/// token ([`admission`]). For a meeting's room, the answer carries its live controls.
pub(crate) async fn room_admits(state: &AppState, claims: &Claims, resuming: bool) -> Result<Option<admission::RoomRules>, Response> {
    let person = admission::person_of(&claims.metadata, &claims.sub);
    match admission::check_room(&state.store, &claims.video.room, &person, hosts_room(claims), resuming, crate::unix_now()).await {
        Ok(Ok(controls)) => Ok(controls),
        Ok(Err(refusal)) => Err((StatusCode::FORBIDDEN, refusal.to_string()).into_response()),
        Err(e) => {
            warn!(%e, "cannot check the meeting of a room");
            Err((StatusCode::SERVICE_UNAVAILABLE, "cannot check the meeting right now; try again").into_response())
        }
    }
}

/// `GET /rtc/validate`: the client calls this after a failed upgrade to learn why.
pub async fn validate(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let claims = match state.keys.verify(token_from(&query, &headers)).and_then(|c| join_params(&c, &query, None).map(|_| c)) {
        Ok(c) => c,
        Err(e) => return unauthorized(e),
    };
    match room_admits(&state, &claims, false).await {
        Ok(_) => (StatusCode::OK, "success").into_response(),
        Err(refused) => refused,
    }
}

/// `/rtc/v1` is LiveKit's single-peer-connection protocol, which Huiyi does not speak yet.
/// A plain 404 makes clients fall back to `/rtc`.
pub async fn v1_not_supported() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// `GET /rtc`: authenticate, then upgrade to the signalling socket.
pub async fn connect(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let client = Some(client);
    let checked = state.keys.verify(token_from(&query, &headers)).and_then(|c| join_params(&c, &query, client).map(|p| (c, p)));
    let (claims, mut params) = match checked {
        Ok(x) => x,
        Err(e) => {
            debug!(%e, "signalling connection refused");
            return unauthorized(e);
        }
    };
    let resume_sid = query.get("sid").filter(|_| matches!(query.get("reconnect").map(String::as_str), Some("1" | "true")));
    match room_admits(&state, &claims, resume_sid.is_some()).await {
        // In a meeting's room, the host's live controls decide what a participant may publish.
        Ok(Some(admission::RoomRules { controls, mute_on_entry, waits, may_rename })) => {
            let person = admission::person_of(&claims.metadata, &claims.sub);
            let role = controls.role(&person, hosts_room(&claims));
            let exempt = role.runs_meeting();
            params.permission = controls::permission(&params.permission, &controls, exempt);
            if !exempt {
                params.mute_on_entry = mute_on_entry;
            }
            if let Some(role) = role.attribute() {
                params.attributes.insert(ROLE_ATTRIBUTE.to_owned(), role.to_owned());
            }
            params.chat = controls.chat_rule();
            if controls.spotlight.as_deref() == Some(person.as_str()) {
                params.attributes.insert(crate::tencent::real_control::SPOTLIGHT_ATTRIBUTE.to_owned(), "1".to_owned());
            }
            params.waiting = waits;
            params.may_rename = may_rename || exempt;
        }
        Ok(None) => {}
        Err(refused) => {
            debug!(room = %claims.video.room, identity = %claims.sub, "signalling connection refused by the meeting");
            return refused;
        }
    }
    let attach = match resume_sid {
        Some(sid) => Attach::Resume { room: params.room.clone(), sid: sid.clone(), identity: params.identity.clone() },
        None => Attach::Join(params),
    };
    let Ok(ws) = ws else {
        return (StatusCode::BAD_REQUEST, "expected a WebSocket upgrade").into_response();
    };
    // Frames over our own limit still arrive, so they get a clear 1009 from us. The read
    // buffer starts small: tungstenite zero-fills all of it before each read, so its default
    // 128 KiB was resident for every participant. A larger message grows it for as long as
    // it is needed.
    ws.max_message_size(MAX_SIGNAL_MESSAGE * 4).read_buffer_size(SIGNAL_READ_BUFFER).on_upgrade(move |socket| session(state, attach, claims, socket))
}

async fn close(socket: &mut (impl SinkExt<Message> + Unpin), code: u16, reason: &str) {
    let frame = CloseFrame { code, reason: reason.to_owned().into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// How the socket attaches to a session: a fresh join, or a resume of a dropped one.
enum Attach {
    Join(JoinParams),
    Resume { room: RoomName, sid: String, identity: ParticipantIdentity },
}

async fn send(tx: &mut (impl SinkExt<Message> + Unpin), m: SignalMessage) -> bool {
    tx.send(Message::Binary(encode_response(m).into())).await.is_ok()
}

fn leave(reason: lk::DisconnectReason, action: lk::leave_request::Action) -> SignalMessage {
    SignalMessage::Leave(lk::LeaveRequest { reason: reason as i32, action: action as i32, ..Default::default() })
}

async fn session(state: AppState, attach: Attach, claims: Claims, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let (room, identity) = (claims.video.room.clone(), claims.sub.clone());
    let (key, conn, mut messages) = match attach {
        Attach::Join(params) => match state.sfu.join(params).await {
            Ok(Ok(j)) => {
                let Joined { key, conn, response, messages } = j;
                if !send(&mut tx, SignalMessage::Join(response)).await {
                    state.sfu.socket_closed(key, conn).await;
                    return;
                }
                (key, conn, messages)
            }
            Ok(Err(e)) => {
                info!(%room, %identity, %e, "join refused");
                send(&mut tx, leave(lk::DisconnectReason::JoinFailure, lk::leave_request::Action::Disconnect)).await;
                close(&mut tx, close_code::POLICY, &e.to_string()).await;
                return;
            }
            Err(_) => {
                close(&mut tx, close_code::INTERNAL, "server shutting down").await;
                return;
            }
        },
        Attach::Resume { room: r, sid, identity: who } => match state.sfu.resume(r, sid, who).await {
            Ok(Ok(r)) => {
                let huiyi_sfu::Resumed { key, conn, response, messages } = r;
                if !send(&mut tx, SignalMessage::Reconnect(response)).await {
                    state.sfu.socket_closed(key, conn).await;
                    return;
                }
                (key, conn, messages)
            }
            Ok(Err(e)) => {
                // The client answers RECONNECT with a full rejoin.
                info!(%room, %identity, %e, "resume refused; asking for a full rejoin");
                send(&mut tx, leave(lk::DisconnectReason::StateMismatch, lk::leave_request::Action::Reconnect)).await;
                close(&mut tx, close_code::NORMAL, &e.to_string()).await;
                return;
            }
            Err(_) => {
                close(&mut tx, close_code::INTERNAL, "server shutting down").await;
                return;
            }
        },
    };
    let mut shutdown = state.shutdown.clone();
    // LiveKit's ping timeout: a client pings every ping_interval, so a socket that has sent
    // nothing for ping_timeout belongs to a client that vanished without closing its TCP
    // connection. Closing it lets the engine hold the session for a resume, then end it.
    let silence = tokio::time::sleep(state.ping_timeout);
    tokio::pin!(silence);
    let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + state.token_refresh, state.token_refresh);
    loop {
        tokio::select! {
            _ = &mut silence => {
                info!(%room, %identity, timeout = ?state.ping_timeout, "no ping from the client; closing its signalling socket");
                close(&mut tx, close_code::PING_TIMEOUT, "ping timeout").await;
                break;
            }
            incoming = rx.next() => {
                silence.as_mut().reset(tokio::time::Instant::now() + state.ping_timeout);
                let frame = match incoming {
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Text(_))) => {
                        close(&mut tx, close_code::UNSUPPORTED_DATA, "signal messages are binary protobuf").await;
                        break;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(e)) => {
                        debug!(%e, "signalling socket error");
                        break;
                    }
                };
                match decode_request(&frame) {
                    Ok(request) => {
                        if state.sfu.signal(key, request).await.is_err() {
                            close(&mut tx, close_code::INTERNAL, "server shutting down").await;
                            break;
                        }
                    }
                    Err(e) => {
                        warn!(%room, %identity, %e, "closing signalling socket on a bad frame");
                        let code = if matches!(e, DecodeError::TooLarge(_)) { close_code::TOO_BIG } else { close_code::INVALID_PAYLOAD };
                        close(&mut tx, code, &e.to_string()).await;
                        break;
                    }
                }
            }
            outgoing = messages.recv() => match outgoing {
                Some(SessionMessage::Signal(m)) => {
                    if !send(&mut tx, m).await {
                        break;
                    }
                }
                Some(SessionMessage::Close(reason)) => {
                    let text = match reason {
                        CloseReason::ClientLeft => "left",
                        CloseReason::Removed => "removed by the server",
                        CloseReason::DuplicateIdentity => "the same identity joined again",
                        CloseReason::RoomDeleted => "room closed",
                        CloseReason::MediaFailure => "media connection lost",
                        CloseReason::Denied => "the host did not admit you from the waiting room",
                    };
                    close(&mut tx, close_code::NORMAL, text).await;
                    break;
                }
                // Replaced by a newer socket of the same session (a resume).
                None => {
                    close(&mut tx, close_code::NORMAL, "session resumed elsewhere").await;
                    break;
                }
            },
            _ = refresh.tick() => {
                // Keep the client's token fresh so a later resume is not refused as expired.
                if let Some(token) = state.keys.refresh(&claims, state.token_ttl) {
                    if !send(&mut tx, SignalMessage::RefreshToken(token)).await {
                        break;
                    }
                }
            }
            _ = shutdown.changed() => {
                send(&mut tx, leave(lk::DisconnectReason::ServerShutdown, lk::leave_request::Action::Reconnect)).await;
                close(&mut tx, close_code::GOING_AWAY, "server shutting down").await;
                break;
            }
        }
    }
    state.sfu.socket_closed(key, conn).await;
}
