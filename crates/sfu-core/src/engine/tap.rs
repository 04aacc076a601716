//! Media taps: sessions that receive a room's media as plain RTP on a local socket, for the
//! recording and streaming worker (what mediasoup calls a plain transport).
//!
//! A tap is a hidden session of kind EGRESS with down tracks like any subscriber's, so the
//! same layer choice, munging and keyframe requests apply. Instead of a subscriber peer
//! connection it has a loopback address, and each down track leaves there with its own SSRC
//! and a fixed payload type (VP8 96, H.264 102, Opus 111) as [`Output::TapTransmit`]: no
//! encryption, no header extensions, and Opus without its RED wrapper. Each publisher's RTCP
//! sender reports follow on the same address whenever a new one arrived, with the tap's SSRC
//! and the RTP time moved by the munger's offset, so the worker can map every track's RTP time
//! to its sender's wallclock and keep a participant's sound and picture together. Only the server's
//! egress supervisor opens a tap, through [`Engine::open_tap`]; no signalling message can, and
//! a tap is never in a room's participant list, so nobody sees it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use huiyi_proto::lk;
use str0m::media::MediaKind;
use tracing::info;

use super::state::{DownTrack, Participant, PublishedTrack};
use super::{Engine, Output, RoomEvent, ServiceError};
use crate::ids::{ParticipantIdentity, ParticipantSid, RoomName, SessionKey, TrackSid};

pub const PT_VP8: u8 = 96;
pub const PT_H264: u8 = 102;
pub const PT_OPUS: u8 = 111;

/// What a tap receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TapScope {
    /// Every track of the room, present and future (a composite recording).
    Room,
    /// Every track of the participant with this identity, also after a rejoin.
    Participant(String),
    /// The participant's screen share and its sound (`screen_share`), or everything else
    /// (camera and microphone): LiveKit's participant egress.
    ParticipantMedia { identity: String, screen_share: bool },
    /// One track, by sid.
    Track(String),
}

/// A tap to open: which room, what of it, and where its packets go.
#[derive(Debug, Clone)]
pub struct TapSpec {
    pub room: String,
    /// A loopback address: the worker's socket.
    pub to: SocketAddr,
    pub scope: TapScope,
    pub audio: bool,
    pub video: bool,
}

/// One track as a tap receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapTrack {
    pub ssrc: u32,
    pub pt: u8,
    /// `video/VP8`, `video/H264` or `audio/opus`.
    pub mime: String,
    pub track_sid: String,
    pub participant_sid: String,
    pub identity: String,
    pub name: String,
    /// `camera`, `microphone`, `screen_share`, `screen_share_audio` or `unknown`.
    pub source: String,
}

/// The tap side of a session ([`Participant::tap`]).
#[derive(Debug, Clone)]
pub(crate) struct TapSink {
    pub to: SocketAddr,
    pub scope: TapScope,
    pub audio: bool,
    pub video: bool,
    /// The SSRC the next track gets: unique within the tap, never reused.
    pub next_ssrc: u32,
}

impl TapSink {
    fn wants(&self, track: &PublishedTrack, sid: &TrackSid, owner: &Participant) -> bool {
        let kind_ok = match track.kind {
            MediaKind::Audio => self.audio,
            MediaKind::Video => self.video,
        };
        kind_ok
            && match &self.scope {
                TapScope::Room => true,
                TapScope::Participant(identity) => owner.identity.as_str() == identity,
                TapScope::ParticipantMedia { identity, screen_share } => {
                    let share = [lk::TrackSource::ScreenShare as i32, lk::TrackSource::ScreenShareAudio as i32].contains(&track.info.source);
                    owner.identity.as_str() == identity && share == *screen_share
                }
                TapScope::Track(want) => sid.as_str() == want,
            }
    }
}

impl Engine {
    /// Opens a media tap on a room and subscribes it to every track its scope covers, asking
    /// each video publisher for a keyframe. Returns the tap's key and the tracks it receives
    /// now; later ones are announced as [`RoomEvent::TapTrackAdded`].
    pub fn open_tap(&mut self, now: Instant, now_ms: super::UnixMillis, spec: TapSpec) -> Result<(SessionKey, Vec<TapTrack>), ServiceError> {
        if !spec.to.ip().is_loopback() {
            return Err(ServiceError::InvalidArgument(format!("a tap sends only to loopback, not {}", spec.to)));
        }
        if !spec.audio && !spec.video {
            return Err(ServiceError::InvalidArgument("a tap needs audio, video or both".into()));
        }
        let room = RoomName::parse(&spec.room).map_err(|e| ServiceError::InvalidArgument(format!("room {e}")))?;
        let r = self.rooms.get(&room).ok_or(ServiceError::RoomNotFound)?;
        match &spec.scope {
            TapScope::Track(sid) if !r.tracks.contains_key(&TrackSid::from_wire(sid)) => return Err(ServiceError::TrackNotFound),
            TapScope::Participant(identity) | TapScope::ParticipantMedia { identity, .. }
                if !r.participants.iter().any(|k| self.sessions.get(k).is_some_and(|p| p.identity.as_str() == identity)) =>
            {
                return Err(ServiceError::ParticipantNotFound)
            }
            _ => {}
        }
        self.last_now = now;
        let key = SessionKey(self.alloc_id());
        let identity = ParticipantIdentity::parse(&format!("EG_tap_{}", key.0)).map_err(|e| ServiceError::InvalidArgument(format!("tap identity {e}")))?;
        let permission = lk::ParticipantPermission { can_subscribe: true, hidden: true, recorder: true, ..Default::default() };
        let tap = Participant {
            key,
            sid: ParticipantSid::generate(),
            identity,
            name: String::new(),
            metadata: String::new(),
            attributes: HashMap::new(),
            permission: permission.clone(),
            kind: lk::participant_info::Kind::Egress as i32,
            room: room.clone(),
            joined_at_ms: now_ms,
            version: 1,
            state: lk::participant_info::State::Active,
            auto_subscribe: false,
            publisher: None,
            subscriber: None,
            pending_tracks: Vec::new(),
            mute_mic_on_publish: false,
            published: HashMap::new(),
            pending_mids: Vec::new(),
            downtracks: HashMap::new(),
            data_bucket: crate::interaction::Bucket::new(now),
            may_rename: false,
            last_seen: now,
            disconnected_until: None,
            waiting_since: None,
            permission_after_wait: permission,
            announced: false,
            client_addr: None,
            tap: Some(TapSink { to: spec.to, scope: spec.scope, audio: spec.audio, video: spec.video, next_ssrc: 0x4855_0001 }),
            whep: false,
        };
        self.sessions.insert(key, tap);
        let sids: Vec<TrackSid> = match self.rooms.get_mut(&room) {
            Some(r) => {
                r.taps.push(key);
                let mut sids: Vec<TrackSid> = r.tracks.keys().cloned().collect();
                sids.sort();
                sids
            }
            None => Vec::new(),
        };
        let tracks: Vec<TapTrack> = sids.iter().filter_map(|sid| self.tap_subscribe(now, key, sid)).collect();
        info!(room = %room, tap = key.0, tracks = tracks.len(), "media tap opened");
        self.process_events(now);
        Ok((key, tracks))
    }

    /// Closes a tap. Returns whether it existed.
    pub fn close_tap(&mut self, key: SessionKey) -> bool {
        if !self.sessions.get(&key).is_some_and(|p| p.tap.is_some()) {
            return false;
        }
        let Some(p) = self.sessions.remove(&key) else { return false };
        if let Some(room) = self.rooms.get_mut(&p.room) {
            for sid in p.downtracks.keys() {
                if let Some(t) = room.tracks.get_mut(sid) {
                    t.subscribers.retain(|k| *k != key);
                }
            }
            room.taps.retain(|k| *k != key);
        }
        info!(room = %p.room, tap = key.0, "media tap closed");
        true
    }

    /// The tap's worker needs a keyframe of the video it receives as `ssrc` (it started, or
    /// lost packets). Rate-limited like a subscriber's PLI.
    pub fn tap_request_keyframe(&mut self, now: Instant, key: SessionKey, ssrc: u32) {
        let Some(p) = self.sessions.get(&key).filter(|p| p.tap.is_some()) else { return };
        let Some((sid, dt)) = p.downtracks.iter().find(|(_, d)| d.tap.is_some_and(|(s, _)| s == ssrc)) else { return };
        let Some(layer) = dt.current.or(dt.target) else { return };
        let sid = sid.clone();
        let Some(t) = self.rooms.get(&p.room).and_then(|r| r.tracks.get(&sid)) else { return };
        if t.kind != MediaKind::Video {
            return;
        }
        let (peer, mid, simulcast) = (t.peer, t.mid, t.info.layers.len() > 1);
        self.request_keyframe(now, peer, mid, layer, simulcast, &sid);
    }

    /// Limits the video a tap receives as `ssrc` to the smallest layer covering this size (a
    /// small tile in a composite needs no 720p); 0×0 asks for the best.
    pub fn tap_set_video_size(&mut self, now: Instant, key: SessionKey, ssrc: u32, width: u32, height: u32) {
        let Some(p) = self.sessions.get_mut(&key).filter(|p| p.tap.is_some()) else { return };
        let Some((sid, dt)) = p.downtracks.iter_mut().find(|(_, d)| d.tap.is_some_and(|(s, _)| s == ssrc)) else { return };
        dt.settings.width = width;
        dt.settings.height = height;
        let sid = sid.clone();
        self.retarget(now, key, &sid);
    }

    /// A track was published: every tap of its room whose scope covers it receives it.
    pub(crate) fn taps_track_published(&mut self, now: Instant, room: &RoomName, sid: &TrackSid) {
        let taps = self.rooms.get(room).map(|r| r.taps.clone()).unwrap_or_default();
        for key in taps {
            if let Some(track) = self.tap_subscribe(now, key, sid) {
                self.outputs.push_back(Output::Event(RoomEvent::TapTrackAdded { tap: key, track }));
            }
        }
    }

    /// The room is going away: its taps close, and the server hears of each.
    pub(crate) fn close_room_taps(&mut self, room: &RoomName) {
        let taps = self.rooms.get(room).map(|r| r.taps.clone()).unwrap_or_default();
        for key in taps {
            if self.close_tap(key) {
                self.outputs.push_back(Output::Event(RoomEvent::TapClosed { tap: key }));
            }
        }
    }

    /// The room's active speakers changed: its taps hear who speaks, loudest first.
    pub(crate) fn taps_speakers(&mut self, room: &RoomName, speakers: &[SessionKey]) {
        let Some(r) = self.rooms.get(room) else { return };
        if r.taps.is_empty() {
            return;
        }
        let identities: Vec<String> = speakers.iter().filter_map(|k| self.sessions.get(k)).map(|p| p.identity.to_string()).collect();
        for &tap in &r.taps {
            self.outputs.push_back(Output::Event(RoomEvent::TapSpeakers { tap, identities: identities.clone() }));
        }
    }

    /// Subscribes a tap to one track if its scope covers it; returns how the tap receives it.
    fn tap_subscribe(&mut self, now: Instant, key: SessionKey, sid: &TrackSid) -> Option<TapTrack> {
        let p = self.sessions.get(&key)?;
        let sink = p.tap.as_ref()?;
        if p.downtracks.contains_key(sid) {
            return None;
        }
        let room = self.rooms.get(&p.room)?;
        let track = room.tracks.get(sid)?;
        let owner = self.sessions.get(&track.owner)?;
        if !sink.wants(track, sid, owner) {
            return None;
        }
        let mime = tap_mime(track);
        let pt = match mime.as_str() {
            "video/H264" => PT_H264,
            "audio/opus" => PT_OPUS,
            _ => PT_VP8,
        };
        let info = TapTrack {
            ssrc: sink.next_ssrc,
            pt,
            mime,
            track_sid: sid.to_string(),
            participant_sid: owner.sid.to_string(),
            identity: owner.identity.to_string(),
            name: owner.name.clone(),
            source: source_name(track.info.source).into(),
        };
        let kind = track.kind;
        let room_name = p.room.clone();
        if let Some(t) = self.rooms.get_mut(&room_name).and_then(|r| r.tracks.get_mut(sid)) {
            t.subscribers.push(key);
        }
        let p = self.sessions.get_mut(&key)?;
        let sink = p.tap.as_mut()?;
        sink.next_ssrc = sink.next_ssrc.wrapping_add(1);
        let mut dt = DownTrack::new(sid.clone(), kind);
        dt.tap = Some((info.ssrc, info.pt));
        p.downtracks.insert(sid.clone(), dt);
        // Chooses the layer and asks the publisher for a keyframe to start on.
        self.retarget(now, key, sid);
        Some(info)
    }
}

/// The codec a tap announces for a track: what its publisher negotiated.
fn tap_mime(track: &PublishedTrack) -> String {
    let negotiated = track.info.mime_type.to_ascii_lowercase();
    match track.kind {
        MediaKind::Audio => "audio/opus".into(),
        MediaKind::Video if negotiated == "video/h264" => "video/H264".into(),
        MediaKind::Video => "video/VP8".into(),
    }
}

fn source_name(source: i32) -> &'static str {
    match lk::TrackSource::try_from(source) {
        Ok(lk::TrackSource::Camera) => "camera",
        Ok(lk::TrackSource::Microphone) => "microphone",
        Ok(lk::TrackSource::ScreenShare) => "screen_share",
        Ok(lk::TrackSource::ScreenShareAudio) => "screen_share_audio",
        _ => "unknown",
    }
}

/// A plain RTP packet (RFC 3550): a 12-byte header and the payload, nothing else.
pub(crate) fn rtp_packet(pt: u8, marker: bool, seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + payload.len());
    out.push(0x80);
    out.push((u8::from(marker) << 7) | (pt & 0x7f));
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An RTCP sender report (RFC 3550 §6.4.1) with no report blocks: 28 bytes.
pub(crate) fn sender_report(ssrc: u32, ntp: u64, rtp: u32, packets: u32, octets: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(28);
    out.push(0x80);
    out.push(200);
    out.extend_from_slice(&6u16.to_be_bytes()); // length in 32-bit words, minus one
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&ntp.to_be_bytes());
    out.extend_from_slice(&rtp.to_be_bytes());
    out.extend_from_slice(&packets.to_be_bytes());
    out.extend_from_slice(&octets.to_be_bytes());
    out
}

/// A wallclock time as a 64-bit NTP timestamp (seconds since 1900 in 32.32 fixed point), or
/// `None` for a time before 1970 (str0m clamps an SR's NTP time it cannot place to the Unix
/// epoch, which carries no information).
pub(crate) fn ntp_64(t: std::time::SystemTime) -> Option<u64> {
    const SECS_1900_TO_1970: u64 = 2_208_988_800;
    let since = t.duration_since(std::time::UNIX_EPOCH).ok().filter(|d| !d.is_zero())?;
    let secs = since.as_secs() + SECS_1900_TO_1970;
    let frac = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    Some((secs << 32) | frac)
}

/// The primary (newest) block of a RED payload (RFC 2198): after every block header and
/// every redundant block. `None` if the payload is malformed.
pub(crate) fn red_primary(payload: &[u8]) -> Option<&[u8]> {
    let mut at = 0;
    let mut redundant = 0usize;
    loop {
        let first = *payload.get(at)?;
        if first & 0x80 == 0 {
            at += 1;
            break;
        }
        let hdr = payload.get(at..at + 4)?;
        redundant += (usize::from(hdr[2] & 0x03) << 8) | usize::from(hdr[3]);
        at += 4;
    }
    payload.get(at + redundant..)
}

/// Rewrites the picture id of a VP8 payload descriptor (RFC 7741 §4.2) in place, keeping its
/// width (7 or 15 bits). Leaves a payload without one alone.
pub(crate) fn patch_vp8_picture_id(payload: &mut [u8], picture_id: u16) {
    if payload.len() < 3 || payload[0] & 0x80 == 0 || payload[1] & 0x80 == 0 {
        return;
    }
    if payload[2] & 0x80 != 0 {
        if payload.len() < 4 {
            return;
        }
        let id = picture_id & 0x7fff;
        payload[2] = 0x80 | (id >> 8) as u8;
        payload[3] = (id & 0xff) as u8;
    } else {
        payload[2] = (picture_id & 0x7f) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_sender_report() {
        let sr = sender_report(0x0102_0304, 0x1122_3344_5566_7788, 90_000, 10, 1200);
        assert_eq!(sr.len(), 28);
        assert_eq!(&sr[..8], &[0x80, 200, 0, 6, 1, 2, 3, 4]);
        assert_eq!(&sr[8..16], &0x1122_3344_5566_7788u64.to_be_bytes());
        assert_eq!(&sr[16..20], &90_000u32.to_be_bytes());
        assert_eq!(&sr[20..28], &[0, 0, 0, 10, 0, 0, 4, 176]);
    }

    #[test]
    fn converts_wallclock_to_ntp() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_762_803_975_500);
        let ntp = ntp_64(t).unwrap();
        assert_eq!(ntp >> 32, 1_762_803_975 + 2_208_988_800);
        assert_eq!(ntp & 0xffff_ffff, 1 << 31, "half a second");
        assert_eq!(ntp_64(std::time::UNIX_EPOCH), None);
    }

    #[test]
    fn writes_a_plain_rtp_header() {
        let p = rtp_packet(96, true, 0x1234, 0xdead_beef, 0x0102_0304, &[9, 8]);
        assert_eq!(p, vec![0x80, 0x80 | 96, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 9, 8]);
        assert_eq!(rtp_packet(111, false, 1, 2, 3, &[])[1], 111);
    }

    #[test]
    fn finds_the_primary_block_of_red() {
        // One redundant block of 3 bytes (pt 111), then the primary (pt 111) of 2 bytes.
        let red = [0x80 | 111, 0x00, 0x40, 0x03, 111, 1, 2, 3, 7, 7];
        assert_eq!(red_primary(&red), Some(&[7u8, 7][..]));
        // No redundancy: one 1-byte header.
        assert_eq!(red_primary(&[111, 5, 6]), Some(&[5u8, 6][..]));
        // Malformed: headers that run off the end, or a block longer than the payload.
        assert_eq!(red_primary(&[0x80 | 111, 0]), None);
        assert_eq!(red_primary(&[0x80 | 111, 0, 0x03, 0xff, 111, 1]), None);
        assert_eq!(red_primary(&[]), None);
    }

    #[test]
    fn patches_vp8_picture_ids_of_either_width() {
        // X, I, M: a 15-bit picture id.
        let mut long = [0x90, 0x80, 0x80 | 0x12, 0x34, 0xaa];
        patch_vp8_picture_id(&mut long, 0x0abc);
        assert_eq!(long, [0x90, 0x80, 0x80 | 0x0a, 0xbc, 0xaa]);
        // A 7-bit one keeps its width.
        let mut short = [0x90, 0x80, 0x05, 0xaa];
        patch_vp8_picture_id(&mut short, 0x1ff);
        assert_eq!(short, [0x90, 0x80, 0x7f, 0xaa]);
        // No extension: nothing to patch.
        let mut none = [0x10, 0xaa, 0xbb];
        patch_vp8_picture_id(&mut none, 7);
        assert_eq!(none, [0x10, 0xaa, 0xbb]);
        patch_vp8_picture_id(&mut [0x90, 0x80], 7);
    }
}
