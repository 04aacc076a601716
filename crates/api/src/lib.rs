//! Huiyi's HTTP edge: LiveKit signalling at `/rtc`, the Twirp RoomService at `/twirp`, the
//! Tencent-compatible `/v1` API with the portal's accounts, webhooks, a dev-mode token
//! endpoint, the shared meeting notes, health, Prometheus metrics, and the web app's static
//! files.
//!
//! # Architecture invariant
//! No media or room logic here: handlers authenticate, parse, and pass typed requests to the
//! engine through [`huiyi_sfu::SfuHandle`].

pub mod auth;
pub mod chat;
pub mod dev;
pub mod ingress;
pub mod egress;
pub mod egress_s3;
pub mod http_media;
pub mod limits;
pub mod meeting;
pub mod metrics;
pub mod notes;
pub mod passwords;
pub mod polls;
pub mod presence;
pub mod rtc;
pub mod tencent;
pub mod twirp;
pub mod webhook;
pub mod whep;
pub mod whip;

use std::path::PathBuf;

use axum::routing::{get, post};
use axum::Router;
use huiyi_sfu::SfuHandle;
use tower_http::services::{ServeDir, ServeFile};

pub use auth::{AuthError, Claims, KeyRing, VideoGrant};

/// The wall clock in unix seconds, as the API, the store's rows and webhooks count time.
/// (0 if the clock is before 1970, which only a broken machine reports.)
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub sfu: SfuHandle,
    pub keys: KeyRing,
    /// Dev mode: the token endpoint is open.
    pub dev: bool,
    /// Flips to `true` once on shutdown; every signalling socket then closes with 1001.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// How often a connected client is sent a refreshed token, and how long those last.
    pub token_refresh: std::time::Duration,
    pub token_ttl: std::time::Duration,
    /// Meetings, accounts and credentials.
    pub store: huiyi_store::Store,
    /// The address users reach the web app at, for join links (`<public_url>/j/<code>`).
    pub public_url: String,
    /// Rate limits (sign-in, sign-up, join passwords, meeting codes), password-hashing slots,
    /// and the client address behind a trusted proxy.
    pub limits: limits::Limits,
    /// A signalling socket that sends nothing for this long is closed (LiveKit's ping
    /// timeout, announced in the JoinResponse).
    pub ping_timeout: std::time::Duration,
    /// Queues webhook events into the outbox and wakes the delivery worker.
    pub webhooks: webhook::Webhooks,
    /// For the URL check when a webhook is subscribed.
    pub webhook_client: reqwest::Client,
    /// Whether `/api/auth/signup` is open.
    pub signup: bool,
    /// Polls whose results announcement is scheduled (`polls`).
    pub poll_pushes: polls::Pushes,
    /// The shared meeting notes held in memory (`/api/notes`), and their limits.
    pub notes: notes::Notes,
    /// Who may read `/metrics`: anyone in dev mode, else a scraper with the metrics token.
    pub metrics: metrics::MetricsAccess,
    /// Recording and streaming jobs (`egress`).
    pub egress: egress::Egress,
    /// WHIP broadcasts in progress (`whip`).
    pub whip: whip::Sessions,
    /// WHEP viewers (`whep`).
    pub whep: whep::Viewers,
}

/// CORS for the token-authenticated endpoints: any origin, no credentials (cookies are never
/// read there), any request header (`Authorization`, the SDKs' own), preflights cached a day.
fn cors() -> tower_http::cors::CorsLayer {
    use axum::http::Method;
    use tower_http::cors::{Any, CorsLayer};
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS])
        // WHIP clients in a browser read where their session is.
        .expose_headers([axum::http::header::LOCATION, axum::http::header::ETAG, axum::http::HeaderName::from_static("accept-patch"), axum::http::header::LINK])
        .allow_headers(Any)
        .max_age(std::time::Duration::from_secs(86_400))
}

/// The whole HTTP surface. `web_dir` is the built web app (`web/dist`), served at `/`.
pub fn router(state: AppState, web_dir: Option<PathBuf>) -> Router {
    // What a LiveKit app on another origin calls: the token (a header or the query) is the
    // credential, never a cookie, so any origin may call these, as LiveKit's server allows.
    // The portal's cookie-authenticated `/v1` and `/api/auth` get no CORS headers: same-origin only.
    let token_authenticated = Router::new()
        .route("/rtc/validate", get(rtc::validate))
        .route("/rtc/v1", get(rtc::v1_not_supported))
        .route("/rtc/v1/validate", get(rtc::v1_not_supported))
        .route("/twirp/livekit.RoomService/{method}", post(twirp::room_service))
        .route("/twirp/livekit.Egress/{method}", post(twirp::egress_service))
        .route("/twirp/livekit.Ingress/{method}", post(twirp::ingress_service))
        .route("/api/chat", get(chat::history))
        .route("/api/polls", get(polls::list).post(polls::create))
        .route("/api/polls/{poll_id}", axum::routing::put(polls::update).delete(polls::delete))
        .route("/api/polls/{poll_id}/votes", post(polls::vote))
        .route("/api/polls/{poll_id}/{action}", post(polls::transition))
        .route("/api/notes", get(notes::socket::connect))
        .route("/api/notes/{room}", get(notes::socket::connect_room))
        .route("/api/notes.md", get(notes::socket::markdown))
        .route("/live/{code}/{file}", get(egress::hls))
        .route("/whip", post(whip::publish))
        .route("/whip/{session}", axum::routing::delete(whip::end).patch(whip::patch))
        .route("/whep", post(whep::play))
        .route("/whep/{session}", axum::routing::delete(whep::end).patch(whep::patch))
        .layer(cors());
    let mut app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics::serve))
        .route("/rtc", get(rtc::connect))
        // Same-origin only: a page elsewhere must not mint tokens from a developer's server.
        .route("/api/dev/token", post(dev::token))
        // Signed, expiring links to recordings (`egress::download_link`): the link is the credential.
        .route("/api/records/{record_file_id}/download", get(egress::download))
        .merge(token_authenticated)
        .merge(tencent::routes(state.clone()));
    if let Some(dir) = web_dir {
        // The app's own routes (`/j/<code>`, `/live/<code>`, `/meetings`…) are its page; a
        // missing file (a name with an extension, `/assets/x.js`, a model's `.wasm`) is a 404,
        // not the page with 200, which a script or a wasm loader would misread.
        let page = ServeFile::new(dir.join("index.html"));
        let app_page = axum::routing::any(move |req: axum::extract::Request| {
            let page = page.clone();
            async move {
                let last = req.uri().path().rsplit('/').next().unwrap_or("");
                if last.contains('.') {
                    return axum::response::IntoResponse::into_response((axum::http::StatusCode::NOT_FOUND, "no such file"));
                }
                match tower::ServiceExt::oneshot(page, req).await {
                    Ok(res) => axum::response::IntoResponse::into_response(res),
                    Err(never) => match never {},
                }
            }
        });
        app = app.fallback_service(ServeDir::new(dir).fallback(app_page));
    }
    app.with_state(state)
}
