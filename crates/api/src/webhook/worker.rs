//! Delivering webhooks: the URL check a subscription must pass, and the worker that drains
//! the outbox.
//!
//! The worker takes due deliveries, posts each (several at once), and records the attempt:
//! a 2xx answer delivers it; anything else schedules a retry after
//! `retry_base * 2^(attempt-1)` (capped at an hour) until `max_attempts`, then gives up.
//! It sleeps until the next delivery is due, a new event wakes it, or shutdown.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use huiyi_store::{AttemptOutcome, Delivery, Store};
use rand::Rng;
use tokio::sync::{watch, Notify};

use super::signing::{aes_key, encode, signature};
use crate::unix_now;

/// How the worker retries and how long it waits for a receiver.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub retry_base: Duration,
    pub max_attempts: u32,
    pub timeout: Duration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self { retry_base: Duration::from_secs(10), max_attempts: 12, timeout: Duration::from_secs(10), concurrency: 8 }
    }
}

/// The HTTP client for receivers: no redirects (a receiver answers for itself), bounded time.
/// The HTTP client for webhooks. An error here stops the server from starting: a silent
/// fallback to a default client would follow redirects and wait forever.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("huiyi-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The most of a URL-check answer that is read: the expected answer is 16 characters.
pub const MAX_CHECK_ANSWER: usize = 4096;

fn nonce() -> String {
    format!("{}", rand::rng().random_range(100_000_000u64..10_000_000_000))
}

/// Tencent's URL check: `GET url?check_str=<encoded random text>` with `timestamp`, `nonce`
/// and `signature` headers; the receiver must answer 200 with the decoded text.
pub async fn check_url(client: &reqwest::Client, url: &str, token: &str, aes: Option<&str>) -> Result<(), String> {
    let key = aes.map(aes_key).transpose()?;
    let plain = format!("{:016x}", rand::rng().random::<u64>());
    let check_str = encode(plain.as_bytes(), key.as_ref());
    let (ts, nonce) = (unix_now().to_string(), nonce());
    let sig = signature(token, &ts, &nonce, &check_str);
    let res = client
        .get(url)
        .query(&[("check_str", &check_str)])
        .header("timestamp", &ts)
        .header("nonce", &nonce)
        .header("signature", sig)
        .send()
        .await
        .map_err(|e| format!("the URL check could not reach {url}: {}", short(&e)))?;
    let status = res.status();
    if !status.is_success() {
        return Err(format!("the URL check got HTTP {status} from {url}"));
    }
    // Read at most MAX_CHECK_ANSWER bytes, whatever the receiver sends or claims to send.
    let mut res = res;
    let mut answer = Vec::new();
    loop {
        match res.chunk().await {
            Ok(Some(chunk)) => {
                if answer.len() + chunk.len() > MAX_CHECK_ANSWER {
                    return Err(format!("the URL check answer from {url} is longer than {MAX_CHECK_ANSWER} bytes"));
                }
                answer.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(format!("the URL check answer from {url} could not be read: {}", short(&e))),
        }
    }
    let body = String::from_utf8_lossy(&answer);
    if body.trim() != plain {
        return Err("the URL check answer was not the decoded check_str".into());
    }
    Ok(())
}

/// The error without reqwest's nested sources, which repeat the URL.
/// What follows attempt number `attempt_no` (from 1): done, a retry after an exponential
/// backoff (at most an hour), or giving up after `max_attempts`.
pub(crate) fn next_step(config: &WorkerConfig, attempt_no: u32, delivered: bool, now: i64) -> AttemptOutcome {
    if delivered {
        AttemptOutcome::Delivered
    } else if attempt_no >= config.max_attempts {
        AttemptOutcome::GiveUp
    } else {
        let delay = config.retry_base.saturating_mul(1u32 << (attempt_no - 1).min(20)).min(Duration::from_secs(3600));
        AttemptOutcome::RetryAt(now + delay.as_secs_f64().ceil() as i64)
    }
}

pub(crate) fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        e.to_string()
    }
}

/// Drains the outbox until `shutdown` flips to true.
pub async fn run(store: Store, client: reqwest::Client, wake: Arc<Notify>, config: WorkerConfig, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        match store.due_deliveries(unix_now(), 64).await {
            Ok(due) => {
                futures_util::stream::iter(due).for_each_concurrent(config.concurrency.max(1), |d| attempt(&store, &client, &config, d)).await;
            }
            Err(e) => tracing::warn!(error = %e, "could not read the webhook outbox"),
        }
        // Sleep until the next delivery is due (at most a few seconds, so a clock step or an
        // event queued by another node is noticed), or until woken.
        let wait = match store.next_due().await {
            Ok(Some(t)) => Duration::from_secs((t - unix_now()).clamp(0, 5) as u64),
            _ => Duration::from_secs(5),
        };
        if wait.is_zero() {
            // Due now (more than one batch, or an attempt scheduled for this second): go on.
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

async fn attempt(store: &Store, client: &reqwest::Client, config: &WorkerConfig, d: Delivery) {
    let hook = match store.webhook(&d.webhook_id).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, delivery = %d.delivery_id, "webhook for a delivery is gone");
            return;
        }
    };
    let key = match hook.aes_key.as_deref().map(aes_key).transpose() {
        Ok(k) => k,
        Err(e) => {
            let _ = store.record_attempt(&d.delivery_id, unix_now(), None, &e, AttemptOutcome::GiveUp).await;
            return;
        }
    };
    let data = encode(d.body.as_bytes(), key.as_ref());
    let (ts, nonce) = (unix_now().to_string(), nonce());
    let sig = signature(&hook.token, &ts, &nonce, &data);
    let result = client
        .post(&hook.url)
        .header("timestamp", &ts)
        .header("nonce", &nonce)
        .header("signature", sig)
        .json(&serde_json::json!({ "data": data }))
        .send()
        .await;
    let (code, error) = match result {
        Ok(res) if res.status().is_success() => (Some(res.status().as_u16() as i64), String::new()),
        Ok(res) => (Some(res.status().as_u16() as i64), format!("HTTP {}", res.status())),
        Err(e) => (None, short(&e)),
    };
    let now = unix_now();
    let attempt_no = d.attempts as u32 + 1;
    let outcome = next_step(config, attempt_no, error.is_empty(), now);
    match outcome {
        AttemptOutcome::Delivered => tracing::info!(event = %d.event, url = %hook.url, attempt = attempt_no, "webhook delivered"),
        AttemptOutcome::RetryAt(t) => tracing::info!(event = %d.event, url = %hook.url, attempt = attempt_no, %error, retry_in = t - now, "webhook failed; will retry"),
        AttemptOutcome::GiveUp => tracing::warn!(event = %d.event, url = %hook.url, attempt = attempt_no, %error, "webhook failed; giving up"),
    }
    if let Err(e) = store.record_attempt(&d.delivery_id, now, code, &error, outcome).await {
        tracing::error!(error = %e, delivery = %d.delivery_id, "could not record a webhook attempt");
    }
}
