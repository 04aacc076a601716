//! Attendance: one durable row per participant session in a meeting. Written when the media
//! engine reports a join and completed when it reports the leave; a session still open when
//! the server restarts is closed at the restart (`close_open_sessions`), so none is lost.

use sqlx::any::AnyRow;

use crate::{get, is_unique_violation, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantSession {
    pub participant_sid: String,
    pub meeting_id: String,
    pub identity: String,
    pub display_name: String,
    /// From the access token's metadata: `guest`, `user`, `host`.
    pub role: String,
    pub client_addr: String,
    /// The person: their userid when signed in, else the guest's browser id (or the identity).
    pub person: String,
    /// The device (instance) they joined from.
    pub device: String,
    pub joined_at: i64,
    pub left_at: Option<i64>,
}

const SESSION_COLUMNS: &str = "participant_sid, meeting_id, identity, display_name, role, client_addr, person, device, joined_at, left_at";

/// The most sessions one report reads; a meeting larger than this is reported on its first
/// `MAX_REPORT_SESSIONS`.
pub const MAX_REPORT_SESSIONS: i64 = 100_000;

fn from_row(row: &AnyRow) -> Result<ParticipantSession> {
    Ok(ParticipantSession {
        participant_sid: get(row, "participant_sid")?,
        meeting_id: get(row, "meeting_id")?,
        identity: get(row, "identity")?,
        display_name: get(row, "display_name")?,
        role: get(row, "role")?,
        client_addr: get(row, "client_addr")?,
        person: get(row, "person")?,
        device: get(row, "device")?,
        joined_at: get(row, "joined_at")?,
        left_at: get(row, "left_at")?,
    })
}

impl Store {
    pub async fn record_join(&self, s: &ParticipantSession) -> Result<()> {
        let r = sqlx::query(
            "INSERT INTO participant_sessions (participant_sid, meeting_id, identity, display_name, role, client_addr, person, device, joined_at, left_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)",
        )
        .bind(&s.participant_sid)
        .bind(&s.meeting_id)
        .bind(&s.identity)
        .bind(&s.display_name)
        .bind(&s.role)
        .bind(&s.client_addr)
        .bind(&s.person)
        .bind(&s.device)
        .bind(s.joined_at)
        .execute(self.pool())
        .await;
        match r {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("session already recorded")),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    /// Completes a session. Returns whether the meeting has any session still open.
    pub async fn record_leave(&self, participant_sid: &str, at: i64) -> Result<bool> {
        sqlx::query("UPDATE participant_sessions SET left_at = $1 WHERE participant_sid = $2 AND left_at IS NULL")
            .bind(at)
            .bind(participant_sid)
            .execute(self.pool())
            .await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM participant_sessions WHERE left_at IS NULL AND meeting_id = \
             (SELECT meeting_id FROM participant_sessions WHERE participant_sid = $1)",
        )
        .bind(participant_sid)
        .fetch_one(self.pool())
        .await?;
        Ok(get::<i64>(&row, "n")? > 0)
    }

    /// One session by its participant sid.
    pub async fn session(&self, participant_sid: &str) -> Result<ParticipantSession> {
        let row = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM participant_sessions WHERE participant_sid = $1"))
            .bind(participant_sid)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// After a restart no one is connected: every open session ends at `at`. Returns the
    /// sessions it closed, so their leaves can still be announced.
    pub async fn close_open_sessions(&self, at: i64) -> Result<Vec<ParticipantSession>> {
        let open = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM participant_sessions WHERE left_at IS NULL ORDER BY joined_at"))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(from_row)
            .collect::<Result<Vec<_>>>()?;
        let mut closed = Vec::with_capacity(open.len());
        for mut s in open {
            sqlx::query("UPDATE participant_sessions SET left_at = $1 WHERE participant_sid = $2 AND left_at IS NULL")
                .bind(at)
                .bind(&s.participant_sid)
                .execute(self.pool())
                .await?;
            s.left_at = Some(at);
            closed.push(s);
        }
        Ok(closed)
    }

    /// A meeting's sessions in join order: one page and the total.
    pub async fn attendance(&self, meeting_id: &str, page: i64, page_size: i64) -> Result<(Vec<ParticipantSession>, i64)> {
        self.attendance_from(meeting_id, (page.max(1) - 1) * page_size, page_size).await
    }

    /// A meeting's sessions in join order from `offset`, at most `limit`, and the total.
    pub async fn attendance_from(&self, meeting_id: &str, offset: i64, limit: i64) -> Result<(Vec<ParticipantSession>, i64)> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM participant_sessions WHERE meeting_id = $1").bind(meeting_id).fetch_one(self.pool()).await?;
        let total: i64 = get(&row, "n")?;
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM participant_sessions WHERE meeting_id = $1 ORDER BY joined_at, participant_sid LIMIT $2 OFFSET $3"
        ))
        .bind(meeting_id)
        .bind(limit)
        .bind(offset.max(0))
        .fetch_all(self.pool())
        .await?;
        Ok((rows.iter().map(from_row).collect::<Result<Vec<_>>>()?, total))
    }

    /// Every session of a meeting, in join order (for statistics and the CSV export).
    pub async fn all_sessions(&self, meeting_id: &str) -> Result<Vec<ParticipantSession>> {
        let rows = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM participant_sessions WHERE meeting_id = $1 ORDER BY joined_at, participant_sid LIMIT $2"))
            .bind(meeting_id)
            .bind(MAX_REPORT_SESSIONS)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Whether someone joined this meeting as a host at any time.
    pub async fn host_has_joined(&self, meeting_id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM participant_sessions WHERE meeting_id = $1 AND role = 'host'").bind(meeting_id).fetch_one(self.pool()).await?;
        Ok(get::<i64>(&row, "n")? > 0)
    }

    /// The sessions of an enterprise's meetings whose first session began in `[from, to)`,
    /// for enterprise statistics.
    pub async fn sessions_of_meetings_started_between(&self, enterprise_id: &str, from: i64, to: i64) -> Result<Vec<ParticipantSession>> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM participant_sessions WHERE meeting_id IN ( \
               SELECT s.meeting_id FROM participant_sessions s JOIN meetings m ON m.meeting_id = s.meeting_id \
               WHERE m.enterprise_id = $1 GROUP BY s.meeting_id HAVING MIN(s.joined_at) >= $2 AND MIN(s.joined_at) < $3) \
             ORDER BY meeting_id, joined_at LIMIT $4"
        ))
        .bind(enterprise_id)
        .bind(from)
        .bind(to)
        .bind(MAX_REPORT_SESSIONS)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The meeting whose room this is (rooms are named by meeting id), in any enterprise.
    /// Keeps `person` out of the meeting until [`Store::readmit`]. Idempotent.
    pub async fn remove_from_meeting(&self, meeting_id: &str, person: &str, now: i64) -> Result<()> {
        let r = sqlx::query("INSERT INTO meeting_removals (meeting_id, person, removed_at) VALUES ($1, $2, $3)")
            .bind(meeting_id)
            .bind(person)
            .bind(now)
            .execute(self.pool())
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if crate::is_unique_violation(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a host removed `person` from the meeting (and has not let them back).
    pub async fn is_removed(&self, meeting_id: &str, person: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM meeting_removals WHERE meeting_id = $1 AND person = $2")
            .bind(meeting_id)
            .bind(person)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// The people removed from a meeting, with when, oldest first.
    pub async fn removals(&self, meeting_id: &str) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT person, removed_at FROM meeting_removals WHERE meeting_id = $1 ORDER BY removed_at, person")
            .bind(meeting_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok((get(r, "person")?, get(r, "removed_at")?))).collect()
    }

    /// Lets a removed person join the meeting again. `NotFound` if they were not removed.
    pub async fn readmit(&self, meeting_id: &str, person: &str) -> Result<()> {
        let r = sqlx::query("DELETE FROM meeting_removals WHERE meeting_id = $1 AND person = $2")
            .bind(meeting_id)
            .bind(person)
            .execute(self.pool())
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The live controls of a meeting (JSON), if a host set any.
    pub async fn meeting_controls(&self, meeting_id: &str) -> Result<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT controls FROM meeting_controls WHERE meeting_id = $1").bind(meeting_id).fetch_optional(self.pool()).await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let text: String = get(&r, "controls")?;
                serde_json::from_str(&text).map(Some).map_err(|e| StoreError::Corrupt(format!("meeting_controls: {e}")))
            }
        }
    }

    /// Replaces the live controls of a meeting.
    pub async fn set_meeting_controls(&self, meeting_id: &str, controls: &serde_json::Value, now: i64) -> Result<()> {
        let text = controls.to_string();
        let updated = sqlx::query("UPDATE meeting_controls SET controls = $1, updated_at = $2 WHERE meeting_id = $3")
            .bind(&text)
            .bind(now)
            .bind(meeting_id)
            .execute(self.pool())
            .await?;
        if updated.rows_affected() == 0 {
            let r = sqlx::query("INSERT INTO meeting_controls (meeting_id, controls, updated_at) VALUES ($1, $2, $3)")
                .bind(meeting_id)
                .bind(&text)
                .bind(now)
                .execute(self.pool())
                .await;
            match r {
                Ok(_) => {}
                // Set concurrently by another request: last writer wins, as with the update.
                Err(e) if is_unique_violation(&e) => {
                    sqlx::query("UPDATE meeting_controls SET controls = $1, updated_at = $2 WHERE meeting_id = $3")
                        .bind(&text)
                        .bind(now)
                        .bind(meeting_id)
                        .execute(self.pool())
                        .await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    pub async fn meeting_for_room(&self, room: &str) -> Result<crate::Meeting> {
        let row = sqlx::query("SELECT enterprise_id FROM meetings WHERE meeting_id = $1")
            .bind(room)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        let enterprise: String = get(&row, "enterprise_id")?;
        self.meeting(&enterprise, room).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::store;
    use crate::NewMeeting;

    #[tokio::test]
    async fn sessions_are_recorded_and_survive_a_restart() {
        let s = store().await;
        s.seed_dev(0).await.unwrap();
        let m = s
            .create_meeting(
                &NewMeeting {
                    enterprise_id: "dev-app".into(),
                    creator_userid: "dev-user".into(),
                    subject: "x".into(),
                    meeting_kind: 1,
                    meeting_type: 0,
                    start_time: 0,
                    end_time: 100,
                    password: None,
                    time_zone: String::new(),
                    location: String::new(),
                    settings: serde_json::json!({}),
                    hosts: serde_json::json!([]),
                    invitees: serde_json::json!([]),
                    recurring_rule: None,
                },
                0,
            )
            .await
            .unwrap();
        let session = |sid: &str, at: i64| ParticipantSession {
            participant_sid: sid.into(),
            meeting_id: m.meeting_id.clone(),
            identity: format!("id-{sid}"),
            display_name: "Ann".into(),
            role: "guest".into(),
            client_addr: "10.0.0.1".into(),
            person: "ann".into(),
            device: String::new(),
            joined_at: at,
            left_at: None,
        };
        s.record_join(&session("PA_1", 10)).await.unwrap();
        s.record_join(&session("PA_2", 20)).await.unwrap();
        assert!(s.record_leave("PA_1", 30).await.unwrap(), "PA_2 is still in");
        let closed = s.close_open_sessions(50).await.unwrap();
        assert_eq!((closed.len(), closed[0].participant_sid.as_str(), closed[0].left_at), (1, "PA_2", Some(50)));
        let (rows, total) = s.attendance(&m.meeting_id, 1, 10).await.unwrap();
        assert_eq!(total, 2);
        assert_eq!((rows[0].left_at, rows[1].left_at), (Some(30), Some(50)));
        assert_eq!(s.meeting_for_room(&m.meeting_id).await.unwrap().meeting_id, m.meeting_id);
        assert_eq!(s.session("PA_2").await.unwrap().left_at, Some(50));
    }
}
