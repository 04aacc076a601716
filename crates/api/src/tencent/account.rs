//! The portal's accounts: sign up (a new enterprise with its first admin), sign in with email
//! and password, sign out, and who am I. Passwords are argon2id hashes; the session cookie is
//! a random token of which only the SHA-256 is stored (docs/accounts-and-portal-api.md).

use std::net::SocketAddr;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use huiyi_store::{Role, StoreError, User};
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::access::{session_cookie, session_user, token_hash, SESSION_COOKIE};
use super::error::{ApiError, ErrorBody};
use super::meetings::Empty;
use super::{parse_body, unix_now};
use crate::AppState;

/// How long a portal session lasts.
pub const SESSION_SECS: i64 = 30 * 24 * 3600;
/// Failed sign-ins allowed per client address within the limiter's window.
const SIGNIN_FAILURES: usize = 10;

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub userid: String,
    pub username: String,
    pub email: String,
    /// `admin` or `member`.
    pub role: String,
    pub enterprise_id: String,
    pub enterprise_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct MeAnswer {
    pub user: Me,
}

#[derive(Deserialize, ToSchema)]
pub struct SignupBody {
    #[schema(max_length = 254)]
    pub email: String,
    /// 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    #[schema(min_length = 1, max_length = 64)]
    pub enterprise_name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct SigninBody {
    pub email: String,
    pub password: String,
}

/// An argon2id hash of `password`, in PHC string form. CPU-heavy: run off the async threads.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt_bytes: [u8; 16] = rand::rng().random();
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| ApiError::internal())?;
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|_| ApiError::internal())
    })
    .await
    .map_err(|_| ApiError::internal())?
}

async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        // Without an account the work is done anyway, against a hash of nothing anyone knows,
        // so the time taken does not tell which emails exist.
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| {
                    let salt = SaltString::encode_b64(b"huiyi-dummy-salt").expect("16 bytes are a valid salt");
                    Argon2::default().hash_password(huiyi_token().as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
                })
                .clone()
        });
        let matched = PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
        real && matched
    })
    .await
    .unwrap_or(false)
}

pub fn check_password_rules(password: &str) -> Result<(), ApiError> {
    if !(8..=128).contains(&password.chars().count()) {
        return Err(ApiError::invalid("password must be 8 to 128 characters"));
    }
    Ok(())
}

pub fn check_email(email: &str) -> Result<(), ApiError> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(ApiError::invalid("email is not a valid address"));
    }
    Ok(())
}

pub fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!("{field} must be 1 to 64 characters")));
    }
    Ok(())
}

async fn me(state: &AppState, user: User) -> Result<Me, ApiError> {
    let enterprise = state.store.enterprise(&user.enterprise_id).await?;
    Ok(Me {
        userid: user.userid,
        username: user.username,
        email: user.email,
        role: user.role.as_str().to_owned(),
        enterprise_id: enterprise.id,
        enterprise_name: enterprise.name,
    })
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.public_url.starts_with("https://") { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"))
        .unwrap_or_else(|_| HeaderValue::from_static("huiyi_session=; Path=/; Max-Age=0"))
}

/// Starts a session for `user` and answers with it as a cookie.
async fn signed_in(state: &AppState, user: User) -> Result<Response, ApiError> {
    let token = huiyi_token();
    let now = unix_now();
    state.store.create_web_session(&token_hash(&token), &user.enterprise_id, &user.userid, now, now + SESSION_SECS).await?;
    let body = MeAnswer { user: me(state, user).await? };
    let mut res = Json(body).into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie(state, &token, SESSION_SECS));
    Ok(res)
}

/// 32 random bytes, hex: the session token.
fn huiyi_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

#[utoipa::path(post, path = "/api/auth/signup", tag = "accounts", request_body = SignupBody, security(()),
    responses((status = 200, body = MeAnswer), (status = "4XX", body = ErrorBody)))]
/// Creates an enterprise with the new user as its admin, and signs them in.
pub async fn signup(State(state): State<AppState>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    if !state.signup {
        return Err(ApiError::forbidden("sign-up is closed on this server; ask your enterprise admin for an account"));
    }
    let b: SignupBody = parse_body(&body)?;
    let email = b.email.trim().to_lowercase();
    check_email(&email)?;
    check_password_rules(&b.password)?;
    check_name("username", &b.username)?;
    check_name("enterprise_name", &b.enterprise_name)?;
    if state.store.user_by_email(&email).await.is_ok() {
        return Err(ApiError::conflict("an account with this email exists; sign in instead"));
    }
    let hash = hash_password(b.password).await?;
    let now = unix_now();
    let enterprise = huiyi_store::Enterprise { id: format!("ent-{}", &huiyi_token()[..12]), name: b.enterprise_name.trim().to_owned(), created_at: now };
    let user = User {
        enterprise_id: enterprise.id.clone(),
        userid: email.clone(),
        username: b.username.trim().to_owned(),
        email,
        phone: String::new(),
        role: Role::Admin,
        created_at: now,
    };
    state.store.create_enterprise_with_admin(&enterprise, &user, &hash).await.map_err(|e| match e {
        StoreError::Conflict("email already in use") => ApiError::conflict("an account with this email exists; sign in instead"),
        e => e.into(),
    })?;
    tracing::info!(enterprise = %user.enterprise_id, "enterprise signed up");
    signed_in(&state, user).await
}

#[utoipa::path(post, path = "/api/auth/signin", tag = "accounts", request_body = SigninBody, security(()),
    responses((status = 200, body = MeAnswer), (status = "4XX", body = ErrorBody)))]
/// Signs in with email and password.
pub async fn signin(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let b: SigninBody = parse_body(&body)?;
    let now = unix_now();
    let key = format!("signin:{}", peer.ip());
    if state.signin_limiter.blocked(&key, SIGNIN_FAILURES, now) {
        return Err(ApiError::too_many("too many failed sign-ins; try again later"));
    }
    let email = b.email.trim().to_lowercase();
    let (user, hash) = match state.store.user_by_email(&email).await {
        Ok((u, h)) => (Some(u), h),
        Err(StoreError::NotFound) => (None, None),
        Err(e) => return Err(e.into()),
    };
    let ok = verify_password(b.password, hash).await;
    match user {
        Some(user) if ok => signed_in(&state, user).await,
        _ => {
            state.signin_limiter.record(&[key], now);
            Err(ApiError::unauthenticated("wrong email or password"))
        }
    }
}

#[utoipa::path(post, path = "/api/auth/signout", tag = "accounts", security(()), responses((status = 200, body = Empty)))]
/// Ends the session and clears the cookie.
pub async fn signout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_cookie(&headers) {
        state.store.delete_web_session(&token_hash(token)).await?;
    }
    let mut res = Json(Empty {}).into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie(&state, "", 0));
    Ok(res)
}

#[utoipa::path(get, path = "/api/auth/me", tag = "accounts", security(()),
    responses((status = 200, body = MeAnswer), (status = 401, body = ErrorBody)))]
/// The signed-in user.
pub async fn me_handler(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<MeAnswer>, ApiError> {
    match session_user(&state, &headers).await? {
        Some(user) => Ok(Json(MeAnswer { user: me(&state, user).await? })),
        None => Err(ApiError::unauthenticated("not signed in")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let h = hash_password("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(h.clone())).await);
        assert!(!verify_password("wrong horse".into(), Some(h)).await);
        assert!(!verify_password("anything".into(), None).await);
    }

    #[test]
    fn emails_are_checked() {
        assert!(check_email("a@b.cn").is_ok());
        for bad in ["", "a", "@b.cn", "a@b", "a b@c.d", "a@.cn"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
