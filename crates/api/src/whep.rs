//! WHEP playback (draft-ietf-wish-whep): a viewer (a browser page, GStreamer's `whepsrc`, a
//! player) plays one participant's picture and sound with one HTTP request, and is seen by
//! nobody in the meeting.
//!
//! - `POST /whep` with `Authorization: Bearer <LiveKit access token>` (its room; it needs
//!   `roomJoin` and `canSubscribe`) and a receive-only `application/sdp` offer: `201 Created`,
//!   the SDP answer, and `Location: /whep/<session>`. `?participant=<identity>` chooses whom to
//!   play; without it, the first person in the room who publishes video. Each of the offer's
//!   video lines gets that person's camera (or screen share), its audio lines the microphone.
//! - `DELETE /whep/<session>`: playback ends.
//! - `PATCH /whep/<session>`: trickle ICE (`crate::http_media`); ICE restarts get 422.
//!
//! A token may be shared by many viewers (a player link): each viewer joins as its own hidden
//! participant, `whep_<random>`, so viewers never replace one another. Meeting rules apply as on
//! `/rtc`: removed people and locked meetings are refused, and a meeting with a waiting room
//! admits only its hosts' tokens here (a hidden viewer would bypass the waiting room).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use huiyi_proto::lk;
use huiyi_sfu_core::{ParticipantIdentity, WhepSource};
use rand::distr::Alphanumeric;
use rand::Rng;
use tracing::{debug, info};

use crate::http_media::{created, offer_of, text, HttpSessions};
use crate::rtc::{join_params, room_admits, token_from};
use crate::AppState;

/// WHEP viewers the server keeps at once; more are refused (503) until some leave. Each costs a
/// peer connection and a down track per line, as a subscriber does.
const MAX_VIEWERS: usize = 1000;

/// Live WHEP sessions (the room each plays from, for the log).
pub type Viewers = HttpSessions<String>;

/// `POST /whep`: joins the token's room as a hidden viewer of one participant.
pub async fn play(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let offer = match offer_of(&headers, &body) {
        Ok(offer) => offer,
        Err(refused) => return refused,
    };
    let no_query = HashMap::new();
    let checked = state.keys.verify(token_from(&no_query, &headers)).and_then(|c| join_params(&c, &no_query, Some(client)).map(|p| (c, p)));
    let (claims, mut params) = match checked {
        Ok(x) => x,
        Err(e) => return text(StatusCode::UNAUTHORIZED, format!("{e} (send Authorization: Bearer <access token>)")),
    };
    if !params.permission.can_subscribe {
        return text(StatusCode::FORBIDDEN, "the token may not subscribe");
    }
    let source = match query.get("participant").filter(|p| !p.is_empty()) {
        Some(p) => match ParticipantIdentity::parse(p) {
            Ok(identity) => WhepSource::Participant(identity),
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("participant {e}")),
        },
        None => WhepSource::Room,
    };
    match room_admits(&state, &claims, false).await {
        Ok(Some(rules)) => {
            let person = crate::tencent::admission::person_of(&claims.metadata, &claims.sub);
            let role = rules.controls.role(&person, crate::rtc::hosts_room(&claims));
            if rules.waits && !role.runs_meeting() {
                return text(StatusCode::FORBIDDEN, "the meeting has a waiting room: WHEP playback needs a host's token");
            }
        }
        Ok(None) => {}
        Err(refused) => return refused,
    }
    if !state.whep.has_room(&state.sfu, MAX_VIEWERS).await {
        return text(StatusCode::SERVICE_UNAVAILABLE, "too many WHEP viewers; try again later");
    }
    let suffix: String = rand::rng().sample_iter(&Alphanumeric).take(12).map(char::from).collect();
    let Ok(identity) = ParticipantIdentity::parse(&format!("whep_{suffix}")) else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "cannot name the viewer");
    };
    params.identity = identity;
    if params.name.is_empty() {
        params.name = "WHEP viewer".into();
    }
    params.permission = lk::ParticipantPermission { can_subscribe: true, hidden: true, ..Default::default() };
    params.auto_subscribe = false;
    let room = params.room.to_string();
    let owned = offer.to_owned();
    let joined = state.sfu.with_engine(move |e, now| e.join_whep(now, params, &owned, source)).await;
    let (key, answer) = match joined {
        Ok(Ok(joined)) => joined,
        Ok(Err(huiyi_sfu_core::ServiceError::RoomNotFound)) => return text(StatusCode::NOT_FOUND, "the room is not in progress"),
        Ok(Err(huiyi_sfu_core::ServiceError::ParticipantNotFound)) => return text(StatusCode::NOT_FOUND, "no such participant in the room"),
        Ok(Err(huiyi_sfu_core::ServiceError::TrackNotFound)) => return text(StatusCode::NOT_FOUND, "nobody in the room publishes anything to play"),
        Ok(Err(e)) => return text(StatusCode::BAD_REQUEST, e.to_string()),
        Err(_) => return text(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"),
    };
    let (id, etag) = state.whep.insert(key, room.clone(), offer);
    info!(room, "WHEP viewer started");
    created(answer, &format!("/whep/{id}"), &etag)
}

/// `DELETE /whep/<session>`: ends playback.
pub async fn end(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some((key, room)) = state.whep.remove(&id) else {
        return text(StatusCode::NOT_FOUND, "no such WHEP session");
    };
    match state.sfu.with_engine(move |e, now| e.end_http_session(now, key)).await {
        Ok(true) => {
            debug!(room, "WHEP viewer ended");
            text(StatusCode::OK, "ended")
        }
        // The server ended it first (its player fell silent, the room closed).
        Ok(false) => text(StatusCode::NOT_FOUND, "the playback had already ended"),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"),
    }
}

/// `PATCH /whep/<session>`: trickle ICE (`crate::http_media`).
pub async fn patch(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    state.whep.patch(&state.sfu, &id, &headers, &body).await
}
