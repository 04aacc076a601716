//! `POST /v1/meetings/join` (Huiyi's addition, documented in docs/tencent-api.md): a person
//! with a meeting code, a display name and, when one is set, the password gets a LiveKit
//! access token for that meeting's room. Unsigned: it is what a browser calls from a join
//! link. Wrong passwords are rate-limited per client address and per meeting.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use huiyi_store::StoreError;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
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
    fn blocked(&self, key: &str, limit: usize, now: i64) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(list) = map.get_mut(key) else { return false };
        list.retain(|t| now - t < WINDOW_SECS);
        list.len() >= limit
    }

    fn record(&self, keys: &[String], now: i64) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, v| v.iter().any(|t| now - t < WINDOW_SECS));
        }
        for k in keys {
            map.entry(k.clone()).or_default().push(now);
        }
    }
}

#[derive(Deserialize)]
pub struct JoinBody {
    meeting_code: String,
    display_name: String,
    #[serde(default)]
    password: Option<String>,
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub async fn join(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: JoinBody = serde_json::from_slice(&body).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
    let name = b.display_name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("display_name must be 1 to 64 characters"));
    }
    let code: String = b.meeting_code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if code.len() != 9 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::invalid("meeting_code must be 9 digits"));
    }
    let now = now();
    let client_key = format!("ip:{}", peer.ip());
    if state.join_limiter.blocked(&client_key, PER_CLIENT, now) {
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, 10010, "too many wrong passwords; try again later"));
    }
    let meeting = match state.store.live_meeting_by_code(&code).await {
        Ok(m) => m,
        Err(StoreError::NotFound) => return Err(ApiError::not_found("meeting")),
        Err(e) => return Err(e.into()),
    };
    let meeting_key = format!("meeting:{}", meeting.meeting_id);
    if let Some(expected) = meeting.data.password.as_deref().filter(|p| !p.is_empty()) {
        if state.join_limiter.blocked(&meeting_key, PER_MEETING, now) {
            return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, 10010, "too many wrong passwords for this meeting; try again later"));
        }
        if b.password.as_deref() != Some(expected) {
            state.join_limiter.record(&[client_key, meeting_key], now);
            return Err(ApiError::new(StatusCode::FORBIDDEN, 10009, "wrong meeting password"));
        }
    }
    if meeting.data.end_time < now && meeting.status == huiyi_store::MeetingStatus::Init {
        return Err(ApiError::conflict("this meeting's scheduled time is over"));
    }
    let identity = format!("guest-{:08x}", rand::rng().random::<u32>());
    let claims = Claims {
        sub: identity.clone(),
        name: name.to_owned(),
        exp: (now + 6 * 3600) as u64,
        metadata: json!({ "role": "guest", "meeting_id": meeting.meeting_id }).to_string(),
        video: VideoGrant {
            room_join: true,
            room: meeting.meeting_id.clone(),
            can_publish: Some(true),
            can_subscribe: Some(true),
            can_publish_data: Some(true),
            can_update_own_metadata: Some(false),
            ..Default::default()
        },
        ..Default::default()
    };
    let token = state.keys.mint(&claims).ok_or_else(ApiError::internal)?;
    Ok(Json(json!({
        "url": "",
        "token": token,
        "identity": identity,
        "room": meeting.meeting_id,
        "meeting_id": meeting.meeting_id,
        "meeting_code": meeting.meeting_code,
        "subject": meeting.data.subject,
    })))
}
