//! Shared meeting notes: the Yjs updates of one document per room, as the notes hub applied
//! them, and their compaction into a snapshot. The bytes are opaque here (Yjs v1 updates);
//! the api crate's notes hub decides what they mean.

use base64::Engine as _;

use crate::{get, is_unique_violation, Result, Store, StoreError};

/// One stored row: its sequence number in the room and the update (or snapshot) it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotesUpdate {
    pub seq: i64,
    pub data: Vec<u8>,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl Store {
    /// A room's rows, oldest first: applying them in order rebuilds the document.
    pub async fn notes_updates(&self, room: &str) -> Result<Vec<NotesUpdate>> {
        let rows = sqlx::query("SELECT seq, data FROM notes_updates WHERE room = $1 ORDER BY seq").bind(room).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let data: String = get(row, "data")?;
                let data = B64.decode(data.as_bytes()).map_err(|e| StoreError::Corrupt(format!("notes update of {room}: {e}")))?;
                Ok(NotesUpdate { seq: get(row, "seq")?, data })
            })
            .collect()
    }

    /// Appends an update at `seq`, which must follow the room's last one. A taken `seq` is a
    /// `Conflict` (two writers on one room, which the hub never lets happen).
    pub async fn append_notes_update(&self, room: &str, seq: i64, data: &[u8], now_ms: i64) -> Result<()> {
        sqlx::query("INSERT INTO notes_updates (room, seq, data, created_at_ms) VALUES ($1, $2, $3, $4)")
            .bind(room)
            .bind(seq)
            .bind(B64.encode(data))
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict("notes update sequence taken") } else { e.into() })?;
        Ok(())
    }

    /// Replaces the rows up to and including `seq` with one row at `seq` holding `snapshot`
    /// (the document's whole state after them), in one transaction: a reader sees either the
    /// updates or the snapshot, never neither.
    pub async fn compact_notes(&self, room: &str, seq: i64, snapshot: &[u8], now_ms: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM notes_updates WHERE room = $1 AND seq <= $2").bind(room).bind(seq).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO notes_updates (room, seq, data, created_at_ms) VALUES ($1, $2, $3, $4)")
            .bind(room)
            .bind(seq)
            .bind(B64.encode(snapshot))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn updates_come_back_in_order_and_compaction_leaves_one_snapshot_row() {
        let store = crate::testing::store().await;
        assert!(store.notes_updates("m1").await.unwrap().is_empty());
        // Bytes of every value, including ones that are not UTF-8.
        let all: Vec<u8> = (0..=255).collect();
        store.append_notes_update("m1", 1, &[0, 0], 10).await.unwrap();
        store.append_notes_update("m1", 2, &all, 11).await.unwrap();
        store.append_notes_update("m1", 3, &[9], 12).await.unwrap();
        store.append_notes_update("m2", 1, &[7], 12).await.unwrap();
        assert!(matches!(store.append_notes_update("m1", 3, &[1], 13).await, Err(StoreError::Conflict(_))));
        let rows = store.notes_updates("m1").await.unwrap();
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(rows[1].data, all);

        store.compact_notes("m1", 2, b"snapshot", 14).await.unwrap();
        let rows = store.notes_updates("m1").await.unwrap();
        assert_eq!(rows, [NotesUpdate { seq: 2, data: b"snapshot".to_vec() }, NotesUpdate { seq: 3, data: vec![9] }]);
        assert_eq!(store.notes_updates("m2").await.unwrap().len(), 1, "other rooms untouched");
        store.append_notes_update("m1", 4, &[4], 15).await.unwrap();
        assert_eq!(store.notes_updates("m1").await.unwrap().last().map(|r| r.seq), Some(4));
    }
}
