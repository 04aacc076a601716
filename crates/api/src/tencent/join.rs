//! `POST /v1/meetings/join` (Huiyi's addition, documented in docs/tencent-api.md): a person
//! with a meeting code, a display name and, when one is set, the password gets a LiveKit
//! access token for that meeting's room. Unsigned: it is what a browser calls from a join
//! link. Wrong passwords are rate-limited per client address and per meeting. With the
//! portal's session cookie the participant joins as that user (a host when they host the
//! meeting). The meeting's settings decide who may join, when, and from how many devices.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use huiyi_store::{Meeting, StoreError, User};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::access::{is_host, session_user, userids};
use super::admission::{admit, Entry};
use crate::meeting::admission::Audience;
use super::error::{ApiError, ErrorBody};
use super::meetings::Settings;
use super::{parse_body, unix_now};
use crate::auth::{Claims, VideoGrant};
use crate::AppState;

/// Wrong passwords allowed per client address, and per meeting, in 10 minutes.
const PER_CLIENT: usize = 5;
const PER_MEETING: usize = 30;
/// Lookups of codes that match no live meeting allowed per client address, and over the
/// whole server, in 10 minutes: a guesser of 9-digit codes gets nowhere, while a person who
/// mistypes a code a few times is not held up.
const UNKNOWN_CODES_PER_CLIENT: usize = 20;
const UNKNOWN_CODES_OVERALL: usize = 2_000;
/// The key of the server-wide count of unknown codes.
const UNKNOWN_CODES_ALL: &str = "all";
/// How long a join token may be used to enter the room. A connected client is sent fresh
/// tokens ([`crate::AppState::token_refresh`]), and every entry checks the meeting again
/// ([`super::admission`]), so a short life only closes the window for a leaked token.
pub const JOIN_TOKEN_TTL_SECS: i64 = 600;

#[derive(Deserialize, ToSchema)]
pub struct JoinBody {
    /// 9 digits; spaces and dashes are ignored.
    meeting_code: String,
    display_name: String,
    #[serde(default)]
    password: Option<String>,
    /// A random id the browser keeps, so a guest who rejoins is counted as the same person.
    #[serde(default)]
    client_id: Option<String>,
}

/// What `room.connect(url, token)` needs.
#[derive(Serialize, ToSchema)]
pub struct JoinAnswer {
    /// The signalling base URL; empty means the server that answered.
    url: String,
    token: String,
    identity: String,
    /// `host`, `user` or `guest`.
    role: String,
    room: String,
    meeting_id: String,
    meeting_code: String,
    subject: String,
    /// The meeting asks participants to join with the microphone off (`mute_enable_join`).
    mute_on_join: bool,
}

/// How long after a meeting ends or is cancelled its code still says so (instead of "no such
/// meeting"), unless a new meeting has taken the code.
const RECENTLY_CLOSED_SECS: i64 = 7 * 24 * 3600;

/// Who is joining, as far as the settings care.
struct Joiner {
    identity: String,
    person: String,
    device: String,
    role: &'static str,
    /// A signed-in user of the meeting's enterprise.
    member: Option<User>,
}

fn joiner(meeting: &Meeting, user: Option<User>, client_id: Option<&str>, multi_device: bool) -> Joiner {
    let device = if multi_device { format!("{:06x}", rand::rng().random::<u32>() & 0xff_ffff) } else { String::from("web") };
    match user.filter(|u| u.enterprise_id == meeting.data.enterprise_id) {
        Some(u) => {
            let role = if is_host(meeting, &u.userid) { "host" } else { "user" };
            // One identity per person unless several devices are allowed: a second connection
            // with the same identity replaces the first (LiveKit's DUPLICATE_IDENTITY).
            let identity = if multi_device { format!("{}#{device}", u.userid) } else { u.userid.clone() };
            Joiner { identity, person: u.userid.clone(), device, role, member: Some(u) }
        }
        None => {
            let browser = match client_id.filter(|c| !c.is_empty() && c.len() <= 128) {
                Some(c) => hex::encode(&Sha256::digest(c.as_bytes())[..6]),
                None => format!("{:012x}", rand::rng().random::<u64>() & 0xffff_ffff_ffff),
            };
            let person = format!("guest-{browser}");
            let identity = if multi_device { format!("{person}#{device}") } else { person.clone() };
            Joiner { identity, person, device, role: "guest", member: None }
        }
    }
}

#[utoipa::path(post, path = "/v1/meetings/join", tag = "meetings", request_body = JoinBody, security(()),
    responses((status = 200, body = JoinAnswer), (status = "4XX", body = ErrorBody)))]
/// Joins a meeting by its code (Huiyi's addition; not signed, optionally signed in).
pub async fn join(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap, body: axum::body::Bytes) -> Result<Json<JoinAnswer>, ApiError> {
    let b: JoinBody = parse_body(&body)?;
    let name = b.display_name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("display_name must be 1 to 64 characters"));
    }
    let code: String = b.meeting_code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if code.len() != 9 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::invalid("meeting_code must be 9 digits"));
    }
    let now = unix_now();
    let ip = state.limits.client_ip(peer, &headers);
    // Counted before the lookup (so concurrent guesses cannot slip past the check), and given
    // back when the code turns out to exist.
    let client_key = format!("ip:{}", crate::limits::address_key(ip));
    let Some(lookup) = state.limits.unknown_codes.take(&[(client_key.clone(), UNKNOWN_CODES_PER_CLIENT)], now) else {
        return Err(ApiError::too_many("too many meeting codes tried; check the code and try again later"));
    };
    // The server-wide budget: while a distributed guesser has spent it, only clients that have
    // not themselves tried an unknown code lately are served, so everyone with a correct code
    // still joins, and the guessers (each of whom has missed) learn nothing.
    let spent = state.limits.unknown_codes.count(UNKNOWN_CODES_ALL, now) >= UNKNOWN_CODES_OVERALL;
    if spent && state.limits.unknown_codes.count(&client_key, now) > 1 {
        return Err(ApiError::too_many("too many meeting codes tried; check the code and try again later"));
    }
    let meeting = match state.store.live_meeting_by_code(&code).await {
        Ok(m) => m,
        Err(StoreError::NotFound) => {
            // A meeting that ended or was cancelled lately: say so, in plain words.
            if let Ok(closed) = state.store.recently_closed_by_code(&code, now - RECENTLY_CLOSED_SECS).await {
                lookup.forgive();
                let refusal = if closed.status == huiyi_store::MeetingStatus::Cancelled { super::admission::Refusal::Cancelled } else { super::admission::Refusal::Ended };
                return Err(super::admission::refusal_error(refusal));
            }
            let _ = state.limits.unknown_codes.take(&[(UNKNOWN_CODES_ALL.to_owned(), 2 * UNKNOWN_CODES_OVERALL)], now);
            return Err(ApiError::not_found("meeting"));
        }
        Err(e) => return Err(e.into()),
    };
    lookup.forgive();
    let settings = Settings::of(&meeting);
    let user = session_user(&state, &headers).await?;
    let who = joiner(&meeting, user, b.client_id.as_deref(), settings.allow_multi_device.unwrap_or(false));
    let invited = who.member.as_ref().is_some_and(|u| userids(&meeting.data.invitees).any(|i| i == u.userid));
    if let Err(why) = Audience::from_join_type(settings.join_type()).admits(who.role == "host", who.member.is_some(), invited) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, 10012, why));
    }
    // Hosts do not need the password, as in Tencent Meeting.
    if let Some(expected) = meeting.data.password.as_deref().filter(|p| !p.is_empty() && who.role != "host") {
        let keys = [(format!("ip:{}", crate::limits::address_key(ip)), PER_CLIENT), (format!("meeting:{}", meeting.meeting_id), PER_MEETING)];
        let Some(attempt) = state.limits.join_password.take(&keys, now) else {
            return Err(ApiError::too_many("too many wrong passwords; try again later"));
        };
        if b.password.as_deref() != Some(expected) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, 10009, "wrong meeting password"));
        }
        attempt.forgive();
    }
    let controls = crate::meeting::controls::Controls::from_json(state.store.meeting_controls(&meeting.meeting_id).await?);
    let entry = Entry { removed: state.store.is_removed(&meeting.meeting_id, &who.person).await?, locked_out: controls.locked && who.role != "host" };
    admit(&meeting, now, entry).map_err(super::admission::refusal_error)?;
    if settings.allow_in_before_host == Some(false) && who.role != "host" && !state.store.host_has_joined(&meeting.meeting_id).await? {
        let mut refusal = ApiError::new(StatusCode::FORBIDDEN, 10011, "the host has not joined yet; try again when the meeting has started");
        refusal.start_time = Some(meeting.data.start_time);
        return Err(refusal);
    }
    let claims = Claims {
        sub: who.identity.clone(),
        name: name.to_owned(),
        exp: (now + JOIN_TOKEN_TTL_SECS) as u64,
        metadata: json!({ "role": who.role, "meeting_id": meeting.meeting_id, "person": who.person, "device": who.device }).to_string(),
        video: VideoGrant {
            room_join: true,
            room: meeting.meeting_id.clone(),
            room_admin: who.role == "host",
            can_publish: Some(true),
            can_subscribe: Some(true),
            can_publish_data: Some(true),
            can_update_own_metadata: Some(false),
            ..Default::default()
        },
        ..Default::default()
    };
    let token = state.keys.mint(&claims).ok_or_else(ApiError::internal)?;
    Ok(Json(JoinAnswer {
        url: String::new(),
        token,
        identity: who.identity,
        role: who.role.to_owned(),
        room: meeting.meeting_id.clone(),
        meeting_id: meeting.meeting_id,
        meeting_code: meeting.meeting_code,
        subject: meeting.data.subject,
        mute_on_join: settings.mute_enable_join.unwrap_or(false),
    }))
}
