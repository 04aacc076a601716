//! `POST /v1/meetings/join` (Huiyi's addition, documented in docs/tencent-api.md): a person
//! with a meeting code, a display name and, when one is set, the password gets a LiveKit
//! access token for that meeting's room. Unsigned: it is what a browser calls from a join
//! link. Wrong passwords are rate-limited per client address and per meeting. With the
//! portal's session cookie the participant joins as that user (a host when they host the
//! meeting). The meeting's settings decide who may join, when, and from how many devices.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

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
use super::error::{ApiError, ErrorBody};
use super::meetings::Settings;
use super::{parse_body, unix_now};
use crate::auth::{Claims, VideoGrant};
use crate::AppState;

/// Wrong passwords allowed per client address, and per meeting, within `WINDOW_SECS`.
const PER_CLIENT: usize = 5;
const PER_MEETING: usize = 30;
const WINDOW_SECS: i64 = 600;
/// Bounds the limiter's memory under a flood of distinct addresses.
const MAX_KEYS: usize = 100_000;

/// Recent wrong-password attempts by key (`ip:…` or `meeting:…`).
#[derive(Clone, Default)]
pub struct PasswordLimiter {
    failures: Arc<Mutex<HashMap<String, Vec<i64>>>>,
}

impl PasswordLimiter {
    pub fn blocked(&self, key: &str, limit: usize, now: i64) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(list) = map.get_mut(key) else { return false };
        list.retain(|t| now - t < WINDOW_SECS);
        list.len() >= limit
    }

    pub fn record(&self, keys: &[String], now: i64) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, v| v.iter().any(|t| now - t < WINDOW_SECS));
        }
        for k in keys {
            map.entry(k.clone()).or_default().push(now);
        }
    }
}

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
    let client_key = format!("ip:{}", peer.ip());
    if state.join_limiter.blocked(&client_key, PER_CLIENT, now) {
        return Err(ApiError::too_many("too many wrong passwords; try again later"));
    }
    let meeting = match state.store.live_meeting_by_code(&code).await {
        Ok(m) => m,
        Err(StoreError::NotFound) => return Err(ApiError::not_found("meeting")),
        Err(e) => return Err(e.into()),
    };
    let settings = Settings::of(&meeting);
    let user = session_user(&state, &headers).await?;
    let who = joiner(&meeting, user, b.client_id.as_deref(), settings.allow_multi_device.unwrap_or(false));
    match settings.only_user_join_type.unwrap_or(1) {
        2 if !who.member.as_ref().is_some_and(|u| who.role == "host" || userids(&meeting.data.invitees).any(|i| i == u.userid)) => {
            return Err(ApiError::new(StatusCode::FORBIDDEN, 10012, "only invited users may join this meeting; sign in with an invited account"));
        }
        3 if who.member.is_none() => {
            return Err(ApiError::new(StatusCode::FORBIDDEN, 10012, "only members of the organiser's enterprise may join this meeting; sign in"));
        }
        _ => {}
    }
    // Hosts do not need the password, as in Tencent Meeting.
    let meeting_key = format!("meeting:{}", meeting.meeting_id);
    if let Some(expected) = meeting.data.password.as_deref().filter(|p| !p.is_empty() && who.role != "host") {
        if state.join_limiter.blocked(&meeting_key, PER_MEETING, now) {
            return Err(ApiError::too_many("too many wrong passwords for this meeting; try again later"));
        }
        if b.password.as_deref() != Some(expected) {
            state.join_limiter.record(&[client_key, meeting_key], now);
            return Err(ApiError::new(StatusCode::FORBIDDEN, 10009, "wrong meeting password"));
        }
    }
    if meeting.data.end_time < now && meeting.status == huiyi_store::MeetingStatus::Init {
        return Err(ApiError::conflict("this meeting's scheduled time is over"));
    }
    if settings.allow_in_before_host == Some(false) && who.role != "host" && !state.store.host_has_joined(&meeting.meeting_id).await? {
        return Err(ApiError::new(StatusCode::FORBIDDEN, 10011, "the host has not joined yet; try again when the meeting has started"));
    }
    let claims = Claims {
        sub: who.identity.clone(),
        name: name.to_owned(),
        exp: (now + 6 * 3600) as u64,
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
