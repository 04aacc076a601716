//! Webhook subscriptions and their durable outbox.
//!
//! An event is written as one delivery row per matching subscription (`enqueue_event`) at the
//! moment it happens; the webhook worker takes due rows (`due_deliveries`), posts them, and
//! records each attempt (`record_attempt`). A row leaves `pending` only when delivered or given
//! up on, so a restart resumes where the last run stopped: delivery is at least once.

use sqlx::any::AnyRow;

use crate::{get, random_id, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub webhook_id: String,
    pub enterprise_id: String,
    pub url: String,
    pub token: String,
    pub aes_key: Option<String>,
    pub events: Vec<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Given up after the last retry.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            other => return Err(StoreError::Corrupt(format!("unknown delivery status {other:?}"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub delivery_id: String,
    pub webhook_id: String,
    pub event: String,
    /// The event's JSON envelope, as it will be encoded into `data`.
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status_code: Option<i64>,
    pub last_error: String,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    RetryAt(i64),
    GiveUp,
}

const WEBHOOK_COLUMNS: &str = "webhook_id, enterprise_id, url, token, aes_key, events, created_at";
const DELIVERY_COLUMNS: &str =
    "delivery_id, webhook_id, event, body, status, attempts, next_attempt_at, last_status_code, last_error, created_at, delivered_at";

fn webhook_from(row: &AnyRow) -> Result<Webhook> {
    let events: String = get(row, "events")?;
    Ok(Webhook {
        webhook_id: get(row, "webhook_id")?,
        enterprise_id: get(row, "enterprise_id")?,
        url: get(row, "url")?,
        token: get(row, "token")?,
        aes_key: get(row, "aes_key")?,
        events: events.split(',').filter(|e| !e.is_empty()).map(str::to_owned).collect(),
        created_at: get(row, "created_at")?,
    })
}

fn delivery_from(row: &AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        delivery_id: get(row, "delivery_id")?,
        webhook_id: get(row, "webhook_id")?,
        event: get(row, "event")?,
        body: get(row, "body")?,
        status: DeliveryStatus::parse(&get::<String>(row, "status")?)?,
        attempts: get(row, "attempts")?,
        next_attempt_at: get(row, "next_attempt_at")?,
        last_status_code: get(row, "last_status_code")?,
        last_error: get(row, "last_error")?,
        created_at: get(row, "created_at")?,
        delivered_at: get(row, "delivered_at")?,
    })
}

impl Store {
    pub async fn create_webhook(&self, enterprise_id: &str, url: &str, token: &str, aes_key: Option<&str>, events: &[String], now: i64) -> Result<Webhook> {
        let hook = Webhook {
            webhook_id: random_id(16),
            enterprise_id: enterprise_id.into(),
            url: url.into(),
            token: token.into(),
            aes_key: aes_key.map(str::to_owned),
            events: events.to_vec(),
            created_at: now,
        };
        sqlx::query("INSERT INTO webhooks (webhook_id, enterprise_id, url, token, aes_key, events, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&hook.webhook_id)
            .bind(enterprise_id)
            .bind(url)
            .bind(token)
            .bind(aes_key)
            .bind(format!(",{},", events.join(",")))
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(hook)
    }

    /// An enterprise's subscriptions that have not been deleted, oldest first.
    pub async fn webhooks(&self, enterprise_id: &str) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE enterprise_id = $1 AND deleted_at IS NULL ORDER BY created_at, webhook_id"))
            .bind(enterprise_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(webhook_from).collect()
    }

    /// A subscription by id, deleted or not (its deliveries may still be in the log).
    pub async fn webhook(&self, webhook_id: &str) -> Result<Webhook> {
        let row = sqlx::query(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE webhook_id = $1"))
            .bind(webhook_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        webhook_from(&row)
    }

    /// Deletes a subscription: nothing more is queued for it, and its pending deliveries stop.
    pub async fn delete_webhook(&self, enterprise_id: &str, webhook_id: &str, now: i64) -> Result<()> {
        let r = sqlx::query("UPDATE webhooks SET deleted_at = $1 WHERE webhook_id = $2 AND enterprise_id = $3 AND deleted_at IS NULL")
            .bind(now)
            .bind(webhook_id)
            .bind(enterprise_id)
            .execute(self.pool())
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("UPDATE webhook_deliveries SET status = 'failed', last_error = 'subscription deleted' WHERE webhook_id = $1 AND status = 'pending'")
            .bind(webhook_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Queues `body` for every live subscription of the enterprise to `event`. Returns how
    /// many deliveries were queued.
    pub async fn enqueue_event(&self, enterprise_id: &str, event: &str, body: &str, now: i64) -> Result<usize> {
        let hooks = sqlx::query("SELECT webhook_id FROM webhooks WHERE enterprise_id = $1 AND deleted_at IS NULL AND events LIKE $2")
            .bind(enterprise_id)
            .bind(format!("%,{event},%"))
            .fetch_all(self.pool())
            .await?;
        // All of an event's deliveries are queued, or none.
        let mut tx = self.pool().begin().await?;
        for row in &hooks {
            let webhook_id: String = get(row, "webhook_id")?;
            sqlx::query(
                "INSERT INTO webhook_deliveries (delivery_id, webhook_id, event, body, status, attempts, next_attempt_at, last_error, created_at) \
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, '', $5)",
            )
            .bind(random_id(20))
            .bind(&webhook_id)
            .bind(event)
            .bind(body)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(hooks.len())
    }

    /// Pending deliveries whose next attempt is due, oldest first.
    pub async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, created_at LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(delivery_from).collect()
    }

    /// The earliest time a pending delivery is due, if any is pending.
    pub async fn next_due(&self) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(next_attempt_at) AS t FROM webhook_deliveries WHERE status = 'pending'").fetch_one(self.pool()).await?;
        get(&row, "t")
    }

    /// Logs one attempt and moves the delivery on.
    pub async fn record_attempt(&self, delivery_id: &str, at: i64, status_code: Option<i64>, error: &str, outcome: AttemptOutcome) -> Result<()> {
        let row = sqlx::query("SELECT attempts FROM webhook_deliveries WHERE delivery_id = $1")
            .bind(delivery_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        let attempt = get::<i64>(&row, "attempts")? + 1;
        sqlx::query("INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error) VALUES ($1, $2, $3, $4, $5)")
            .bind(delivery_id)
            .bind(attempt)
            .bind(at)
            .bind(status_code)
            .bind(error)
            .execute(self.pool())
            .await?;
        let (status, next, delivered_at) = match outcome {
            AttemptOutcome::Delivered => (DeliveryStatus::Delivered, at, Some(at)),
            AttemptOutcome::RetryAt(t) => (DeliveryStatus::Pending, t, None),
            AttemptOutcome::GiveUp => (DeliveryStatus::Failed, at, None),
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = $1, status = $2, next_attempt_at = $3, last_status_code = $4, last_error = $5, delivered_at = $6 \
             WHERE delivery_id = $7 AND status = 'pending'",
        )
        .bind(attempt)
        .bind(status.as_str())
        .bind(next)
        .bind(status_code)
        .bind(error)
        .bind(delivered_at)
        .bind(delivery_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A subscription's delivery log, newest first: one page and the total.
    pub async fn deliveries(&self, webhook_id: &str, page: i64, page_size: i64) -> Result<(Vec<Delivery>, i64)> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = $1").bind(webhook_id).fetch_one(self.pool()).await?;
        let total: i64 = get(&row, "n")?;
        let rows = sqlx::query(&format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY created_at DESC, delivery_id LIMIT $2 OFFSET $3"))
            .bind(webhook_id)
            .bind(page_size)
            .bind((page.max(1) - 1) * page_size)
            .fetch_all(self.pool())
            .await?;
        Ok((rows.iter().map(delivery_from).collect::<Result<Vec<_>>>()?, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::store;

    #[tokio::test]
    async fn events_fan_out_to_matching_subscriptions_and_attempts_are_logged() {
        let s = store().await;
        s.seed_dev(0).await.unwrap();
        let all = s.create_webhook("dev-app", "http://a", "t", None, &["meeting.created".into(), "meeting.end".into()], 1).await.unwrap();
        let other = s.create_webhook("dev-app", "http://b", "t", Some("k"), &["meeting.end".into()], 1).await.unwrap();
        assert_eq!(s.enqueue_event("dev-app", "meeting.created", "{}", 10).await.unwrap(), 1);
        assert_eq!(s.enqueue_event("dev-app", "meeting.end", "{}", 11).await.unwrap(), 2);
        assert_eq!(s.enqueue_event("elsewhere", "meeting.end", "{}", 11).await.unwrap(), 0);

        let due = s.due_deliveries(10, 10).await.unwrap();
        assert_eq!(due.len(), 1, "the later event is not due yet at t=10");
        let d = &due[0];
        s.record_attempt(&d.delivery_id, 10, Some(500), "HTTP 500", AttemptOutcome::RetryAt(12)).await.unwrap();
        assert_eq!(s.next_due().await.unwrap(), Some(11));
        s.record_attempt(&d.delivery_id, 12, Some(200), "", AttemptOutcome::Delivered).await.unwrap();
        let (log, total) = s.deliveries(&all.webhook_id, 1, 10).await.unwrap();
        assert_eq!(total, 2);
        let done = log.iter().find(|x| x.delivery_id == d.delivery_id).unwrap();
        assert_eq!((done.status, done.attempts, done.delivered_at), (DeliveryStatus::Delivered, 2, Some(12)));

        // Deleting a subscription stops its pending deliveries and hides it.
        s.delete_webhook("dev-app", &other.webhook_id, 20).await.unwrap();
        assert_eq!(s.webhooks("dev-app").await.unwrap().len(), 1);
        let (log, _) = s.deliveries(&other.webhook_id, 1, 10).await.unwrap();
        assert_eq!(log[0].status, DeliveryStatus::Failed);
        // An attempt that was in flight during the delete does not bring it back.
        s.record_attempt(&log[0].delivery_id, 21, Some(500), "HTTP 500", AttemptOutcome::RetryAt(30)).await.unwrap();
        assert_eq!(s.deliveries(&other.webhook_id, 1, 10).await.unwrap().0[0].status, DeliveryStatus::Failed);
        assert!(s.due_deliveries(100, 10).await.unwrap().iter().all(|x| x.webhook_id == all.webhook_id));
    }
}
