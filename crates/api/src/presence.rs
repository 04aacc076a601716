//! Who the holder of an access token is in its room right now, as the media engine sees it:
//! absent, waiting, or an admitted participant with a role. The token-authenticated meeting
//! features beside the signalling socket (polls, notes) ask this before acting, so a removed
//! participant, one still in the waiting room, or one whose token outlived its seat can do
//! nothing, and a co-host made during the meeting counts as a host at once.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use huiyi_sfu_core::WAITING_ATTRIBUTE;
use huiyi_sfu_core::interaction::is_host;

use crate::{AppState, Claims};

/// An admitted participant of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub room: String,
    pub identity: String,
    /// The person behind the identity (a userid or a guest id; the identity outside meetings),
    /// the unit a once-per-person rule counts.
    pub person: String,
    pub name: String,
    /// A host or a co-host, now.
    pub host: bool,
}

/// Verifies the request's access token and finds its holder among the room's admitted
/// participants. Every refusal is a response to return as it is: 401 for a bad token, 403 for
/// a token without a room or for someone not (or not yet) in the meeting, 503 if the engine
/// is gone.
pub async fn member(state: &AppState, query: &std::collections::HashMap<String, String>, headers: &HeaderMap) -> Result<Member, Response> {
    let claims = state.keys.verify(crate::rtc::token_from(query, headers)).map_err(|e| (StatusCode::UNAUTHORIZED, e.to_string()).into_response())?;
    member_of(state, &claims).await
}

/// [`member`] for claims already verified.
pub async fn member_of(state: &AppState, claims: &Claims) -> Result<Member, Response> {
    let room = claims.video.room.clone();
    if room.is_empty() || !claims.video.room_join {
        return Err((StatusCode::FORBIDDEN, "the token does not grant joining a room").into_response());
    }
    let (r, identity) = (room.clone(), claims.sub.clone());
    let info = state
        .sfu
        .with_engine(move |e, _| e.get_participant(&r, &identity).ok())
        .await
        .map_err(|_| (StatusCode::SERVICE_UNAVAILABLE, "the media server is shutting down").into_response())?;
    let Some(info) = info else {
        return Err((StatusCode::FORBIDDEN, "join the meeting first: this identity is not in the room").into_response());
    };
    if info.attributes.contains_key(WAITING_ATTRIBUTE) {
        return Err((StatusCode::FORBIDDEN, "the host has not admitted you yet").into_response());
    }
    Ok(Member {
        room,
        person: crate::tencent::admission::person_of(&claims.metadata, &claims.sub),
        identity: claims.sub.clone(),
        name: info.name.clone(),
        host: is_host(&info.attributes),
    })
}
