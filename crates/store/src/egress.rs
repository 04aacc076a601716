//! Recording and streaming jobs: one row per job, its LiveKit `EgressInfo` stored as opaque
//! JSON beside the few fields that are queried (room, status, times). The api crate's egress
//! supervisor writes a row on every change of a job, so the list survives a restart.

use crate::{get, Result, Store, StoreError};

/// Jobs one listing returns at most, newest first.
pub const MAX_EGRESS_LIST: i64 = 500;

/// One job. `status` is LiveKit's `EgressStatus` number; below [`EGRESS_DONE`] it is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRow {
    pub egress_id: String,
    pub room: String,
    /// The meeting of a cloud recording, and its enterprise; empty for a plain LiveKit room.
    pub meeting_id: String,
    pub enterprise_id: String,
    pub status: i32,
    pub info: String,
    pub started_at_ms: i64,
    pub updated_at_ms: i64,
}

/// The first status of a job that has ended (LiveKit's `EGRESS_COMPLETE`); STARTING, ACTIVE
/// and ENDING are below it.
pub const EGRESS_DONE: i32 = 3;

fn from_row(row: &sqlx::any::AnyRow) -> Result<EgressRow> {
    Ok(EgressRow {
        egress_id: get(row, "egress_id")?,
        room: get(row, "room")?,
        meeting_id: get(row, "meeting_id")?,
        enterprise_id: get(row, "enterprise_id")?,
        status: get::<i32>(row, "status")?,
        info: get(row, "info")?,
        started_at_ms: get(row, "started_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
    })
}

impl Store {
    /// Inserts a job or replaces its row.
    pub async fn save_egress(&self, row: &EgressRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO egress_jobs (egress_id, room, meeting_id, enterprise_id, status, info, started_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (egress_id) DO UPDATE SET status = excluded.status, info = excluded.info, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&row.egress_id)
        .bind(&row.room)
        .bind(&row.meeting_id)
        .bind(&row.enterprise_id)
        .bind(row.status)
        .bind(&row.info)
        .bind(row.started_at_ms)
        .bind(row.updated_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn egress(&self, egress_id: &str) -> Result<EgressRow> {
        let row = sqlx::query("SELECT egress_id, room, meeting_id, enterprise_id, status, info, started_at_ms, updated_at_ms FROM egress_jobs WHERE egress_id = $1")
            .bind(egress_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// Jobs of a room (every room if empty), newest first, only the live ones if `active`;
    /// at most [`MAX_EGRESS_LIST`].
    pub async fn list_egress(&self, room: &str, active: bool) -> Result<Vec<EgressRow>> {
        let rows = sqlx::query(
            "SELECT egress_id, room, meeting_id, enterprise_id, status, info, started_at_ms, updated_at_ms FROM egress_jobs \
             WHERE ($1 = '' OR room = $1) AND ($2 = 0 OR status < $3) ORDER BY started_at_ms DESC, egress_id LIMIT $4",
        )
        .bind(room)
        .bind(i32::from(active))
        .bind(EGRESS_DONE)
        .bind(MAX_EGRESS_LIST)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The ended cloud recordings of an enterprise's meetings (all, or one meeting's) that
    /// started in `[from_ms, to_ms]`, newest first: the total, and the page at `offset`.
    pub async fn meeting_records(&self, enterprise_id: &str, meeting_id: Option<&str>, from_ms: i64, to_ms: i64, offset: i64, limit: i64) -> Result<(i64, Vec<EgressRow>)> {
        const WHERE: &str = "WHERE enterprise_id = $1 AND meeting_id <> '' AND ($2 = '' OR meeting_id = $2) AND started_at_ms >= $3 AND started_at_ms <= $4 AND status >= $5";
        let meeting = meeting_id.unwrap_or("");
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM egress_jobs {WHERE}"))
            .bind(enterprise_id)
            .bind(meeting)
            .bind(from_ms)
            .bind(to_ms)
            .bind(EGRESS_DONE)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT egress_id, room, meeting_id, enterprise_id, status, info, started_at_ms, updated_at_ms FROM egress_jobs {WHERE} \
             ORDER BY started_at_ms DESC, egress_id LIMIT $6 OFFSET $7"
        ))
        .bind(enterprise_id)
        .bind(meeting)
        .bind(from_ms)
        .bind(to_ms)
        .bind(EGRESS_DONE)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((total, rows.iter().map(from_row).collect::<Result<_>>()?))
    }

    /// Forgets a job (its recording was deleted). Returns whether it existed.
    /// Finished jobs (any outcome) last updated before `cutoff_ms`, oldest first: what a
    /// retention sweep deletes.
    pub async fn finished_before(&self, cutoff_ms: i64, limit: i64) -> Result<Vec<EgressRow>> {
        let rows = sqlx::query(
            "SELECT egress_id, room, meeting_id, enterprise_id, status, info, started_at_ms, updated_at_ms FROM egress_jobs \
             WHERE status >= $1 AND updated_at_ms < $2 ORDER BY updated_at_ms LIMIT $3",
        )
        .bind(EGRESS_DONE)
        .bind(cutoff_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn delete_egress(&self, egress_id: &str) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM egress_jobs WHERE egress_id = $1").bind(egress_id).execute(&self.pool).await?.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, room: &str, status: i32, at: i64) -> EgressRow {
        EgressRow { egress_id: id.into(), room: room.into(), meeting_id: String::new(), enterprise_id: String::new(), status, info: format!("{{\"egressId\":\"{id}\"}}"), started_at_ms: at, updated_at_ms: at }
    }

    #[tokio::test]
    async fn saves_replaces_and_lists_jobs() {
        let s = crate::testing::store().await;
        s.save_egress(&row("EG_a", "r1", 0, 10)).await.unwrap();
        s.save_egress(&row("EG_b", "r1", 1, 20)).await.unwrap();
        s.save_egress(&row("EG_c", "r2", 3, 30)).await.unwrap();
        // An update keeps the start time and replaces the rest.
        let mut done = row("EG_a", "r1", 4, 99);
        done.info = "{\"status\":\"EGRESS_FAILED\"}".into();
        s.save_egress(&done).await.unwrap();
        let a = s.egress("EG_a").await.unwrap();
        assert_eq!((a.status, a.started_at_ms, a.updated_at_ms, a.info.as_str()), (4, 10, 99, "{\"status\":\"EGRESS_FAILED\"}"));
        let ids = |v: Vec<EgressRow>| v.into_iter().map(|r| r.egress_id).collect::<Vec<_>>();
        assert_eq!(ids(s.list_egress("", false).await.unwrap()), ["EG_c", "EG_b", "EG_a"]);
        assert_eq!(ids(s.list_egress("r1", false).await.unwrap()), ["EG_b", "EG_a"]);
        assert_eq!(ids(s.list_egress("", true).await.unwrap()), ["EG_b"]);
        assert!(matches!(s.egress("EG_zz").await, Err(StoreError::NotFound)));
        assert!(s.delete_egress("EG_c").await.unwrap());
        assert!(!s.delete_egress("EG_c").await.unwrap());
    }

    #[tokio::test]
    async fn lists_an_enterprises_ended_meeting_recordings() {
        let s = crate::testing::store().await;
        let rec = |id: &str, meeting: &str, ent: &str, status: i32, at: i64| EgressRow { meeting_id: meeting.into(), enterprise_id: ent.into(), ..row(id, meeting, status, at) };
        s.save_egress(&rec("EG_1", "m1", "e1", 3, 1_000)).await.unwrap();
        s.save_egress(&rec("EG_2", "m1", "e1", 4, 2_000)).await.unwrap();
        s.save_egress(&rec("EG_3", "m2", "e1", 3, 3_000)).await.unwrap();
        s.save_egress(&rec("EG_4", "m2", "e1", 1, 4_000)).await.unwrap(); // still recording
        s.save_egress(&rec("EG_5", "m9", "e2", 3, 5_000)).await.unwrap(); // another enterprise
        s.save_egress(&row("EG_6", "plain", 3, 6_000)).await.unwrap(); // no meeting
        let ids = |v: Vec<EgressRow>| v.into_iter().map(|r| r.egress_id).collect::<Vec<_>>();
        let (total, page) = s.meeting_records("e1", None, 0, 10_000, 0, 2).await.unwrap();
        assert_eq!((total, ids(page)), (3, vec!["EG_3".to_string(), "EG_2".into()]));
        let (_, page) = s.meeting_records("e1", None, 0, 10_000, 2, 2).await.unwrap();
        assert_eq!(ids(page), ["EG_1"]);
        let (total, page) = s.meeting_records("e1", Some("m1"), 1_500, 10_000, 0, 10).await.unwrap();
        assert_eq!((total, ids(page)), (1, vec!["EG_2".to_string()]));
    }
}

/// Ingress endpoints one server keeps at most; creating more is refused.
pub const MAX_INGRESSES: i64 = 1000;

/// One ingress endpoint: its id, stream key, room, and LiveKit `IngressInfo` as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressRow {
    pub ingress_id: String,
    pub stream_key: String,
    pub room: String,
    pub info: String,
    pub created_at_ms: i64,
}

fn ingress_from(row: &sqlx::any::AnyRow) -> Result<IngressRow> {
    Ok(IngressRow {
        ingress_id: get(row, "ingress_id")?,
        stream_key: get(row, "stream_key")?,
        room: get(row, "room")?,
        info: get(row, "info")?,
        created_at_ms: get(row, "created_at_ms")?,
    })
}

impl Store {
    /// Adds an ingress; `Conflict` when the server holds [`MAX_INGRESSES`] already.
    pub async fn create_ingress(&self, row: &IngressRow) -> Result<()> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ingresses").fetch_one(&self.pool).await?;
        if n >= MAX_INGRESSES {
            return Err(StoreError::Conflict("too many ingresses"));
        }
        sqlx::query("INSERT INTO ingresses (ingress_id, stream_key, room, info, created_at_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(&row.ingress_id)
            .bind(&row.stream_key)
            .bind(&row.room)
            .bind(&row.info)
            .bind(row.created_at_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces an ingress's info (its state changed).
    pub async fn update_ingress_info(&self, ingress_id: &str, info: &str) -> Result<()> {
        sqlx::query("UPDATE ingresses SET info = $1 WHERE ingress_id = $2").bind(info).bind(ingress_id).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn ingress_by_key(&self, stream_key: &str) -> Result<IngressRow> {
        let row = sqlx::query("SELECT ingress_id, stream_key, room, info, created_at_ms FROM ingresses WHERE stream_key = $1")
            .bind(stream_key)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        ingress_from(&row)
    }

    /// Ingresses of a room (all if empty), or the one with `ingress_id`, oldest first.
    pub async fn list_ingresses(&self, room: &str, ingress_id: &str) -> Result<Vec<IngressRow>> {
        let rows = sqlx::query(
            "SELECT ingress_id, stream_key, room, info, created_at_ms FROM ingresses \
             WHERE ($1 = '' OR room = $1) AND ($2 = '' OR ingress_id = $2) ORDER BY created_at_ms, ingress_id LIMIT $3",
        )
        .bind(room)
        .bind(ingress_id)
        .bind(MAX_INGRESSES)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ingress_from).collect()
    }

    /// Deletes an ingress; returns it, or `NotFound`.
    pub async fn delete_ingress(&self, ingress_id: &str) -> Result<IngressRow> {
        let row = self.list_ingresses("", ingress_id).await?.into_iter().next().ok_or(StoreError::NotFound)?;
        sqlx::query("DELETE FROM ingresses WHERE ingress_id = $1").bind(ingress_id).execute(&self.pool).await?;
        Ok(row)
    }
}

#[cfg(test)]
mod ingress_tests {
    use super::*;

    #[tokio::test]
    async fn ingresses_are_found_by_key_listed_and_deleted() {
        let s = crate::testing::store().await;
        let row = |id: &str, key: &str, room: &str, at: i64| IngressRow { ingress_id: id.into(), stream_key: key.into(), room: room.into(), info: "{}".into(), created_at_ms: at };
        s.create_ingress(&row("IN_a", "k1", "r1", 1)).await.unwrap();
        s.create_ingress(&row("IN_b", "k2", "r2", 2)).await.unwrap();
        assert!(s.create_ingress(&row("IN_c", "k1", "r1", 3)).await.is_err(), "stream keys are unique");
        assert_eq!(s.ingress_by_key("k2").await.unwrap().ingress_id, "IN_b");
        assert!(matches!(s.ingress_by_key("nope").await, Err(StoreError::NotFound)));
        s.update_ingress_info("IN_a", "{\"x\":1}").await.unwrap();
        let ids = |v: Vec<IngressRow>| v.into_iter().map(|r| r.ingress_id).collect::<Vec<_>>();
        assert_eq!(ids(s.list_ingresses("", "").await.unwrap()), ["IN_a", "IN_b"]);
        assert_eq!(ids(s.list_ingresses("r1", "").await.unwrap()), ["IN_a"]);
        assert_eq!(s.list_ingresses("", "IN_a").await.unwrap()[0].info, "{\"x\":1}");
        assert_eq!(s.delete_ingress("IN_a").await.unwrap().stream_key, "k1");
        assert!(matches!(s.delete_ingress("IN_a").await, Err(StoreError::NotFound)));
        assert!(matches!(s.ingress_by_key("k1").await, Err(StoreError::NotFound)));
    }
}
