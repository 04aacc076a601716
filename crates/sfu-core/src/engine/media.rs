//! Media: peer events, subscriptions and the packet path.
//!
//! The packet path is [`Engine::forward_rtp`]: one incoming RTP packet from a publisher is
//! written to each subscriber's stream with rewritten numbers. The payload is shared
//! (`Arc<[u8]>`), never copied per subscriber; VP8 picture ids are patched by str0m while it
//! serialises, so no per-subscriber buffer exists either.

use std::time::{Duration, Instant};

use huiyi_proto::lk::{self, signal_response::Message as Response};
use huiyi_proto::Message as _;
use str0m::channel::{ChannelConfig, ChannelData, Reliability};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequest, KeyframeRequestKind, MediaAdded, MediaKind, Mid};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Vp8Descriptor};
use str0m::{Event, IceConnectionState};
use tracing::{debug, info, trace, warn};

use super::peer::{drain, PeerRole};
use super::state::{report_of, DownTrack, PublishedTrack};
use super::{Engine, Output};
use crate::forward::keyframe::{starts_keyframe, VideoCodec};
use crate::forward::munger::reported_gap;
use crate::forward::layer::{layer_of_rid, select_layer, LayerIndex};
use crate::ids::{PeerId, RoomName, SessionKey, TrackSid};
use crate::permission::may_publish;

/// Minimum spacing of keyframe requests to one publisher layer.
const PLI_INTERVAL: Duration = Duration::from_millis(500);
/// A layer that sent nothing for this long is treated as paused.
const LAYER_STALE: Duration = Duration::from_millis(1500);

const RELIABLE: &str = "_reliable";
const LOSSY: &str = "_lossy";

impl Engine {
    pub(crate) fn handle_peer_event(&mut self, now: Instant, peer_id: PeerId, event: Event) {
        let Some(peer) = self.peers.get_mut(&peer_id) else { return };
        let owner = peer.owner;
        let role = peer.role;
        match event {
            Event::Connected => {
                peer.connected = true;
                info!(peer = peer_id.0, ?role, "peer connected");
                if role == PeerRole::Subscriber {
                    self.request_keyframes_for(now, owner);
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                debug!(peer = peer_id.0, "ice disconnected");
                peer.connected = false;
            }
            // Back after a disconnection (the client's checks resumed, or an ICE restart after
            // a network outage). str0m says `Connected` only once, after the first DTLS
            // handshake, so without this a subscriber would get no media again.
            Event::IceConnectionStateChange(state) if state.is_connected() && !peer.connected && peer.rtc.is_connected() => {
                peer.connected = true;
                info!(peer = peer_id.0, ?role, "peer reconnected");
                if role == PeerRole::Subscriber {
                    self.request_keyframes_for(now, owner);
                }
            }
            Event::IceConnectionStateChange(_) => {}
            Event::MediaAdded(added) if role == PeerRole::Publisher => self.bind_published_media(now, owner, peer_id, added),
            Event::MediaChanged(changed) if role == PeerRole::Publisher => self.publisher_media_changed(now, owner, peer_id, changed),
            Event::RtpPacket(pkt) if role == PeerRole::Publisher => self.forward_rtp(now, owner, peer_id, pkt),
            Event::KeyframeRequest(req) if role == PeerRole::Subscriber => self.handle_subscriber_keyframe_request(now, owner, req),
            Event::EgressBitrateEstimate(str0m::bwe::BweKind::Twcc { estimate, .. }) => {
                peer.bwe_bps = Some(estimate.as_u64());
            }
            Event::ChannelOpen(id, label) => match label.as_str() {
                RELIABLE => peer.reliable = Some(id),
                LOSSY => peer.lossy = Some(id),
                _ => debug!(%label, "ignoring unknown data channel"),
            },
            Event::ChannelData(data) if role == PeerRole::Publisher => {
                // Reliability is the channel's, not the packet's (deprecated) `kind` field.
                let reliable = peer.lossy != Some(data.id);
                self.handle_data(now, owner, data, reliable)
            }
            Event::MediaIngressStats(st) => peer.loss = smooth_loss(peer.loss, st.loss),
            Event::MediaEgressStats(st) => {
                peer.loss = smooth_loss(peer.loss, st.loss);
                if role == PeerRole::Subscriber {
                    self.count_nacks(owner, &st);
                }
            }
            Event::Closed => debug!(peer = peer_id.0, "peer closed"),
            _ => {}
        }
    }

    // -------------------------------------------------------------------------------------------
    // Publishing

    /// A publisher's offer added a media line: bind it to the AddTrack request it belongs to.
    fn bind_published_media(&mut self, now: Instant, owner: SessionKey, peer_id: PeerId, added: MediaAdded) {
        let Some(peer) = self.peers.get(&peer_id) else { return };
        let track_id = peer.rtc.media(added.mid).map(|m| m.track_id().to_owned()).unwrap_or_default();
        let Some(p) = self.sessions.get_mut(&owner) else { return };
        let want = if added.kind == MediaKind::Audio { lk::TrackType::Audio } else { lk::TrackType::Video } as i32;
        // The client's cid is its MediaStreamTrack id, which is also the msid track id.
        // The line's kind must be the kind the AddTrack declared (and so fit its source).
        let idx = p
            .pending_tracks
            .iter()
            .position(|t| t.cid == track_id && t.info.r#type == want)
            .or_else(|| p.pending_tracks.iter().position(|t| t.info.r#type == want));
        let Some(idx) = idx else {
            debug!(mid = %added.mid, "media without a matching AddTrack request");
            return;
        };
        let mut pending = p.pending_tracks.remove(idx);
        // Permissions may have changed since the AddTrack: check again when media binds.
        if let Err(grant) = may_publish(&p.permission, pending.info.source) {
            info!(track = %pending.info.sid, grant, "media for a track the participant may no longer publish; not published");
            return;
        }
        if p.published.len() >= self.config.max_tracks_per_participant {
            info!(track = %pending.info.sid, "track limit reached; not published");
            return;
        }
        pending.info.mid = added.mid.to_string();
        if let Some(mime) = negotiated_mime(peer, added.mid) {
            pending.info.mime_type = mime.clone();
            pending.info.codecs = vec![lk::SimulcastCodecInfo {
                mime_type: mime,
                mid: added.mid.to_string(),
                cid: pending.cid.clone(),
                layers: pending.info.layers.clone(),
                ..Default::default()
            }];
        }
        let sid = TrackSid::from_wire(&pending.info.sid);
        p.published.insert(added.mid, sid.clone());
        // Mute on entry: the server mutes the first microphone, and tells the publisher.
        if p.mute_mic_on_publish && pending.info.source == lk::TrackSource::Microphone as i32 {
            p.mute_mic_on_publish = false;
            if !pending.info.muted {
                pending.info.muted = true;
                self.outputs.push_back(Output::Signal(owner, Response::Mute(lk::MuteTrackRequest { sid: sid.to_string(), muted: true })));
            }
        }
        let room_name = p.room.clone();
        let track = PublishedTrack {
            owner,
            info: pending.info,
            peer: peer_id,
            mid: added.mid,
            kind: added.kind,
            codec: None,
            subscribers: Vec::new(),
            layer_seen: [None; 3],
            last_pli: [None; 3],
            announced_layers: None,
        };
        let Some(room) = self.rooms.get_mut(&room_name) else { return };
        room.tracks.insert(sid.clone(), track);
        self.participant_changed(owner);
        // Auto-subscribe everyone else.
        let others: Vec<SessionKey> = room_participants(self, &room_name).into_iter().filter(|k| *k != owner).collect();
        for k in others {
            if self.sessions.get(&k).is_some_and(|p| p.auto_subscribe && p.permission.can_subscribe) {
                self.subscribe(now, k, &sid);
                self.negotiate_subscriber(now, k);
            }
        }
        self.taps_track_published(now, &room_name, &sid);
    }

    /// A renegotiation changed a publisher media line. A client unpublishes by making the line
    /// stop sending, and may later reuse the line for a new track.
    fn publisher_media_changed(&mut self, now: Instant, owner: SessionKey, peer_id: PeerId, changed: str0m::media::MediaChanged) {
        let Some(p) = self.sessions.get(&owner) else { return };
        let bound = p.published.get(&changed.mid).cloned();
        match (bound, changed.direction.is_receiving()) {
            (Some(sid), false) => {
                let room = p.room.clone();
                info!(track = %sid, "track unpublished by renegotiation");
                self.unpublish_track(now, &room, &sid);
                self.participant_changed(owner);
            }
            (None, true) => {
                let kind = self.peers.get(&peer_id).and_then(|peer| peer.rtc.media(changed.mid)).map(|m| m.kind());
                if let Some(kind) = kind {
                    let added = MediaAdded { mid: changed.mid, kind, direction: changed.direction, simulcast: None };
                    self.bind_published_media(now, owner, peer_id, added);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn unpublish_track(&mut self, now: Instant, room: &RoomName, sid: &TrackSid) {
        let Some(track) = self.rooms.get_mut(room).and_then(|r| r.tracks.remove(sid)) else { return };
        for k in track.subscribers {
            self.remove_downtrack(k, sid);
            self.negotiate_subscriber(now, k);
        }
        if let Some(p) = self.sessions.get_mut(&track.owner) {
            p.published.remove(&track.mid);
        }
        self.outputs.push_back(Output::Signal(
            track.owner,
            Response::TrackUnpublished(lk::TrackUnpublishedResponse { track_sid: sid.to_string() }),
        ));
    }

    // -------------------------------------------------------------------------------------------
    // Subscribing

    /// Creates the subscriber peer connection with the server's two data channels.
    pub(crate) fn ensure_subscriber(&mut self, now: Instant, key: SessionKey) {
        if self.sessions.get(&key).is_none_or(|p| p.subscriber.is_some()) {
            return;
        }
        let rtc = self.new_rtc(now, PeerRole::Subscriber);
        let id = self.register_peer(now, key, PeerRole::Subscriber, rtc);
        if let (Some(peer), Some(p)) = (self.peers.get_mut(&id), self.sessions.get_mut(&key)) {
            p.subscriber = Some(id);
            // The data channels are added by the first negotiate_subscriber.
            peer.renegotiate = true;
        }
    }

    /// Subscribes a newly joined participant to every track already in the room.
    pub(crate) fn subscribe_existing(&mut self, now: Instant, key: SessionKey) {
        let Some(p) = self.sessions.get(&key) else { return };
        if !p.auto_subscribe || !p.permission.can_subscribe {
            return;
        }
        let Some(room) = self.rooms.get(&p.room) else { return };
        let sids: Vec<TrackSid> = room.tracks.iter().filter(|(_, t)| t.owner != key).map(|(s, _)| s.clone()).collect();
        for sid in sids {
            self.subscribe(now, key, &sid);
        }
    }

    /// Adds a down track (negotiated by the next `negotiate_subscriber`).
    pub(crate) fn subscribe(&mut self, _now: Instant, key: SessionKey, sid: &TrackSid) {
        let Some(p) = self.sessions.get_mut(&key) else { return };
        if p.downtracks.contains_key(sid) || !p.permission.can_subscribe {
            return;
        }
        let Some(track) = self.rooms.get_mut(&p.room).and_then(|r| r.tracks.get_mut(sid)) else { return };
        if track.owner == key {
            return;
        }
        track.subscribers.push(key);
        p.downtracks.insert(sid.clone(), DownTrack::new(sid.clone(), track.kind));
        if let Some(peer) = p.subscriber.and_then(|id| self.peers.get_mut(&id)) {
            peer.renegotiate = true;
        }
    }

    pub(crate) fn unsubscribe(&mut self, _now: Instant, key: SessionKey, sid: &TrackSid) {
        let Some(room) = self.sessions.get(&key).map(|p| p.room.clone()) else { return };
        if let Some(t) = self.rooms.get_mut(&room).and_then(|r| r.tracks.get_mut(sid)) {
            t.subscribers.retain(|k| *k != key);
        }
        self.remove_downtrack(key, sid);
    }

    fn remove_downtrack(&mut self, key: SessionKey, sid: &TrackSid) {
        let Some(p) = self.sessions.get_mut(&key) else { return };
        let Some(dt) = p.downtracks.remove(sid) else { return };
        if let Some((ssrc, _)) = dt.tap {
            self.outputs.push_back(Output::Event(super::RoomEvent::TapTrackRemoved { tap: key, ssrc, track_sid: sid.to_string() }));
            return;
        }
        let (Some(mid), Some(peer)) = (dt.mid, p.subscriber.and_then(|id| self.peers.get_mut(&id))) else { return };
        peer.pending_removals.push(mid);
        peer.renegotiate = true;
        peer.retire(sid);
    }

    /// Sends the subscriber an offer for every pending change, unless one is outstanding (then
    /// it is sent after the answer arrives).
    pub(crate) fn negotiate_subscriber(&mut self, now: Instant, key: SessionKey) {
        let Some(p) = self.sessions.get(&key) else { return };
        let Some(peer_id) = p.subscriber else { return };
        if p.whep {
            // The viewer's offer fixed its media lines; a line whose track ended stays idle.
            return;
        }
        // Down tracks that have no media line yet.
        let mut to_add: Vec<(TrackSid, MediaKind, String)> = Vec::new();
        for (sid, dt) in &p.downtracks {
            if dt.mid.is_none() && !p_has_pending_mid(p, sid) {
                if let Some(t) = self.rooms.get(&p.room).and_then(|r| r.tracks.get(sid)) {
                    let owner_sid = self.sessions.get(&t.owner).map(|o| o.sid.to_string()).unwrap_or_default();
                    to_add.push((sid.clone(), dt.kind, owner_sid));
                }
            }
        }
        let Some(peer) = self.peers.get_mut(&peer_id) else { return };
        if peer.pending_offer.is_some() {
            peer.renegotiate = peer.renegotiate || !to_add.is_empty();
            return;
        }
        if !peer.renegotiate && to_add.is_empty() {
            return;
        }
        peer.renegotiate = false;
        let add_channels = !peer.channels_added;
        peer.channels_added = true;
        let mut sdp = peer.rtc.sdp_api();
        if std::mem::take(&mut peer.ice_restart) {
            // str0m takes the new credentials when it accepts the answer, but the client checks
            // with them as soon as it has the offer: route its STUN here from now on.
            let creds = sdp.ice_restart(true);
            self.by_ufrag.remove(&peer.ufrag);
            self.by_ufrag.insert(creds.ufrag.clone(), peer_id);
            peer.ufrag = creds.ufrag;
            peer.ice_pass = creds.pass;
        }
        if add_channels {
            sdp.add_channel(RELIABLE.into());
            sdp.add_channel_with_config(ChannelConfig {
                label: LOSSY.into(),
                ordered: false,
                reliability: Reliability::MaxRetransmits { retransmits: 0 },
                ..Default::default()
            });
        }
        for mid in peer.pending_removals.drain(..) {
            sdp.set_direction(mid, Direction::Inactive);
        }
        let mut added = Vec::new();
        for (sid, kind, owner_sid) in to_add {
            // LiveKit clients read "<participant sid>|<track sid>" from the stream id. The msid's
            // track id must differ from that of an inactive line this track had before: libwebrtc
            // refuses an offer with two equal msids (and the Rust SDK aborts on it).
            let track_id = match peer.retired.contains(&sid) {
                true => format!("{sid}~{}", peer.lines_added),
                false => sid.to_string(),
            };
            peer.lines_added += 1;
            let mid = sdp.add_media(kind, Direction::SendOnly, Some(format!("{owner_sid}|{sid}")), Some(track_id), None);
            added.push((sid, mid));
        }
        let Some((offer, pending)) = sdp.apply() else {
            self.after_mutation(now, peer_id, Ok(()));
            return;
        };
        peer.pending_offer = Some(pending);
        peer.offer_id += 1;
        let offer_id = peer.offer_id;
        let mut mid_to_track = std::collections::HashMap::new();
        if let Some(p) = self.sessions.get_mut(&key) {
            for (sid, mid) in added {
                mid_to_track.insert(mid.to_string(), sid.to_string());
                p.pending_mids.push((sid, mid));
            }
        }
        self.outputs.push_back(Output::Signal(
            key,
            Response::Offer(lk::SessionDescription {
                r#type: "offer".into(),
                sdp: offer.to_sdp_string(),
                id: offer_id,
                mid_to_track_id: mid_to_track,
            }),
        ));
        self.after_mutation(now, peer_id, Ok(()));
    }

    /// After an answer: the offered media lines are now usable by their down tracks.
    pub(crate) fn bind_downtracks(&mut self, now: Instant, key: SessionKey) {
        let Some(p) = self.sessions.get_mut(&key) else { return };
        for (sid, mid) in std::mem::take(&mut p.pending_mids) {
            if let Some(dt) = p.downtracks.get_mut(&sid) {
                dt.mid = Some(mid);
            }
        }
        let sids: Vec<TrackSid> = p.downtracks.keys().cloned().collect();
        for sid in sids {
            self.retarget(now, key, &sid);
        }
    }

    /// Re-evaluates which layer a down track should get, and asks for a keyframe if it changes.
    pub(crate) fn retarget(&mut self, now: Instant, key: SessionKey, sid: &TrackSid) {
        self.choose_layer(now, key, sid);
        self.update_dynacast(sid);
    }

    /// [`Self::retarget`] without the dynacast announcement, for the tick's sweep, which
    /// announces once per track instead of once per subscriber.
    pub(crate) fn choose_layer(&mut self, now: Instant, key: SessionKey, sid: &TrackSid) {
        let Some(p) = self.sessions.get_mut(&key) else { return };
        let bwe = p.subscriber.and_then(|id| self.peers.get(&id)).and_then(|peer| peer.bwe_bps);
        let Some(track) = self.rooms.get(&p.room).and_then(|r| r.tracks.get(sid)) else { return };
        let Some(dt) = p.downtracks.get_mut(sid) else { return };
        if track.kind == MediaKind::Audio {
            dt.target = Some(0);
            return;
        }
        let available = layers_available(track, now);
        let target = select_layer(&track.info.layers, available, &dt.settings, bwe);
        if target != dt.target {
            debug!(track = %sid, ?target, "down track target layer");
            dt.target = target;
            if target.is_none() {
                // Paused: the next layer forwarded starts fresh, on a keyframe with a resync.
                dt.current = None;
            }
            if let Some(layer) = target {
                if dt.current != Some(layer) {
                    let (peer, mid) = (track.peer, track.mid);
                    let layer_rid = track.info.layers.len() > 1;
                    self.request_keyframe(now, peer, mid, layer, layer_rid, sid);
                }
            }
        }
    }

    fn request_keyframes_for(&mut self, now: Instant, key: SessionKey) {
        let Some(p) = self.sessions.get(&key) else { return };
        let sids: Vec<TrackSid> = p.downtracks.keys().cloned().collect();
        for sid in sids {
            let Some(p) = self.sessions.get(&key) else { return };
            let Some(t) = self.rooms.get(&p.room).and_then(|r| r.tracks.get(&sid)) else { continue };
            if t.kind == MediaKind::Video {
                let layer = p.downtracks.get(&sid).and_then(|d| d.target).unwrap_or(0);
                let (peer, mid, simulcast) = (t.peer, t.mid, t.info.layers.len() > 1);
                self.request_keyframe(now, peer, mid, layer, simulcast, &sid);
            }
        }
    }

    /// Sends a PLI to the publisher for one layer, at most every `PLI_INTERVAL`.
    pub(crate) fn request_keyframe(&mut self, now: Instant, peer_id: PeerId, mid: Mid, layer: LayerIndex, simulcast: bool, sid: &TrackSid) {
        let room = self.peers.get(&peer_id).and_then(|p| self.sessions.get(&p.owner)).map(|p| p.room.clone());
        if let Some(track) = room.and_then(|r| self.rooms.get_mut(&r)).and_then(|r| r.tracks.get_mut(sid)) {
            let last = &mut track.last_pli[layer as usize];
            if last.is_some_and(|t| now.duration_since(t) < PLI_INTERVAL) {
                return;
            }
            *last = Some(now);
        }
        let Some(peer) = self.peers.get_mut(&peer_id) else { return };
        let rid = simulcast.then(|| ["q", "h", "f"][layer as usize].into());
        let mut api = peer.rtc.direct_api();
        if let Some(rx) = api.stream_rx_by_mid(mid, rid) {
            rx.request_keyframe(KeyframeRequestKind::Pli);
            self.counters.plis_sent += 1;
        }
        self.after_mutation(now, peer_id, Ok(()));
    }

    fn handle_subscriber_keyframe_request(&mut self, now: Instant, key: SessionKey, req: KeyframeRequest) {
        let Some(p) = self.sessions.get(&key) else { return };
        let Some((sid, dt)) = p.downtracks.iter().find(|(_, d)| d.mid == Some(req.mid)) else { return };
        let Some(layer) = dt.current.or(dt.target) else { return };
        let sid = sid.clone();
        let Some(t) = self.rooms.get(&p.room).and_then(|r| r.tracks.get(&sid)) else { return };
        let (peer, mid, simulcast) = (t.peer, t.mid, t.info.layers.len() > 1);
        self.request_keyframe(now, peer, mid, layer, simulcast, &sid);
    }

    /// Dynacast: tell the publisher which simulcast layers anyone wants, so it stops encoding
    /// the others.
    pub(crate) fn update_dynacast(&mut self, sid: &TrackSid) {
        let Some((room, owner)) = self.find_track(sid) else { return };
        let Some(track) = self.rooms.get(&room).and_then(|r| r.tracks.get(sid)) else { return };
        if track.kind != MediaKind::Video || track.info.layers.len() < 2 {
            return;
        }
        let mut wanted = [false; 3];
        for k in &track.subscribers {
            if let Some(dt) = self.sessions.get(k).and_then(|p| p.downtracks.get(sid)) {
                // The wanted layer and everything below it (fallbacks on bandwidth drops).
                if let Some(t) = dt.target.or(dt.current) {
                    for w in wanted.iter_mut().take(t as usize + 1) {
                        *w = true;
                    }
                }
            }
        }
        if track.announced_layers == Some(wanted) {
            return;
        }
        let qualities: Vec<lk::SubscribedQuality> = [lk::VideoQuality::Low, lk::VideoQuality::Medium, lk::VideoQuality::High]
            .into_iter()
            .zip(wanted)
            .map(|(q, enabled)| lk::SubscribedQuality { quality: q as i32, enabled })
            .collect();
        let mime = if track.codec == Some(VideoCodec::H264) { "video/h264" } else { "video/vp8" };
        let update = lk::SubscribedQualityUpdate {
            track_sid: sid.to_string(),
            subscribed_qualities: qualities.clone(),
            subscribed_codecs: vec![lk::SubscribedCodec { codec: mime.into(), qualities }],
        };
        if let Some(t) = self.rooms.get_mut(&room).and_then(|r| r.tracks.get_mut(sid)) {
            t.announced_layers = Some(wanted);
        }
        self.outputs.push_back(Output::Signal(owner, Response::SubscribedQualityUpdate(update)));
    }

    fn find_track(&self, sid: &TrackSid) -> Option<(RoomName, SessionKey)> {
        self.rooms.iter().find_map(|(name, r)| r.tracks.get(sid).map(|t| (name.clone(), t.owner)))
    }

    // -------------------------------------------------------------------------------------------
    // The packet path

    fn forward_rtp(&mut self, now: Instant, owner: SessionKey, peer_id: PeerId, pkt: RtpPacket) {
        self.counters.received(pkt.payload.len());
        let ssrc = pkt.header.ssrc;
        let Some(peer) = self.peers.get_mut(&peer_id) else { return };
        let Some((mid, rid)) = peer.rtc.direct_api().stream_rx(&ssrc).map(|s| (s.mid(), s.rid())) else { return };
        let pub_params = publisher_codec(peer.rtc.codec_config(), pkt.header.payload_type);
        let Some(p) = self.sessions.get(&owner) else { return };
        let Some(sid) = p.published.get(&mid).cloned() else { return };
        let room_name = p.room.clone();
        let Some(room) = self.rooms.get_mut(&room_name) else { return };
        let Some(track) = room.tracks.get_mut(&sid) else { return };
        let layer = layer_of_rid(rid.as_deref());
        track.layer_seen[layer as usize] = Some(now);

        if track.kind == MediaKind::Audio {
            if let Some(level) = pkt.header.ext_vals.audio_level {
                room.speakers.handle_level(now, &owner, level.unsigned_abs());
            }
        } else if track.codec.is_none() {
            track.codec = pub_params.as_ref().and_then(|(p, _)| match p.spec().codec {
                Codec::Vp8 => Some(VideoCodec::Vp8),
                Codec::H264 => Some(VideoCodec::H264),
                _ => None,
            });
        }
        let is_keyframe = track.codec.is_some_and(|c| starts_keyframe(c, &pkt.payload));
        let is_video = track.kind == MediaKind::Video;
        let vp8 = (track.codec == Some(VideoCodec::Vp8)).then(|| Vp8Descriptor::parse(&pkt.payload).ok()).flatten();
        let subscribers = std::mem::take(&mut track.subscribers);
        // A subscriber waiting for a keyframe of this layer that does not come (its PLI was
        // lost, or sent before its media line existed) asks again, rate-limited.
        let mut waiting_for_keyframe = false;
        let mut failed: Vec<SessionKey> = Vec::new();

        for &sub in &subscribers {
            let Some(sp) = self.sessions.get_mut(&sub) else { continue };
            let tap_to = sp.tap.as_ref().map(|t| t.to);
            let sub_peer_id = sp.subscriber;
            let Some(dt) = sp.downtracks.get_mut(&sid) else { continue };
            if tap_to.is_none() && dt.mid.is_none() {
                continue;
            }
            // Layer choice: forward the current layer; switch to the target on its keyframe.
            if is_video {
                if dt.current != Some(layer) {
                    if dt.target != Some(layer) {
                        continue;
                    }
                    if !is_keyframe {
                        waiting_for_keyframe = true;
                        continue;
                    }
                    // The new layer's keyframe goes where the sender's reports put its capture
                    // time; failing those, by the time since the last packet left.
                    let by_arrival = dt.last_sent.map(|t| (now.duration_since(t).as_secs_f64() * dt.clock_rate as f64) as u32).unwrap_or(0);
                    let by_reports = match (dt.munger.last_timestamp(), dt.out_report, report_of(&pkt)) {
                        (Some(last), Some(out), Some(new)) => reported_gap(last, out, new, pkt.header.timestamp, dt.clock_rate),
                        _ => None,
                    };
                    trace!(track = %sid, tap = ?dt.tap.map(|(ssrc, _)| ssrc), layer, by_arrival, ?by_reports, "layer switch");
                    dt.munger.resync(by_reports.unwrap_or(by_arrival));
                    // Until the new layer's own report is seen, none maps its timeline.
                    dt.out_report = None;
                    if dt.current.is_some() {
                        self.counters.layer_switches += 1;
                    }
                    dt.current = Some(layer);
                } else if dt.target.is_none() {
                    continue;
                }
            }
            if let (Some(to), Some((ssrc, pt))) = (tap_to, dt.tap) {
                // A media tap: plain RTP to the worker's socket, Opus unwrapped from RED.
                let payload: &[u8] = match &pub_params {
                    Some((_, true)) => match super::tap::red_primary(&pkt.payload) {
                        Some(primary) => primary,
                        None => continue,
                    },
                    _ => &pkt.payload,
                };
                let Some(m) = dt.munger.munge(*pkt.seq_no, pkt.header.timestamp, vp8.and_then(|d| d.picture_id())) else { continue };
                dt.last_sent = Some(now);
                let reported = dt.note_report(&pkt, m.timestamp);
                let mut packet = super::tap::rtp_packet(pt, pkt.header.marker, m.seq as u16, m.timestamp, ssrc, payload);
                if let (Some(_), Some(pic)) = (vp8, m.picture_id) {
                    super::tap::patch_vp8_picture_id(&mut packet[12..], pic);
                }
                self.counters.sent(payload.len());
                dt.tap_packets = dt.tap_packets.wrapping_add(1);
                dt.tap_octets = dt.tap_octets.wrapping_add(payload.len() as u32);
                self.outputs.push_back(Output::TapTransmit { to, packet });
                // The publisher's latest sender report, moved onto the tap's timeline (the
                // munger's offset for this very packet), whenever it is new: what lets the
                // worker put each participant's sound and picture back together.
                if let Some((ntp, rtp)) = reported.filter(|r| dt.tap_report != Some(*r)) {
                    dt.tap_report = Some((ntp, rtp));
                    let report = super::tap::sender_report(ssrc, ntp, rtp, dt.tap_packets, dt.tap_octets);
                    self.outputs.push_back(Output::TapTransmit { to, packet: report });
                }
                continue;
            }
            let (Some(sub_peer_id), Some(out_mid)) = (sub_peer_id, dt.mid) else { continue };
            let Some(sub_peer) = self.peers.get_mut(&sub_peer_id) else { continue };
            if !sub_peer.connected {
                continue;
            }
            let out_pt = match dt.pt_map.iter().find(|(i, _)| *i == pkt.header.payload_type) {
                Some((_, o)) => *o,
                None => {
                    let o = pub_params.as_ref().and_then(|(pp, red)| {
                        let m = sub_peer.rtc.codec_config().match_params(*pp)?;
                        match (*red, m.red()) {
                            (true, Some(red_pt)) => Some((red_pt, false)),
                            // RED to a subscriber without it: the primary block, as plain Opus.
                            (true, None) => Some((m.pt(), true)),
                            (false, _) => Some((m.pt(), false)),
                        }
                    });
                    if o.is_none() {
                        debug!(track = %sid, pt = ?pkt.header.payload_type, params = ?pub_params, "no matching codec at the subscriber; not forwarding this payload type");
                    }
                    dt.pt_map.push((pkt.header.payload_type, o));
                    o
                }
            };
            let Some((out_pt, unwrap_red)) = out_pt else { continue };
            let payload: std::sync::Arc<[u8]> = if unwrap_red {
                match super::tap::red_primary(&pkt.payload) {
                    Some(primary) => primary.into(),
                    None => continue,
                }
            } else {
                pkt.payload.clone()
            };
            let Some(m) = dt.munger.munge(*pkt.seq_no, pkt.header.timestamp, vp8.and_then(|d| d.picture_id())) else { continue };
            dt.last_sent = Some(now);
            dt.note_report(&pkt, m.timestamp);
            let mut ext = ExtensionValues::default();
            ext.audio_level = pkt.header.ext_vals.audio_level;
            ext.voice_activity = pkt.header.ext_vals.voice_activity;
            ext.video_orientation = pkt.header.ext_vals.video_orientation;
            let mut write = RtpWrite::new(out_pt, m.seq.into(), m.timestamp, now, payload)
                .marker(pkt.header.marker)
                .ext_vals(ext)
                .nackable(is_video);
            if let (Some(d), Some(pic)) = (vp8, m.picture_id) {
                if let Ok(patch) = d.patch().picture_id(pic).build() {
                    write = write.vp8_patch(patch);
                }
            }
            let mut api = sub_peer.rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(out_mid, None) else { continue };
            // Forwarded media leaves as it came: the publisher paced it already, and pacing
            // it again only delays a frame's last packets (the estimate is kept either way).
            tx.set_unpaced(true);
            tx.write_rtp(write);
            if let Err(e) = drain(sub_peer_id, sub_peer, &mut self.outputs, &mut self.events, &mut self.timers) {
                warn!(%e, session = sub.0, "subscriber peer failed while forwarding; ending its session");
                failed.push(sub);
            }
            self.counters.sent(pkt.payload.len());
        }
        if let Some(track) = self.rooms.get_mut(&room_name).and_then(|r| r.tracks.get_mut(&sid)) {
            track.subscribers = subscribers;
            if waiting_for_keyframe {
                let (peer, mid, simulcast) = (track.peer, track.mid, track.info.layers.len() > 1);
                self.request_keyframe(now, peer, mid, layer, simulcast, &sid);
            }
        }
        // Ended after the loop: removing a session mutates the subscriber lists walked above.
        self.remove_failed(now, failed);
    }

    // -------------------------------------------------------------------------------------------
    // Data packets

    fn handle_data(&mut self, now: Instant, owner: SessionKey, data: ChannelData, reliable: bool) {
        use crate::interaction::{self, Delivery, Kind};
        let Some(p) = self.sessions.get(&owner) else { return };
        if !p.permission.can_publish_data {
            debug!("data from a participant without canPublishData dropped");
            return;
        }
        let mut packet = match lk::DataPacket::decode(data.data.as_slice()) {
            Ok(pk) => pk,
            Err(e) => {
                debug!(%e, "malformed data packet dropped");
                return;
            }
        };
        // The server stamps the sender; a client cannot speak for someone else.
        packet.participant_identity = p.identity.to_string();
        packet.participant_sid = p.sid.to_string();
        let mut destinations = packet.destination_identities.clone();
        if let Some(lk::data_packet::Value::User(user)) = packet.value.as_mut() {
            user.participant_identity = p.identity.to_string();
            user.participant_sid = p.sid.to_string();
            destinations.extend(user.destination_identities.iter().cloned());
        }
        packet.kind = if reliable { lk::data_packet::Kind::Reliable } else { lk::data_packet::Kind::Lossy } as i32;
        let room = p.room.clone();
        let kind = interaction::classify(&packet);
        if !matches!(kind, Kind::Other) && !self.sessions.get_mut(&owner).is_some_and(|p| p.data_bucket.take(now)) {
            debug!(identity = %packet.participant_identity, "chat, hand or reaction over the rate limit dropped");
            return;
        }
        match kind {
            Kind::Other | Kind::Reaction => {}
            Kind::BadChat(why) => {
                debug!(why, "bad chat message or reaction dropped");
                return;
            }
            Kind::BadReaction => {
                debug!("a reaction that is not one short emoji dropped");
                return;
            }
            Kind::ServerTopic => {
                debug!(identity = %packet.participant_identity, "a participant's packet on a server topic dropped");
                return;
            }
            Kind::Hand(request) => return self.handle_hand(owner, request),
            Kind::Chat(_) | Kind::ChatStream => {
                let sender_is_host = self.sessions.get(&owner).is_some_and(|p| interaction::is_host(&p.attributes));
                let hosts: Vec<String> = room_participants(self, &room)
                    .iter()
                    .filter_map(|k| self.sessions.get(k))
                    .filter(|p| interaction::is_host(&p.attributes))
                    .map(|p| p.identity.to_string())
                    .collect();
                let rule = self.rooms.get(&room).map(|r| r.chat).unwrap_or_default();
                destinations = match interaction::chat_delivery(rule, sender_is_host, &destinations, &hosts) {
                    Delivery::Everyone => Vec::new(),
                    Delivery::To(list) => list,
                    Delivery::Refused(why) => {
                        debug!(identity = %packet.participant_identity, why, "chat message refused by the room's chat rule");
                        return;
                    }
                };
                packet.destination_identities = destinations.clone();
                if let Some(lk::data_packet::Value::User(user)) = packet.value.as_mut() {
                    user.destination_identities = destinations.clone();
                }
                if let Kind::Chat(text) = kind {
                    self.record_chat(&mut packet, owner, text, &destinations);
                }
            }
        }
        self.send_data(now, &room, Some(owner), &destinations, reliable, &packet);
    }

    /// Stamps a chat message with the server's clock and hands it to the recorder.
    fn record_chat(&mut self, packet: &mut lk::DataPacket, owner: SessionKey, text: crate::interaction::ChatText, to: &[String]) {
        let Some(p) = self.sessions.get(&owner) else { return };
        let Some(room) = self.rooms.get_mut(&p.room) else { return };
        // Strictly increasing within a room, so the stored order is the order of delivery.
        let at_ms = self.now_ms.max(room.last_chat_ms + 1);
        room.last_chat_ms = at_ms;
        let id = if text.id.is_empty() { format!("{}-{}", p.sid, at_ms) } else { text.id };
        if let Some(lk::data_packet::Value::ChatMessage(m)) = packet.value.as_mut() {
            m.timestamp = at_ms;
            m.id = id.clone();
        }
        self.outputs.push_back(Output::Event(super::RoomEvent::Chat(super::ChatEvent {
            room: room.name.to_string(),
            room_sid: room.sid.to_string(),
            id,
            identity: p.identity.to_string(),
            name: p.name.clone(),
            to: to.to_vec(),
            text: text.text,
            at_ms,
        })));
    }

    /// Raises or lowers a hand: the `huiyi.hand` attribute, announced like any participant
    /// change. Only a host may lower someone else's.
    fn handle_hand(&mut self, owner: SessionKey, request: crate::interaction::HandRequest) {
        use crate::interaction::{is_host, HandRequest, HAND_ATTRIBUTE};
        let Some(p) = self.sessions.get(&owner) else { return };
        let room = p.room.clone();
        let sender_is_host = is_host(&p.attributes);
        let targets: Vec<SessionKey> = match &request {
            HandRequest::Raise | HandRequest::Lower => vec![owner],
            HandRequest::LowerOther(_) | HandRequest::LowerAll if !sender_is_host => {
                debug!(identity = %p.identity, "a participant who is not a host tried to lower a hand");
                return;
            }
            HandRequest::LowerOther(who) => room_participants(self, &room).into_iter().filter(|k| self.sessions.get(k).is_some_and(|q| q.identity.as_str() == who)).collect(),
            HandRequest::LowerAll => room_participants(self, &room),
        };
        let raise = request == HandRequest::Raise;
        let now_ms = self.now_ms;
        for k in targets {
            let Some(q) = self.sessions.get_mut(&k) else { continue };
            let changed = if raise {
                // Raising a raised hand keeps its place in the queue.
                !q.attributes.contains_key(HAND_ATTRIBUTE) && q.attributes.insert(HAND_ATTRIBUTE.to_owned(), now_ms.to_string()).is_none()
            } else {
                q.attributes.remove(HAND_ATTRIBUTE).is_some()
            };
            if changed {
                self.participant_changed(k);
            }
        }
    }

    /// Sends a data packet to everyone in the room but `from`, or only to `destinations` when
    /// that is not empty.
    pub(crate) fn send_data(&mut self, now: Instant, room: &RoomName, from: Option<SessionKey>, destinations: &[String], reliable: bool, packet: &lk::DataPacket) {
        let bytes = packet.encode_to_vec();
        for k in room_participants(self, room) {
            if Some(k) == from {
                continue;
            }
            let Some(p) = self.sessions.get(&k) else { continue };
            // The waiting room receives no data.
            if p.waiting() {
                continue;
            }
            if !destinations.is_empty() && !destinations.iter().any(|d| d == p.identity.as_str()) {
                continue;
            }
            let Some(peer_id) = p.subscriber else { continue };
            let Some(peer) = self.peers.get_mut(&peer_id) else { continue };
            let Some(ch_id) = (if reliable { peer.reliable } else { peer.lossy }).or(peer.reliable) else { continue };
            if let Some(mut ch) = peer.rtc.channel(ch_id) {
                if let Err(e) = ch.write(true, &bytes) {
                    debug!(%e, "data channel write failed");
                }
            }
            self.after_mutation(now, peer_id, Ok(()));
        }
    }
}

/// The publisher's codec for a payload type, and whether the type is that codec's RED
/// (RFC 2198) wrapper: Chrome sends Opus as RED, which str0m models as part of Opus.
fn publisher_codec(config: &str0m::format::CodecConfig, pt: str0m::media::Pt) -> Option<(str0m::format::PayloadParams, bool)> {
    if let Some(p) = config.find(|p| p.pt() == pt) {
        return Some((p.clone(), false));
    }
    config.find(|p| p.red() == Some(pt)).map(|p| (p.clone(), true))
}

/// The MIME type of the first codec negotiated on a publisher's media line (`video/VP8`).
fn negotiated_mime(peer: &super::peer::Peer, mid: Mid) -> Option<String> {
    let media = peer.rtc.media(mid)?;
    let pt = *media.remote_pts().first()?;
    let params = peer.rtc.codec_config().find(|p| p.pt() == pt)?;
    let spec = params.spec();
    let kind = if spec.codec.is_audio() { "audio" } else { "video" };
    let name = match spec.codec {
        Codec::Opus => "opus".to_owned(),
        Codec::Vp8 => "VP8".to_owned(),
        Codec::H264 => "H264".to_owned(),
        other => format!("{other}"),
    };
    Some(format!("{kind}/{name}"))
}

fn smooth_loss(prev: f32, sample: Option<f32>) -> f32 {
    let sample = sample.unwrap_or(0.0).clamp(0.0, 1.0);
    prev * 0.7 + sample * 0.3
}

fn p_has_pending_mid(p: &super::state::Participant, sid: &TrackSid) -> bool {
    p.pending_mids.iter().any(|(s, _)| s == sid)
}

fn room_participants(engine: &Engine, room: &RoomName) -> Vec<SessionKey> {
    engine.rooms.get(room).map(|r| r.participants.clone()).unwrap_or_default()
}

fn layers_available(track: &PublishedTrack, now: Instant) -> [bool; 3] {
    let mut out = [false; 3];
    for (i, seen) in track.layer_seen.iter().enumerate() {
        out[i] = seen.is_some_and(|t| now.duration_since(t) < LAYER_STALE);
    }
    // Before any packet arrived, assume every announced layer will.
    if out == [false; 3] {
        let n = track.info.layers.len().clamp(1, 3);
        for o in out.iter_mut().take(n) {
            *o = true;
        }
    }
    out
}
