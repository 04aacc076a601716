//! `/v1/credentials` (Huiyi's addition): an enterprise's application credentials for
//! request signing. Admins create them (the SecretKey is shown once) and revoke them.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use huiyi_store::{AppCredential, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::access::Caller;
use super::error::{ApiError, ErrorBody};
use super::meetings::Empty;
use super::{parse_body, unix_now};
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct CredentialInfo {
    pub app_id: String,
    pub sdk_id: String,
    pub secret_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; null while active.
    pub revoked_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CredentialList {
    pub credentials: Vec<CredentialInfo>,
}

/// A new credential, with its SecretKey: the only time it is shown.
#[derive(Serialize, ToSchema)]
pub struct NewCredential {
    pub app_id: String,
    pub sdk_id: String,
    pub secret_id: String,
    pub secret_key: String,
    pub created_at: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct NewCredentialBody {
    /// A label for the integration (1 to 64 of letters, digits, `-`, `_`); random if absent.
    #[serde(default)]
    pub sdk_id: Option<String>,
}

impl From<AppCredential> for CredentialInfo {
    fn from(c: AppCredential) -> Self {
        CredentialInfo { app_id: c.app_id, sdk_id: c.sdk_id, secret_id: c.secret_id, created_at: c.created_at, revoked_at: c.revoked_at }
    }
}

#[utoipa::path(get, path = "/v1/credentials", tag = "credentials",
    responses((status = 200, body = CredentialList), (status = "4XX", body = ErrorBody)))]
/// The enterprise's credentials, newest first, without their SecretKeys.
pub async fn list(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> Result<Json<CredentialList>, ApiError> {
    caller.require_admin()?;
    let creds = state.store.list_credentials(&caller.enterprise_id).await?;
    Ok(Json(CredentialList { credentials: creds.into_iter().map(CredentialInfo::from).collect() }))
}

#[utoipa::path(post, path = "/v1/credentials", tag = "credentials", request_body = NewCredentialBody,
    responses((status = 200, body = NewCredential), (status = "4XX", body = ErrorBody)))]
/// Creates a credential. The AppId is the enterprise's.
pub async fn create(State(state): State<AppState>, Extension(caller): Extension<Caller>, body: axum::body::Bytes) -> Result<Json<NewCredential>, ApiError> {
    caller.require_admin()?;
    let b: NewCredentialBody = if body.is_empty() { NewCredentialBody { sdk_id: None } } else { parse_body(&body)? };
    let sdk_id = match b.sdk_id {
        Some(s) if !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)) => s,
        Some(_) => return Err(ApiError::invalid("sdk_id must be 1 to 64 of letters, digits, '-', '_'")),
        None => format!("sdk-{}", unix_now()),
    };
    let c = state.store.create_credential(&caller.enterprise_id, &caller.enterprise_id, &sdk_id, unix_now()).await?;
    tracing::info!(enterprise = %c.enterprise_id, secret_id = %c.secret_id, "app credential created");
    Ok(Json(NewCredential { app_id: c.app_id, sdk_id: c.sdk_id, secret_id: c.secret_id, secret_key: c.secret_key, created_at: c.created_at }))
}

#[utoipa::path(delete, path = "/v1/credentials/{secret_id}", tag = "credentials", params(("secret_id" = String, Path)),
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Revokes a credential: requests signed with it fail from now on.
pub async fn revoke(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(secret_id): Path<String>) -> Result<Json<Empty>, ApiError> {
    caller.require_admin()?;
    match state.store.revoke_credential(&caller.enterprise_id, &secret_id, unix_now()).await {
        Ok(()) => Ok(Json(Empty {})),
        Err(StoreError::NotFound) => Err(ApiError::not_found("active credential")),
        Err(e) => Err(e.into()),
    }
}
