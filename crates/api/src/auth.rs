//! LiveKit access tokens: HS256 JWTs whose `iss` names the API key and whose `video` claim
//! carries the grants. Parsed once at the edge into [`Claims`].

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// API keys and their secrets.
#[derive(Clone, Default)]
pub struct KeyRing {
    keys: Arc<HashMap<String, String>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("keys", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

/// The `video` grant, with LiveKit's camelCase names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VideoGrant {
    pub room_create: bool,
    pub room_list: bool,
    pub room_record: bool,
    pub room_admin: bool,
    pub room_join: bool,
    pub room: String,
    pub can_publish: Option<bool>,
    pub can_subscribe: Option<bool>,
    pub can_publish_data: Option<bool>,
    pub can_publish_sources: Vec<String>,
    pub can_update_own_metadata: Option<bool>,
    pub hidden: bool,
    pub recorder: bool,
    /// LiveKit's Ingress service (`CreateIngress` and the rest).
    pub ingress_admin: bool,
}

/// The claims of a LiveKit access token.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub exp: u64,
    pub nbf: Option<u64>,
    pub name: String,
    pub metadata: String,
    pub attributes: HashMap<String, String>,
    pub video: VideoGrant,
}

/// Why a token was refused. Shown to the client (it reads `/rtc/validate`'s body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no access token given")]
    Missing,
    #[error("access token is malformed")]
    Malformed,
    #[error("access token was issued for an unknown API key")]
    UnknownKey,
    #[error("access token signature is invalid")]
    BadSignature,
    #[error("access token has expired")]
    Expired,
    #[error("access token is not valid yet")]
    NotYetValid,
    #[error("access token does not grant {0}")]
    NotPermitted(&'static str),
}

impl KeyRing {
    pub fn new(keys: HashMap<String, String>) -> Self {
        Self { keys: Arc::new(keys) }
    }

    /// A key for one purpose (signing download links), derived from every API secret, so it
    /// survives restarts and changes when the secrets are rotated.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        use sha2::Digest;
        let mut pairs: Vec<(&String, &String)> = self.keys.iter().collect();
        pairs.sort();
        let mut h = sha2::Sha256::new();
        h.update(purpose.as_bytes());
        for (k, v) in pairs {
            h.update([0u8]);
            h.update(k.as_bytes());
            h.update([0u8]);
            h.update(v.as_bytes());
        }
        h.finalize().into()
    }

    /// Verifies a token's signature and time window and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        // The key is chosen by `iss`, read before the signature can be checked.
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::HS256 {
            return Err(AuthError::Malformed);
        }
        let unverified = insecure_claims(token)?;
        let secret = self.keys.get(&unverified.iss).ok_or(AuthError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_nbf = true;
        validation.leeway = 5;
        validation.required_spec_claims = ["exp"].into_iter().map(String::from).collect();
        decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                jsonwebtoken::errors::ErrorKind::InvalidSignature => AuthError::BadSignature,
                _ => AuthError::Malformed,
            })
    }

    /// A fresh copy of `claims`, signed with the key that issued them, valid for `ttl`.
    pub fn refresh(&self, claims: &Claims, ttl: std::time::Duration) -> Option<String> {
        let secret = self.keys.get(&claims.iss)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        let claims = Claims { exp: now + ttl.as_secs(), nbf: None, ..claims.clone() };
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).ok()
    }

    /// Mints a token with the first key (dev tooling and tests).
    pub fn mint(&self, claims: &Claims) -> Option<String> {
        let (key, secret) = self.keys.iter().next()?;
        let mut claims = claims.clone();
        claims.iss = key.clone();
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).ok()
    }
}

/// Reads the payload without checking the signature: only to find which key to check with.
fn insecure_claims(token: &str) -> Result<Claims, AuthError> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).ok_or(AuthError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new([("devkey".to_string(), "secret".to_string())].into())
    }

    fn now() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn round_trip_and_grants() {
        let c = Claims { sub: "alice".into(), exp: now() + 60, video: VideoGrant { room_join: true, room: "r".into(), ..Default::default() }, ..Default::default() };
        let t = ring().mint(&c).unwrap();
        let back = ring().verify(&t).unwrap();
        assert_eq!(back.sub, "alice");
        assert!(back.video.room_join);
        assert_eq!(back.iss, "devkey");
    }

    #[test]
    fn wrong_secret_expired_and_garbage() {
        let c = Claims { sub: "a".into(), exp: now() + 60, ..Default::default() };
        let other = KeyRing::new([("devkey".to_string(), "other".to_string())].into());
        assert_eq!(ring().verify(&other.mint(&c).unwrap()).unwrap_err(), AuthError::BadSignature);
        let old = Claims { exp: now() - 3600, ..c.clone() };
        assert_eq!(ring().verify(&ring().mint(&old).unwrap()).unwrap_err(), AuthError::Expired);
        assert_eq!(ring().verify("not.a.jwt").unwrap_err(), AuthError::Malformed);
        assert_eq!(ring().verify("").unwrap_err(), AuthError::Missing);
        let stranger = KeyRing::new([("nobody".to_string(), "secret".to_string())].into());
        assert_eq!(ring().verify(&stranger.mint(&c).unwrap()).unwrap_err(), AuthError::UnknownKey);
    }
}
