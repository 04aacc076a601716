//! What WHIP ingest (`crate::whip`) and WHEP playback (`crate::whep`) share: the table of
//! sessions they made over HTTP, their plain-text and SDP responses, and trickle ICE by `PATCH`.
//!
//! A session is known to its client only by the random id in the `Location` header, which is
//! the only handle on it: nobody else can end it. The engine may end a session on its own (ICE
//! gave up, the room closed, a host removed it), so a full table is first pruned of sessions the
//! engine no longer holds; the bound then counts only live ones.
//!
//! Trickle ICE (RFC 9725 §4.3.1, RFC 8840): the `201` carries an `ETag` naming the session's
//! ICE session; a `PATCH` with `Content-Type: application/trickle-ice-sdpfrag`, the client's
//! `a=ice-ufrag` and its new `a=candidate` lines gets `204`. Huiyi is ICE-lite, so the
//! candidates are a hint (it learns the client's address from the client's own checks), but a
//! client that waits for the `204` is not left hanging. ICE restarts (`If-Match: *`, or a new
//! ufrag) are not supported: `422`, as RFC 9725 asks of a server that trickles but does not
//! restart. A session takes at most [`MAX_TRICKLED`] candidates in all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use huiyi_sfu::SfuHandle;
use huiyi_sfu_core::SessionKey;
use rand::distr::Alphanumeric;
use rand::Rng;
use tracing::info;

/// An SDP offer is a few kilobytes; anything much larger is not one.
pub const MAX_OFFER: usize = 64 * 1024;

/// A trickle `PATCH` body is a few candidate lines.
pub const MAX_TRICKLE_BODY: usize = 16 * 1024;

/// Candidates one session may trickle over its life: a client has a few per network interface.
pub const MAX_TRICKLED: usize = 64;

/// Sessions made over HTTP: id → the engine's session and what the endpoint keeps with it.
pub struct HttpSessions<T> {
    inner: Arc<Mutex<HashMap<String, Entry<T>>>>,
}

struct Entry<T> {
    key: SessionKey,
    value: T,
    /// The client's ICE username fragment, from its offer.
    ufrag: String,
    /// The entity tag of the session's ICE session, as sent in the `ETag` header.
    etag: String,
    /// Candidates trickled so far.
    trickled: usize,
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
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry<T>>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether one more session fits under `max`, after dropping those the engine ended.
    pub async fn has_room(&self, sfu: &SfuHandle, max: usize) -> bool {
        if self.lock().len() < max {
            return true;
        }
        let keys: Vec<(String, SessionKey)> = self.lock().iter().map(|(id, e)| (id.clone(), e.key)).collect();
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

    /// Records a new session made from `offer`; returns its id (24 random letters and digits)
    /// and the entity tag of its ICE session.
    pub fn insert(&self, key: SessionKey, value: T, offer: &str) -> (String, String) {
        let id: String = rand::rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
        let etag: String = rand::rng().sample_iter(&Alphanumeric).take(16).map(char::from).collect();
        let ufrag = ice_ufrag(offer).unwrap_or_default().to_owned();
        self.lock().insert(id.clone(), Entry { key, value, ufrag, etag: etag.clone(), trickled: 0 });
        (id, etag)
    }

    pub fn remove(&self, id: &str) -> Option<(SessionKey, T)> {
        self.lock().remove(id).map(|e| (e.key, e.value))
    }

    /// `PATCH /<whip|whep>/<id>`: trickle ICE (see the module header).
    pub async fn patch(&self, sfu: &SfuHandle, id: &str, headers: &HeaderMap, body: &[u8]) -> Response {
        let is_fragment = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/trickle-ice-sdpfrag"));
        let if_match = headers.get(header::IF_MATCH).map(|v| v.to_str().unwrap_or("").trim().to_owned());
        let fragment = if !is_fragment {
            Err(text(StatusCode::UNSUPPORTED_MEDIA_TYPE, "a PATCH is Content-Type: application/trickle-ice-sdpfrag"))
        } else if body.len() > MAX_TRICKLE_BODY {
            Err(text(StatusCode::PAYLOAD_TOO_LARGE, "the fragment is too large"))
        } else {
            std::str::from_utf8(body).map_err(|_| text(StatusCode::BAD_REQUEST, "the fragment is not UTF-8 text"))
        };
        let lines: Vec<String>;
        let key = {
            let mut table = self.lock();
            let Some(entry) = table.get_mut(id) else {
                return text(StatusCode::NOT_FOUND, "no such session");
            };
            let fragment = match fragment {
                Ok(f) => f,
                Err(refused) => return refused,
            };
            let restart = || text(StatusCode::UNPROCESSABLE_ENTITY, "ICE restarts are not supported: start a new session with POST");
            match if_match.as_deref() {
                Some("*") => return restart(),
                Some(tag) if tag.trim_start_matches("W/").trim_matches('"') != entry.etag => {
                    return text(StatusCode::PRECONDITION_FAILED, "If-Match does not name this session's ICE session");
                }
                _ => {}
            }
            if ice_ufrag(fragment).is_some_and(|u| u != entry.ufrag) {
                return restart();
            }
            lines = fragment
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("a=candidate:"))
                .map(|l| l.to_owned())
                .collect();
            if entry.trickled + lines.len() > MAX_TRICKLED {
                return text(StatusCode::UNPROCESSABLE_ENTITY, format!("a session takes at most {MAX_TRICKLED} trickled candidates"));
            }
            entry.trickled += lines.len();
            entry.key
        };
        let count = lines.len();
        match sfu.with_engine(move |e, now| e.trickle_http_session(now, key, &lines)).await {
            Ok(Some(understood)) => {
                info!(count, understood, "trickled candidates");
                StatusCode::NO_CONTENT.into_response()
            }
            Ok(None) => {
                self.remove(id);
                text(StatusCode::NOT_FOUND, "the session has ended")
            }
            Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"),
        }
    }
}

/// The first `a=ice-ufrag` of an SDP or an SDP fragment.
fn ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines().find_map(|l| l.trim().strip_prefix("a=ice-ufrag:")).map(str::trim)
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

/// `201 Created` with the SDP answer, `Location: <base>/<id>`, the ICE session's `ETag`, and
/// `Accept-Patch` saying trickle fragments are taken.
pub fn created(answer: String, location: &str, etag: &str) -> Response {
    let mut response = (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/sdp")], answer).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(HeaderName::from_static("accept-patch"), HeaderValue::from_static("application/trickle-ice-sdpfrag"));
    response
}
