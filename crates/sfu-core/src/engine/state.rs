//! The engine's model of rooms, participants and tracks, and their LiveKit wire views.

use std::collections::HashMap;
use std::time::Instant;

use huiyi_proto::lk;
use str0m::media::{MediaKind, Mid, Pt};

use crate::forward::keyframe::VideoCodec;
use crate::forward::layer::{LayerIndex, TrackSettings};
use crate::forward::munger::RtpMunger;
use crate::ids::{ParticipantIdentity, ParticipantSid, PeerId, RoomName, RoomSid, SessionKey, TrackSid};
use crate::speaker::SpeakerDetector;

/// Unix time in milliseconds. The only wall-clock reading in sfu-core: LiveKit's wire
/// format carries creation and join times. The caller passes it in, like `now`.
pub type UnixMillis = i64;

pub(crate) struct Room {
    pub sid: RoomSid,
    pub name: RoomName,
    pub metadata: String,
    pub created_at_ms: UnixMillis,
    /// 0 means unlimited.
    pub max_participants: u32,
    /// Seconds the room lives on with nobody in it.
    pub empty_timeout: u32,
    pub departure_timeout: u32,
    /// Sessions in join order.
    pub participants: Vec<SessionKey>,
    pub tracks: HashMap<TrackSid, PublishedTrack>,
    pub speakers: SpeakerDetector<SessionKey>,
    /// The speaker set last announced, to send updates only on change.
    pub last_speakers: Vec<(SessionKey, bool)>,
    /// When the last participant left; the room closes after `empty_timeout`.
    pub empty_since: Option<Instant>,
    pub version: u64,
    /// Who may chat with whom (`interaction::chat_delivery`); set by each join and by
    /// `Engine::set_chat_rule`.
    pub chat: crate::interaction::ChatRule,
    /// The stamp of the last chat message, so that stamps only grow.
    pub last_chat_ms: UnixMillis,
    /// Connection quality as last announced, per participant: later updates carry only the
    /// changes, so a large room costs nothing while nobody's quality moves.
    pub quality: HashMap<SessionKey, lk::ConnectionQualityInfo>,
    /// Who has been sent the whole quality list, and whether they were admitted then (the
    /// waiting room hears only of itself, so admission calls for the whole list again).
    pub quality_synced: HashMap<SessionKey, bool>,
    /// Media taps of the room's recordings and streams (`engine::tap`): sessions that
    /// receive media but are not participants anyone sees.
    pub taps: Vec<SessionKey>,
    /// Something records the room (set by the server's recording jobs).
    pub active_recording: bool,
}

impl Room {
    pub fn new(name: RoomName, now: Instant, now_ms: UnixMillis) -> Self {
        Self {
            sid: RoomSid::generate(),
            name,
            metadata: String::new(),
            created_at_ms: now_ms,
            max_participants: 0,
            empty_timeout: 300,
            departure_timeout: 20,
            participants: Vec::new(),
            tracks: HashMap::new(),
            speakers: SpeakerDetector::new(),
            last_speakers: Vec::new(),
            quality: HashMap::new(),
            quality_synced: HashMap::new(),
            taps: Vec::new(),
            active_recording: false,
            empty_since: Some(now),
            version: 0,
            chat: crate::interaction::ChatRule::Free,
            last_chat_ms: 0,
        }
    }

    pub fn info(&self, num_participants: u32, num_publishers: u32) -> lk::Room {
        lk::Room {
            sid: self.sid.to_string(),
            name: self.name.to_string(),
            empty_timeout: self.empty_timeout,
            departure_timeout: self.departure_timeout,
            max_participants: self.max_participants,
            creation_time: self.created_at_ms / 1000,
            creation_time_ms: self.created_at_ms,
            metadata: self.metadata.clone(),
            active_recording: self.active_recording,
            num_participants,
            num_publishers,
            enabled_codecs: ["audio/opus", "video/VP8", "video/H264"]
                .into_iter()
                .map(|m| lk::Codec { mime: m.into(), fmtp_line: String::new() })
                .collect(),
            ..Default::default()
        }
    }
}

pub(crate) struct Participant {
    pub key: SessionKey,
    pub sid: ParticipantSid,
    pub identity: ParticipantIdentity,
    pub name: String,
    pub metadata: String,
    pub attributes: HashMap<String, String>,
    pub permission: lk::ParticipantPermission,
    pub kind: i32,
    pub room: RoomName,
    pub joined_at_ms: UnixMillis,
    /// Bumped on every change, so clients drop stale `ParticipantUpdate`s.
    pub version: u32,
    pub state: lk::participant_info::State,
    pub auto_subscribe: bool,
    pub publisher: Option<PeerId>,
    pub subscriber: Option<PeerId>,
    /// Tracks announced with AddTrack whose media has not arrived yet.
    pub pending_tracks: Vec<PendingTrack>,
    /// The first microphone track this participant publishes is muted by the server ("mute on
    /// entry"); cleared once done, so a later unmute is theirs.
    pub mute_mic_on_publish: bool,
    /// Published tracks by the publisher peer's mid.
    pub published: HashMap<Mid, TrackSid>,
    /// Down tracks offered to the subscriber and not yet answered, with their media line.
    pub pending_mids: Vec<(TrackSid, Mid)>,
    /// What this participant receives, by the publisher's track sid.
    pub downtracks: HashMap<TrackSid, DownTrack>,
    /// What this participant may still send through the room's rules (chat, hands,
    /// reactions) before it is rate-limited.
    pub data_bucket: crate::interaction::Bucket,
    /// May change its own name without `canUpdateMetadata` (see `JoinParams::may_rename`).
    pub may_rename: bool,
    /// Last time a ping arrived, to detect dead sessions.
    pub last_seen: Instant,
    /// The signalling socket is gone; the session is kept for a resume until this time.
    pub disconnected_until: Option<Instant>,
    /// In the waiting room since this Unix time (`engine::waiting`): no permission, and seen
    /// only by itself and the hosts.
    pub waiting_since: Option<UnixMillis>,
    /// The permission a waiting participant gets back when admitted.
    pub permission_after_wait: lk::ParticipantPermission,
    /// Whether its join was reported (`RoomEvent::ParticipantJoined`): at join, or at its first
    /// admission from the waiting room.
    pub announced: bool,
    /// The client's address at join, for the join record made at admission.
    pub client_addr: Option<String>,
    /// Set for a media tap (`engine::tap`): its down tracks leave as plain RTP to this sink
    /// instead of through a subscriber peer connection.
    pub tap: Option<super::tap::TapSink>,
    /// A WHEP viewer (`engine::http_session`): its subscriber connection was offered by the
    /// client and is never renegotiated.
    pub whep: bool,
}

impl Participant {
    pub fn info(&self, tracks: &HashMap<TrackSid, PublishedTrack>) -> lk::ParticipantInfo {
        let mut published: Vec<lk::TrackInfo> =
            tracks.values().filter(|t| t.owner == self.key).map(|t| t.info.clone()).collect();
        published.sort_by(|a, b| a.sid.cmp(&b.sid));
        lk::ParticipantInfo {
            sid: self.sid.to_string(),
            identity: self.identity.to_string(),
            state: self.state as i32,
            is_publisher: !published.is_empty(),
            tracks: published,
            metadata: self.metadata.clone(),
            joined_at: self.joined_at_ms / 1000,
            joined_at_ms: self.joined_at_ms,
            name: self.name.clone(),
            version: self.version,
            permission: Some(self.permission.clone()),
            kind: self.kind,
            attributes: self.attributes.clone(),
            ..Default::default()
        }
    }

    pub fn hidden(&self) -> bool {
        self.permission.hidden
    }

    pub fn waiting(&self) -> bool {
        self.waiting_since.is_some()
    }
}

pub(crate) struct PendingTrack {
    pub cid: String,
    pub info: lk::TrackInfo,
    /// The codec the client asked for (`simulcast_codecs[0].codec`), lowercase.
    pub codec: Option<String>,
}

/// A track a participant publishes, and who receives it.
pub(crate) struct PublishedTrack {
    pub owner: SessionKey,
    pub info: lk::TrackInfo,
    pub peer: PeerId,
    pub mid: Mid,
    pub kind: MediaKind,
    /// Set from the first packet's payload type, for keyframe detection.
    pub codec: Option<VideoCodec>,
    pub subscribers: Vec<SessionKey>,
    /// When each simulcast layer last delivered a packet.
    pub layer_seen: [Option<Instant>; 3],
    /// When a keyframe was last requested per layer, to rate-limit PLIs.
    pub last_pli: [Option<Instant>; 3],
    /// The layers last announced to the publisher as wanted (dynacast).
    pub announced_layers: Option<[bool; 3]>,
}

/// One subscriber's view of one published track.
pub(crate) struct DownTrack {
    /// The media line in the subscriber's peer connection. `None` until negotiated.
    pub mid: Option<Mid>,
    pub kind: MediaKind,
    pub settings: TrackSettings,
    /// The layer being forwarded, and the one wanted (switched to on its next keyframe).
    pub current: Option<LayerIndex>,
    pub target: Option<LayerIndex>,
    pub munger: RtpMunger,
    /// Publisher payload type → subscriber payload type, learnt on first use, and whether the
    /// payload is RED to unwrap (the subscriber negotiated Opus without RED: a WHEP player,
    /// an SDK with RED off).
    pub pt_map: Vec<(Pt, Option<(Pt, bool)>)>,
    pub last_sent: Option<Instant>,
    pub clock_rate: u32,
    /// The NACK total str0m last reported for this line's stream; the engine counts the
    /// difference ([`Engine::metrics`](super::Engine::metrics)).
    pub nacks_seen: u64,
    /// The publisher's last sender report for the source being forwarded, moved onto the
    /// outgoing timeline (NTP, outgoing RTP time): where a layer switch places the new layer.
    pub out_report: Option<crate::forward::munger::Report>,
    /// On a media tap: the SSRC and payload type this track leaves with.
    pub tap: Option<(u32, u8)>,
    /// On a media tap: the last sender report passed on (the publisher's wallclock and the
    /// matching tap RTP time), and the packets and payload octets sent, for the next report.
    pub tap_report: Option<(u64, u32)>,
    pub tap_packets: u32,
    pub tap_octets: u32,
}

impl DownTrack {
    /// Keeps the sender report `pkt` carries, moved onto the outgoing timeline by the offset
    /// its munged timestamp `out_ts` shows; returns it.
    pub fn note_report(&mut self, pkt: &str0m::rtp::RtpPacket, out_ts: u32) -> Option<crate::forward::munger::Report> {
        let reported = report_of(pkt).map(|(ntp, rtp)| (ntp, rtp.wrapping_add(out_ts.wrapping_sub(pkt.header.timestamp))));
        if reported.is_some() {
            self.out_report = reported;
        }
        reported
    }

    pub fn new(track: TrackSid, kind: MediaKind) -> Self {
        let _ = track;
        Self {
            mid: None,
            kind,
            settings: TrackSettings::default(),
            current: None,
            target: None,
            munger: RtpMunger::new(),
            pt_map: Vec::new(),
            last_sent: None,
            clock_rate: if kind == MediaKind::Audio { 48_000 } else { 90_000 },
            nacks_seen: 0,
            out_report: None,
            tap: None,
            tap_report: None,
            tap_packets: 0,
            tap_octets: 0,
        }
    }
}

/// The sender report a received packet's stream last had, as (64-bit NTP, RTP time).
pub fn report_of(pkt: &str0m::rtp::RtpPacket) -> Option<crate::forward::munger::Report> {
    let sr = pkt.last_sender_info.as_ref()?;
    Some((super::tap::ntp_64(sr.ntp_time)?, sr.rtp_time.numer() as u32))
}
