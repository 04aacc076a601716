//! Turns the media engine's room events into durable records and webhook events: attendance
//! rows, and the meeting lifecycle (the first participant starts a meeting; the last one
//! leaving after its end time ends it). Rooms that are not meetings (plain LiveKit rooms) are
//! not recorded. A sweep ([`sweep`]) ends the started meetings nobody is in once their end
//! time passes: those everyone left early, and those whose participants a restart dropped.
//! Chat messages are stored for every room, meeting or not, for history and export. The
//! waiting room's entries and departures are recorded (`waiting_room`) with their webhooks;
//! a waiting participant's attendance starts when a host admits it.

use huiyi_api::unix_now;
use huiyi_api::webhook::{Event, Operator, Webhooks};
use huiyi_sfu_core::RoomEvent;
use huiyi_store::{MeetingStatus, ParticipantSession, Store, StoreError, WaitingState};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Records events until the engine stops.
pub async fn run(store: Store, webhooks: Webhooks, egress: huiyi_api::egress::Egress, mut events: mpsc::Receiver<RoomEvent>) {
    while let Some(event) = events.recv().await {
        // A media tap's news goes to the recording job that owns the tap.
        if matches!(event, RoomEvent::TapTrackAdded { .. } | RoomEvent::TapTrackRemoved { .. } | RoomEvent::TapSpeakers { .. } | RoomEvent::TapClosed { .. }) {
            egress.tap_event(event);
            continue;
        }
        // A broadcaster that leaves without DELETE (a crash, a lost network) ends its ingress.
        if let RoomEvent::ParticipantLeft { room, sid, identity, .. } = &event {
            huiyi_api::ingress::publisher_left(&store, &webhooks, room, identity, sid).await;
        }
        if let Err(e) = record(&store, &webhooks, event).await {
            warn!(error = %e, "could not record a room event");
        }
    }
}

/// What the join token's metadata says about the participant (see `/v1/meetings/join`).
struct Metadata {
    role: String,
    person: String,
    device: String,
}

fn metadata(text: &str, identity: &str) -> Metadata {
    let v = serde_json::from_str::<serde_json::Value>(text).unwrap_or_default();
    let field = |k: &str| v[k].as_str().map(str::to_owned);
    Metadata {
        role: field("role").unwrap_or_else(|| "guest".into()),
        person: field("person").unwrap_or_else(|| identity.to_owned()),
        device: field("device").unwrap_or_default(),
    }
}

/// Sends `meeting.participant-left` for sessions a restart closed (see
/// `Store::close_open_sessions`), with the restart as the leave time.
pub async fn announce_dropped(store: &Store, webhooks: &Webhooks, sessions: Vec<ParticipantSession>, at: i64) {
    for s in sessions {
        let meeting = match store.meeting_for_room(&s.meeting_id).await {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, meeting_id = %s.meeting_id, "could not announce a dropped session");
                continue;
            }
        };
        let operator = Operator { userid: s.identity, user_name: s.display_name, instance_id: s.device };
        webhooks.participant_event(Event::ParticipantLeft, &meeting, &operator, at * 1000).await;
    }
}

/// How often [`sweep`] looks for started meetings that nobody is in.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Ends started meetings that are over and empty, with a `meeting.end` webhook. Runs once at
/// start and then every [`SWEEP_EVERY`] until `shutdown`.
pub async fn sweep(store: Store, webhooks: Webhooks, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        let now = unix_now();
        match store.idle_started_meetings(now).await {
            Ok(meetings) => {
                for m in meetings {
                    match store.transition(&m.data.enterprise_id, &m.meeting_id, &[MeetingStatus::Started], MeetingStatus::Ended, now).await {
                        Ok(ended) => {
                            info!(meeting_id = %m.meeting_id, "meeting ended: over, and nobody is in it");
                            webhooks.meeting_event(Event::MeetingEnd, &ended, None, now).await;
                        }
                        // Ended meanwhile by a leave or a dismiss.
                        Err(StoreError::Conflict(_)) => {}
                        Err(e) => warn!(error = %e, meeting_id = %m.meeting_id, "could not end an idle meeting"),
                    }
                }
            }
            Err(e) => warn!(error = %e, "could not look for idle meetings"),
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn record(store: &Store, webhooks: &Webhooks, event: RoomEvent) -> Result<(), StoreError> {
    match event {
        RoomEvent::ParticipantJoined { room, sid, identity, name, metadata: meta, client_addr, at_ms } => {
            let meeting = match store.meeting_for_room(&room).await {
                Ok(m) => m,
                Err(StoreError::NotFound) => return Ok(()),
                Err(e) => return Err(e),
            };
            let meta = metadata(&meta, &identity);
            let operator = Operator { userid: identity.clone(), user_name: name.clone(), instance_id: meta.device.clone() };
            store
                .record_join(&ParticipantSession {
                    participant_sid: sid,
                    meeting_id: meeting.meeting_id.clone(),
                    identity,
                    display_name: name,
                    role: meta.role,
                    client_addr: client_addr.unwrap_or_default(),
                    person: meta.person,
                    device: meta.device,
                    joined_at: at_ms / 1000,
                    left_at: None,
                })
                .await?;
            let meeting = if meeting.status == MeetingStatus::Init {
                let started = store.transition(&meeting.data.enterprise_id, &meeting.meeting_id, &[MeetingStatus::Init], MeetingStatus::Started, at_ms / 1000).await?;
                info!(meeting_id = %meeting.meeting_id, "meeting started");
                webhooks.participant_event(Event::MeetingStarted, &started, &operator, at_ms).await;
                started
            } else {
                meeting
            };
            webhooks.participant_event(Event::ParticipantJoined, &meeting, &operator, at_ms).await;
        }
        RoomEvent::ParticipantLeft { room, sid, identity, at_ms, .. } => {
            let meeting = match store.meeting_for_room(&room).await {
                Ok(m) => m,
                Err(StoreError::NotFound) => return Ok(()),
                Err(e) => return Err(e),
            };
            let someone_left_in = store.record_leave(&sid, at_ms / 1000).await?;
            let (user_name, instance_id) = match store.session(&sid).await {
                Ok(s) => (s.display_name, s.device),
                Err(_) => (String::new(), String::new()),
            };
            let operator = Operator { userid: identity, user_name, instance_id };
            webhooks.participant_event(Event::ParticipantLeft, &meeting, &operator, at_ms).await;
            if !someone_left_in && meeting.status == MeetingStatus::Started && unix_now() >= meeting.data.end_time {
                let ended = store.transition(&meeting.data.enterprise_id, &meeting.meeting_id, &[MeetingStatus::Started], MeetingStatus::Ended, at_ms / 1000).await?;
                info!(meeting_id = %meeting.meeting_id, "meeting ended: the last participant left after its end time");
                webhooks.participant_event(Event::MeetingEnd, &ended, &operator, at_ms).await;
            }
        }
        RoomEvent::WaitingJoined { room, identity, name, metadata: meta, at_ms, .. } => {
            let meeting = match store.meeting_for_room(&room).await {
                Ok(m) => m,
                Err(StoreError::NotFound) => return Ok(()),
                Err(e) => return Err(e),
            };
            let meta = metadata(&meta, &identity);
            if !store.enter_waiting(&meeting.meeting_id, &meta.person, &identity, &name, at_ms).await? {
                warn!(meeting_id = %meeting.meeting_id, "the meeting's waiting-room record is full; this entrant waits unrecorded");
            }
            let operator = Operator { userid: identity, user_name: name, instance_id: meta.device };
            webhooks.participant_event(Event::JoinedWaitingRoom, &meeting, &operator, at_ms).await;
        }
        RoomEvent::WaitingLeft { room, identity, name, metadata: meta, at_ms, .. } => {
            let meeting = match store.meeting_for_room(&room).await {
                Ok(m) => m,
                Err(StoreError::NotFound) => return Ok(()),
                Err(e) => return Err(e),
            };
            let meta = metadata(&meta, &identity);
            // A host's denial was recorded by the handler first; this only marks a departure.
            store.decide_waiting(&meeting.meeting_id, &meta.person, &identity, &name, WaitingState::Left, at_ms).await?;
            let operator = Operator { userid: identity, user_name: name, instance_id: meta.device };
            webhooks.participant_event(Event::LeftWaitingRoom, &meeting, &operator, at_ms).await;
        }
        RoomEvent::Chat(c) => {
            let stored = store
                .record_chat(&huiyi_store::ChatMessage {
                    room: c.room,
                    room_sid: c.room_sid,
                    message_id: c.id,
                    sender: c.identity,
                    sender_name: c.name,
                    recipients: c.to,
                    body: c.text,
                    sent_at_ms: c.at_ms,
                })
                .await?;
            if !stored {
                warn!("a room holds the most chat messages it may keep; this one was delivered but not stored");
            }
        }
        // Handed to the recording jobs by `run`.
        RoomEvent::TapTrackAdded { .. } | RoomEvent::TapTrackRemoved { .. } | RoomEvent::TapSpeakers { .. } | RoomEvent::TapClosed { .. } => {}
    }
    Ok(())
}
