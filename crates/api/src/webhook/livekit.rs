//! Webhooks as LiveKit's server sends them, for LiveKit users: `egress_started`,
//! `egress_updated`, `egress_ended`, `ingress_started` and `ingress_ended`, posted to the URLs
//! of the server's configuration (`--livekit-webhook-url`).
//!
//! Each is a `WebhookEvent` in protobuf JSON (`Content-Type: application/webhook+json`) with
//! `Authorization: <JWT>`, signed HS256 by the server's first API key, whose `sha256` claim is
//! the base64 SHA-256 of the body: what LiveKit's `WebhookReceiver` in every server SDK checks.
//! Events go through a durable outbox (`livekit_webhook_deliveries`): delivered at least once,
//! retried with the Tencent webhooks' backoff, and resumed after a restart.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use huiyi_proto::lk;
use huiyi_store::{LiveKitDelivery, Store};
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Notify};

use super::worker::{next_step, short, WorkerConfig};
use crate::unix_now;

/// Where LiveKit-style events go, and the wake-up of their worker.
#[derive(Clone, Default)]
pub struct LiveKitWebhooks {
    store: Option<Store>,
    urls: Arc<Vec<String>>,
    wake: Arc<Notify>,
}

impl LiveKitWebhooks {
    pub fn new(store: Store, urls: Vec<String>) -> Self {
        Self { store: Some(store), urls: Arc::new(urls), wake: Arc::new(Notify::new()) }
    }

    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Queues an egress event (`egress_started`, `egress_updated`, `egress_ended`).
    pub async fn egress(&self, event: &str, info: &lk::EgressInfo) {
        self.queue(lk::WebhookEvent { event: event.into(), egress_info: Some(info.clone()), ..Default::default() }).await;
    }

    /// Queues an ingress event (`ingress_started`, `ingress_ended`).
    pub async fn ingress(&self, event: &str, info: &lk::IngressInfo) {
        self.queue(lk::WebhookEvent { event: event.into(), ingress_info: Some(info.clone()), ..Default::default() }).await;
    }

    async fn queue(&self, mut event: lk::WebhookEvent) {
        let Some(store) = self.store.as_ref().filter(|_| !self.urls.is_empty()) else { return };
        event.id = format!("EV_{}", huiyi_store::random_id(12));
        event.created_at = unix_now();
        let body = match serde_json::to_string(&event) {
            Ok(b) => b,
            Err(e) => return tracing::error!(error = %e, "cannot encode a LiveKit webhook"),
        };
        match store.enqueue_livekit_event(&self.urls, &event.event, &body, event.created_at).await {
            Ok(0) => tracing::warn!(event = %event.event, "the LiveKit webhook outbox is full; event dropped"),
            Ok(_) => self.wake.notify_one(),
            Err(e) => tracing::error!(error = %e, event = %event.event, "could not queue a LiveKit webhook"),
        }
    }
}

/// The `Authorization` value for `body`: a JWT from `api_key`, valid ten minutes, with the
/// body's SHA-256.
pub fn authorization(api_key: &str, secret: &str, body: &str, now: i64) -> Option<String> {
    let sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body.as_bytes()));
    let claims = serde_json::json!({ "iss": api_key, "nbf": now - 5, "exp": now + 600, "sha256": sha256, "video": {} });
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).ok()
}

/// Drains the LiveKit outbox until `shutdown` flips to true; `signer` is (API key, secret).
pub async fn run(store: Store, client: reqwest::Client, wake: Arc<Notify>, signer: (String, String), config: WorkerConfig, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        match store.due_livekit_deliveries(unix_now(), 64).await {
            Ok(due) => {
                futures_util::stream::iter(due).for_each_concurrent(config.concurrency.max(1), |d| attempt(&store, &client, &signer, &config, d)).await;
            }
            Err(e) => tracing::warn!(error = %e, "could not read the LiveKit webhook outbox"),
        }
        let wait = match store.next_livekit_due().await {
            Ok(Some(t)) => Duration::from_secs((t - unix_now()).clamp(0, 5) as u64),
            _ => Duration::from_secs(5),
        };
        if wait.is_zero() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn attempt(store: &Store, client: &reqwest::Client, signer: &(String, String), config: &WorkerConfig, d: LiveKitDelivery) {
    let now = unix_now();
    let error = match authorization(&signer.0, &signer.1, &d.body, now) {
        None => "cannot sign".to_string(),
        Some(auth) => {
            let sent = client
                .post(&d.url)
                .header(reqwest::header::AUTHORIZATION, auth)
                .header(reqwest::header::CONTENT_TYPE, "application/webhook+json")
                .body(d.body.clone())
                .send()
                .await;
            match sent {
                Ok(res) if res.status().is_success() => String::new(),
                Ok(res) => format!("HTTP {}", res.status()),
                Err(e) => short(&e),
            }
        }
    };
    let attempt_no = d.attempts as u32 + 1;
    let outcome = next_step(config, attempt_no, error.is_empty(), now);
    match &outcome {
        huiyi_store::AttemptOutcome::Delivered => tracing::info!(event = %d.event, url = %d.url, attempt = attempt_no, "LiveKit webhook delivered"),
        huiyi_store::AttemptOutcome::RetryAt(t) => tracing::info!(event = %d.event, url = %d.url, attempt = attempt_no, %error, retry_in = t - now, "LiveKit webhook failed; will retry"),
        huiyi_store::AttemptOutcome::GiveUp => tracing::warn!(event = %d.event, url = %d.url, attempt = attempt_no, %error, "LiveKit webhook failed; giving up"),
    }
    if let Err(e) = store.record_livekit_attempt(&d.delivery_id, now, &error, outcome).await {
        tracing::error!(error = %e, delivery = %d.delivery_id, "could not record a LiveKit webhook attempt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorization_carries_the_body_hash_and_verifies_with_the_secret() {
        let body = r#"{"event":"egress_started"}"#;
        let token = authorization("APIkey", "secret", body, 1_800_000_000).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<serde_json::Value>(&token, &jsonwebtoken::DecodingKey::from_secret(b"secret"), &validation).unwrap().claims;
        assert_eq!(claims["iss"], "APIkey");
        assert_eq!(claims["sha256"], base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body.as_bytes())));
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &jsonwebtoken::DecodingKey::from_secret(b"other"), &validation).is_err());
    }
}
