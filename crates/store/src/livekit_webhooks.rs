//! The outbox of LiveKit-style webhooks: the server's configured URLs rather than an
//! enterprise's subscriptions, otherwise the same rules as `webhooks` (a row per event and URL,
//! written when the event happens, `pending` until delivered or given up on, so a restart
//! resumes delivery).

use crate::webhooks::AttemptOutcome;
use crate::{get, random_id, Result, Store};

/// One pending LiveKit webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKitDelivery {
    pub delivery_id: String,
    pub url: String,
    pub event: String,
    pub body: String,
    pub attempts: i64,
}

/// Rows kept in `pending` at most; past it, new events are dropped (and logged by the caller),
/// so an unreachable receiver cannot grow the table without bound.
pub const MAX_LIVEKIT_PENDING: i64 = 10_000;

impl Store {
    /// Queues `event` for every URL, all or none. Returns how many rows were written: 0 when
    /// the outbox is full.
    pub async fn enqueue_livekit_event(&self, urls: &[String], event: &str, body: &str, now: i64) -> Result<usize> {
        let pending: i64 = get(&sqlx::query("SELECT COUNT(*) AS n FROM livekit_webhook_deliveries WHERE status = 'pending'").fetch_one(self.pool()).await?, "n")?;
        if pending + urls.len() as i64 > MAX_LIVEKIT_PENDING {
            return Ok(0);
        }
        let mut tx = self.pool().begin().await?;
        for url in urls {
            sqlx::query(
                "INSERT INTO livekit_webhook_deliveries (delivery_id, url, event, body, status, attempts, next_attempt_at, last_error, created_at) \
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, '', $5)",
            )
            .bind(random_id(20))
            .bind(url)
            .bind(event)
            .bind(body)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(urls.len())
    }

    /// Pending deliveries whose next attempt is due, oldest first.
    pub async fn due_livekit_deliveries(&self, now: i64, limit: i64) -> Result<Vec<LiveKitDelivery>> {
        let rows = sqlx::query(
            "SELECT delivery_id, url, event, body, attempts FROM livekit_webhook_deliveries \
             WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, created_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LiveKitDelivery { delivery_id: get(r, "delivery_id")?, url: get(r, "url")?, event: get(r, "event")?, body: get(r, "body")?, attempts: get(r, "attempts")? })
            })
            .collect()
    }

    /// The earliest time a pending delivery is due, if any is pending.
    pub async fn next_livekit_due(&self) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(next_attempt_at) AS t FROM livekit_webhook_deliveries WHERE status = 'pending'").fetch_one(self.pool()).await?;
        get(&row, "t")
    }

    /// Moves a delivery on after an attempt.
    pub async fn record_livekit_attempt(&self, delivery_id: &str, at: i64, error: &str, outcome: AttemptOutcome) -> Result<()> {
        let (status, next) = match outcome {
            AttemptOutcome::Delivered => ("delivered", at),
            AttemptOutcome::RetryAt(t) => ("pending", t),
            AttemptOutcome::GiveUp => ("failed", at),
        };
        sqlx::query(
            "UPDATE livekit_webhook_deliveries SET attempts = attempts + 1, status = $1, next_attempt_at = $2, last_error = $3 \
             WHERE delivery_id = $4 AND status = 'pending'",
        )
        .bind(status)
        .bind(next)
        .bind(error)
        .bind(delivery_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
