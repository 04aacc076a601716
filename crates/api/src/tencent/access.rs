//! Who is calling `/v1`, and what they may do.
//!
//! A request is authenticated one of two ways (docs/accounts-and-portal-api.md):
//! - signed with an application credential (`X-TC-Key` present): the caller is that
//!   application, which acts for its whole enterprise, like an admin;
//! - with the portal's session cookie: the caller is that user. Every request other than GET
//!   must then carry `X-Huiyi-Csrf`, which a cross-site form cannot set.
//!
//! Handlers take the [`Caller`] as an extension and ask it [`Caller::acting_user`] and
//! [`Caller::require_admin`]; meeting-level rules are in [`may_read`] and [`may_write`].

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use huiyi_store::{Meeting, Role, StoreError, User};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::unix_now;
use crate::AppState;

/// The portal's session cookie.
pub const SESSION_COOKIE: &str = "huiyi_session";
/// The header a cookie-authenticated request other than GET must carry.
pub const CSRF_HEADER: &str = "x-huiyi-csrf";

#[derive(Debug, Clone)]
pub enum Principal {
    /// A request signed with an application credential.
    App { app_id: String, sdk_id: String },
    /// A person signed in to the portal.
    User(User),
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub enterprise_id: String,
    pub principal: Principal,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        match &self.principal {
            Principal::App { .. } => true,
            Principal::User(u) => u.role == Role::Admin,
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            return Ok(());
        }
        Err(ApiError::forbidden("only an enterprise admin may do this"))
    }

    /// The user a request acts as. `given` is the request's `userid`; a signed-in user who
    /// leaves it out acts as themselves. Members may act only as themselves.
    pub async fn acting_user(&self, state: &AppState, given: Option<&str>) -> Result<User, ApiError> {
        let given = given.filter(|u| !u.is_empty());
        if let Principal::User(me) = &self.principal {
            match given {
                None => return Ok(me.clone()),
                Some(u) if u == me.userid => return Ok(me.clone()),
                Some(_) if me.role != Role::Admin => return Err(ApiError::forbidden("a member may act only as themselves")),
                Some(_) => {}
            }
        }
        let userid = given.ok_or_else(|| ApiError::invalid("operator_id (with operator_id_type 1) or userid is required"))?;
        match state.store.user(&self.enterprise_id, userid).await {
            Ok(u) => Ok(u),
            Err(StoreError::NotFound) => Err(ApiError::not_found(&format!("user {userid}"))),
            Err(e) => Err(e.into()),
        }
    }
}

/// `operator_id_type`: an integer in JSON bodies, a string in queries (Tencent's SDKs send
/// both forms).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum IdType {
    Int(i64),
    Text(String),
}

impl IdType {
    fn value(&self) -> Option<i64> {
        match self {
            IdType::Int(i) => Some(*i),
            IdType::Text(t) => t.trim().parse().ok(),
        }
    }
}

/// Who acts, as Tencent's API names them: `operator_id` with `operator_id_type` (1: a userid),
/// which wins over the older `userid` when both are given. Other id types (open id, Rooms id)
/// name accounts Huiyi does not have, and are refused.
pub fn acting_id<'a>(userid: Option<&'a str>, operator_id: Option<&'a str>, operator_id_type: Option<&IdType>) -> Result<Option<&'a str>, ApiError> {
    let Some(op) = operator_id.filter(|o| !o.is_empty()) else { return Ok(userid) };
    match operator_id_type.map(|t| t.value()) {
        Some(Some(1)) => Ok(Some(op)),
        None => Err(ApiError::invalid("operator_id needs operator_id_type (1: userid)")),
        Some(_) => Err(ApiError::invalid("operator_id_type must be 1 (userid); open ids and Rooms ids are not supported")),
    }
}

/// The userids in a `hosts` or `invitees` list (`[{"userid": "..."}, ...]`).
pub fn userids(list: &Value) -> impl Iterator<Item = &str> {
    list.as_array().into_iter().flatten().filter_map(|v| v["userid"].as_str())
}

/// Whether `user` hosts the meeting: its creator or one of its `hosts`.
pub fn is_host(meeting: &Meeting, userid: &str) -> bool {
    meeting.data.creator_userid == userid || userids(&meeting.data.hosts).any(|u| u == userid)
}

/// Whether `user` may see the meeting: an admin or app sees all of its enterprise; a member
/// the ones they host or were invited to.
pub fn may_read(caller: &Caller, user: &User, meeting: &Meeting) -> bool {
    caller.is_admin() || is_host(meeting, &user.userid) || userids(&meeting.data.invitees).any(|u| u == user.userid)
}

/// Whether `user` may change, cancel or dismiss the meeting: an admin or app, or a host.
pub fn may_write(caller: &Caller, user: &User, meeting: &Meeting) -> bool {
    caller.is_admin() || is_host(meeting, &user.userid)
}

/// Whether `user` may run the meeting's in-meeting controls (kick out, mute, …): one of its
/// hosts or an admin of the enterprise. Unlike [`may_write`], a signed request does not make
/// any user it names a controller: Tencent requires the operator to host the meeting.
pub fn may_control(user: &User, meeting: &Meeting) -> bool {
    user.role == Role::Admin || is_host(meeting, &user.userid)
}

/// The value of the session cookie, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// How a session token is stored: its SHA-256, so the database alone cannot sign anyone in.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The signed-in user behind the request's cookie, if any.
pub async fn session_user(state: &AppState, headers: &HeaderMap) -> Result<Option<User>, ApiError> {
    let Some(token) = session_cookie(headers) else { return Ok(None) };
    match state.store.web_session_user(&token_hash(token), unix_now()).await {
        Ok(u) => Ok(Some(u)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The `/v1` middleware: a signature when `X-TC-Key` is present, the session cookie otherwise.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    if super::uri_has_nul(req.uri()) {
        return Err(ApiError::invalid("the path and query must not contain NUL characters (%00)"));
    }
    if req.headers().contains_key("X-TC-Key") {
        return super::signing::verify(&state, req, next).await;
    }
    let Some(user) = session_user(&state, req.headers()).await? else {
        return Err(ApiError::unauthenticated("sign the request (X-TC-Key and the other X-TC-* headers) or sign in"));
    };
    if req.method() != Method::GET && req.method() != Method::HEAD && !req.headers().contains_key(CSRF_HEADER) {
        return Err(ApiError::forbidden("a signed-in request other than GET must carry the X-Huiyi-Csrf header"));
    }
    req.extensions_mut().insert(Caller { enterprise_id: user.enterprise_id.clone(), principal: Principal::User(user) });
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert("cookie", "a=1; huiyi_session=abc; b=2".parse().unwrap());
        assert_eq!(session_cookie(&h), Some("abc"));
        h.insert("cookie", "huiyi_session=".parse().unwrap());
        assert_eq!(session_cookie(&h), None);
        assert_eq!(token_hash("x").len(), 64);
    }

    #[test]
    fn hosts_and_invitees_decide_access() {
        let user = |id: &str, role| User {
            enterprise_id: "e".into(),
            userid: id.into(),
            username: id.into(),
            email: String::new(),
            phone: String::new(),
            role,
            created_at: 0,
        };
        let member = |u: &User| Caller { enterprise_id: "e".into(), principal: Principal::User(u.clone()) };
        let mut meeting = super::super::testing::meeting("ann");
        meeting.data.hosts = serde_json::json!([{"userid": "bob"}]);
        meeting.data.invitees = serde_json::json!([{"userid": "cat"}]);
        let (ann, bob, cat, dan) = (user("ann", Role::Member), user("bob", Role::Member), user("cat", Role::Member), user("dan", Role::Member));
        assert!(may_write(&member(&ann), &ann, &meeting) && may_write(&member(&bob), &bob, &meeting));
        assert!(may_read(&member(&cat), &cat, &meeting) && !may_write(&member(&cat), &cat, &meeting));
        assert!(!may_read(&member(&dan), &dan, &meeting));
        let admin = user("eve", Role::Admin);
        assert!(may_write(&member(&admin), &admin, &meeting));
    }
}
