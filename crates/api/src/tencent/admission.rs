//! Who may enter a meeting's room right now: one rule, checked when a join token is issued
//! (`POST /v1/meetings/join`) and again when any token enters the room (`/rtc`, and
//! `/rtc/validate`, which tells a refused client why). A token alone therefore never
//! outlives the meeting, or a host's removal of its holder.
//!
//! The rule is a pure function ([`admit`]); [`check_room`] gathers its inputs from the store.

use axum::http::StatusCode;
use huiyi_store::{Meeting, MeetingStatus, Store, StoreError};

use super::error::ApiError;

/// Why a room refuses someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this meeting was cancelled")]
    Cancelled,
    #[error("this meeting has ended")]
    Ended,
    #[error("this meeting's scheduled time is over")]
    Over,
    #[error("the host removed you from this meeting")]
    Removed,
}

impl Refusal {
    /// The `/v1` error for a refused join (docs/tencent-api.md lists the codes).
    pub fn api_error(self) -> ApiError {
        match self {
            Refusal::Removed => ApiError::new(StatusCode::FORBIDDEN, 10015, self.to_string()),
            _ => ApiError::new(StatusCode::CONFLICT, 10014, self.to_string()),
        }
    }
}

/// Whether a meeting in this state admits someone at `now` (unix seconds); `removed` says
/// whether a host removed this person from it.
pub fn admit(meeting: &Meeting, now: i64, removed: bool) -> Result<(), Refusal> {
    match meeting.status {
        MeetingStatus::Cancelled => return Err(Refusal::Cancelled),
        MeetingStatus::Ended => return Err(Refusal::Ended),
        // Never started, and its time is over.
        MeetingStatus::Init if meeting.data.end_time < now => return Err(Refusal::Over),
        _ => {}
    }
    if removed {
        return Err(Refusal::Removed);
    }
    Ok(())
}

/// The person a join token names: `person` in its metadata (set by `/v1/meetings/join`), or
/// the identity itself for tokens minted elsewhere.
pub fn person_of(metadata: &str, identity: &str) -> String {
    serde_json::from_str::<serde_json::Value>(metadata)
        .ok()
        .and_then(|v| v["person"].as_str().map(str::to_owned))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| identity.to_owned())
}

/// Whether the room `room` admits `person` now. Rooms that are not meetings (plain LiveKit
/// rooms made through the RoomService or by a token) are not governed by this rule.
pub async fn check_room(store: &Store, room: &str, person: &str, now: i64) -> Result<Result<(), Refusal>, StoreError> {
    let meeting = match store.meeting_for_room(room).await {
        Ok(m) => m,
        Err(StoreError::NotFound) => return Ok(Ok(())),
        Err(e) => return Err(e),
    };
    let removed = store.is_removed(&meeting.meeting_id, person).await?;
    Ok(admit(&meeting, now, removed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tencent::testing::meeting;

    #[test]
    fn only_live_meetings_admit_and_never_a_removed_person() {
        let mut m = meeting("u");
        m.data.end_time = 100;
        assert_eq!(admit(&m, 50, false), Ok(()));
        assert_eq!(admit(&m, 101, false), Err(Refusal::Over), "scheduled, never started, over");
        assert_eq!(admit(&m, 50, true), Err(Refusal::Removed));
        m.status = MeetingStatus::Started;
        assert_eq!(admit(&m, 101, false), Ok(()), "a started meeting may run over its time");
        m.status = MeetingStatus::Ended;
        assert_eq!(admit(&m, 50, false), Err(Refusal::Ended));
        m.status = MeetingStatus::Cancelled;
        assert_eq!(admit(&m, 50, false), Err(Refusal::Cancelled));
    }

    #[test]
    fn the_person_comes_from_the_metadata_or_the_identity() {
        assert_eq!(person_of(r#"{"person":"guest-ab","device":"web"}"#, "guest-ab#1"), "guest-ab");
        assert_eq!(person_of("not json", "alice"), "alice");
        assert_eq!(person_of(r#"{"person":""}"#, "alice"), "alice");
    }
}
