//! A meeting's waiting room, as a record: who waits, who was admitted, who was turned away.
//! The media engine holds who is waiting *now*; this table remembers decisions across
//! reconnects and restarts (someone admitted once is not made to wait again) and answers the
//! history query.

use sqlx::any::AnyRow;

use crate::{get, Result, Store, StoreError};

/// The most people one meeting's waiting-room record holds; later entrants still wait (the
/// engine bounds the room itself), but are not recorded.
pub const MAX_WAITING_RECORDS: i64 = 10_000;

/// Where a person stands with a meeting's waiting room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitingState {
    Waiting,
    Admitted,
    Denied,
    /// Left (or lost their connection) while waiting.
    Left,
}

impl WaitingState {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitingState::Waiting => "waiting",
            WaitingState::Admitted => "admitted",
            WaitingState::Denied => "denied",
            WaitingState::Left => "left",
        }
    }

    fn parse(s: &str) -> Result<WaitingState> {
        Ok(match s {
            "waiting" => WaitingState::Waiting,
            "admitted" => WaitingState::Admitted,
            "denied" => WaitingState::Denied,
            "left" => WaitingState::Left,
            other => return Err(StoreError::Corrupt(format!("waiting_room.state {other:?}"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingEntry {
    pub meeting_id: String,
    pub person: String,
    pub identity: String,
    pub display_name: String,
    pub state: WaitingState,
    /// When they last entered the waiting room (Unix ms).
    pub entered_at: i64,
    /// When they were last admitted, turned away or left (Unix ms).
    pub decided_at: Option<i64>,
}

fn from_row(row: &AnyRow) -> Result<WaitingEntry> {
    let state: String = get(row, "state")?;
    Ok(WaitingEntry {
        meeting_id: get(row, "meeting_id")?,
        person: get(row, "person")?,
        identity: get(row, "identity")?,
        display_name: get(row, "display_name")?,
        state: WaitingState::parse(&state)?,
        entered_at: get(row, "entered_at")?,
        decided_at: get(row, "decided_at")?,
    })
}

impl Store {
    /// Records that `person` entered the waiting room. Someone already admitted is left
    /// admitted (the engine reported a wait that a host's admission has overtaken). Returns
    /// `false` when the meeting's record is full ([`MAX_WAITING_RECORDS`]).
    pub async fn enter_waiting(&self, meeting_id: &str, person: &str, identity: &str, display_name: &str, at_ms: i64) -> Result<bool> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM waiting_room WHERE meeting_id = $1 AND person <> $2")
            .bind(meeting_id)
            .bind(person)
            .fetch_one(self.pool())
            .await?;
        if count >= MAX_WAITING_RECORDS {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO waiting_room (meeting_id, person, identity, display_name, state, entered_at, decided_at) \
             VALUES ($1, $2, $3, $4, 'waiting', $5, NULL) \
             ON CONFLICT (meeting_id, person) DO UPDATE SET identity = excluded.identity, display_name = excluded.display_name, \
             state = 'waiting', entered_at = excluded.entered_at, decided_at = NULL \
             WHERE waiting_room.state <> 'admitted' AND (waiting_room.decided_at IS NULL OR waiting_room.decided_at <= excluded.entered_at)",
        )
        .bind(meeting_id)
        .bind(person)
        .bind(identity)
        .bind(display_name)
        .bind(at_ms)
        .execute(self.pool())
        .await?;
        Ok(true)
    }

    /// Records a host's decision (or a departure) for `person`. A person with no record
    /// (one a host sends to the waiting room, say) gets one. `Left` never overwrites a
    /// decision: it applies only to someone still waiting.
    pub async fn decide_waiting(&self, meeting_id: &str, person: &str, identity: &str, display_name: &str, state: WaitingState, at_ms: i64) -> Result<()> {
        if state == WaitingState::Left {
            sqlx::query("UPDATE waiting_room SET state = 'left', decided_at = $1 WHERE meeting_id = $2 AND person = $3 AND state = 'waiting'")
                .bind(at_ms)
                .bind(meeting_id)
                .bind(person)
                .execute(self.pool())
                .await?;
            return Ok(());
        }
        let (entered, decided) = if state == WaitingState::Waiting { (at_ms, None) } else { (at_ms, Some(at_ms)) };
        sqlx::query(
            "INSERT INTO waiting_room (meeting_id, person, identity, display_name, state, entered_at, decided_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (meeting_id, person) DO UPDATE SET state = excluded.state, decided_at = excluded.decided_at, \
             entered_at = CASE WHEN excluded.state = 'waiting' THEN excluded.entered_at ELSE waiting_room.entered_at END",
        )
        .bind(meeting_id)
        .bind(person)
        .bind(identity)
        .bind(display_name)
        .bind(state.as_str())
        .bind(entered)
        .bind(decided)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Where `person` stands with the meeting's waiting room, if they ever entered it.
    pub async fn waiting_state(&self, meeting_id: &str, person: &str) -> Result<Option<WaitingState>> {
        let row = sqlx::query("SELECT state FROM waiting_room WHERE meeting_id = $1 AND person = $2")
            .bind(meeting_id)
            .bind(person)
            .fetch_optional(self.pool())
            .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(WaitingState::parse(&get::<String>(&r, "state")?)?)),
        }
    }

    /// The meeting's waiting-room record, by entry time, one page (`offset`, `limit`), and the
    /// total.
    pub async fn waiting_history(&self, meeting_id: &str, offset: i64, limit: i64) -> Result<(Vec<WaitingEntry>, i64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM waiting_room WHERE meeting_id = $1").bind(meeting_id).fetch_one(self.pool()).await?;
        let rows = sqlx::query(
            "SELECT meeting_id, person, identity, display_name, state, entered_at, decided_at FROM waiting_room \
             WHERE meeting_id = $1 ORDER BY entered_at, person LIMIT $2 OFFSET $3",
        )
        .bind(meeting_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        Ok((rows.iter().map(from_row).collect::<Result<Vec<_>>>()?, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{meeting, store};

    #[tokio::test]
    async fn an_entry_recorded_after_a_later_decision_does_not_undo_it() {
        let s = store().await;
        let m = meeting(&s).await;
        // The host turned Bob away at 2,000 ms; the recorder writes his entry (at 1,500 ms) late.
        s.decide_waiting(&m, "bob", "bob", "Bob", WaitingState::Denied, 2_000).await.unwrap();
        s.enter_waiting(&m, "bob", "bob", "Bob", 1_500).await.unwrap();
        assert_eq!(s.waiting_state(&m, "bob").await.unwrap(), Some(WaitingState::Denied));
        // A knock after the decision is a new wait.
        s.enter_waiting(&m, "bob", "bob", "Bob", 3_000).await.unwrap();
        assert_eq!(s.waiting_state(&m, "bob").await.unwrap(), Some(WaitingState::Waiting));
    }

    #[tokio::test]
    async fn an_admission_is_remembered_and_a_denied_person_may_knock_again() {
        let s = store().await;
        let m = meeting(&s).await;
        assert_eq!(s.waiting_state(&m, "guest-1").await.unwrap(), None);
        assert!(s.enter_waiting(&m, "guest-1", "guest-1", "Ann", 1_000).await.unwrap());
        assert_eq!(s.waiting_state(&m, "guest-1").await.unwrap(), Some(WaitingState::Waiting));
        s.decide_waiting(&m, "guest-1", "guest-1", "Ann", WaitingState::Admitted, 2_000).await.unwrap();
        // A late report of the same wait does not undo the admission, nor does a departure.
        assert!(s.enter_waiting(&m, "guest-1", "guest-1", "Ann", 2_500).await.unwrap());
        s.decide_waiting(&m, "guest-1", "guest-1", "Ann", WaitingState::Left, 2_600).await.unwrap();
        assert_eq!(s.waiting_state(&m, "guest-1").await.unwrap(), Some(WaitingState::Admitted));
        // A host sends them back: waiting again, and may be denied; then they knock again.
        s.decide_waiting(&m, "guest-1", "guest-1", "Ann", WaitingState::Waiting, 3_000).await.unwrap();
        s.decide_waiting(&m, "guest-1", "guest-1", "Ann", WaitingState::Denied, 4_000).await.unwrap();
        s.decide_waiting(&m, "guest-1", "guest-1", "Ann", WaitingState::Left, 4_100).await.unwrap();
        assert_eq!(s.waiting_state(&m, "guest-1").await.unwrap(), Some(WaitingState::Denied), "a departure does not erase a denial");
        assert!(s.enter_waiting(&m, "guest-1", "guest-1", "Ann B", 5_000).await.unwrap());
        assert_eq!(s.waiting_state(&m, "guest-1").await.unwrap(), Some(WaitingState::Waiting));
        s.enter_waiting(&m, "guest-2", "guest-2", "Bo", 6_000).await.unwrap();
        s.decide_waiting(&m, "guest-2", "guest-2", "Bo", WaitingState::Left, 7_000).await.unwrap();
        let (rows, total) = s.waiting_history(&m, 0, 10).await.unwrap();
        assert_eq!(total, 2);
        assert_eq!(rows[0].display_name, "Ann B");
        assert_eq!((rows[0].entered_at, rows[0].state), (5_000, WaitingState::Waiting));
        assert_eq!((rows[1].person.as_str(), rows[1].state, rows[1].decided_at), ("guest-2", WaitingState::Left, Some(7_000)));
        let (page, _) = s.waiting_history(&m, 1, 10).await.unwrap();
        assert_eq!(page.len(), 1);
    }
}
