//! `/v1/webhooks`: an enterprise's webhook subscriptions (admins only) and their delivery
//! log. A subscription is saved only after its URL passes Tencent's URL check.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use huiyi_store::{Delivery, StoreError, Webhook};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::Caller;
use super::error::{ApiError, ErrorBody};
use super::meetings::Empty;
use super::{paging, parse_body, unix_now, Q};
use crate::webhook::{signing::aes_key, worker::check_url, Event};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
pub struct NewWebhookBody {
    /// http or https.
    pub url: String,
    /// The token deliveries are signed with.
    #[schema(min_length = 1, max_length = 128)]
    pub token: String,
    /// Event names, e.g. `meeting.created`.
    pub events: Vec<String>,
    /// Tencent's EncodingAESKey (43 characters); when set, `data` is encrypted.
    #[serde(default)]
    pub aes_key: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookInfo {
    pub webhook_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub has_aes_key: bool,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryInfo {
    pub delivery_id: String,
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: String,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryLog {
    pub total_count: i64,
    pub deliveries: Vec<DeliveryInfo>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// From 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// 1 to 100.
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

impl From<Webhook> for WebhookInfo {
    fn from(h: Webhook) -> Self {
        WebhookInfo { webhook_id: h.webhook_id, url: h.url, events: h.events, has_aes_key: h.aes_key.is_some(), created_at: h.created_at }
    }
}

impl From<Delivery> for DeliveryInfo {
    fn from(d: Delivery) -> Self {
        DeliveryInfo {
            delivery_id: d.delivery_id,
            event: d.event,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
        }
    }
}

#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = NewWebhookBody,
    responses((status = 200, body = WebhookInfo), (status = "4XX", body = ErrorBody)))]
/// Subscribes a URL to events, after the URL check.
pub async fn create(State(state): State<AppState>, Extension(caller): Extension<Caller>, body: axum::body::Bytes) -> Result<Json<WebhookInfo>, ApiError> {
    caller.require_admin()?;
    let b: NewWebhookBody = parse_body(&body)?;
    let url = reqwest::Url::parse(&b.url).map_err(|_| ApiError::invalid("url is not a valid URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || b.url.len() > 2048 {
        return Err(ApiError::invalid("url must be an http or https URL of at most 2048 characters"));
    }
    if b.token.is_empty() || b.token.len() > 128 || b.token.chars().any(|c| c.is_control()) {
        return Err(ApiError::invalid("token must be 1 to 128 characters"));
    }
    if b.events.is_empty() {
        return Err(ApiError::invalid("events must name at least one event"));
    }
    let mut events = Vec::new();
    for e in &b.events {
        let ev = Event::parse(e).ok_or_else(|| ApiError::invalid(format!("unknown event {e:?}")))?;
        if !events.contains(&ev.name().to_owned()) {
            events.push(ev.name().to_owned());
        }
    }
    let aes = b.aes_key.filter(|k| !k.is_empty());
    if let Some(k) = &aes {
        aes_key(k).map_err(ApiError::invalid)?;
    }
    check_url(&state.webhook_client, &b.url, &b.token, aes.as_deref()).await.map_err(ApiError::invalid)?;
    let hook = state.store.create_webhook(&caller.enterprise_id, &b.url, &b.token, aes.as_deref(), &events, unix_now()).await?;
    tracing::info!(enterprise = %caller.enterprise_id, url = %hook.url, "webhook subscribed");
    Ok(Json(hook.into()))
}

#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), (status = "4XX", body = ErrorBody)))]
/// The enterprise's subscriptions.
pub async fn list(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> Result<Json<WebhookList>, ApiError> {
    caller.require_admin()?;
    let hooks = state.store.webhooks(&caller.enterprise_id).await?;
    Ok(Json(WebhookList { webhooks: hooks.into_iter().map(WebhookInfo::from).collect() }))
}

#[utoipa::path(delete, path = "/v1/webhooks/{webhook_id}", tag = "webhooks", params(("webhook_id" = String, Path)),
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Removes a subscription; its pending deliveries stop.
pub async fn delete(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> Result<Json<Empty>, ApiError> {
    caller.require_admin()?;
    match state.store.delete_webhook(&caller.enterprise_id, &id, unix_now()).await {
        Ok(()) => Ok(Json(Empty {})),
        Err(StoreError::NotFound) => Err(ApiError::not_found("webhook")),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(get, path = "/v1/webhooks/{webhook_id}/deliveries", tag = "webhooks", params(("webhook_id" = String, Path), LogQuery),
    responses((status = 200, body = DeliveryLog), (status = "4XX", body = ErrorBody)))]
/// The delivery log, newest first.
pub async fn deliveries(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<LogQuery>) -> Result<Json<DeliveryLog>, ApiError> {
    caller.require_admin()?;
    let (page, size) = paging(q.page, q.page_size, 20, 100)?;
    match state.store.webhook(&id).await {
        Ok(h) if h.enterprise_id == caller.enterprise_id => {}
        Ok(_) | Err(StoreError::NotFound) => return Err(ApiError::not_found("webhook")),
        Err(e) => return Err(e.into()),
    }
    let (rows, total) = state.store.deliveries(&id, page, size).await?;
    Ok(Json(DeliveryLog { total_count: total, deliveries: rows.into_iter().map(DeliveryInfo::from).collect() }))
}
