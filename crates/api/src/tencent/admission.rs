//! Gathers from the store what the admission rule (`meeting::admission::admit`) needs for one
//! person entering a meeting's room, and what the room then asks of them (their controls,
//! mute on entry, the waiting room, renaming); and the `/v1` errors for its refusals.

use axum::http::StatusCode;
use huiyi_store::{Store, StoreError};

pub use crate::meeting::admission::{admit, person_of, Entry, Refusal};
use crate::meeting::controls::Controls;

use super::error::ApiError;

/// The `/v1` error for a refused join (docs/tencent-api.md lists the codes).
pub fn refusal_error(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Removed => ApiError::new(StatusCode::FORBIDDEN, 10015, refusal.to_string()),
        Refusal::Locked => ApiError::new(StatusCode::FORBIDDEN, 10016, refusal.to_string()),
        _ => ApiError::new(StatusCode::CONFLICT, 10014, refusal.to_string()),
    }
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
    let mute_on_entry = crate::meeting::controls::mute_on_entry(&settings, &controls);
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

