//! The waiting room: participants who are connected to a room but not yet in it.
//!
//! A waiting participant has no permission at all (it cannot publish, subscribe or send
//! data), is told about nobody but itself, and is announced only to the hosts and co-hosts
//! (participants whose attributes satisfy [`is_host`]), with the server attribute
//! [`WAITING_ATTRIBUTE`]: the Unix milliseconds at which it started waiting. A host's tooling
//! admits it ([`Engine::admit`]), or sends someone who is in back ([`Engine::send_to_waiting`]).
//!
//! Who sees whom is one rule, [`sees`], used for every participant update, the join
//! response, a resume's full update, and data packets. Whether someone waits at all is the
//! caller's decision (`JoinParams::waiting`): a meeting's waiting-room setting, checked by the
//! api crate.

use std::time::Instant;

use huiyi_proto::lk::{self, signal_response::Message as Response};
use tracing::info;

use super::state::Participant;
use super::{Engine, Output, RoomEvent, ServiceError};
use crate::ids::{RoomName, SessionKey, TrackSid};
use crate::interaction::is_host;

/// The attribute marking a waiting participant: the Unix milliseconds it started waiting.
pub const WAITING_ATTRIBUTE: &str = "huiyi.waiting";

/// What a waiting participant may do: nothing.
pub(crate) fn waiting_permission() -> lk::ParticipantPermission {
    lk::ParticipantPermission { can_subscribe: false, can_publish: false, can_publish_data: false, can_update_metadata: false, ..Default::default() }
}

/// Whether `viewer` is told about `subject`: always about itself; a waiting viewer about
/// nobody else; nobody about a hidden participant; only hosts about a waiting one.
pub(crate) fn sees(viewer: &Participant, subject: &Participant) -> bool {
    if viewer.key == subject.key {
        return true;
    }
    if viewer.waiting() || subject.hidden() {
        return false;
    }
    !subject.waiting() || is_host(&viewer.attributes)
}

/// `info` as a departure: what makes a LiveKit SDK drop the participant.
fn gone(mut info: lk::ParticipantInfo) -> lk::ParticipantInfo {
    info.state = lk::participant_info::State::Disconnected as i32;
    info.tracks.clear();
    info
}

impl Engine {
    /// Waiting participants in a room, for the limit on joins.
    pub(crate) fn waiting_count(&self, room: &RoomName) -> usize {
        self.rooms.get(room).map(|r| r.participants.iter().filter(|k| self.sessions.get(k).is_some_and(Participant::waiting)).count()).unwrap_or(0)
    }

    /// Lets a waiting participant into the room: it gets back the permission it joined with
    /// (the caller narrows it afterwards if rules changed meanwhile), everyone learns of it,
    /// it learns of everyone, and it subscribes to the room's tracks as a normal join does.
    /// Returns `false` (and changes nothing) if it was not waiting.
    pub fn admit(&mut self, room: &str, identity: &str) -> Result<bool, ServiceError> {
        let key = self.find_participant(room, identity)?;
        let now = self.last_now;
        let now_ms = self.now_ms;
        let Some(p) = self.sessions.get_mut(&key) else { return Err(ServiceError::ParticipantNotFound) };
        if !p.waiting() {
            return Ok(false);
        }
        p.waiting_since = None;
        p.attributes.remove(WAITING_ATTRIBUTE);
        p.permission = p.permission_after_wait.clone();
        p.version += 1;
        info!(room = %p.room, identity = %p.identity, "admitted from the waiting room");
        if !p.announced {
            p.announced = true;
            self.outputs.push_back(Output::Event(RoomEvent::ParticipantJoined {
                room: p.room.to_string(),
                sid: p.sid.to_string(),
                identity: p.identity.to_string(),
                name: p.name.clone(),
                metadata: p.metadata.clone(),
                client_addr: p.client_addr.clone(),
                at_ms: now_ms,
            }));
        }
        let name = p.room.clone();
        let Some(r) = self.rooms.get(&name) else { return Err(ServiceError::RoomNotFound) };
        let me = &self.sessions[&key];
        let mut infos: Vec<lk::ParticipantInfo> =
            r.participants.iter().filter(|k| **k != key).filter_map(|k| self.sessions.get(k)).filter(|o| sees(me, o)).map(|o| o.info(&r.tracks)).collect();
        let info = me.info(&r.tracks);
        infos.push(info.clone());
        // Everyone it may now see, in one update (its own state last), before any offer.
        self.outputs.push_back(Output::Signal(key, Response::Update(lk::ParticipantUpdate { participants: infos })));
        self.broadcast_participant(&name, key, info);
        self.subscribe_existing(now, key);
        self.negotiate_subscriber(now, key);
        self.process_events(now);
        Ok(true)
    }

    /// Sends a participant who is in the room back to the waiting room: its tracks are
    /// unpublished, its subscriptions dropped, its permission taken; those who are not hosts
    /// see it leave, and it sees everyone leave. Returns `false` if it was already waiting.
    pub fn send_to_waiting(&mut self, room: &str, identity: &str) -> Result<bool, ServiceError> {
        let key = self.find_participant(room, identity)?;
        let now = self.last_now;
        let now_ms = self.now_ms;
        let Some(p) = self.sessions.get(&key) else { return Err(ServiceError::ParticipantNotFound) };
        if p.waiting() {
            return Ok(false);
        }
        let name = p.room.clone();
        let keys: Vec<SessionKey> = self.rooms.get(&name).map(|r| r.participants.clone()).unwrap_or_default();
        // Who knew of it, and whom it knew of, before.
        let watchers: Vec<SessionKey> = keys.iter().copied().filter(|k| *k != key && self.sessions.get(k).is_some_and(|v| sees(v, p))).collect();
        let known: Vec<SessionKey> = keys.iter().copied().filter(|k| *k != key && self.sessions.get(k).is_some_and(|o| sees(p, o))).collect();

        let owned: Vec<TrackSid> = self.rooms.get(&name).map(|r| r.tracks.iter().filter(|(_, t)| t.owner == key).map(|(s, _)| s.clone()).collect()).unwrap_or_default();
        for sid in owned {
            self.unpublish_track(now, &name, &sid);
        }
        let subscribed: Vec<TrackSid> = self.sessions.get(&key).map(|p| p.downtracks.keys().cloned().collect()).unwrap_or_default();
        for sid in subscribed {
            self.unsubscribe(now, key, &sid);
        }
        self.negotiate_subscriber(now, key);
        let Some(p) = self.sessions.get_mut(&key) else { return Err(ServiceError::ParticipantNotFound) };
        p.permission_after_wait = std::mem::replace(&mut p.permission, waiting_permission());
        p.pending_tracks.clear();
        p.waiting_since = Some(now_ms);
        p.attributes.insert(WAITING_ATTRIBUTE.to_owned(), now_ms.to_string());
        p.version += 1;
        info!(room = %p.room, identity = %p.identity, "sent back to the waiting room");
        if let Some(r) = self.rooms.get_mut(&name) {
            r.speakers.remove(&key);
        }
        let Some(r) = self.rooms.get(&name) else { return Err(ServiceError::RoomNotFound) };
        let me = &self.sessions[&key];
        let info = me.info(&r.tracks);
        for k in watchers {
            let still = self.sessions.get(&k).is_some_and(|v| sees(v, me));
            let about = if still { info.clone() } else { gone(info.clone()) };
            self.outputs.push_back(Output::Signal(k, Response::Update(lk::ParticipantUpdate { participants: vec![about] })));
        }
        let mut infos: Vec<lk::ParticipantInfo> = known.iter().filter_map(|k| self.sessions.get(k)).map(|o| gone(o.info(&r.tracks))).collect();
        infos.push(info);
        self.outputs.push_back(Output::Signal(key, Response::Update(lk::ParticipantUpdate { participants: infos })));
        self.process_events(now);
        Ok(true)
    }

    /// Turns a waiting participant away: its session ends with `leave{DISCONNECT,
    /// USER_REJECTED}`. Returns `false` (and changes nothing) if it was not waiting.
    pub fn deny(&mut self, now: Instant, room: &str, identity: &str) -> Result<bool, ServiceError> {
        let key = self.find_participant(room, identity)?;
        if !self.sessions.get(&key).is_some_and(Participant::waiting) {
            return Ok(false);
        }
        self.remove_session(now, key, super::CloseReason::Denied);
        Ok(true)
    }

    /// A participant became a host or stopped being one: it now sees the waiting
    /// participants, or no longer does.
    pub(crate) fn host_view_changed(&mut self, key: SessionKey) {
        let Some(p) = self.sessions.get(&key) else { return };
        let Some(r) = self.rooms.get(&p.room) else { return };
        let host = is_host(&p.attributes);
        let infos: Vec<lk::ParticipantInfo> = r
            .participants
            .iter()
            .filter(|k| **k != key)
            .filter_map(|k| self.sessions.get(k))
            .filter(|o| o.waiting() && !o.hidden())
            .map(|o| if host { o.info(&r.tracks) } else { gone(o.info(&r.tracks)) })
            .collect();
        if !infos.is_empty() && !p.waiting() {
            self.outputs.push_back(Output::Signal(key, Response::Update(lk::ParticipantUpdate { participants: infos })));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::engine::{EngineConfig, JoinParams};
    use crate::ids::{ParticipantIdentity, RoomName};

    fn open() -> lk::ParticipantPermission {
        lk::ParticipantPermission { can_publish: true, can_subscribe: true, can_publish_data: true, ..Default::default() }
    }

    fn params(identity: &str, host: bool, waiting: bool) -> JoinParams {
        let mut attributes = HashMap::new();
        if host {
            attributes.insert(crate::interaction::ROLE_ATTRIBUTE.to_owned(), "host".to_owned());
        }
        JoinParams {
            room: RoomName::parse("meeting").unwrap(),
            identity: ParticipantIdentity::parse(identity).unwrap(),
            name: identity.to_owned(),
            metadata: String::new(),
            attributes,
            permission: open(),
            auto_subscribe: true,
            now_ms: 1_000,
            client_addr: None,
            mute_on_entry: Default::default(),
            chat: Default::default(),
            waiting,
            may_rename: false,
        }
    }

    /// The participant updates each session received, as (about, state) pairs.
    fn updates(e: &mut Engine) -> HashMap<SessionKey, Vec<(String, i32)>> {
        let mut out: HashMap<SessionKey, Vec<(String, i32)>> = HashMap::new();
        loop {
            match e.poll_output() {
                Output::Timeout(_) => return out,
                Output::Signal(k, Response::Update(u)) => out.entry(k).or_default().extend(u.participants.into_iter().map(|p| (p.identity, p.state))),
                _ => {}
            }
        }
    }

    const GONE: i32 = lk::participant_info::State::Disconnected as i32;

    #[test]
    fn a_waiting_participant_sees_nobody_and_only_hosts_see_it() {
        let now = Instant::now();
        let mut e = Engine::new(EngineConfig::default(), now);
        let (host, _) = e.join(now, params("host", true, false)).unwrap();
        let (bob, _) = e.join(now, params("bob", false, false)).unwrap();
        updates(&mut e);
        let (guest, resp) = e.join(now, params("guest", false, true)).unwrap();
        assert!(resp.other_participants.is_empty(), "a waiting participant is told about nobody");
        let me = resp.participant.unwrap();
        let perm = me.permission.unwrap();
        assert!(!perm.can_publish && !perm.can_subscribe && !perm.can_publish_data);
        assert_eq!(me.attributes.get(WAITING_ATTRIBUTE).map(String::as_str), Some("1000"));
        assert_eq!(resp.room.unwrap().num_participants, 2, "the waiting room is not counted");
        let seen = updates(&mut e);
        assert!(seen[&host].iter().any(|(who, _)| who == "guest"), "the host sees the guest waiting");
        assert!(!seen.get(&bob).is_some_and(|u| u.iter().any(|(who, _)| who == "guest")), "a participant does not");

        // Admitted: it learns of everyone, and everyone of it.
        assert_eq!(e.admit("meeting", "guest"), Ok(true));
        assert_eq!(e.admit("meeting", "guest"), Ok(false), "admitting twice changes nothing");
        let seen = updates(&mut e);
        let mine: Vec<&str> = seen[&guest].iter().map(|(w, _)| w.as_str()).collect();
        assert!(mine.contains(&"host") && mine.contains(&"bob"));
        assert!(seen[&bob].iter().any(|(who, state)| who == "guest" && *state != GONE));
        let info = e.get_participant("meeting", "guest").unwrap();
        assert!(info.permission.unwrap().can_subscribe && !info.attributes.contains_key(WAITING_ATTRIBUTE));

        // Sent back: Bob sees it leave, it sees everyone leave, the host still sees it.
        assert_eq!(e.send_to_waiting("meeting", "guest"), Ok(true));
        let seen = updates(&mut e);
        assert!(seen[&bob].contains(&("guest".to_owned(), GONE)));
        assert!(seen[&host].iter().any(|(who, state)| who == "guest" && *state != GONE));
        assert!(seen[&guest].contains(&("host".to_owned(), GONE)) && seen[&guest].contains(&("bob".to_owned(), GONE)));
        let info = e.get_participant("meeting", "guest").unwrap();
        assert!(!info.permission.unwrap().can_publish && info.attributes.contains_key(WAITING_ATTRIBUTE));
        // The permission update of a waiting participant is not theirs to get.
        let req = lk::UpdateParticipantRequest { room: "meeting".into(), identity: "guest".into(), permission: Some(open()), ..Default::default() };
        let after = e.update_participant(&req).unwrap();
        assert!(!after.permission.unwrap().can_publish, "only admission gives a waiting participant a permission");
    }

    #[test]
    fn the_waiting_room_is_bounded_and_departures_reach_only_those_who_saw() {
        let now = Instant::now();
        let config = EngineConfig { max_waiting_per_room: 2, ..Default::default() };
        let mut e = Engine::new(config, now);
        let (host, _) = e.join(now, params("host", true, false)).unwrap();
        let (bob, _) = e.join(now, params("bob", false, false)).unwrap();
        e.join(now, params("w1", false, true)).unwrap();
        e.join(now, params("w2", false, true)).unwrap();
        assert!(matches!(e.join(now, params("w3", false, true)), Err(crate::engine::JoinError::WaitingRoomFull(_))));
        // The same identity joining again replaces itself, and is not refused.
        e.join(now, params("w2", false, true)).unwrap();
        updates(&mut e);
        e.remove_participant(now, "meeting", "w1").unwrap();
        let mut joined = Vec::new();
        let mut seen: HashMap<SessionKey, Vec<String>> = HashMap::new();
        loop {
            match e.poll_output() {
                Output::Timeout(_) => break,
                Output::Signal(k, Response::Update(u)) => seen.entry(k).or_default().extend(u.participants.into_iter().map(|p| p.identity)),
                Output::Event(ev) => joined.push(ev),
                _ => {}
            }
        }
        assert!(seen[&host].contains(&"w1".to_owned()));
        assert!(!seen.contains_key(&bob), "nobody but the hosts hears of the waiting room");
        assert!(matches!(joined.as_slice(), [RoomEvent::WaitingLeft { identity, .. }] if identity == "w1"), "{joined:?}");
        // Only the waiting may be denied; the denied get USER_REJECTED.
        assert_eq!(e.deny(now, "meeting", "bob"), Ok(false));
        assert_eq!(e.deny(now, "meeting", "w2"), Ok(true));
        let mut rejected = false;
        loop {
            match e.poll_output() {
                Output::Timeout(_) => break,
                Output::Signal(_, Response::Leave(l)) => rejected |= l.reason == lk::DisconnectReason::UserRejected as i32,
                _ => {}
            }
        }
        assert!(rejected);
        assert!(e.get_participant("meeting", "w2").is_err());
    }
}
