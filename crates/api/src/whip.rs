//! WHIP ingest (RFC 9725): a broadcaster (OBS Studio 30+, GStreamer's `whipsink`, a browser)
//! publishes into a room with one HTTP request.
//!
//! - `POST /whip` with `Authorization: Bearer <LiveKit access token>` (room, identity and
//!   name from the token, which needs `roomJoin` and may publish) or `Bearer <stream key>` of
//!   an ingress made with `CreateIngress` (`crate::ingress`) and an `application/sdp`
//!   offer: `201 Created`, the SDP answer, `Location: /whip/<session>` and an `ETag`. Huiyi is
//!   ICE-lite and learns the client's address from its STUN checks, so an offer whose
//!   candidates were all gathered first (OBS) and one whose candidates trickle later both work.
//! - `DELETE /whip/<session>`: the broadcast ends; its participant leaves.
//! - `PATCH /whip/<session>`: trickle ICE (`crate::http_media`); ICE restarts get 422.
//!
//! The session id in the `Location` is random and is the only handle on the broadcast, so
//! nobody else can end it. Meeting rules apply as on `/rtc`: removed people, a locked meeting
//! and the host's publishing controls.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tracing::{debug, info};

use crate::http_media::{created, offer_of, text as sdp, HttpSessions};
use crate::rtc::{join_params, room_admits, token_from};
use crate::AppState;

/// WHIP broadcasts the server tracks at once; more are refused (503) until some end.
const MAX_SESSIONS: usize = 256;

/// A live WHIP session: the room and identity it publishes as, and its ingress if a stream key
/// started it.
pub type Sessions = HttpSessions<(String, String, Option<String>)>;

/// `POST /whip`: joins the token's room as a publisher of the offer's tracks.
pub async fn publish(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let offer = match offer_of(&headers, &body) {
        Ok(offer) => offer,
        Err(refused) => return refused,
    };
    let query = HashMap::new();
    let bearer = token_from(&query, &headers);
    // A stream key (no dots) from CreateIngress, or a LiveKit access token (a JWT).
    let mut ingress = None;
    let (claims, mut params) = if !bearer.is_empty() && !bearer.contains('.') {
        match crate::ingress::join_params(&state, bearer, client).await {
            Ok((params, id)) => {
                ingress = Some(id);
                let claims = crate::auth::Claims { sub: params.identity.to_string(), ..Default::default() };
                (claims, params)
            }
            Err((code, why)) => return sdp(StatusCode::from_u16(code).unwrap_or(StatusCode::UNAUTHORIZED), why),
        }
    } else {
        let checked = state.keys.verify(bearer).and_then(|c| join_params(&c, &query, Some(client)).map(|p| (c, p)));
        match checked {
            Ok(x) => x,
            Err(e) => return sdp(StatusCode::UNAUTHORIZED, format!("{e} (send Authorization: Bearer <access token or stream key>)")),
        }
    };
    if !params.permission.can_publish {
        return sdp(StatusCode::FORBIDDEN, "the token may not publish");
    }
    let mut claims = claims;
    if claims.video.room.is_empty() {
        claims.video.room = params.room.to_string();
    }
    match room_admits(&state, &claims, false).await {
        Ok(Some(rules)) => {
            let person = crate::tencent::admission::person_of(&claims.metadata, &claims.sub);
            let role = rules.controls.role(&person, crate::rtc::hosts_room(&claims));
            if rules.waits && !role.runs_meeting() {
                return sdp(StatusCode::FORBIDDEN, "the meeting has a waiting room: a broadcast needs a host's token");
            }
            params.permission = crate::meeting::controls::permission(&params.permission, &rules.controls, role.runs_meeting());
        }
        Ok(None) => {}
        Err(refused) => return refused,
    }
    if !state.whip.has_room(&state.sfu, MAX_SESSIONS).await {
        return sdp(StatusCode::SERVICE_UNAVAILABLE, "too many broadcasts; try again later");
    }
    let (room, identity) = (params.room.to_string(), params.identity.to_string());
    let owned = offer.to_owned();
    let joined = state
        .sfu
        .with_engine(move |e, now| e.join_whip(now, params, &owned).map(|(key, answer)| (key, answer, e.session_sid(key).unwrap_or_default())))
        .await;
    let (key, answer, sid) = match joined {
        Ok(Ok(joined)) => joined,
        Ok(Err(e)) => return sdp(StatusCode::BAD_REQUEST, e.to_string()),
        Err(_) => return sdp(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"),
    };
    let (id, etag) = state.whip.insert(key, (room.clone(), identity.clone(), ingress.clone()), offer);
    if let Some(ingress) = &ingress {
        crate::ingress::set_publishing(&state.store, &state.webhooks, ingress, Some(&sid)).await;
    }
    info!(room, identity, ?ingress, "WHIP broadcast started");
    created(answer, &format!("/whip/{id}"), &etag)
}

/// `DELETE /whip/<session>`: ends the broadcast. A session the server already ended (its
/// client fell silent, a host removed it, a newer publisher took its identity) answers 404 and
/// leaves its ingress alone: the key may be publishing again from someone else.
pub async fn end(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some((key, (_, _, ingress))) = state.whip.remove(&id) else {
        return sdp(StatusCode::NOT_FOUND, "no such WHIP session");
    };
    let ended = state.sfu.with_engine(move |e, now| (e.session_sid(key), e.end_http_session(now, key))).await;
    match ended {
        Ok((Some(sid), true)) => {
            if let Some(ingress) = ingress {
                crate::ingress::publisher_ended(&state.store, &state.webhooks, &ingress, &sid).await;
            }
            debug!(sid, "WHIP broadcast ended");
            sdp(StatusCode::OK, "ended")
        }
        Ok(_) => sdp(StatusCode::NOT_FOUND, "the broadcast had already ended"),
        Err(_) => sdp(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"),
    }
}

/// `PATCH /whip/<session>`: trickle ICE (`crate::http_media`).
pub async fn patch(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    state.whip.patch(&state.sfu, &id, &headers, &body).await
}
