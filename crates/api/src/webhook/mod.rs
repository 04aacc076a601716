//! Webhooks as Tencent Meeting delivers them (docs/webhooks.md).
//!
//! When something happens to a meeting, [`Webhooks::meeting_event`] (or
//! [`Webhooks::participant_event`]) builds the event's envelope,
//! `{event, trace_id, payload: [{operate_time, operator, meeting_info}]}`, and writes it to the
//! durable outbox, one row per subscription, then wakes the [`worker`]. The worker posts
//! `{"data": base64(envelope)}` signed with the subscription's token, retries with exponential
//! backoff, and logs every attempt. Writing to the outbox never fails the request that caused
//! the event: a failure is logged.

pub mod livekit;
pub mod signing;
pub mod worker;

use std::sync::Arc;

use huiyi_store::{Meeting, Store, User};
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// The events a subscription can ask for, with Tencent's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    MeetingCreated,
    MeetingUpdated,
    MeetingCanceled,
    MeetingStarted,
    MeetingEnd,
    ParticipantJoined,
    ParticipantLeft,
    /// Someone entered the waiting room (each time they do).
    JoinedWaitingRoom,
    /// Someone left the waiting room without being admitted: they left, or a host turned
    /// them away.
    LeftWaitingRoom,
    /// A host admitted someone from the waiting room.
    Admitted,
    /// A host sent someone from the meeting to the waiting room.
    PutInWaitingRoom,
    /// Someone became a co-host, or stopped being one.
    RoleChanged,
    /// A meeting's cloud recording started, paused, resumed, was asked to stop, finished
    /// (its file is ready), or failed.
    RecordingStarted,
    RecordingPaused,
    RecordingResumed,
    RecordingStopped,
    RecordingCompleted,
    RecordingFailed,
    /// A recording's file was deleted.
    RecordingDeleted,
}

impl Event {
    pub const ALL: [Event; 19] = [
        Event::MeetingCreated,
        Event::MeetingUpdated,
        Event::MeetingCanceled,
        Event::MeetingStarted,
        Event::MeetingEnd,
        Event::ParticipantJoined,
        Event::ParticipantLeft,
        Event::JoinedWaitingRoom,
        Event::LeftWaitingRoom,
        Event::Admitted,
        Event::PutInWaitingRoom,
        Event::RoleChanged,
        Event::RecordingStarted,
        Event::RecordingPaused,
        Event::RecordingResumed,
        Event::RecordingStopped,
        Event::RecordingCompleted,
        Event::RecordingFailed,
        Event::RecordingDeleted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::MeetingCreated => "meeting.created",
            Event::MeetingUpdated => "meeting.updated",
            Event::MeetingCanceled => "meeting.canceled",
            Event::MeetingStarted => "meeting.started",
            Event::MeetingEnd => "meeting.end",
            Event::ParticipantJoined => "meeting.participant-joined",
            Event::ParticipantLeft => "meeting.participant-left",
            Event::JoinedWaitingRoom => "meeting.participant-joined-waiting-room",
            Event::LeftWaitingRoom => "meeting.participant-left-waiting-room",
            Event::Admitted => "meeting.participant-admitted",
            Event::PutInWaitingRoom => "meeting.participant-put-in-waiting-room",
            Event::RoleChanged => "meeting.participant-role-changed",
            Event::RecordingStarted => "recording.started",
            Event::RecordingPaused => "recording.paused",
            Event::RecordingResumed => "recording.resumed",
            Event::RecordingStopped => "recording.stopped",
            Event::RecordingCompleted => "recording.completed",
            Event::RecordingFailed => "recording.failed",
            Event::RecordingDeleted => "recording.deleted",
        }
    }

    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// Who did it: a user of the enterprise, or a participant (possibly a guest).
#[derive(Debug, Clone)]
pub struct Operator {
    pub userid: String,
    pub user_name: String,
    pub instance_id: String,
}

impl From<&User> for Operator {
    fn from(u: &User) -> Self {
        Operator { userid: u.userid.clone(), user_name: u.username.clone(), instance_id: "1".into() }
    }
}

/// The handle every event source holds: the store and the worker's wake-up.
#[derive(Clone)]
pub struct Webhooks {
    store: Store,
    /// Notified after events are queued, so the worker delivers without waiting for its poll.
    wake: Arc<Notify>,
    /// LiveKit-style events to the server's configured URLs (none: not sent).
    livekit: livekit::LiveKitWebhooks,
}

impl Webhooks {
    pub fn new(store: Store) -> Self {
        Self { store, wake: Arc::new(Notify::new()), livekit: Default::default() }
    }

    /// Also sends LiveKit-style events to `urls`.
    pub fn with_livekit(self, urls: Vec<String>) -> Self {
        let livekit = livekit::LiveKitWebhooks::new(self.store.clone(), urls);
        Self { livekit, ..self }
    }

    pub fn livekit(&self) -> &livekit::LiveKitWebhooks {
        &self.livekit
    }

    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Queues a meeting event done by `operator` (the creator when `None`).
    pub async fn meeting_event(&self, event: Event, meeting: &Meeting, operator: Option<&User>, now: i64) {
        let operator = match operator {
            Some(u) => Operator::from(u),
            None => Operator { userid: meeting.data.creator_userid.clone(), user_name: String::new(), instance_id: "1".into() },
        };
        self.queue(event, meeting, &operator, now * 1000).await;
    }

    /// Queues a participant's join or leave; `at_ms` is when it happened.
    pub async fn participant_event(&self, event: Event, meeting: &Meeting, participant: &Operator, at_ms: i64) {
        self.queue(event, meeting, participant, at_ms).await;
    }

    /// Queues a host's action on a participant (`to_operator`, Tencent's name for the person
    /// acted on): admissions and moves to the waiting room.
    pub async fn control_event(&self, event: Event, meeting: &Meeting, operator: &Operator, to_operator: &Operator, at_ms: i64) {
        let mut body = envelope(event, meeting, operator, at_ms);
        body["payload"][0]["to_operator"] = operator_json(to_operator);
        self.queue_body(event, meeting, body, at_ms).await;
    }

    /// `meeting.participant-role-changed`: `to_operator` carries Tencent's `user_role` (0 a
    /// member, 4 a guest, 6 a co-host).
    pub async fn role_changed(&self, meeting: &Meeting, operator: &Operator, to_operator: &Operator, user_role: i64, at_ms: i64) {
        let mut body = envelope(Event::RoleChanged, meeting, operator, at_ms);
        let mut to = operator_json(to_operator);
        to["user_role"] = json!(user_role);
        body["payload"][0]["to_operator"] = to;
        self.queue_body(Event::RoleChanged, meeting, body, at_ms).await;
    }

    /// A `recording.*` event of a meeting's cloud recording, with its file as Tencent names
    /// it (`recording_files[].record_file_id`).
    pub async fn recording_event(&self, event: Event, meeting: &Meeting, operator: &Operator, record_file_id: &str, at_ms: i64) {
        let mut body = envelope(event, meeting, operator, at_ms);
        body["payload"][0]["recording_files"] = json!([{ "record_file_id": record_file_id }]);
        self.queue_body(event, meeting, body, at_ms).await;
    }

    async fn queue(&self, event: Event, meeting: &Meeting, operator: &Operator, at_ms: i64) {
        self.queue_body(event, meeting, envelope(event, meeting, operator, at_ms), at_ms).await;
    }

    async fn queue_body(&self, event: Event, meeting: &Meeting, body: Value, at_ms: i64) {
        let body = body.to_string();
        match self.store.enqueue_event(&meeting.data.enterprise_id, event.name(), &body, at_ms / 1000).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::debug!(event = event.name(), deliveries = n, "webhook event queued");
                self.wake.notify_one();
            }
            Err(e) => tracing::error!(error = %e, event = event.name(), meeting_id = %meeting.meeting_id, "could not queue a webhook event"),
        }
    }
}

fn operator_json(o: &Operator) -> Value {
    json!({ "userid": o.userid, "user_name": o.user_name, "instance_id": o.instance_id })
}

/// The event as Tencent Meeting shapes it.
pub fn envelope(event: Event, meeting: &Meeting, operator: &Operator, at_ms: i64) -> Value {
    let d = &meeting.data;
    json!({
        "event": event.name(),
        "trace_id": format!("{:032x}", rand::rng().random::<u128>()),
        "payload": [{
            "operate_time": at_ms,
            "operator": operator_json(operator),
            "meeting_info": {
                "meeting_id": meeting.meeting_id,
                "meeting_code": meeting.meeting_code,
                "subject": d.subject,
                "creator": { "userid": d.creator_userid },
                "meeting_type": d.meeting_type,
                "start_time": d.start_time,
                "end_time": d.end_time,
                "status": meeting.status.as_str(),
            },
        }],
    })
}
