//! Meetings: scheduling data, a 9-digit meeting code unique among live meetings, and status.

use rand::Rng;
use sqlx::any::AnyRow;

use crate::{get, is_unique_violation, random_id, Result, Store, StoreError};

/// Tencent Meeting's meeting states, with their wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeetingStatus {
    Init,
    Started,
    Ended,
    Cancelled,
}

impl MeetingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MeetingStatus::Init => "MEETING_STATE_INIT",
            MeetingStatus::Started => "MEETING_STATE_STARTED",
            MeetingStatus::Ended => "MEETING_STATE_ENDED",
            MeetingStatus::Cancelled => "MEETING_STATE_CANCELLED",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "MEETING_STATE_INIT" => MeetingStatus::Init,
            "MEETING_STATE_STARTED" => MeetingStatus::Started,
            "MEETING_STATE_ENDED" => MeetingStatus::Ended,
            "MEETING_STATE_CANCELLED" => MeetingStatus::Cancelled,
            other => return Err(StoreError::Corrupt(format!("unknown meeting status {other:?}"))),
        })
    }

    pub fn is_live(self) -> bool {
        matches!(self, MeetingStatus::Init | MeetingStatus::Started)
    }
}

/// What a new meeting is scheduled with. JSON fields are stored as given by the API layer.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMeeting {
    pub enterprise_id: String,
    pub creator_userid: String,
    pub subject: String,
    /// 0 scheduled, 1 instant.
    pub meeting_kind: i64,
    /// 0 single, 1 recurring.
    pub meeting_type: i64,
    pub start_time: i64,
    pub end_time: i64,
    pub password: Option<String>,
    pub time_zone: String,
    pub location: String,
    pub settings: serde_json::Value,
    pub hosts: serde_json::Value,
    pub invitees: serde_json::Value,
    pub recurring_rule: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Meeting {
    pub meeting_id: String,
    pub meeting_code: String,
    pub status: MeetingStatus,
    pub created_at: i64,
    pub updated_at: i64,
    pub data: NewMeeting,
}

const COLUMNS: &str = "meeting_id, enterprise_id, meeting_code, creator_userid, subject, meeting_kind, meeting_type, \
    start_time, end_time, password, time_zone, location, status, settings, hosts, invitees, recurring_rule, created_at, updated_at";

fn json(row: &AnyRow, col: &str) -> Result<serde_json::Value> {
    let text: String = get(row, col)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn meeting_from(row: &AnyRow) -> Result<Meeting> {
    let rule: Option<String> = get(row, "recurring_rule")?;
    Ok(Meeting {
        meeting_id: get(row, "meeting_id")?,
        meeting_code: get(row, "meeting_code")?,
        status: MeetingStatus::parse(&get::<String>(row, "status")?)?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        data: NewMeeting {
            enterprise_id: get(row, "enterprise_id")?,
            creator_userid: get(row, "creator_userid")?,
            subject: get(row, "subject")?,
            meeting_kind: get(row, "meeting_kind")?,
            meeting_type: get(row, "meeting_type")?,
            start_time: get(row, "start_time")?,
            end_time: get(row, "end_time")?,
            password: get(row, "password")?,
            time_zone: get(row, "time_zone")?,
            location: get(row, "location")?,
            settings: json(row, "settings")?,
            hosts: json(row, "hosts")?,
            invitees: json(row, "invitees")?,
            recurring_rule: rule.map(|r| serde_json::from_str(&r)).transpose().map_err(|e| StoreError::Corrupt(format!("recurring_rule: {e}")))?,
        },
    })
}

/// A random 9-digit meeting code that does not start with 0.
fn meeting_code() -> String {
    rand::rng().random_range(100_000_000u32..1_000_000_000).to_string()
}

impl Store {
    /// Stores a new meeting with a fresh id and a meeting code no live meeting uses.
    pub async fn create_meeting(&self, m: &NewMeeting, now: i64) -> Result<Meeting> {
        let meeting_id = random_id(20);
        for _ in 0..20 {
            let code = meeting_code();
            let r = sqlx::query(&format!("INSERT INTO meetings ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"))
                .bind(&meeting_id)
                .bind(&m.enterprise_id)
                .bind(&code)
                .bind(&m.creator_userid)
                .bind(&m.subject)
                .bind(m.meeting_kind)
                .bind(m.meeting_type)
                .bind(m.start_time)
                .bind(m.end_time)
                .bind(m.password.as_deref())
                .bind(&m.time_zone)
                .bind(&m.location)
                .bind(MeetingStatus::Init.as_str())
                .bind(m.settings.to_string())
                .bind(m.hosts.to_string())
                .bind(m.invitees.to_string())
                .bind(m.recurring_rule.as_ref().map(|r| r.to_string()))
                .bind(now)
                .bind(now)
                .execute(self.pool())
                .await;
            match r {
                // The code collided with a live meeting's: draw another.
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
                Ok(_) => return self.meeting(&m.enterprise_id, &meeting_id).await,
            }
        }
        Err(StoreError::Conflict("no free meeting code"))
    }

    /// A meeting of this enterprise, in any state.
    pub async fn meeting(&self, enterprise_id: &str, meeting_id: &str) -> Result<Meeting> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM meetings WHERE enterprise_id = $1 AND meeting_id = $2"))
            .bind(enterprise_id)
            .bind(meeting_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        meeting_from(&row)
    }

    /// The newest meeting of this enterprise that holds or held this code, in any state.
    pub async fn meeting_by_code(&self, enterprise_id: &str, code: &str) -> Result<Meeting> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM meetings WHERE enterprise_id = $1 AND meeting_code = $2 ORDER BY updated_at DESC LIMIT 1"))
            .bind(enterprise_id)
            .bind(code)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        meeting_from(&row)
    }

    /// The live meeting with this code, in any enterprise (codes are what participants type).
    pub async fn live_meeting_by_code(&self, code: &str) -> Result<Meeting> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM meetings WHERE meeting_code = $1 AND status IN ('MEETING_STATE_INIT', 'MEETING_STATE_STARTED')"
        ))
        .bind(code)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        meeting_from(&row)
    }

    /// The meeting that last held this code, if it ended or was cancelled at or after `since`
    /// and no live meeting holds the code now: so a late participant learns that the meeting is
    /// over rather than that the code is wrong.
    pub async fn recently_closed_by_code(&self, code: &str, since: i64) -> Result<Meeting> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM meetings WHERE meeting_code = $1 AND status IN ('MEETING_STATE_ENDED', 'MEETING_STATE_CANCELLED') \
             AND updated_at >= $2 ORDER BY updated_at DESC LIMIT 1"
        ))
        .bind(code)
        .bind(since)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        meeting_from(&row)
    }

    /// Replaces a meeting's scheduling data (the caller merged the changes).
    pub async fn update_meeting(&self, meeting_id: &str, m: &NewMeeting, now: i64) -> Result<Meeting> {
        let r = sqlx::query(
            "UPDATE meetings SET subject = $1, meeting_kind = $2, meeting_type = $3, start_time = $4, end_time = $5, \
             password = $6, time_zone = $7, location = $8, settings = $9, hosts = $10, invitees = $11, recurring_rule = $12, \
             updated_at = $13 WHERE enterprise_id = $14 AND meeting_id = $15",
        )
        .bind(&m.subject)
        .bind(m.meeting_kind)
        .bind(m.meeting_type)
        .bind(m.start_time)
        .bind(m.end_time)
        .bind(m.password.as_deref())
        .bind(&m.time_zone)
        .bind(&m.location)
        .bind(m.settings.to_string())
        .bind(m.hosts.to_string())
        .bind(m.invitees.to_string())
        .bind(m.recurring_rule.as_ref().map(|r| r.to_string()))
        .bind(now)
        .bind(&m.enterprise_id)
        .bind(meeting_id)
        .execute(self.pool())
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.meeting(&m.enterprise_id, meeting_id).await
    }

    /// Moves a meeting from one of `from` to `to`. `Conflict` if it is in another state.
    pub async fn transition(&self, enterprise_id: &str, meeting_id: &str, from: &[MeetingStatus], to: MeetingStatus, now: i64) -> Result<Meeting> {
        let current = self.meeting(enterprise_id, meeting_id).await?;
        if !from.contains(&current.status) {
            return Err(StoreError::Conflict("meeting is not in a state that allows this"));
        }
        let r = sqlx::query("UPDATE meetings SET status = $1, updated_at = $2 WHERE meeting_id = $3 AND status = $4")
            .bind(to.as_str())
            .bind(now)
            .bind(meeting_id)
            .bind(current.status.as_str())
            .execute(self.pool())
            .await?;
        if r.rows_affected() == 0 {
            // Changed under us between the read and the write.
            return Err(StoreError::Conflict("meeting state changed concurrently"));
        }
        if to == MeetingStatus::Ended {
            // A poll does not outlive its meeting.
            self.close_live_polls(meeting_id, now * 1000).await?;
        }
        self.meeting(enterprise_id, meeting_id).await
    }

    /// A user's live meetings that have not ended by `now` (created by them, or naming them
    /// among the hosts or invitees), soonest first: one page, and the total count.
    pub async fn upcoming_meetings(&self, enterprise_id: &str, userid: &str, now: i64, page: i64, page_size: i64) -> Result<(Vec<Meeting>, i64)> {
        let filter = "enterprise_id = $1 AND end_time >= $3 AND status IN ('MEETING_STATE_INIT', 'MEETING_STATE_STARTED') \
                      AND (creator_userid = $2 OR hosts LIKE $4 ESCAPE '\\' OR invitees LIKE $4 ESCAPE '\\')";
        let named = user_ref_pattern(userid);
        let total: i64 = {
            let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM meetings WHERE {filter}"))
                .bind(enterprise_id)
                .bind(userid)
                .bind(now)
                .bind(&named)
                .fetch_one(self.pool())
                .await?;
            get(&row, "n")?
        };
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM meetings WHERE {filter} ORDER BY start_time, meeting_id LIMIT $5 OFFSET $6"))
            .bind(enterprise_id)
            .bind(userid)
            .bind(now)
            .bind(&named)
            .bind(page_size)
            .bind((page.max(1) - 1) * page_size)
            .fetch_all(self.pool())
            .await?;
        let meetings = rows.iter().map(meeting_from).collect::<Result<Vec<_>>>()?;
        Ok((meetings, total))
    }
}

/// A LIKE pattern that finds `{"userid":"<userid>"}` in a stored hosts or invitees list
/// (compact JSON, as `serde_json` writes it), with LIKE's wildcards escaped.
fn user_ref_pattern(userid: &str) -> String {
    let json = serde_json::to_string(userid).unwrap_or_default();
    let escaped: String = json.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    format!("%\"userid\":{escaped}%")
}

impl Store {
    /// Started meetings whose end time has passed and in which no session is open: the
    /// meetings everyone left before their end time, or whose participants a crash dropped.
    pub async fn idle_started_meetings(&self, now: i64) -> Result<Vec<Meeting>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM meetings WHERE status = 'MEETING_STATE_STARTED' AND end_time <= $1 \
             AND NOT EXISTS (SELECT 1 FROM participant_sessions s WHERE s.meeting_id = meetings.meeting_id AND s.left_at IS NULL) \
             ORDER BY end_time LIMIT 500"
        ))
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(meeting_from).collect()
    }

    /// A user's ended meetings (created by them, or attended as that person), most recently
    /// ended first: one page, and the total count.
    pub async fn history_meetings(&self, enterprise_id: &str, userid: &str, page: i64, page_size: i64) -> Result<(Vec<Meeting>, i64)> {
        let filter = "enterprise_id = $1 AND status = 'MEETING_STATE_ENDED' AND (creator_userid = $2 OR meeting_id IN \
                      (SELECT meeting_id FROM participant_sessions WHERE person = $2))";
        let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM meetings WHERE {filter}")).bind(enterprise_id).bind(userid).fetch_one(self.pool()).await?;
        let total: i64 = get(&row, "n")?;
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM meetings WHERE {filter} ORDER BY updated_at DESC, meeting_id LIMIT $3 OFFSET $4"))
            .bind(enterprise_id)
            .bind(userid)
            .bind(page_size)
            .bind((page.max(1) - 1) * page_size)
            .fetch_all(self.pool())
            .await?;
        Ok((rows.iter().map(meeting_from).collect::<Result<Vec<_>>>()?, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::store;

    fn new(start: i64) -> NewMeeting {
        NewMeeting {
            enterprise_id: "dev-app".into(),
            creator_userid: "dev-user".into(),
            subject: "Weekly".into(),
            meeting_kind: 0,
            meeting_type: 0,
            start_time: start,
            end_time: start + 3600,
            password: Some("1234".into()),
            time_zone: "Asia/Shanghai".into(),
            location: String::new(),
            settings: serde_json::json!({"mute_enable_join": true}),
            hosts: serde_json::json!([]),
            invitees: serde_json::json!([]),
            recurring_rule: None,
        }
    }

    #[tokio::test]
    async fn create_read_update_and_cancel() {
        let s = store().await;
        s.seed_dev(0).await.unwrap();
        let m = s.create_meeting(&new(10_000), 5).await.unwrap();
        assert_eq!(m.meeting_code.len(), 9);
        assert_eq!(m.status, MeetingStatus::Init);
        assert_eq!(m.data.settings["mute_enable_join"], true);
        assert_eq!(s.live_meeting_by_code(&m.meeting_code).await.unwrap().meeting_id, m.meeting_id);
        // Another enterprise cannot see it.
        assert!(matches!(s.meeting("other", &m.meeting_id).await, Err(StoreError::NotFound)));

        let mut changed = m.data.clone();
        changed.subject = "Renamed".into();
        let u = s.update_meeting(&m.meeting_id, &changed, 6).await.unwrap();
        assert_eq!((u.data.subject.as_str(), u.meeting_code.as_str()), ("Renamed", m.meeting_code.as_str()));

        s.transition("dev-app", &m.meeting_id, &[MeetingStatus::Init], MeetingStatus::Cancelled, 7).await.unwrap();
        // A cancelled meeting's code no longer resolves, and cannot be cancelled twice.
        assert!(matches!(s.live_meeting_by_code(&m.meeting_code).await, Err(StoreError::NotFound)));
        assert!(matches!(
            s.transition("dev-app", &m.meeting_id, &[MeetingStatus::Init], MeetingStatus::Cancelled, 8).await,
            Err(StoreError::Conflict(_))
        ));
    }

    #[tokio::test]
    async fn upcoming_pages_in_start_order() {
        let s = store().await;
        s.seed_dev(0).await.unwrap();
        for i in 0..5 {
            s.create_meeting(&new(100_000 - i * 1000), 1).await.unwrap();
        }
        let past = s.create_meeting(&new(10), 1).await.unwrap();
        let (page1, total) = s.upcoming_meetings("dev-app", "dev-user", 50_000, 1, 2).await.unwrap();
        assert_eq!(total, 5, "the meeting that ended is not upcoming");
        let (page3, _) = s.upcoming_meetings("dev-app", "dev-user", 50_000, 3, 2).await.unwrap();
        assert_eq!(page1.len(), 2);
        assert_eq!(page3.len(), 1);
        assert!(page1[0].data.start_time < page1[1].data.start_time);
        assert!(page1.iter().chain(&page3).all(|m| m.meeting_id != past.meeting_id));
        // Invitees see the meeting too; a userid that merely looks alike (LIKE's `_`) does not.
        let mut invited = new(90_000);
        invited.invitees = serde_json::json!([{ "userid": "li_lei" }]);
        s.create_meeting(&invited, 1).await.unwrap();
        assert_eq!(s.upcoming_meetings("dev-app", "li_lei", 50_000, 1, 10).await.unwrap().1, 1);
        assert_eq!(s.upcoming_meetings("dev-app", "lixlei", 50_000, 1, 10).await.unwrap().1, 0);
    }
}
