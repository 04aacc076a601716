//! The one error type of the `/v1` API, in Tencent Meeting's shape:
//! HTTP status plus `{"error_info": {"error_code": N, "message": "..."}}`.
//! Internal causes are logged, never sent. Codes are listed in docs/tencent-api.md.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use huiyi_store::StoreError;

/// The body of every error response.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error_info: ErrorInfo,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorInfo {
    /// A stable code from docs/tencent-api.md.
    pub error_code: u32,
    /// The same code, under the name Tencent's newer API and its SDKs read.
    pub new_error_code: u32,
    /// What went wrong, for a person to read.
    pub message: String,
    /// For a meeting that has not started (10011): its scheduled start, Unix seconds, so an
    /// app can say when to come back. Huiyi's addition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
    /// See [`ErrorInfo::start_time`].
    pub start_time: Option<i64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), start_time: None }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 10001, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 10002, message)
    }
    pub fn stale_timestamp() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 10003, "X-TC-Timestamp is more than 300 seconds from the server's clock")
    }
    pub fn replayed() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 10004, "X-TC-Nonce was already used with this key")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, 10005, message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, 10006, format!("{what} not found"))
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, 10007, message)
    }
    pub fn too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, 10008, "request body is larger than 1 MiB")
    }
    pub fn too_many(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, 10010, message)
    }
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, 10013, message)
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, 10000, "internal error")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("resource"),
            StoreError::Conflict(what) => ApiError::conflict(what),
            // Text PostgreSQL cannot hold (a NUL character, bytes that are not UTF-8): the
            // request's fault, whatever path let it through.
            StoreError::Database(sqlx_error) if matches!(&sqlx_error, huiyi_store::sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("22021" | "22P05"))) => {
                ApiError::invalid("text must not contain NUL characters")
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error_info: ErrorInfo { error_code: self.code, new_error_code: self.code, message: self.message, start_time: self.start_time } })).into_response()
    }
}
