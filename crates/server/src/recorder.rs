//! Turns the media engine's room events into durable records: attendance rows, and the
//! meeting lifecycle (the first participant starts a meeting; the last one leaving after its
//! end time ends it). Rooms that are not meetings (plain LiveKit rooms) are not recorded.

use huiyi_sfu_core::RoomEvent;
use huiyi_store::{MeetingStatus, ParticipantSession, Store, StoreError};
use tokio::sync::mpsc;
use tracing::{info, warn};

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Records events until the engine stops.
pub async fn run(store: Store, mut events: mpsc::UnboundedReceiver<RoomEvent>) {
    while let Some(event) = events.recv().await {
        if let Err(e) = record(&store, event).await {
            warn!(error = %e, "could not record a room event");
        }
    }
}

async fn record(store: &Store, event: RoomEvent) -> Result<(), StoreError> {
    match event {
        RoomEvent::ParticipantJoined { room, sid, identity, name, metadata, client_addr, at_ms } => {
            let meeting = match store.meeting_for_room(&room).await {
                Ok(m) => m,
                Err(StoreError::NotFound) => return Ok(()),
                Err(e) => return Err(e),
            };
            let role = serde_json::from_str::<serde_json::Value>(&metadata)
                .ok()
                .and_then(|v| v["role"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "guest".into());
            store
                .record_join(&ParticipantSession {
                    participant_sid: sid,
                    meeting_id: meeting.meeting_id.clone(),
                    identity,
                    display_name: name,
                    role,
                    client_addr: client_addr.unwrap_or_default(),
                    joined_at: at_ms / 1000,
                    left_at: None,
                })
                .await?;
            if meeting.status == MeetingStatus::Init {
                store.transition(&meeting.data.enterprise_id, &meeting.meeting_id, &[MeetingStatus::Init], MeetingStatus::Started, at_ms / 1000).await?;
                info!(meeting_id = %meeting.meeting_id, "meeting started");
            }
        }
        RoomEvent::ParticipantLeft { room, sid, at_ms, .. } => {
            let meeting = match store.meeting_for_room(&room).await {
                Ok(m) => m,
                Err(StoreError::NotFound) => return Ok(()),
                Err(e) => return Err(e),
            };
            let someone_left_in = store.record_leave(&sid, at_ms / 1000).await?;
            if !someone_left_in && meeting.status == MeetingStatus::Started && unix_now() >= meeting.data.end_time {
                store.transition(&meeting.data.enterprise_id, &meeting.meeting_id, &[MeetingStatus::Started], MeetingStatus::Ended, at_ms / 1000).await?;
                info!(meeting_id = %meeting.meeting_id, "meeting ended: the last participant left after its end time");
            }
        }
    }
    Ok(())
}
