//! Client signal messages (LiveKit `SignalRequest`) and what each one does.

use std::time::Instant;

use huiyi_proto::lk::{self, signal_request::Message as Request, signal_response::Message as Response};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::Candidate;
use tracing::{debug, warn};

use super::peer::PeerRole;
use super::state::PendingTrack;
use super::{CloseReason, Engine, Output};
use crate::forward::layer::TrackSettings;
use crate::ids::{SessionKey, TrackSid};
use crate::permission::{may_publish, source_fits_kind, StateError};

/// A client message that could not be applied. The session continues; the shell logs it.
/// (Malformed protobuf never reaches here: the shell rejects it with a close code.)
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("unknown session")]
    UnknownSession,
    #[error("invalid SDP: {0}")]
    BadSdp(String),
    #[error("the offer could not be accepted: {0}")]
    OfferRejected(String),
    #[error("answer without an outstanding offer")]
    UnexpectedAnswer,
    #[error("not permitted: {0}")]
    NotPermitted(&'static str),
    #[error("invalid trickle candidate: {0}")]
    BadCandidate(String),
    #[error("limit reached: {0}")]
    Limit(&'static str),
    #[error("{0}")]
    State(#[from] StateError),
}

/// Parses a trickled candidate line. Browsers append attributes (`generation`, `ufrag`,
/// `network-id`, `network-cost`) that the ICE parser does not take; they carry nothing the
/// server needs, so they are cut before parsing.
pub(super) fn parse_candidate(line: &str) -> Option<Candidate> {
    let line = if line.starts_with("candidate:") { line.to_owned() } else { format!("candidate:{line}") };
    if let Ok(c) = Candidate::from_sdp_string(&line) {
        return Some(c);
    }
    let mut kept: Vec<&str> = Vec::new();
    let mut tokens = line.split_whitespace();
    while let Some(t) = tokens.next() {
        if matches!(t, "generation" | "ufrag" | "network-id" | "network-cost") {
            tokens.next();
            continue;
        }
        kept.push(t);
    }
    Candidate::from_sdp_string(&kept.join(" ")).ok()
}

impl Engine {
    /// Applies one signal message from a session.
    pub fn handle_signal(&mut self, now: Instant, key: SessionKey, request: Request) -> Result<(), SignalError> {
        self.last_now = now;
        let p = self.sessions.get_mut(&key).ok_or(SignalError::UnknownSession)?;
        p.last_seen = now;
        let result = match request {
            Request::Offer(sd) => self.handle_publisher_offer(now, key, sd),
            Request::Answer(sd) => self.handle_subscriber_answer(now, key, sd),
            Request::Trickle(t) => self.handle_trickle(now, key, t),
            Request::AddTrack(req) => self.handle_add_track(key, req),
            Request::Mute(m) => {
                self.set_track_muted(key, &TrackSid::from_wire(&m.sid), m.muted);
                Ok(())
            }
            Request::Subscription(s) => {
                self.handle_update_subscription(now, key, s);
                Ok(())
            }
            Request::TrackSetting(s) => {
                self.handle_track_settings(now, key, s);
                Ok(())
            }
            Request::Leave(_) => {
                self.remove_session(now, key, CloseReason::ClientLeft);
                Ok(())
            }
            Request::Ping(ts) => {
                self.outputs.push_back(Output::Signal(key, Response::Pong(ts)));
                Ok(())
            }
            Request::PingReq(ping) => {
                let pong = lk::Pong { last_ping_timestamp: ping.timestamp, timestamp: self.now_ms };
                self.outputs.push_back(Output::Signal(key, Response::PongResp(pong)));
                Ok(())
            }
            Request::UpdateMetadata(m) => self.handle_update_metadata(key, m),
            Request::SyncState(_) | Request::Simulate(_) | Request::UpdateLayers(_) => Ok(()),
            Request::SubscriptionPermission(_) => Ok(()),
            Request::UpdateAudioTrack(_) | Request::UpdateVideoTrack(_) => Ok(()),
            other => {
                debug!(?other, "ignoring unsupported signal request");
                Ok(())
            }
        };
        self.process_events(now);
        result
    }

    fn handle_publisher_offer(&mut self, now: Instant, key: SessionKey, sd: lk::SessionDescription) -> Result<(), SignalError> {
        let offer = SdpOffer::from_sdp_string(&sd.sdp).map_err(|e| SignalError::BadSdp(e.to_string()))?;
        // Which media line carries which client track (the msid track id is the track's cid).
        let mids_by_track: Vec<(String, String)> = offer
            .media_lines
            .iter()
            .filter_map(|m| m.msid().map(|msid| (msid.track_id.clone(), m.mid().to_string())))
            .collect();
        let p = self.sessions.get(&key).ok_or(SignalError::UnknownSession)?;
        let peer_id = match p.publisher {
            Some(id) => id,
            None => {
                let rtc = self.new_rtc(now, PeerRole::Publisher);
                let id = self.register_peer(now, key, PeerRole::Publisher, rtc);
                if let Some(p) = self.sessions.get_mut(&key) {
                    p.publisher = Some(id);
                }
                id
            }
        };
        let peer = self.peers.get_mut(&peer_id).ok_or(SignalError::UnknownSession)?;
        let answer = match peer.rtc.sdp_api().accept_offer(offer) {
            Ok(a) => a,
            Err(e) => {
                self.after_mutation(now, peer_id, Ok(()));
                return Err(SignalError::OfferRejected(e.to_string()));
            }
        };
        // The codec each new track's publisher asked for goes first in its media line.
        let mut answer_sdp = answer.to_sdp_string();
        if let Some(p) = self.sessions.get(&key) {
            for t in &p.pending_tracks {
                let Some(codec) = t.codec.as_deref() else { continue };
                let Some((_, mid)) = mids_by_track.iter().find(|(track, _)| *track == t.cid) else { continue };
                if let Some(sdp) = super::codec_pref::prefer_codec(&answer_sdp, mid, codec) {
                    answer_sdp = sdp;
                }
            }
        }
        // An ICE restart in the offer changes our ufrag too.
        let old = std::mem::take(&mut peer.ufrag);
        peer.refresh_ufrag();
        if old != peer.ufrag {
            self.by_ufrag.remove(&old);
            self.by_ufrag.insert(peer.ufrag.clone(), peer_id);
        }
        self.outputs.push_back(Output::Signal(
            key,
            Response::Answer(lk::SessionDescription {
                r#type: "answer".into(),
                sdp: answer_sdp,
                id: sd.id,
                ..Default::default()
            }),
        ));
        self.after_mutation(now, peer_id, Ok(()));
        Ok(())
    }

    fn handle_subscriber_answer(&mut self, now: Instant, key: SessionKey, sd: lk::SessionDescription) -> Result<(), SignalError> {
        let answer = SdpAnswer::from_sdp_string(&sd.sdp).map_err(|e| SignalError::BadSdp(e.to_string()))?;
        let peer_id = self.sessions.get(&key).and_then(|p| p.subscriber).ok_or(SignalError::UnexpectedAnswer)?;
        let peer = self.peers.get_mut(&peer_id).ok_or(SignalError::UnexpectedAnswer)?;
        let pending = peer.pending_offer.take().ok_or(SignalError::UnexpectedAnswer)?;
        let result = peer.rtc.sdp_api().accept_answer(pending, answer);
        let again = std::mem::take(&mut peer.renegotiate);
        self.after_mutation(now, peer_id, result.map_err(|e| {
            warn!(%e, "subscriber answer rejected");
            e
        }));
        self.bind_downtracks(now, key);
        if again {
            self.negotiate_subscriber(now, key);
        }
        Ok(())
    }

    fn handle_trickle(&mut self, now: Instant, key: SessionKey, t: lk::TrickleRequest) -> Result<(), SignalError> {
        // candidateInit is the browser's RTCIceCandidateInit as JSON.
        #[derive(serde::Deserialize)]
        struct Init {
            candidate: String,
        }
        let init: Init = serde_json::from_str(&t.candidate_init).map_err(|e| SignalError::BadCandidate(e.to_string()))?;
        let line = init.candidate.trim();
        if line.is_empty() {
            return Ok(()); // end-of-candidates
        }
        let Some(candidate) = parse_candidate(line) else {
            // mDNS (.local) host candidates cannot be resolved here; ICE-lite learns the real
            // address from the first STUN request instead (peer-reflexive).
            debug!(candidate = line, "ignoring trickle candidate");
            return Ok(());
        };
        let p = self.sessions.get(&key).ok_or(SignalError::UnknownSession)?;
        let target = if t.target == PeerRole::Subscriber.signal_target() { p.subscriber } else { p.publisher };
        let Some(peer_id) = target else { return Ok(()) };
        if let Some(peer) = self.peers.get_mut(&peer_id) {
            peer.rtc.add_remote_candidate(candidate);
            self.after_mutation(now, peer_id, Ok(()));
        }
        Ok(())
    }

    fn handle_add_track(&mut self, key: SessionKey, req: lk::AddTrackRequest) -> Result<(), SignalError> {
        let (max_pending, max_tracks) = (self.config.max_pending_tracks, self.config.max_tracks_per_participant);
        let p = self.sessions.get_mut(&key).ok_or(SignalError::UnknownSession)?;
        let refusal = match may_publish(&p.permission, req.source) {
            Ok(()) if !source_fits_kind(req.source, req.r#type) => {
                Some((lk::request_response::Reason::InvalidRequest, "a source that fits the track type", format!("track {}: its source does not fit its type", req.cid)))
            }
            Err(grant) => Some((lk::request_response::Reason::NotAllowed, grant, format!("publishing {} is not permitted ({grant})", req.cid))),
            Ok(()) if p.pending_tracks.iter().any(|t| t.cid == req.cid) => return Ok(()), // a retransmitted request
            Ok(()) if p.pending_tracks.len() >= max_pending => {
                Some((lk::request_response::Reason::LimitExceeded, "pending tracks", format!("more than {max_pending} tracks are waiting for their media")))
            }
            Ok(()) if p.pending_tracks.len() + p.published.len() >= max_tracks => {
                Some((lk::request_response::Reason::LimitExceeded, "tracks", format!("a participant publishes at most {max_tracks} tracks")))
            }
            Ok(()) => None,
        };
        if let Some((reason, grant, message)) = refusal {
            // Tell the client at once rather than let it wait for a TrackPublished.
            self.outputs.push_back(Output::Signal(
                key,
                Response::RequestResponse(lk::RequestResponse { reason: reason as i32, message, ..Default::default() }),
            ));
            return Err(if reason == lk::request_response::Reason::NotAllowed { SignalError::NotPermitted(grant) } else { SignalError::Limit(grant) });
        }
        let kind = lk::TrackType::try_from(req.r#type).unwrap_or(lk::TrackType::Audio);
        let info = lk::TrackInfo {
            sid: TrackSid::generate().to_string(),
            r#type: kind as i32,
            name: req.name.clone(),
            muted: req.muted,
            width: req.width,
            height: req.height,
            simulcast: req.layers.len() > 1 || req.simulcast_codecs.iter().any(|c| !c.layers.is_empty()),
            disable_dtx: req.disable_dtx,
            source: req.source,
            layers: req.layers.clone(),
            stereo: req.stereo,
            disable_red: req.disable_red,
            encryption: req.encryption,
            stream: req.stream.clone(),
            mime_type: String::new(),
            ..Default::default()
        };
        self.outputs.push_back(Output::Signal(
            key,
            Response::TrackPublished(lk::TrackPublishedResponse { cid: req.cid.clone(), track: Some(info.clone()) }),
        ));
        // A microphone announced muted settles "mute on entry": the client joined muted, and
        // what it does next (unmuting this track, or publishing another) is the user's choice.
        if req.source == lk::TrackSource::Microphone as i32 && req.muted {
            p.mute_mic_on_publish = false;
        }
        // The codec the client wants for this track, when it names one ("h264", "vp8").
        let codec = req.simulcast_codecs.first().map(|c| c.codec.to_ascii_lowercase()).filter(|c| !c.is_empty());
        p.pending_tracks.push(PendingTrack { cid: req.cid, info, codec });
        Ok(())
    }

    fn set_track_muted(&mut self, key: SessionKey, sid: &TrackSid, muted: bool) {
        let Some(room) = self.sessions.get(&key).map(|p| p.room.clone()) else { return };
        let Some(track) = self.rooms.get_mut(&room).and_then(|r| r.tracks.get_mut(sid)) else {
            // Muting a track whose media has not arrived yet.
            if let Some(p) = self.sessions.get_mut(&key) {
                for t in p.pending_tracks.iter_mut().filter(|t| t.info.sid == sid.as_str()) {
                    t.info.muted = muted;
                }
            }
            return;
        };
        if track.owner != key || track.info.muted == muted {
            return;
        }
        track.info.muted = muted;
        self.participant_changed(key);
    }

    /// Server-side mute (RoomService.MutePublishedTrack): also tells the publisher.
    pub(crate) fn force_mute(&mut self, key: SessionKey, sid: &TrackSid, muted: bool) {
        self.set_track_muted(key, sid, muted);
        self.outputs.push_back(Output::Signal(key, Response::Mute(lk::MuteTrackRequest { sid: sid.to_string(), muted })));
    }

    fn handle_update_subscription(&mut self, now: Instant, key: SessionKey, s: lk::UpdateSubscription) {
        let mut sids: Vec<TrackSid> = s.track_sids.iter().map(|t| TrackSid::from_wire(t)).collect();
        sids.extend(s.participant_tracks.iter().flat_map(|pt| pt.track_sids.iter().map(|t| TrackSid::from_wire(t))));
        for sid in sids {
            if s.subscribe {
                self.subscribe(now, key, &sid);
            } else {
                self.unsubscribe(now, key, &sid);
            }
        }
        self.negotiate_subscriber(now, key);
    }

    fn handle_track_settings(&mut self, now: Instant, key: SessionKey, s: lk::UpdateTrackSettings) {
        let settings = TrackSettings {
            disabled: s.disabled,
            width: s.width,
            height: s.height,
            quality: lk::VideoQuality::try_from(s.quality).unwrap_or(lk::VideoQuality::High),
        };
        for sid in &s.track_sids {
            let sid = TrackSid::from_wire(sid);
            if let Some(dt) = self.sessions.get_mut(&key).and_then(|p| p.downtracks.get_mut(&sid)) {
                dt.settings = settings;
            }
            self.retarget(now, key, &sid);
        }
    }

    fn handle_update_metadata(&mut self, key: SessionKey, m: lk::UpdateParticipantMetadata) -> Result<(), SignalError> {
        let limits = self.config.state_limits;
        let p = self.sessions.get_mut(&key).ok_or(SignalError::UnknownSession)?;
        // A rename alone (clients resend the current metadata with it) is allowed where the
        // meeting lets participants rename themselves.
        let rename_only = !m.name.is_empty() && (m.metadata.is_empty() || m.metadata == p.metadata) && m.attributes.is_empty();
        if !p.permission.can_update_metadata && !(p.may_rename && rename_only) {
            self.outputs.push_back(Output::Signal(
                key,
                Response::RequestResponse(lk::RequestResponse {
                    request_id: m.request_id,
                    reason: lk::request_response::Reason::NotAllowed as i32,
                    message: "this participant may not change its name or metadata".into(),
                    ..Default::default()
                }),
            ));
            return Err(SignalError::NotPermitted("canUpdateOwnMetadata"));
        }
        limits.check_name(&m.name)?;
        limits.check_metadata(&m.metadata)?;
        limits.check_attributes(&p.attributes, &m.attributes)?;
        if let Some(k) = m.attributes.keys().find(|k| k.starts_with(crate::interaction::RESERVED_PREFIX)) {
            debug!(key = %k, "a client tried to set a server attribute on itself");
            // Answered, so the client's call fails at once instead of waiting for an update.
            self.outputs.push_back(Output::Signal(
                key,
                Response::RequestResponse(lk::RequestResponse {
                    request_id: m.request_id,
                    reason: lk::request_response::Reason::NotAllowed as i32,
                    message: format!("attribute {k}: attributes under huiyi. are set by the server"),
                    ..Default::default()
                }),
            ));
            return Err(SignalError::NotPermitted("attributes under huiyi. are set by the server"));
        }
        if !m.name.is_empty() {
            p.name = m.name;
        }
        if !m.metadata.is_empty() {
            p.metadata = m.metadata;
        }
        for (k, v) in m.attributes {
            if v.is_empty() {
                p.attributes.remove(&k);
            } else {
                p.attributes.insert(k, v);
            }
        }
        self.participant_changed(key);
        Ok(())
    }
}
