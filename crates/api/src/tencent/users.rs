//! `/v1/users`: an enterprise's accounts, in Tencent Meeting's paths. Admins (and signed
//! requests) manage everyone; a member may read themselves. A `password` (Huiyi's addition)
//! lets the user sign in to the portal with their email.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use huiyi_store::{Role, StoreError, User};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{Caller, Principal};
use super::account::{check_email, check_name, check_password_rules, hash_password};
use super::error::{ApiError, ErrorBody};
use super::meetings::Empty;
use super::{paging, parse_body, unix_now, Q};
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct UserInfo {
    pub userid: String,
    pub username: String,
    pub email: String,
    pub phone: String,
    /// `admin` or `member`.
    pub role: String,
    /// `"1"`: active (a string, as in Tencent's API: "1" normal, "2" deregistered, "3" not
    /// activated, "4" disabled).
    pub status: String,
    /// Unix seconds.
    pub create_time: String,
}

impl From<User> for UserInfo {
    fn from(u: User) -> Self {
        UserInfo { userid: u.userid, username: u.username, email: u.email, phone: u.phone, role: u.role.as_str().to_owned(), status: "1".into(), create_time: u.created_at.to_string() }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct NewUserBody {
    /// 1 to 64 of letters, digits, `-`, `_`, `.`, `@`.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    pub userid: String,
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// 8 to 128 characters; without one the user cannot sign in to the portal.
    #[serde(default)]
    #[schema(min_length = 8, max_length = 128)]
    pub password: Option<String>,
    /// `admin` or `member` (default).
    #[serde(default)]
    #[schema(pattern = "^(admin|member)$")]
    pub role: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateUserBody {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub total_count: i64,
    pub current_size: usize,
    pub current_page: i64,
    pub page_size: i64,
    pub users: Vec<UserInfo>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// From 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// 1 to 100.
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

fn check_userid(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if !ok {
        return Err(ApiError::invalid("userid must be 1 to 64 of letters, digits, '-', '_', '.', '@'"));
    }
    Ok(())
}

fn role(s: Option<&str>) -> Result<Option<Role>, ApiError> {
    s.map(|r| Role::parse(r).map_err(|_| ApiError::invalid("role must be admin or member"))).transpose()
}

fn check_phone(p: &str) -> Result<(), ApiError> {
    if p.len() > 32 || !p.chars().all(|c| c.is_ascii_digit() || "+- ".contains(c)) {
        return Err(ApiError::invalid("phone is at most 32 digits, '+', '-' or spaces"));
    }
    Ok(())
}

async fn user_of(state: &AppState, caller: &Caller, userid: &str) -> Result<User, ApiError> {
    match state.store.user(&caller.enterprise_id, userid).await {
        Ok(u) => Ok(u),
        Err(StoreError::NotFound) => Err(ApiError::not_found(&format!("user {userid}"))),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = NewUserBody,
    responses((status = 200, body = UserInfo), (status = "4XX", body = ErrorBody)))]
/// Creates a user in the caller's enterprise (admins only).
pub async fn create(State(state): State<AppState>, Extension(caller): Extension<Caller>, body: axum::body::Bytes) -> Result<Json<UserInfo>, ApiError> {
    caller.require_admin()?;
    let b: NewUserBody = parse_body(&body)?;
    check_userid(&b.userid)?;
    check_name("username", &b.username)?;
    let email = b.email.unwrap_or_default().trim().to_lowercase();
    if !email.is_empty() {
        check_email(&email)?;
    }
    let phone = b.phone.unwrap_or_default();
    check_phone(&phone)?;
    let hash = match b.password {
        Some(p) => {
            check_password_rules(&p, &[&email, &b.userid, &b.username])?;
            if email.is_empty() {
                return Err(ApiError::invalid("a user with a password needs an email to sign in with"));
            }
            Some(hash_password(&state.limits, p).await?)
        }
        None => None,
    };
    let user = User {
        enterprise_id: caller.enterprise_id.clone(),
        userid: b.userid,
        username: b.username.trim().to_owned(),
        email,
        phone,
        role: role(b.role.as_deref())?.unwrap_or(Role::Member),
        created_at: unix_now(),
    };
    state.store.create_user(&user, hash.as_deref()).await?;
    Ok(Json(user.into()))
}

#[utoipa::path(get, path = "/v1/users/{userid}", tag = "users", params(("userid" = String, Path)),
    responses((status = 200, body = UserInfo), (status = "4XX", body = ErrorBody)))]
/// One user. Members may read only themselves.
pub async fn get(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(userid): Path<String>) -> Result<Json<UserInfo>, ApiError> {
    let user = caller.acting_user(&state, Some(&userid)).await?;
    Ok(Json(user.into()))
}

#[utoipa::path(put, path = "/v1/users/{userid}", tag = "users", params(("userid" = String, Path)), request_body = UpdateUserBody,
    responses((status = 200, body = UserInfo), (status = "4XX", body = ErrorBody)))]
/// Changes a user. Members may change their own name, phone and password; only admins
/// change emails and roles. The last admin cannot be made a member.
pub async fn update(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(userid): Path<String>, body: axum::body::Bytes) -> Result<Json<UserInfo>, ApiError> {
    let b: UpdateUserBody = parse_body(&body)?;
    let mut user = caller.acting_user(&state, Some(&userid)).await?;
    if (b.email.is_some() || b.role.is_some()) && !caller.is_admin() {
        return Err(ApiError::forbidden("only an admin may change a user's email or role"));
    }
    if let Some(n) = b.username {
        check_name("username", &n)?;
        user.username = n.trim().to_owned();
    }
    if let Some(e) = b.email {
        let e = e.trim().to_lowercase();
        if !e.is_empty() {
            check_email(&e)?;
        }
        user.email = e;
    }
    if let Some(p) = b.phone {
        check_phone(&p)?;
        user.phone = p;
    }
    if let Some(r) = role(b.role.as_deref())? {
        if user.role == Role::Admin && r == Role::Member && state.store.count_admins(&caller.enterprise_id).await? <= 1 {
            return Err(ApiError::conflict("the enterprise's last admin cannot be made a member"));
        }
        user.role = r;
    }
    if let Some(p) = &b.password {
        check_password_rules(p, &[&user.email, &user.userid, &user.username])?;
        if user.email.is_empty() {
            return Err(ApiError::invalid("a user with a password needs an email to sign in with"));
        }
    }
    // Hashed first: a busy server (503) then changes nothing rather than half the user.
    let hash = match b.password {
        Some(p) => Some(hash_password(&state.limits, p).await?),
        None => None,
    };
    state.store.update_user(&user).await?;
    if let Some(hash) = hash {
        state.store.set_password_hash(&user.enterprise_id, &user.userid, &hash).await?;
    }
    Ok(Json(user.into()))
}

#[utoipa::path(delete, path = "/v1/users/{userid}", tag = "users", params(("userid" = String, Path)),
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Deletes a user (admins only). Their meetings and attendance stay.
pub async fn delete(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(userid): Path<String>) -> Result<Json<Empty>, ApiError> {
    caller.require_admin()?;
    if matches!(&caller.principal, Principal::User(me) if me.userid == userid) {
        return Err(ApiError::conflict("you cannot delete your own account"));
    }
    let user = user_of(&state, &caller, &userid).await?;
    if user.role == Role::Admin && state.store.count_admins(&caller.enterprise_id).await? <= 1 {
        return Err(ApiError::conflict("the enterprise's last admin cannot be deleted"));
    }
    state.store.delete_user(&caller.enterprise_id, &userid).await?;
    Ok(Json(Empty {}))
}

#[utoipa::path(get, path = "/v1/users/list", tag = "users", params(ListQuery),
    responses((status = 200, body = UserList), (status = "4XX", body = ErrorBody)))]
/// The enterprise's users in userid order (admins only).
pub async fn list(State(state): State<AppState>, Extension(caller): Extension<Caller>, Q(q): Q<ListQuery>) -> Result<Json<UserList>, ApiError> {
    caller.require_admin()?;
    let (page, size) = paging(q.page, q.page_size, 20, 100)?;
    let (users, total) = state.store.list_users(&caller.enterprise_id, page, size).await?;
    Ok(Json(UserList { total_count: total, current_size: users.len(), current_page: page, page_size: size, users: users.into_iter().map(UserInfo::from).collect() }))
}
