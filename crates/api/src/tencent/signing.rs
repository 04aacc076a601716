//! Tencent Meeting's request signing, verified as a middleware on `/v1`.
//!
//! Headers: `X-TC-Key` (SecretId), `X-TC-Timestamp` (unix seconds), `X-TC-Nonce`,
//! `X-TC-Signature`, `AppId`, `SdkId`. The string to sign is
//! `METHOD\nX-TC-Key=<id>&X-TC-Nonce=<nonce>&X-TC-Timestamp=<ts>\n<URI with query>\n<body>`
//! and the signature is `base64(hex(HMAC-SHA256(SecretKey, string)))`: base64 of the lowercase
//! hex text. A request is accepted once: the timestamp must be within ±300 s and the nonce
//! unused with that key while that timestamp is in the window. A valid signature makes the caller the key's
//! application, which acts for its whole enterprise (see [`super::access`]).

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::ApiError;
use crate::AppState;

/// How far a request's timestamp may be from the server's clock, in seconds.
pub const WINDOW_SECS: i64 = 300;
/// The largest request body the API reads.
pub const MAX_BODY: usize = 1024 * 1024;

use super::access::{Caller, Principal};

/// The signature for a request, exactly as the algorithm above defines it.
pub fn sign(secret_key: &str, method: &str, key: &str, nonce: &str, timestamp: &str, uri: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{method}\nX-TC-Key={key}&X-TC-Nonce={nonce}&X-TC-Timestamp={timestamp}\n{uri}\n").as_bytes());
    mac.update(body);
    let hex = hex::encode(mac.finalize().into_bytes());
    base64::engine::general_purpose::STANDARD.encode(hex)
}

fn header<'a>(req: &'a Request, name: &str) -> Result<&'a str, ApiError> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::unauthenticated(format!("missing header {name}")))
}

/// Verifies the signature, then hands the handler the body and the [`Caller`].
pub async fn verify(state: &AppState, req: Request, next: Next) -> Result<Response, ApiError> {
    let key = header(&req, "X-TC-Key")?.to_owned();
    let ts_text = header(&req, "X-TC-Timestamp")?.to_owned();
    let nonce = header(&req, "X-TC-Nonce")?.to_owned();
    let signature = header(&req, "X-TC-Signature")?.to_owned();
    let app_id = header(&req, "AppId")?.to_owned();
    let sdk_id = req.headers().get("SdkId").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let ts: i64 = ts_text.parse().map_err(|_| ApiError::unauthenticated("X-TC-Timestamp is not a number"))?;
    // One clock reading for the window check and the nonce ledger: a body that trickles in
    // for a while must not let the nonce be forgotten before it is recorded.
    let now = crate::unix_now();
    if (now - ts).abs() > WINDOW_SECS {
        return Err(ApiError::stale_timestamp());
    }
    let cred = match state.store.active_credential(&key).await {
        Ok(c) => c,
        Err(huiyi_store::StoreError::NotFound) => return Err(ApiError::unauthenticated("unknown or revoked X-TC-Key")),
        Err(e) => return Err(e.into()),
    };
    let method = req.method().as_str().to_owned();
    let uri = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_BODY).await.map_err(|_| ApiError::too_large())?;
    let expected = sign(&cred.secret_key, &method, &key, &nonce, &ts_text, &uri, &bytes);
    // Compare in constant time: the signature is a secret-derived value.
    let equal = expected.len() == signature.len() && expected.bytes().zip(signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !equal {
        return Err(ApiError::unauthenticated("X-TC-Signature does not match the request"));
    }
    // The application headers must be the key's own: a key cannot act for another app.
    if app_id != cred.app_id || (!sdk_id.is_empty() && sdk_id != cred.sdk_id) {
        return Err(ApiError::forbidden("AppId/SdkId do not belong to this X-TC-Key"));
    }
    if !state.store.use_nonce(&key, &nonce, now, ts, WINDOW_SECS).await? {
        return Err(ApiError::replayed());
    }
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(Caller { enterprise_id: cred.enterprise_id, principal: Principal::App { app_id: cred.app_id, sdk_id: cred.sdk_id } });
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_base64_of_lowercase_hex() {
        let sig = sign("secret", "GET", "devkey", "42", "1700000000", "/v1/meetings/abc?userid=u", b"");
        let hex = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(&sig).unwrap()).unwrap();
        assert_eq!(hex.len(), 64);
        assert!(hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        // Any change to what is signed changes the signature.
        assert_ne!(sig, sign("secret", "GET", "devkey", "43", "1700000000", "/v1/meetings/abc?userid=u", b""));
        assert_ne!(sig, sign("secret", "POST", "devkey", "42", "1700000000", "/v1/meetings/abc?userid=u", b""));
    }
}
