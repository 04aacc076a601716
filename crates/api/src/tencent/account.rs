//! The portal's accounts: sign up (a new enterprise with its first admin), sign in with email
//! and password, sign out, and who am I. Passwords are argon2id hashes; the session cookie is
//! a random token of which only the SHA-256 is stored (docs/accounts-and-portal-api.md).

use std::net::SocketAddr;

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
/// Failed sign-ins allowed per client address, and per account, in the limiter's 10 minutes.
const SIGNIN_FAILURES_PER_ADDRESS: usize = 10;
const SIGNIN_FAILURES_PER_ACCOUNT: usize = 20;
/// Sign-ups allowed per client address per hour.
const SIGNUPS_PER_ADDRESS: usize = 10;
/// The lowest zxcvbn score (0 to 4) a new password must reach: 2 is "somewhat guessable",
/// which refuses dictionary words, keyboard walks and repeated characters.
const MIN_PASSWORD_SCORE: zxcvbn::Score = zxcvbn::Score::Two;

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

/// An argon2id hash of `password`, in PHC string form. CPU- and memory-heavy: it waits for one
/// of the few hashing slots ([`crate::limits::Limits::hashing_slot`]) and runs off the async
/// threads, in reused memory ([`crate::passwords`]).
pub async fn hash_password(limits: &crate::limits::Limits, password: String) -> Result<String, ApiError> {
    let slot = limits.hashing_slot().await?;
    tokio::task::spawn_blocking(move || {
        // Held until the hash is done, even if the request that asked is gone.
        let _slot = slot;
        crate::passwords::hash(&password).ok_or_else(ApiError::internal)
    })
    .await
    .map_err(|_| ApiError::internal())?
}

async fn verify_password(limits: &crate::limits::Limits, password: String, hash: Option<String>) -> Result<bool, ApiError> {
    let slot = limits.hashing_slot().await?;
    let matched = tokio::task::spawn_blocking(move || {
        // Held until the check is done, even if the request that asked is gone.
        let _slot = slot;
        // Without an account the work is done anyway, against a hash of nothing anyone knows,
        // so the time taken does not tell which emails exist.
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY.get_or_init(|| crate::passwords::hash(&huiyi_token()).unwrap_or_default()).clone());
        // Verified first, always: `real && verify(..)` would skip the work for unknown emails.
        let matched = crate::passwords::verify(&password, &hash);
        real && matched
    })
    .await
    .unwrap_or(false);
    Ok(matched)
}

/// A new password: 8 to 128 characters, and not easy to guess (zxcvbn, which also counts
/// the account's own email and names as guessable).
pub fn check_password_rules(password: &str, user_inputs: &[&str]) -> Result<(), ApiError> {
    if !(8..=128).contains(&password.chars().count()) {
        return Err(ApiError::invalid("password must be 8 to 128 characters"));
    }
    if password.trim().is_empty() {
        return Err(ApiError::invalid("password must not be only spaces"));
    }
    let estimate = zxcvbn::zxcvbn(password, user_inputs);
    if estimate.score() < MIN_PASSWORD_SCORE {
        let hint = estimate.feedback().and_then(|f| f.warning()).map(|w| format!(" ({w})")).unwrap_or_default();
        return Err(ApiError::invalid(format!("password is too easy to guess{hint}; use a longer phrase or mix unrelated words")));
    }
    Ok(())
}

/// Login CSRF: sign-in and sign-up set a cookie, so they accept only what a form on another
/// site cannot send: a JSON body (`Content-Type: application/json` needs a CORS preflight,
/// which this server never grants them), and, when the browser says where it comes from, an
/// `Origin` of this server itself.
pub fn require_json_from_this_site(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::new(axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE, 10001, "the body must be sent as application/json"));
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let same_host = origin.split_once("://").is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host));
    if same_host || origin.eq_ignore_ascii_case(state.public_url.trim_end_matches('/')) {
        return Ok(());
    }
    Err(ApiError::forbidden("sign-in is accepted only from this server's own pages"))
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
pub async fn signup(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap, body: axum::body::Bytes) -> Result<Response, ApiError> {
    if !state.signup {
        return Err(ApiError::forbidden("sign-up is closed on this server; ask your enterprise admin for an account"));
    }
    require_json_from_this_site(&state, &headers)?;
    let b: SignupBody = parse_body(&body)?;
    let email = b.email.trim().to_lowercase();
    check_email(&email)?;
    check_name("username", &b.username)?;
    check_name("enterprise_name", &b.enterprise_name)?;
    check_password_rules(&b.password, &[&email, &b.username, &b.enterprise_name])?;
    let now = unix_now();
    let ip = state.limits.client_ip(peer, &headers);
    let Some(_counted) = state.limits.signup.take(&[(format!("ip:{}", crate::limits::address_key(ip)), SIGNUPS_PER_ADDRESS)], now) else {
        return Err(ApiError::too_many("too many sign-ups from this address; try again later"));
    };
    // Hashed before the email is looked up, so a taken email answers as slowly as a new one.
    let hash = hash_password(&state.limits, b.password).await?;
    // A taken email tells that the account exists: such a try costs the caller a failed
    // sign-in against the address and the account, so sign-up is no faster to probe emails
    // with than sign-in is.
    let taken = || {
        let _ = state.limits.signin.take(&signin_keys(ip, &email), now);
        ApiError::conflict("this email cannot be used to sign up; if it is yours, sign in instead")
    };
    if state.store.user_by_email(&email).await.is_ok() {
        return Err(taken());
    }
    let enterprise = huiyi_store::Enterprise { id: format!("ent-{}", &huiyi_token()[..12]), name: b.enterprise_name.trim().to_owned(), created_at: now };
    let user = User {
        enterprise_id: enterprise.id.clone(),
        userid: email.clone(),
        username: b.username.trim().to_owned(),
        email: email.clone(),
        phone: String::new(),
        role: Role::Admin,
        created_at: now,
    };
    match state.store.create_enterprise_with_admin(&enterprise, &user, &hash).await {
        Ok(()) => {}
        Err(StoreError::Conflict("email already in use")) => return Err(taken()),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(enterprise = %user.enterprise_id, "enterprise signed up");
    signed_in(&state, user).await
}

/// The keys a failed sign-in counts against: the client address and the account.
fn signin_keys(ip: std::net::IpAddr, email: &str) -> [(String, usize); 2] {
    [(format!("ip:{}", crate::limits::address_key(ip)), SIGNIN_FAILURES_PER_ADDRESS), (format!("account:{email}"), SIGNIN_FAILURES_PER_ACCOUNT)]
}

#[utoipa::path(post, path = "/api/auth/signin", tag = "accounts", request_body = SigninBody, security(()),
    responses((status = 200, body = MeAnswer), (status = "4XX", body = ErrorBody)))]
/// Signs in with email and password.
pub async fn signin(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap, body: axum::body::Bytes) -> Result<Response, ApiError> {
    require_json_from_this_site(&state, &headers)?;
    let b: SigninBody = parse_body(&body)?;
    if b.email.len() > 254 || b.password.len() > 1024 {
        return Err(ApiError::unauthenticated("wrong email or password"));
    }
    let now = unix_now();
    let email = b.email.trim().to_lowercase();
    let ip = state.limits.client_ip(peer, &headers);
    // Counted as a failure before the hash runs, and forgiven if the password is right, so
    // concurrent guesses cannot all pass the check first.
    let Some(attempt) = state.limits.signin.take(&signin_keys(ip, &email), now) else {
        return Err(ApiError::too_many("too many failed sign-ins; try again later"));
    };
    let (user, hash) = match state.store.user_by_email(&email).await {
        Ok((u, h)) => (Some(u), h),
        Err(StoreError::NotFound) => (None, None),
        Err(e) => return Err(e.into()),
    };
    let ok = verify_password(&state.limits, b.password, hash).await?;
    match user {
        Some(user) if ok => {
            attempt.forgive();
            signed_in(&state, user).await
        }
        _ => Err(ApiError::unauthenticated("wrong email or password")),
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
        let limits = crate::limits::Limits::default();
        let h = hash_password(&limits, "correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&limits, "correct horse".into(), Some(h.clone())).await.unwrap());
        assert!(!verify_password(&limits, "wrong horse".into(), Some(h)).await.unwrap());
        assert!(!verify_password(&limits, "anything".into(), None).await.unwrap());
    }

    #[test]
    fn guessable_passwords_are_refused() {
        for weak in ["password", "        ", "12345678", "qwertyuiop", "aaaaaaaaaaaa", "ann@example.com1"] {
            assert!(check_password_rules(weak, &["ann@example.com", "Ann"]).is_err(), "{weak:?}");
        }
        for strong in ["correct horse battery staple", "Xq7!pL9#vR2m"] {
            assert!(check_password_rules(strong, &[]).is_ok(), "{strong:?}");
        }
    }

    #[test]
    fn emails_are_checked() {
        assert!(check_email("a@b.cn").is_ok());
        for bad in ["", "a", "@b.cn", "a@b", "a b@c.d", "a@.cn"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
