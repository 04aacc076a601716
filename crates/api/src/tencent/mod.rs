//! Huiyi's Tencent-Meeting-compatible management API at `/v1`: request signing, errors, and
//! the endpoints, in Tencent's paths and field names (see docs/tencent-api.md).

pub mod attendance;
pub mod error;
pub mod join;
pub mod meetings;
pub mod recurrence;
pub mod signing;

use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

/// The `/v1` routes, every one behind signature verification.
pub fn routes(state: AppState) -> Router<AppState> {
    let signed = Router::new()
        .route("/v1/meetings", post(meetings::create).get(meetings::query))
        .route("/v1/meetings/{meeting_id}", get(meetings::get).put(meetings::update))
        .route("/v1/meetings/{meeting_id}/cancel", post(meetings::cancel))
        .route("/v1/meetings/{meeting_id}/dismiss", post(attendance::dismiss))
        .route("/v1/meetings/{meeting_id}/participants", get(attendance::participants))
        .route("/v1/meetings/{meeting_id}/real-time-participants", get(attendance::real_time))
        .route_layer(axum::middleware::from_fn_with_state(state, signing::verify));
    // Joining by code is what a browser does from a link: not signed, rate-limited instead.
    Router::new().route("/v1/meetings/join", post(join::join)).merge(signed)
}
