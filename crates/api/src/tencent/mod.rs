//! Huiyi's Tencent-Meeting-compatible management API at `/v1`: authentication (request
//! signing or the portal's session cookie), errors, and the endpoints, in Tencent's paths and
//! field names (docs/tencent-api.md, docs/accounts-and-portal-api.md). The OpenAPI document
//! at `/v1/openapi.json` is generated from these handlers and types ([`openapi`]).

pub mod access;
pub mod admission;
pub mod account;
pub mod attendance;
pub mod chat;
pub mod credentials;
pub mod error;
pub mod invitees;
pub mod join;
pub mod meetings;
pub mod notes;
pub mod openapi;
pub mod polls;
pub mod records;
pub mod real_control;
pub mod recurrence;
pub mod signing;
pub mod stats;
pub mod users;
pub mod waiting_room;
pub mod webhooks;

use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::AppState;
use error::ApiError;

/// The `/v1` routes and the portal's `/api/auth` routes.
pub fn routes(state: AppState) -> Router<AppState> {
    let authenticated = Router::new()
        .route("/v1/meetings", post(meetings::create).get(meetings::query))
        .route("/v1/meetings/{meeting_id}", get(meetings::get).put(meetings::update))
        .route("/v1/meetings/{meeting_id}/cancel", post(meetings::cancel))
        .route("/v1/meetings/{meeting_id}/dismiss", post(attendance::dismiss))
        .route("/v1/meetings/{meeting_id}/participants", get(attendance::participants))
        .route("/v1/meetings/{meeting_id}/real-time-participants", get(attendance::real_time))
        .route("/v1/meetings/{meeting_id}/invitees", get(invitees::list).put(invitees::replace))
        .route("/v1/meetings/{meeting_id}/waiting-room-participants", get(waiting_room::now))
        .route("/v1/meeting/{meeting_id}/waiting-room", get(waiting_room::history))
        .route("/v1/records", get(records::list))
        .route("/v1/records/{record_file_id}", axum::routing::delete(records::delete))
        .route("/v1/addresses", get(records::addresses))
        .route("/v1/addresses/{record_file_id}", get(records::address_of_file))
        .route("/v1/real-control/meetings/{meeting_id}/record", axum::routing::put(records::control))
        .route("/v1/real-control/meetings/{meeting_id}/live", axum::routing::put(records::live))
        .route("/v1/real-control/meetings/{meeting_id}/kickout", axum::routing::put(real_control::kickout))
        .route("/v1/real-control/meetings/{meeting_id}/status", axum::routing::put(real_control::status))
        .route("/v1/real-control/meetings/{meeting_id}/mutes", axum::routing::put(real_control::mutes))
        .route("/v1/real-control/meetings/{meeting_id}/cohosts", axum::routing::put(real_control::cohosts))
        .route("/v1/real-control/meetings/{meeting_id}/spotlight", axum::routing::put(real_control::spotlight))
        .route("/v1/real-control/meetings/{meeting_id}/host", axum::routing::put(real_control::host))
        .route("/v1/real-control/meetings/{meeting_id}/names", axum::routing::put(real_control::names))
        .route("/v1/real-control/meetings/{meeting_id}/video", axum::routing::put(real_control::video))
        .route("/v1/real-control/meetings/{meeting_id}/screen-shared", axum::routing::put(real_control::screen_shared))
        .route("/v1/real-control/meetings/{meeting_id}/waiting-room", axum::routing::put(waiting_room::control))
        .route("/v1/real-control/meetings/{meeting_id}/notes", axum::routing::put(notes::control))
        .route("/v1/meetings/{meeting_id}/chat", get(chat::list))
        .route("/v1/meetings/{meeting_id}/chat.csv", get(chat::csv))
        .route("/v1/meetings/{meeting_id}/polls", get(polls::list))
        .route("/v1/meetings/{meeting_id}/polls.csv", get(polls::csv))
        .route("/v1/meetings/{meeting_id}/notes.md", get(notes::markdown))
        .route("/v1/meetings/{meeting_id}/removed", get(attendance::removed))
        .route("/v1/meetings/{meeting_id}/removed/{person}", axum::routing::delete(attendance::readmit))
        .route("/v1/meetings/{meeting_id}/statistics", get(stats::meeting_statistics))
        .route("/v1/meetings/{meeting_id}/attendance.csv", get(stats::attendance_csv))
        .route("/v1/meetings/{meeting_id}/invitation.ics", get(stats::invitation_ics))
        .route("/v1/history/meetings/{userid}", get(meetings::history))
        .route("/v1/users", post(users::create))
        .route("/v1/users/list", get(users::list))
        .route("/v1/users/{userid}", get(users::get).put(users::update).delete(users::delete))
        .route("/v1/credentials", get(credentials::list).post(credentials::create))
        .route("/v1/credentials/{secret_id}", axum::routing::delete(credentials::revoke))
        .route("/v1/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/v1/webhooks/{webhook_id}", axum::routing::delete(webhooks::delete))
        .route("/v1/webhooks/{webhook_id}/deliveries", get(webhooks::deliveries))
        .route("/v1/enterprise/statistics", get(stats::enterprise_statistics))
        .route_layer(axum::middleware::from_fn_with_state(state, access::authenticate));
    Router::new()
        // Joining by code is what a browser does from a link: not signed, rate-limited instead.
        .route("/v1/meetings/join", post(join::join))
        .route("/v1/openapi.json", get(openapi::document))
        .route("/api/auth/signup", post(account::signup))
        .route("/api/auth/signin", post(account::signin))
        .route("/api/auth/signout", post(account::signout))
        .route("/api/auth/me", get(account::me_handler))
        .merge(authenticated)
        // Anything else under /v1 is a JSON error in Tencent's shape, never the web app's page
        // (SDKs cannot read HTML), and a wrong method is a JSON 405.
        .route("/v1/{*rest}", axum::routing::any(unknown_endpoint))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn unknown_endpoint() -> ApiError {
    ApiError::not_found("endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, 10001, "this endpoint does not take that HTTP method")
}

pub use crate::unix_now;

/// A JSON body, parsed: malformed JSON and wrong types are a 400 with serde's reason. A string
/// with a NUL character (`\u0000`) is a 400 too: no text field needs one, and PostgreSQL cannot
/// store one.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.windows(6).any(|w| w == b"\\u0000") {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
        if has_nul(&v) {
            return Err(ApiError::invalid("invalid JSON body: text must not contain NUL characters"));
        }
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
}

fn has_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(a) => a.iter().any(has_nul),
        serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Whether a request's path or query carries an encoded NUL (`%00`), which no identifier has.
pub fn uri_has_nul(uri: &axum::http::Uri) -> bool {
    let text = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    text.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// `page` (from 1) and `page_size` (1 to `max`, default `default`), checked.
pub fn paging(page: Option<i64>, page_size: Option<i64>, default: i64, max: i64) -> Result<(i64, i64), ApiError> {
    let (page, size) = (page.unwrap_or(1), page_size.unwrap_or(default));
    if page < 1 || page > 1_000_000 || !(1..=max).contains(&size) {
        return Err(ApiError::invalid(format!("page starts at 1; page_size is 1 to {max}")));
    }
    Ok((page, size))
}

/// `Query<T>` whose rejection is a `/v1` error (JSON, code 10001) rather than axum's text.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query).map(Q).map_err(|e| ApiError::invalid(format!("invalid query string: {e}")))
    }
}

/// Fixtures for this module's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use huiyi_store::{Meeting, MeetingStatus, NewMeeting};

    /// A meeting of enterprise `e` created by `creator`, not started, with no hosts, invitees,
    /// settings or recurrence; tests change the fields they are about.
    pub fn meeting(creator: &str) -> Meeting {
        Meeting {
            meeting_id: "mid".into(),
            meeting_code: "123456789".into(),
            status: MeetingStatus::Init,
            created_at: 0,
            updated_at: 0,
            data: NewMeeting {
                enterprise_id: "e".into(),
                creator_userid: creator.into(),
                subject: "s".into(),
                meeting_kind: 0,
                meeting_type: 0,
                start_time: 0,
                end_time: 1,
                password: None,
                time_zone: String::new(),
                location: String::new(),
                settings: serde_json::json!({}),
                hosts: serde_json::json!([]),
                invitees: serde_json::json!([]),
                recurring_rule: None,
            },
        }
    }
}
