//! The server API (LiveKit's Twirp RoomService), as engine operations.

use std::time::Instant;

use huiyi_proto::lk;

use super::state::Room;
use super::{CloseReason, Engine};
use crate::ids::{ParticipantIdentity, RoomName, SessionKey, TrackSid};
use crate::permission::{may_publish, StateError};

/// A RoomService call that cannot be done. Each maps to a Twirp error code at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("room not found")]
    RoomNotFound,
    #[error("participant not found")]
    ParticipantNotFound,
    #[error("track not found")]
    TrackNotFound,
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl From<StateError> for ServiceError {
    fn from(e: StateError) -> Self {
        ServiceError::InvalidArgument(e.to_string())
    }
}

impl Engine {
    pub fn create_room(&mut self, now: Instant, now_ms: i64, req: &lk::CreateRoomRequest) -> Result<lk::Room, ServiceError> {
        let name = RoomName::parse(&req.name).map_err(|e| ServiceError::InvalidArgument(format!("name {e}")))?;
        self.next_tick.get_or_insert(now);
        let room = self.rooms.entry(name.clone()).or_insert_with(|| Room::new(name.clone(), now, now_ms));
        if req.empty_timeout > 0 {
            room.empty_timeout = req.empty_timeout;
        }
        if req.departure_timeout > 0 {
            room.departure_timeout = req.departure_timeout;
        }
        if req.max_participants > 0 {
            room.max_participants = req.max_participants;
        }
        if !req.metadata.is_empty() {
            room.metadata = req.metadata.clone();
        }
        self.room_info(&name).ok_or(ServiceError::RoomNotFound)
    }

    pub fn list_rooms(&self, names: &[String]) -> Vec<lk::Room> {
        let mut rooms: Vec<lk::Room> = self
            .rooms
            .keys()
            .filter(|n| names.is_empty() || names.iter().any(|x| x == n.as_str()))
            .filter_map(|n| self.room_info(n))
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        rooms
    }

    pub fn delete_room(&mut self, now: Instant, room: &str) -> Result<(), ServiceError> {
        let name = self.room_name(room)?;
        let keys = self.rooms.get(&name).map(|r| r.participants.clone()).unwrap_or_default();
        for k in keys {
            self.remove_session(now, k, CloseReason::RoomDeleted);
        }
        self.close_room_taps(&name);
        self.rooms.remove(&name);
        Ok(())
    }

    pub fn list_participants(&self, room: &str) -> Result<Vec<lk::ParticipantInfo>, ServiceError> {
        let name = self.room_name(room)?;
        let r = self.rooms.get(&name).ok_or(ServiceError::RoomNotFound)?;
        Ok(r.participants.iter().filter_map(|k| self.sessions.get(k)).map(|p| p.info(&r.tracks)).collect())
    }

    pub fn get_participant(&self, room: &str, identity: &str) -> Result<lk::ParticipantInfo, ServiceError> {
        let key = self.find_participant(room, identity)?;
        let p = self.sessions.get(&key).ok_or(ServiceError::ParticipantNotFound)?;
        let r = self.rooms.get(&p.room).ok_or(ServiceError::RoomNotFound)?;
        Ok(p.info(&r.tracks))
    }

    pub fn remove_participant(&mut self, now: Instant, room: &str, identity: &str) -> Result<(), ServiceError> {
        let key = self.find_participant(room, identity)?;
        self.remove_session(now, key, CloseReason::Removed);
        Ok(())
    }

    pub fn mute_published_track(&mut self, room: &str, identity: &str, track: &str, muted: bool) -> Result<lk::TrackInfo, ServiceError> {
        let key = self.find_participant(room, identity)?;
        let sid = TrackSid::from_wire(track);
        let name = self.room_name(room)?;
        let owned = self.rooms.get(&name).and_then(|r| r.tracks.get(&sid)).is_some_and(|t| t.owner == key);
        if !owned {
            return Err(ServiceError::TrackNotFound);
        }
        self.force_mute(key, &sid, muted);
        self.rooms.get(&name).and_then(|r| r.tracks.get(&sid)).map(|t| t.info.clone()).ok_or(ServiceError::TrackNotFound)
    }

    pub fn update_participant(&mut self, req: &lk::UpdateParticipantRequest) -> Result<lk::ParticipantInfo, ServiceError> {
        let key = self.find_participant(&req.room, &req.identity)?;
        let limits = self.config.state_limits;
        let p = self.sessions.get_mut(&key).ok_or(ServiceError::ParticipantNotFound)?;
        limits.check_name(&req.name)?;
        limits.check_metadata(&req.metadata)?;
        limits.check_attributes(&p.attributes, &req.attributes)?;
        if !req.metadata.is_empty() {
            p.metadata = req.metadata.clone();
        }
        if !req.name.is_empty() {
            p.name = req.name.clone();
        }
        let mut revoke_subscribe = false;
        let mut grant_subscribe = false;
        let was_host = crate::interaction::is_host(&p.attributes);
        // A waiting participant gets a permission only by being admitted.
        if let Some(perm) = req.permission.as_ref().filter(|_| !p.waiting()) {
            revoke_subscribe = p.permission.can_subscribe && !perm.can_subscribe;
            grant_subscribe = !p.permission.can_subscribe && perm.can_subscribe;
            p.permission = perm.clone();
            // Announced tracks whose media has not arrived yet must not be bound later.
            let permission = p.permission.clone();
            p.pending_tracks.retain(|t| may_publish(&permission, t.info.source).is_ok());
        }
        let room = p.room.clone();
        let permission = p.permission.clone();
        let now = self.last_now;
        // A permission change takes effect at once, not only for future requests: whatever
        // the participant may no longer publish is unpublished.
        let forbidden: Vec<TrackSid> = self
            .rooms
            .get(&room)
            .map(|r| r.tracks.iter().filter(|(_, t)| t.owner == key && may_publish(&permission, t.info.source).is_err()).map(|(s, _)| s.clone()).collect())
            .unwrap_or_default();
        for sid in forbidden {
            self.unpublish_track(now, &room, &sid);
        }
        if revoke_subscribe {
            let subscribed: Vec<TrackSid> = self.sessions.get(&key).map(|p| p.downtracks.keys().cloned().collect()).unwrap_or_default();
            for sid in subscribed {
                self.unsubscribe(now, key, &sid);
            }
            self.negotiate_subscriber(now, key);
        }
        if grant_subscribe {
            self.subscribe_existing(now, key);
            self.negotiate_subscriber(now, key);
        }
        let Some(p) = self.sessions.get_mut(&key) else { return Err(ServiceError::ParticipantNotFound) };
        for (k, v) in &req.attributes {
            if v.is_empty() {
                p.attributes.remove(k);
            } else {
                p.attributes.insert(k.clone(), v.clone());
            }
        }
        let host_changed = crate::interaction::is_host(&p.attributes) != was_host;
        self.participant_changed(key);
        if host_changed {
            self.host_view_changed(key);
        }
        self.process_events(now);
        self.get_participant(&req.room, &req.identity)
    }

    pub fn update_subscriptions(&mut self, now: Instant, req: &lk::UpdateSubscriptionsRequest) -> Result<(), ServiceError> {
        let key = self.find_participant(&req.room, &req.identity)?;
        let mut sids: Vec<TrackSid> = req.track_sids.iter().map(|s| TrackSid::from_wire(s)).collect();
        sids.extend(req.participant_tracks.iter().flat_map(|pt| pt.track_sids.iter().map(|s| TrackSid::from_wire(s))));
        for sid in sids {
            if req.subscribe {
                self.subscribe(now, key, &sid);
            } else {
                self.unsubscribe(now, key, &sid);
            }
        }
        self.negotiate_subscriber(now, key);
        self.process_events(now);
        Ok(())
    }

    /// Sets who may chat with whom in a room (a meeting's chat control). Hosts are not
    /// bound by it. A room that does not exist yet takes the rule from its first join.
    pub fn set_chat_rule(&mut self, room: &str, rule: crate::interaction::ChatRule) -> Result<(), ServiceError> {
        let name = RoomName::parse(room).map_err(|_| ServiceError::RoomNotFound)?;
        let room = self.rooms.get_mut(&name).ok_or(ServiceError::RoomNotFound)?;
        room.chat = rule;
        Ok(())
    }

    pub fn update_room_metadata(&mut self, room: &str, metadata: &str) -> Result<lk::Room, ServiceError> {
        let name = self.room_name(room)?;
        self.config.state_limits.check_metadata(metadata)?;
        let r = self.rooms.get_mut(&name).ok_or(ServiceError::RoomNotFound)?;
        r.metadata = metadata.to_owned();
        r.version += 1;
        let info = self.room_info(&name).ok_or(ServiceError::RoomNotFound)?;
        let keys = self.rooms.get(&name).map(|r| r.participants.clone()).unwrap_or_default();
        for k in keys {
            self.outputs.push_back(super::Output::Signal(
                k,
                lk::signal_response::Message::RoomUpdate(lk::RoomUpdate { room: Some(info.clone()) }),
            ));
        }
        Ok(info)
    }

    /// Whether something records the room (LiveKit's `Room.active_recording`): every
    /// participant is told at once, and clients show it (livekit-client's `isRecording`).
    pub fn set_room_recording(&mut self, room: &str, active: bool) -> Result<lk::Room, ServiceError> {
        let name = self.room_name(room)?;
        let r = self.rooms.get_mut(&name).ok_or(ServiceError::RoomNotFound)?;
        if r.active_recording == active {
            return self.room_info(&name).ok_or(ServiceError::RoomNotFound);
        }
        r.active_recording = active;
        r.version += 1;
        let info = self.room_info(&name).ok_or(ServiceError::RoomNotFound)?;
        let keys = self.rooms.get(&name).map(|r| r.participants.clone()).unwrap_or_default();
        for k in keys {
            self.outputs.push_back(super::Output::Signal(
                k,
                lk::signal_response::Message::RoomUpdate(lk::RoomUpdate { room: Some(info.clone()) }),
            ));
        }
        Ok(info)
    }

    pub fn send_data_from_server(&mut self, now: Instant, req: &lk::SendDataRequest) -> Result<(), ServiceError> {
        let name = self.room_name(&req.room)?;
        let kind = req.kind;
        let mut destinations = req.destination_identities.clone();
        // Older SDKs address by sid.
        for sid in &req.destination_sids {
            if let Some(p) = self.sessions.values().find(|p| p.sid.as_str() == sid && p.room == name) {
                destinations.push(p.identity.to_string());
            }
        }
        let packet = lk::DataPacket {
            kind,
            destination_identities: destinations.clone(),
            value: Some(lk::data_packet::Value::User(lk::UserPacket {
                payload: req.data.clone(),
                topic: req.topic.clone(),
                destination_identities: destinations.clone(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let reliable = kind == lk::data_packet::Kind::Reliable as i32;
        self.send_data(now, &name, None, &destinations, reliable, &packet);
        self.process_events(now);
        Ok(())
    }

    fn room_name(&self, room: &str) -> Result<RoomName, ServiceError> {
        let name = RoomName::parse(room).map_err(|e| ServiceError::InvalidArgument(format!("room {e}")))?;
        if self.rooms.contains_key(&name) {
            Ok(name)
        } else {
            Err(ServiceError::RoomNotFound)
        }
    }

    pub(crate) fn find_participant(&self, room: &str, identity: &str) -> Result<SessionKey, ServiceError> {
        let name = self.room_name(room)?;
        let identity = ParticipantIdentity::parse(identity).map_err(|e| ServiceError::InvalidArgument(format!("identity {e}")))?;
        let r = self.rooms.get(&name).ok_or(ServiceError::RoomNotFound)?;
        r.participants
            .iter()
            .copied()
            .find(|k| self.sessions.get(k).is_some_and(|p| p.identity == identity))
            .ok_or(ServiceError::ParticipantNotFound)
    }
}
