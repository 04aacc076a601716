//! Sessions without a signalling socket: WHIP ingest (RFC 9725), where a broadcaster (OBS,
//! GStreamer's `whipsink`, a browser) POSTs one SDP offer over HTTP and publishes, and WHEP
//! playback, where a viewer POSTs a receive-only offer and plays one participant's picture and
//! sound.
//!
//! The session is a participant like any other (kind INGRESS): everyone sees it and its
//! tracks, and its media takes the same publisher path. What differs is set up here: it has no
//! subscriber connection (it receives nothing), its tracks are announced from the offer's
//! media lines instead of AddTrack messages, and the answer is returned instead of signalled.
//! It ends when the HTTP side deletes it (`remove_participant`), or when its client falls
//! silent: having no signalling socket whose close would say so, it is ended by the tick once
//! no datagram has come from it for `HTTP_SESSION_SILENCE` (a broadcaster that crashed, a
//! player closed without DELETE), as is any session whose peer str0m gave up on.
//!
//! A WHEP viewer is a hidden participant (nobody is told of it, as a recorder) that may only
//! subscribe. Its subscriber connection is the one the *viewer* offered: each of the offer's
//! receiving lines is bound to a down track of the chosen participant (video lines to its
//! camera, or its screen share if it has no camera; audio lines to its microphone), and the
//! connection is never renegotiated ([`Participant::whep`](super::state::Participant)); a line
//! whose track ends stays idle. Layer choice, keyframes, NACK and the bandwidth estimate are the
//! ordinary subscriber path's.

use std::time::Instant;

use huiyi_proto::lk::{self, signal_response::Message as Response};
use str0m::change::SdpOffer;
use str0m::media::{Direction, MediaKind, Mid};
use tracing::info;

use super::peer::PeerRole;
use super::{CloseReason, Engine, JoinError, JoinParams, Output, ServiceError};
use crate::ids::{ParticipantIdentity, SessionKey, TrackSid};

/// Media lines one WHIP offer may carry (a broadcast is an audio and a video track).
const MAX_WHIP_LINES: usize = 4;

impl Engine {
    /// Joins a WHIP publisher with its SDP offer; returns the session and the SDP answer. The
    /// offer's audio lines publish as microphones, its video lines as cameras.
    pub fn join_whip(&mut self, now: Instant, params: JoinParams, offer: &str) -> Result<(SessionKey, String), ServiceError> {
        let parsed = SdpOffer::from_sdp_string(offer).map_err(|e| ServiceError::InvalidArgument(format!("not an SDP offer: {e}")))?;
        let lines: Vec<(bool, Option<String>)> = parsed
            .media_lines
            .iter()
            .filter(|m| m.typ.is_media())
            .map(|m| (m.typ.to_string() == "video", m.msid().map(|msid| msid.track_id.clone())))
            .collect();
        if lines.is_empty() || lines.len() > MAX_WHIP_LINES {
            return Err(ServiceError::InvalidArgument(format!("a WHIP offer carries 1 to {MAX_WHIP_LINES} audio or video lines")));
        }
        let name = params.name.clone();
        let (key, _) = self.join_as(now, params, lk::participant_info::Kind::Ingress).map_err(|e| match e {
            JoinError::State(e) => ServiceError::InvalidArgument(e.to_string()),
            other => ServiceError::InvalidArgument(other.to_string()),
        })?;
        // It receives nothing: no subscriber connection (which would never connect).
        if let Some(id) = self.sessions.get_mut(&key).and_then(|p| p.subscriber.take()) {
            self.drop_peer(id);
        }
        for (i, (video, track)) in lines.into_iter().enumerate() {
            let (kind, source, label) = if video {
                (lk::TrackType::Video, lk::TrackSource::Camera, "camera")
            } else {
                (lk::TrackType::Audio, lk::TrackSource::Microphone, "microphone")
            };
            let req = lk::AddTrackRequest {
                cid: track.filter(|t| !t.is_empty()).unwrap_or_else(|| format!("whip-{i}")),
                name: if name.is_empty() { label.to_owned() } else { format!("{name} {label}") },
                r#type: kind as i32,
                source: source as i32,
                ..Default::default()
            };
            if let Err(e) = self.handle_signal(now, key, lk::signal_request::Message::AddTrack(req)) {
                self.remove_session(now, key, CloseReason::Removed);
                return Err(ServiceError::InvalidArgument(format!("the offer cannot be published: {e}")));
            }
        }
        let offer = lk::SessionDescription { r#type: "offer".into(), sdp: offer.to_owned(), id: 1, ..Default::default() };
        if let Err(e) = self.handle_signal(now, key, lk::signal_request::Message::Offer(offer)) {
            self.remove_session(now, key, CloseReason::Removed);
            return Err(ServiceError::InvalidArgument(format!("the offer was refused: {e}")));
        }
        // The answer was queued as a signal message; a WHIP session has no socket, so it is
        // taken back here, with every other message meant for the session.
        let mut answer = None;
        self.outputs.retain(|o| match o {
            Output::Signal(k, Response::Answer(a)) if *k == key => {
                answer = Some(a.sdp.clone());
                false
            }
            Output::Signal(k, _) => *k != key,
            _ => true,
        });
        let Some(answer) = answer else {
            self.remove_session(now, key, CloseReason::Removed);
            return Err(ServiceError::InvalidArgument("no answer to the offer".into()));
        };
        info!(session = key.0, "WHIP publisher joined");
        Ok((key, answer))
    }
}

/// What a WHEP viewer plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhepSource {
    /// This participant's camera (or screen share) and microphone.
    Participant(ParticipantIdentity),
    /// The first participant in the room, in join order, who publishes video.
    Room,
}

impl Engine {
    /// Joins a WHEP viewer with its receive-only SDP offer; returns the session and the SDP
    /// answer. `params` should hide the viewer and let it only subscribe.
    pub fn join_whep(&mut self, now: Instant, params: JoinParams, offer: &str, source: WhepSource) -> Result<(SessionKey, String), ServiceError> {
        let parsed = SdpOffer::from_sdp_string(offer).map_err(|e| ServiceError::InvalidArgument(format!("not an SDP offer: {e}")))?;
        let lines: Vec<(Mid, MediaKind)> = parsed
            .media_lines
            .iter()
            .filter(|m| m.typ.is_media())
            .map(|m| (m.mid(), if m.typ.to_string() == "video" { MediaKind::Video } else { MediaKind::Audio }))
            .collect();
        if lines.is_empty() || lines.len() > MAX_WHIP_LINES {
            return Err(ServiceError::InvalidArgument(format!("a WHEP offer carries 1 to {MAX_WHIP_LINES} audio or video lines")));
        }
        if parsed.media_lines.iter().filter(|m| m.typ.is_media()).any(|m| !matches!(m.direction(), Direction::RecvOnly | Direction::SendRecv)) {
            return Err(ServiceError::InvalidArgument("a WHEP offer's lines receive (recvonly)".into()));
        }
        let (video, audio) = self.whep_tracks(&params.room, &source)?;
        let room = params.room.clone();
        let (key, _) = self.join_as(now, params, lk::participant_info::Kind::Standard).map_err(|e| match e {
            JoinError::State(e) => ServiceError::InvalidArgument(e.to_string()),
            other => ServiceError::InvalidArgument(other.to_string()),
        })?;
        // The connection join_as prepared (and offered into the void) gives way to the viewer's.
        if let Some(id) = self.sessions.get_mut(&key).and_then(|p| p.subscriber.take()) {
            self.drop_peer(id);
        }
        self.outputs.retain(|o| !matches!(o, Output::Signal(k, _) if *k == key));
        let rtc = self.new_rtc(now, PeerRole::Subscriber);
        let peer_id = self.register_peer(now, key, PeerRole::Subscriber, rtc);
        let answer = match self.peers.get_mut(&peer_id).map(|peer| {
            // No data channels: the viewer offered none.
            peer.channels_added = true;
            peer.rtc.sdp_api().accept_offer(parsed)
        }) {
            Some(Ok(answer)) => answer.to_sdp_string(),
            Some(Err(e)) => {
                self.drop_peer(peer_id);
                self.remove_session(now, key, CloseReason::Removed);
                return Err(ServiceError::InvalidArgument(format!("the offer was refused: {e}")));
            }
            None => return Err(ServiceError::InvalidArgument("no peer".into())),
        };
        let Some(p) = self.sessions.get_mut(&key) else {
            return Err(ServiceError::InvalidArgument("the session ended".into()));
        };
        p.subscriber = Some(peer_id);
        p.whep = true;
        let mut bound: Vec<TrackSid> = Vec::new();
        for (mid, kind) in lines {
            let sid = match kind {
                MediaKind::Video => video.clone(),
                MediaKind::Audio => audio.clone(),
            };
            let Some(sid) = sid.filter(|s| !bound.contains(s)) else { continue };
            self.subscribe(now, key, &sid);
            if let Some(dt) = self.sessions.get_mut(&key).and_then(|p| p.downtracks.get_mut(&sid)) {
                dt.mid = Some(mid);
                bound.push(sid);
            }
        }
        for sid in &bound {
            self.retarget(now, key, sid);
        }
        self.after_mutation(now, peer_id, Ok(()));
        self.process_events(now);
        info!(room = %room, session = key.0, tracks = bound.len(), "WHEP viewer joined");
        Ok((key, answer))
    }

    /// The video and audio track a WHEP viewer of `source` gets.
    fn whep_tracks(&self, room: &crate::ids::RoomName, source: &WhepSource) -> Result<(Option<TrackSid>, Option<TrackSid>), ServiceError> {
        let r = self.rooms.get(room).ok_or(ServiceError::RoomNotFound)?;
        let people: Vec<SessionKey> = r.participants.iter().copied().filter(|k| self.sessions.get(k).is_some_and(|p| !p.hidden())).collect();
        let tracks_of = |owner: SessionKey| {
            let mut mine: Vec<(&TrackSid, &super::state::PublishedTrack)> = r.tracks.iter().filter(|(_, t)| t.owner == owner).collect();
            mine.sort_by(|a, b| a.0.cmp(b.0));
            let by = |kind: MediaKind, source: lk::TrackSource| mine.iter().find(|(_, t)| t.kind == kind && t.info.source == source as i32).map(|(s, _)| (*s).clone());
            let video = by(MediaKind::Video, lk::TrackSource::Camera)
                .or_else(|| by(MediaKind::Video, lk::TrackSource::ScreenShare))
                .or_else(|| mine.iter().find(|(_, t)| t.kind == MediaKind::Video).map(|(s, _)| (*s).clone()));
            let audio = by(MediaKind::Audio, lk::TrackSource::Microphone).or_else(|| mine.iter().find(|(_, t)| t.kind == MediaKind::Audio).map(|(s, _)| (*s).clone()));
            (video, audio)
        };
        match source {
            WhepSource::Participant(identity) => {
                let owner = people
                    .iter()
                    .copied()
                    .find(|k| self.sessions.get(k).is_some_and(|p| &p.identity == identity))
                    .ok_or(ServiceError::ParticipantNotFound)?;
                let (video, audio) = tracks_of(owner);
                if video.is_none() && audio.is_none() {
                    return Err(ServiceError::TrackNotFound);
                }
                Ok((video, audio))
            }
            WhepSource::Room => people
                .iter()
                .map(|k| tracks_of(*k))
                .find(|(video, _)| video.is_some())
                .ok_or(ServiceError::TrackNotFound),
        }
    }

    /// Ends a session that has no signalling socket (a WHIP broadcast, a WHEP viewer). Returns
    /// whether it existed.
    pub fn end_http_session(&mut self, now: Instant, key: SessionKey) -> bool {
        if !self.sessions.contains_key(&key) {
            return false;
        }
        self.remove_session(now, key, CloseReason::Removed);
        true
    }

    /// Adds the remote candidates a client trickled by HTTP `PATCH` (RFC 8840 lines, with or
    /// without `a=`) to the connection it made over HTTP. Returns `None` when the session no
    /// longer exists, else how many lines were understood; the rest (mDNS names, TCP) are
    /// skipped, as on the signalling socket: ICE-lite learns the real address from the
    /// client's checks anyway.
    pub fn trickle_http_session(&mut self, now: Instant, key: SessionKey, lines: &[String]) -> Option<usize> {
        let p = self.sessions.get(&key)?;
        let Some(peer_id) = (if p.whep { p.subscriber } else { p.publisher }) else {
            return Some(0);
        };
        let candidates: Vec<_> = lines.iter().filter_map(|l| super::signal::parse_candidate(l.trim_start_matches("a="))).collect();
        let understood = candidates.len();
        if let Some(peer) = self.peers.get_mut(&peer_id) {
            for c in candidates {
                peer.rtc.add_remote_candidate(c);
            }
            self.after_mutation(now, peer_id, Ok(()));
        }
        Some(understood)
    }

    /// The participant sid of a session, while it exists.
    pub fn session_sid(&self, key: SessionKey) -> Option<String> {
        self.sessions.get(&key).map(|p| p.sid.to_string())
    }

    /// Which of these sessions still exist (for pruning the HTTP side's table).
    pub fn live_sessions(&self, keys: &[SessionKey]) -> Vec<bool> {
        keys.iter().map(|k| self.sessions.contains_key(k)).collect()
    }
}
