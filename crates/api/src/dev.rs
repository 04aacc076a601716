//! `POST /api/dev/token`: in dev mode only, mints a join token for the web app's join form.
//! Without `--dev` it answers 404, so nothing is open without credentials.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::Rng;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Claims, VideoGrant};
use crate::AppState;

#[derive(Deserialize)]
pub struct TokenRequest {
    room: String,
    name: String,
}

fn error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

pub async fn token(State(state): State<AppState>, body: Result<Json<TokenRequest>, axum::extract::rejection::JsonRejection>) -> Response {
    if !state.dev {
        return error(StatusCode::NOT_FOUND, "the dev token endpoint is only served with --dev");
    }
    let Ok(Json(req)) = body else {
        return error(StatusCode::BAD_REQUEST, "expected JSON {\"room\": \"…\", \"name\": \"…\"}");
    };
    let (room, name) = (req.room.trim(), req.name.trim());
    if room.is_empty() || room.len() > 128 || name.is_empty() || name.len() > 128 {
        return error(StatusCode::BAD_REQUEST, "room and name must each be 1 to 128 characters");
    }
    // Two people may pick the same name; identities must differ.
    let suffix: u32 = rand::rng().random_range(1000..10000);
    let identity = format!("{name}-{suffix}");
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) + 6 * 3600;
    let claims = Claims {
        sub: identity.clone(),
        name: name.to_owned(),
        exp,
        video: VideoGrant {
            room_join: true,
            room: room.to_owned(),
            can_publish: Some(true),
            can_subscribe: Some(true),
            can_publish_data: Some(true),
            can_update_own_metadata: Some(true),
            ..Default::default()
        },
        ..Default::default()
    };
    match state.keys.mint(&claims) {
        Some(token) => Json(json!({ "token": token, "identity": identity, "url": "" })).into_response(),
        None => error(StatusCode::INTERNAL_SERVER_ERROR, "no API key configured"),
    }
}
