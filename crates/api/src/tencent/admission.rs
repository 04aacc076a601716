//! Who may enter a meeting's room right now: one rule, checked when a join token is issued
//! (`POST /v1/meetings/join`) and again when any token enters the room (`/rtc`, and
//! `/rtc/validate`, which tells a refused client why). A token alone therefore never
//! outlives the meeting, or a host's removal of its holder.
//!
//! The rule is a pure function ([`admit`]); [`check_room`] gathers its inputs from the store.

use axum::http::StatusCode;
use huiyi_store::{Meeting, MeetingStatus, Store, StoreError};

use super::controls::Controls;
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
    #[error("the host has locked this meeting; nobody new may join")]
    Locked,
}

impl Refusal {
    /// The `/v1` error for a refused join (docs/tencent-api.md lists the codes).
    pub fn api_error(self) -> ApiError {
        match self {
            Refusal::Removed => ApiError::new(StatusCode::FORBIDDEN, 10015, self.to_string()),
            Refusal::Locked => ApiError::new(StatusCode::FORBIDDEN, 10016, self.to_string()),
            _ => ApiError::new(StatusCode::CONFLICT, 10014, self.to_string()),
        }
    }
}

/// Who is entering, as far as the rule cares.
#[derive(Debug, Clone, Copy, Default)]
pub struct Entry {
    /// A host removed this person from the meeting.
    pub removed: bool,
    /// The meeting is locked, and this is a newcomer who is not a host (someone already in
    /// who resumes after a network drop is not new).
    pub locked_out: bool,
}

/// Whether a meeting in this state admits someone at `now` (unix seconds).
pub fn admit(meeting: &Meeting, now: i64, entry: Entry) -> Result<(), Refusal> {
    match meeting.status {
        MeetingStatus::Cancelled => return Err(Refusal::Cancelled),
        MeetingStatus::Ended => return Err(Refusal::Ended),
        // Never started, and its time is over.
        MeetingStatus::Init if meeting.data.end_time < now => return Err(Refusal::Over),
        _ => {}
    }
    if entry.removed {
        return Err(Refusal::Removed);
    }
    if entry.locked_out {
        return Err(Refusal::Locked);
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

/// Whether the room `room` admits `person` now (`host`: they host it; `resuming`: they are
/// already in, reconnecting). Rooms that are not meetings (plain LiveKit rooms made through
/// the RoomService or by a token) are not governed by this rule: `Ok(Ok(None))`. For a
/// meeting, the answer carries its live controls, which decide what the person may publish.
pub async fn check_room(store: &Store, room: &str, person: &str, host: bool, resuming: bool, now: i64) -> Result<Result<Option<RoomRules>, Refusal>, StoreError> {
    let meeting = match store.meeting_for_room(room).await {
        Ok(m) => m,
        Err(StoreError::NotFound) => return Ok(Ok(None)),
        Err(e) => return Err(e),
    };
    let controls = Controls::from_json(store.meeting_controls(&meeting.meeting_id).await?);
    let entry = Entry { removed: store.is_removed(&meeting.meeting_id, person).await?, locked_out: controls.locked && !host && !resuming };
    let settings = super::meetings::Settings::of(&meeting);
    let mute_on_entry = super::controls::mute_on_entry(&settings, &controls);
    // The waiting room is on and this person was never admitted (or a host sent them back).
    let waits = controls.waiting_room(&settings) && !host && !controls.role(person, host).runs_meeting() && store.waiting_state(&meeting.meeting_id, person).await? != Some(huiyi_store::WaitingState::Admitted);
    // Tencent's `change_nickname`: 1 (or unset) lets participants rename themselves, 2 not.
    let may_rename = settings.change_nickname != Some(2);
    Ok(admit(&meeting, now, entry).map(|()| Some(RoomRules { controls, mute_on_entry, waits, may_rename })))
}

/// What a meeting's room asks of someone it admits.
pub struct RoomRules {
    pub controls: Controls,
    pub mute_on_entry: huiyi_sfu_core::MuteOnEntry,
    /// The person enters the waiting room (`JoinParams::waiting`).
    pub waits: bool,
    /// Participants may rename themselves (`JoinParams::may_rename`); hosts always may.
    pub may_rename: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tencent::testing::meeting;

    #[test]
    fn only_live_meetings_admit_and_never_a_removed_person() {
        let mut m = meeting("u");
        m.data.end_time = 100;
        let anyone = Entry::default();
        assert_eq!(admit(&m, 50, anyone), Ok(()));
        assert_eq!(admit(&m, 101, anyone), Err(Refusal::Over), "scheduled, never started, over");
        assert_eq!(admit(&m, 50, Entry { removed: true, ..anyone }), Err(Refusal::Removed));
        assert_eq!(admit(&m, 50, Entry { locked_out: true, ..anyone }), Err(Refusal::Locked));
        m.status = MeetingStatus::Started;
        assert_eq!(admit(&m, 101, anyone), Ok(()), "a started meeting may run over its time");
        m.status = MeetingStatus::Ended;
        assert_eq!(admit(&m, 50, anyone), Err(Refusal::Ended));
        m.status = MeetingStatus::Cancelled;
        assert_eq!(admit(&m, 50, anyone), Err(Refusal::Cancelled));
    }

    #[test]
    fn the_person_comes_from_the_metadata_or_the_identity() {
        assert_eq!(person_of(r#"{"person":"guest-ab","device":"web"}"#, "guest-ab#1"), "guest-ab");
        assert_eq!(person_of("not json", "alice"), "alice");
        assert_eq!(person_of(r#"{"person":""}"#, "alice"), "alice");
    }
}
