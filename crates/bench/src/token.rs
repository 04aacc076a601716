//! LiveKit access tokens for the generator's participants, minted as any server SDK would.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Grant<'a> {
    room_join: bool,
    room: &'a str,
    can_publish: bool,
    can_subscribe: bool,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    name: &'a str,
    exp: u64,
    nbf: u64,
    video: Grant<'a>,
}

/// An HS256 token that lets `identity` join `room`, valid for a day.
pub fn mint(key: &str, secret: &str, room: &str, identity: &str, can_publish: bool) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let claims = Claims {
        iss: key,
        sub: identity,
        name: identity,
        exp: now + 86_400,
        nbf: now.saturating_sub(10),
        video: Grant { room_join: true, room, can_publish, can_subscribe: true },
    };
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()))
        .expect("HS256 signing cannot fail")
}
