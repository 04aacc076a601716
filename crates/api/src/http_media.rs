//! What WHIP ingest (`crate::whip`) and WHEP playback (`crate::whep`) share: the table of
//! sessions they made over HTTP, and their plain-text and SDP responses.
//!
//! A session is known to its client only by the random id in the `Location` header, which is
//! the only handle on it: nobody else can end it. The engine may end a session on its own (ICE
//! gave up, the room closed, a host removed it), so a full table is first pruned of sessions the
//! engine no longer holds; the bound then counts only live ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use huiyi_sfu::SfuHandle;
use huiyi_sfu_core::SessionKey;
use rand::distr::Alphanumeric;
use rand::Rng;

/// An SDP offer is a few kilobytes; anything much larger is not one.
pub const MAX_OFFER: usize = 64 * 1024;

/// Sessions made over HTTP: id → the engine's session and what the endpoint keeps with it.
pub struct HttpSessions<T> {
    inner: Arc<Mutex<HashMap<String, (SessionKey, T)>>>,
}

impl<T> Clone for HttpSessions<T> {
    fn clone(&self) -> Self {
        HttpSessions { inner: self.inner.clone() }
    }
}

impl<T> Default for HttpSessions<T> {
    fn default() -> Self {
        HttpSessions { inner: Arc::default() }
    }
}

impl<T: Send + 'static> HttpSessions<T> {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, (SessionKey, T)>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether one more session fits under `max`, after dropping those the engine ended.
    pub async fn has_room(&self, sfu: &SfuHandle, max: usize) -> bool {
        if self.lock().len() < max {
            return true;
        }
        let keys: Vec<(String, SessionKey)> = self.lock().iter().map(|(id, (k, _))| (id.clone(), *k)).collect();
        let only_keys: Vec<SessionKey> = keys.iter().map(|(_, k)| *k).collect();
        let Ok(live) = sfu.with_engine(move |e, _| e.live_sessions(&only_keys)).await else {
            return false;
        };
        let mut table = self.lock();
        for ((id, _), alive) in keys.iter().zip(live) {
            if !alive {
                table.remove(id);
            }
        }
        table.len() < max
    }

    /// Records a new session; returns its id (24 random letters and digits).
    pub fn insert(&self, key: SessionKey, value: T) -> String {
        let id: String = rand::rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
        self.lock().insert(id.clone(), (key, value));
        id
    }

    pub fn remove(&self, id: &str) -> Option<(SessionKey, T)> {
        self.lock().remove(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }
}

/// A plain-text answer (errors, and the bodies of DELETE).
pub fn text(status: StatusCode, text: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text.into()).into_response()
}

/// The offer in a POST body, or the error response: `Content-Type: application/sdp`, at most
/// [`MAX_OFFER`] bytes, UTF-8.
// The error is the handler's own response, returned at once: boxing it buys nothing.
#[allow(clippy::result_large_err)]
pub fn offer_of<'a>(headers: &HeaderMap, body: &'a [u8]) -> Result<&'a str, Response> {
    let is_sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/sdp"));
    if !is_sdp {
        return Err(text(StatusCode::UNSUPPORTED_MEDIA_TYPE, "an offer is Content-Type: application/sdp"));
    }
    if body.len() > MAX_OFFER {
        return Err(text(StatusCode::PAYLOAD_TOO_LARGE, "the offer is too large"));
    }
    std::str::from_utf8(body).map_err(|_| text(StatusCode::BAD_REQUEST, "the offer is not UTF-8 text"))
}

/// `201 Created` with the SDP answer and `Location: <base>/<id>`.
pub fn created(answer: String, location: &str) -> Response {
    let mut response = (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/sdp")], answer).into_response();
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `PATCH` of a session: trickle ICE and ICE restarts are not supported (RFC 9725 §4.3): 405
/// with `Allow: DELETE`, or 404 for an unknown session.
pub fn patch_refused(known: bool) -> Response {
    if !known {
        return text(StatusCode::NOT_FOUND, "no such session");
    }
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "trickle ICE and ICE restarts are not supported; send every candidate in the offer");
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("DELETE"));
    r
}
