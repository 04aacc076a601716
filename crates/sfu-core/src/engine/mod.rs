//! The SFU engine: every room, participant and peer connection of one node, as one sans-IO
//! state machine.
//!
//! # Driving contract
//! The shell owns the sockets and the clock and calls, in any order:
//! - [`Engine::join`] when a client's signalling socket is authenticated, and
//!   [`Engine::handle_signal`] for each message on it, [`Engine::handle_socket_closed`] when
//!   it closes;
//! - [`Engine::handle_datagram`] for every packet on the media sockets;
//! - [`Engine::handle_timeout`] when the instant from the last `Output::Timeout` is reached;
//! - the room-service methods (`list_rooms`, `remove_participant`, …) for the server API.
//!
//! After each call it drains [`Engine::poll_output`] until it returns `Output::Timeout`:
//! transmits go to the media socket, signal messages to the named session's socket.
//!
//! # Panics
//! None on input from the network or a client: a malformed message is logged and ignored or
//! ends only that session. A str0m error on one peer connection closes that participant.

mod codec_pref;
mod http_session;
mod media;
mod metrics;
mod peer;
mod quality;
mod service;
pub mod signal;
mod state;
mod tap;
mod waiting;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use huiyi_proto::lk::{self, signal_response::Message as Response};
use str0m::config::DtlsCert;
use str0m::ice::StunMessage;
use str0m::net::{Protocol, Receive, Transmit};
use str0m::{Candidate, Event, Input, Rtc};
use tracing::{debug, info, warn};

use crate::ids::{ParticipantIdentity, ParticipantSid, PeerId, RoomName, SessionKey};
use crate::permission::{StateError, StateLimits};

pub use metrics::MetricsSnapshot;
pub use peer::PeerRole;

pub use service::ServiceError;
pub use tap::{TapScope, TapSpec, TapTrack};
pub use http_session::WhepSource;
pub use state::UnixMillis;
pub use waiting::WAITING_ATTRIBUTE;
use peer::{drain, Peer};
use state::{Participant, Room};

/// Static settings of one engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where clients send UDP media: the advertised host candidate.
    pub udp_candidate: SocketAddr,
    /// The ICE-TCP passive candidate, if TCP is served.
    pub tcp_candidate: Option<SocketAddr>,
    pub node_id: String,
    pub region: String,
    pub server_version: String,
    /// How often clients ping, and after how long without one they give up.
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// How long a session whose signalling socket dropped is kept for a resume.
    ///
    /// A client whose network went silent is noticed when its socket has sent nothing for
    /// `ping_timeout`, which can be as early as `ping_timeout - ping_interval` into the outage
    /// (10 s by default). livekit-client then needs up to about 10 s after the network returns
    /// to get a signalling socket through (its connect attempt waits for a TCP retransmission,
    /// or times out after 15 s and tries again). So a 30 s outage needs the session held for
    /// about 30 s; the default, 45 s, leaves room for slower clients, and a client that vanished
    /// for good leaves the room at most `ping_timeout + resume_window` (1 minute) after its last
    /// message.
    pub resume_window: Duration,
    /// Sessions this engine holds at once; joins beyond are refused.
    pub max_sessions: usize,
    /// Tracks one participant may publish, counting those announced and not yet bound.
    pub max_tracks_per_participant: usize,
    /// AddTrack requests awaiting their media, per participant.
    pub max_pending_tracks: usize,
    /// Remote addresses remembered per peer connection (each learnt from a verified STUN
    /// request); the oldest is forgotten when a new one would exceed this.
    pub max_remote_addrs: usize,
    /// Sizes of a participant's name, metadata and attributes.
    pub state_limits: StateLimits,
    /// Participants one room's waiting room holds; joins to wait beyond are refused.
    pub max_waiting_per_room: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            udp_candidate: "127.0.0.1:7882".parse().expect("literal address"),
            tcp_candidate: None,
            node_id: "ND_local".into(),
            region: "local".into(),
            server_version: LIVEKIT_COMPAT_VERSION.into(),
            ping_interval: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(15),
            resume_window: Duration::from_secs(45),
            max_sessions: 10_000,
            max_tracks_per_participant: 32,
            max_pending_tracks: 16,
            max_remote_addrs: 8,
            state_limits: StateLimits::default(),
            max_waiting_per_room: 1_000,
        }
    }
}

/// What a client asks for when it joins, already authorised from its access token.
#[derive(Debug, Clone)]
pub struct JoinParams {
    pub room: RoomName,
    pub identity: ParticipantIdentity,
    pub name: String,
    pub metadata: String,
    pub attributes: HashMap<String, String>,
    pub permission: lk::ParticipantPermission,
    pub auto_subscribe: bool,
    /// Unix time of the join, for `joined_at`.
    pub now_ms: UnixMillis,
    /// The client's address as the signalling socket saw it, for attendance records.
    pub client_addr: Option<String>,
    /// Whether the participant's microphone is muted by the server when it is first
    /// published (a meeting's "mute on entry").
    pub mute_on_entry: MuteOnEntry,
    /// The room's chat rule, as the meeting's controls have it now.
    pub chat: crate::interaction::ChatRule,
    /// The participant enters the waiting room (`engine::waiting`): no permission, seen only by
    /// the hosts, until [`Engine::admit`] gives it `permission`.
    pub waiting: bool,
    /// Whether the participant may change its own name even without `canUpdateMetadata`
    /// (a meeting's "participants may rename themselves"); metadata and attributes still need
    /// the grant.
    pub may_rename: bool,
}

/// A meeting's "mute on entry": never, always, or once the room holds more than this many
/// participants (Tencent's `mute_enable_type_join` 2 is "above 6").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MuteOnEntry {
    #[default]
    Never,
    Always,
    Above(usize),
}

impl MuteOnEntry {
    /// Whether someone joining a room that already holds `others` participants is muted.
    pub fn applies(self, others: usize) -> bool {
        match self {
            MuteOnEntry::Never => false,
            MuteOnEntry::Always => true,
            MuteOnEntry::Above(n) => others + 1 > n,
        }
    }
}

/// Something that happened in a room that the rest of the server records (attendance,
/// meeting lifecycle, webhooks). Emitted once per occurrence, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    ParticipantJoined {
        room: String,
        sid: String,
        identity: String,
        name: String,
        metadata: String,
        client_addr: Option<String>,
        at_ms: UnixMillis,
    },
    ParticipantLeft {
        room: String,
        sid: String,
        identity: String,
        at_ms: UnixMillis,
    },
    /// A chat message the room's rule let through, as delivered (`to` empty: everyone).
    Chat(ChatEvent),
    /// A participant joined the room's waiting room (its `ParticipantJoined` comes when it is
    /// admitted).
    WaitingJoined {
        room: String,
        sid: String,
        identity: String,
        name: String,
        metadata: String,
        at_ms: UnixMillis,
    },
    /// A waiting participant left the room without being admitted (it left, was removed or
    /// denied, or its connection was lost).
    WaitingLeft {
        room: String,
        sid: String,
        identity: String,
        name: String,
        metadata: String,
        at_ms: UnixMillis,
    },
    /// A media tap receives a new track (`engine::tap`).
    TapTrackAdded { tap: SessionKey, track: TapTrack },
    /// A tap no longer receives a track: it was unpublished or its publisher left.
    TapTrackRemoved { tap: SessionKey, ssrc: u32, track_sid: String },
    /// The active speakers of a room with a tap changed, loudest first (for a layout).
    TapSpeakers { tap: SessionKey, identities: Vec<String> },
    /// A tap ended because its room closed or was deleted.
    TapClosed { tap: SessionKey },
}

/// One delivered chat message, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatEvent {
    pub room: String,
    pub room_sid: String,
    /// The message id the client chose (unique per sender), or one the server made.
    pub id: String,
    pub identity: String,
    pub name: String,
    pub to: Vec<String>,
    pub text: String,
    pub at_ms: UnixMillis,
}

impl RoomEvent {
    /// Whether losing the event loses only a copy of something already delivered (a chat
    /// message), so it may be dropped when the recorder falls behind.
    pub fn is_droppable(&self) -> bool {
        matches!(self, RoomEvent::Chat(_))
    }
}

/// Why a join was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("room {0} is full")]
    RoomFull(String),
    #[error("the server is full")]
    ServerFull,
    #[error("the waiting room of room {0} is full")]
    WaitingRoomFull(String),
    #[error("the token's participant state is too large: {0}")]
    State(#[from] StateError),
}

/// Why a resume was refused; the client then rejoins from scratch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    #[error("no session {0} to resume (it ended or never existed)")]
    UnknownSession(String),
}

/// Why a session ended, as the shell reports it to the client before closing the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent a LeaveRequest.
    ClientLeft,
    /// Removed through the server API.
    Removed,
    /// The same identity joined again.
    DuplicateIdentity,
    /// The room was deleted.
    RoomDeleted,
    /// Its media connection failed or a peer connection errored.
    MediaFailure,
    /// A host turned it away from the waiting room.
    Denied,
}

impl CloseReason {
    pub fn disconnect_reason(self) -> lk::DisconnectReason {
        match self {
            CloseReason::ClientLeft => lk::DisconnectReason::ClientInitiated,
            CloseReason::Removed => lk::DisconnectReason::ParticipantRemoved,
            CloseReason::DuplicateIdentity => lk::DisconnectReason::DuplicateIdentity,
            CloseReason::RoomDeleted => lk::DisconnectReason::RoomDeleted,
            CloseReason::MediaFailure => lk::DisconnectReason::SignalClose,
            CloseReason::Denied => lk::DisconnectReason::UserRejected,
        }
    }
}

/// Output from [`Engine::poll_output`].
#[derive(Debug)]
pub enum Output {
    /// A packet for the media socket.
    Transmit(Transmit),
    /// A message for one session's signalling socket.
    Signal(SessionKey, Response),
    /// The session is over: send nothing more and close its socket.
    Close(SessionKey, CloseReason),
    /// A room event for the rest of the server.
    Event(RoomEvent),
    /// A plain RTP packet for a media tap's local socket (`engine::tap`).
    TapTransmit { to: SocketAddr, packet: Vec<u8> },
    /// Nothing more until this instant (or the next input).
    Timeout(Instant),
}

/// The LiveKit server version whose client-visible behaviour Huiyi matches. Clients gate
/// features on it (livekit-client enables RPC from 1.8.0), so Huiyi reports this and names
/// itself in `ServerInfo.debug_info`.
pub const LIVEKIT_COMPAT_VERSION: &str = "1.9.0";

/// How often the engine runs its housekeeping (speakers, timeouts, quality).
const TICK: Duration = Duration::from_millis(250);
/// How long a WHIP or WHEP session may send nothing at all (a publisher sends media, a player
/// RTCP reports and consent checks, many times a second) before it is taken for gone: long
/// enough for a network blip.
const HTTP_SESSION_SILENCE: Duration = Duration::from_secs(15);
/// Sent video packets each down track keeps for NACK repair (see `new_rtc`).
const VIDEO_SEND_BUFFER: usize = 400;
/// Connection quality is announced every this many ticks.
const QUALITY_EVERY_TICKS: u64 = 8;

pub struct Engine {
    config: EngineConfig,
    /// One DTLS certificate for every peer connection: generating one per connection costs
    /// a key generation on the join path.
    dtls_cert: DtlsCert,
    local_candidates: Vec<Candidate>,
    rooms: HashMap<RoomName, Room>,
    sessions: HashMap<SessionKey, Participant>,
    peers: HashMap<PeerId, Peer>,
    /// STUN routing: local ICE ufrag → peer.
    by_ufrag: HashMap<String, PeerId>,
    /// Media routing: remote address that passed ICE → peer.
    by_addr: HashMap<(Protocol, SocketAddr), PeerId>,
    /// Peer deadlines, lazily deleted: an entry is stale if the peer's `next_timeout` differs.
    timers: BinaryHeap<Reverse<(Instant, PeerId)>>,
    /// The peers `handle_timeout` found due; kept between calls so that it allocates nothing
    /// (it runs after nearly every forwarded packet, for each subscriber written to).
    due: Vec<PeerId>,
    /// Events drained from peers, handled after the drain (a peer is never mutated while
    /// another's events are being handled mid-drain).
    events: VecDeque<(PeerId, Event)>,
    outputs: VecDeque<Output>,
    next_id: u64,
    next_tick: Option<Instant>,
    ticks: u64,
    /// The `now` of the last input, for operations that take none (server API edits).
    last_now: Instant,
    /// Wall-clock milliseconds at the last input, for protocol fields (pong timestamps).
    now_ms: UnixMillis,
    /// Totals for the server's metrics, bumped where each thing happens ([`Engine::metrics`]).
    counters: metrics::Counters,
}

impl Engine {
    /// A new engine; `now` is the instant of the caller's clock it starts at.
    pub fn new(config: EngineConfig, now: Instant) -> Self {
        let provider = str0m::crypto::from_feature_flags();
        // Invariant: the aws-lc-rs provider compiled into this binary can always make a key.
        let dtls_cert: DtlsCert =
            provider.dtls_provider.generate_certificate().expect("the built-in crypto provider generates a DTLS certificate");
        let mut local_candidates = Vec::new();
        match Candidate::host(config.udp_candidate, "udp") {
            Ok(c) => local_candidates.push(c),
            Err(e) => warn!(%e, addr = %config.udp_candidate, "unusable UDP candidate address"),
        }
        if let Some(tcp) = config.tcp_candidate {
            match Candidate::builder().tcp().host(tcp).tcptype(str0m::net::TcpType::Passive).build() {
                Ok(c) => local_candidates.push(c),
                Err(e) => warn!(%e, addr = %tcp, "unusable TCP candidate address"),
            }
        }
        Self {
            config,
            dtls_cert,
            local_candidates,
            rooms: HashMap::new(),
            sessions: HashMap::new(),
            peers: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            timers: BinaryHeap::new(),
            due: Vec::new(),
            events: VecDeque::new(),
            outputs: VecDeque::new(),
            next_id: 1,
            next_tick: None,
            ticks: 0,
            last_now: now,
            now_ms: 0,
            counters: metrics::Counters::default(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// How many remote addresses route media to a peer (each taught by a verified STUN
    /// request), over all peers: for metrics and tests.
    pub fn routed_addresses(&self) -> usize {
        self.by_addr.len()
    }

    /// Next output. Returns `Output::Timeout` when there is nothing more to do until then.
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.outputs.pop_front() {
            return o;
        }
        // Drop stale timer entries so the deadline is a real one.
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            match self.peers.get(&id) {
                Some(p) if p.next_timeout == Some(t) => break,
                _ => {
                    self.timers.pop();
                }
            }
        }
        let peer_deadline = self.timers.peek().map(|Reverse((t, _))| *t);
        let deadline = match (peer_deadline, self.next_tick) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(self.last_now + Duration::from_secs(3600)),
        };
        Output::Timeout(deadline)
    }

    fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    // ---------------------------------------------------------------------------------------
    // Joining and leaving

    /// Admits a participant. Returns its session key and the `JoinResponse` to send first;
    /// further messages (the subscriber offer, updates to others) come from `poll_output`.
    pub fn join(&mut self, now: Instant, params: JoinParams) -> Result<(SessionKey, lk::JoinResponse), JoinError> {
        self.join_as(now, params, lk::participant_info::Kind::Standard)
    }

    /// [`Self::join`] as a participant of another kind (an ingress), which others see from
    /// the first announcement on.
    pub(crate) fn join_as(&mut self, now: Instant, params: JoinParams, kind: lk::participant_info::Kind) -> Result<(SessionKey, lk::JoinResponse), JoinError> {
        self.now_ms = params.now_ms;
        self.last_now = now;
        self.next_tick.get_or_insert(now + TICK);
        let limits = self.config.state_limits;
        limits.check_name(&params.name)?;
        limits.check_metadata(&params.metadata)?;
        limits.check_attributes(&HashMap::new(), &params.attributes)?;
        let room = self
            .rooms
            .entry(params.room.clone())
            .or_insert_with(|| Room::new(params.room.clone(), now, params.now_ms));
        // A second session with the same identity replaces the first, as in LiveKit; it does
        // not count against the room's limit.
        let duplicate = room
            .participants
            .iter()
            .copied()
            .find(|k| self.sessions.get(k).is_some_and(|p| p.identity == params.identity));
        let occupied = room.participants.len() as u32 - u32::from(duplicate.is_some());
        if room.max_participants > 0 && occupied >= room.max_participants {
            return Err(JoinError::RoomFull(params.room.to_string()));
        }
        if duplicate.is_none() && self.sessions.len() >= self.config.max_sessions {
            return Err(JoinError::ServerFull);
        }
        if params.waiting {
            let replaced = duplicate.and_then(|k| self.sessions.get(&k)).is_some_and(|p| p.waiting());
            if self.waiting_count(&params.room) - usize::from(replaced) >= self.config.max_waiting_per_room {
                return Err(JoinError::WaitingRoomFull(params.room.to_string()));
            }
        }
        if let Some(old) = duplicate {
            self.remove_session(now, old, CloseReason::DuplicateIdentity);
        }

        let key = SessionKey(self.alloc_id());
        let mut attributes = params.attributes;
        let (permission, permission_after_wait, waiting_since) = if params.waiting {
            attributes.insert(WAITING_ATTRIBUTE.to_owned(), params.now_ms.to_string());
            (waiting::waiting_permission(), params.permission, Some(params.now_ms))
        } else {
            (params.permission.clone(), params.permission, None)
        };
        let participant = Participant {
            key,
            sid: ParticipantSid::generate(),
            identity: params.identity,
            name: params.name,
            metadata: params.metadata,
            attributes,
            permission,
            kind: kind as i32,
            room: params.room.clone(),
            joined_at_ms: params.now_ms,
            version: 1,
            state: lk::participant_info::State::Joined,
            auto_subscribe: params.auto_subscribe,
            publisher: None,
            subscriber: None,
            pending_tracks: Vec::new(),
            mute_mic_on_publish: params.mute_on_entry.applies(occupied as usize),
            published: HashMap::new(),
            pending_mids: Vec::new(),
            downtracks: HashMap::new(),
            data_bucket: crate::interaction::Bucket::new(now),
            may_rename: params.may_rename,
            last_seen: now,
            disconnected_until: None,
            waiting_since,
            permission_after_wait,
            announced: !params.waiting,
            client_addr: params.client_addr.clone(),
            tap: None,
            whep: false,
        };
        info!(room = %params.room, identity = %participant.identity, sid = %participant.sid, "participant joined");

        self.outputs.push_back(Output::Event(if params.waiting {
            RoomEvent::WaitingJoined {
                room: params.room.to_string(),
                sid: participant.sid.to_string(),
                identity: participant.identity.to_string(),
                name: participant.name.clone(),
                metadata: participant.metadata.clone(),
                at_ms: params.now_ms,
            }
        } else {
            RoomEvent::ParticipantJoined {
                room: params.room.to_string(),
                sid: participant.sid.to_string(),
                identity: participant.identity.to_string(),
                name: participant.name.clone(),
                metadata: participant.metadata.clone(),
                client_addr: params.client_addr.clone(),
                at_ms: params.now_ms,
            }
        }));
        let room = self.rooms.get_mut(&params.room).expect("room inserted above");
        room.chat = params.chat;
        room.participants.push(key);
        room.empty_since = None;
        let others: Vec<lk::ParticipantInfo> = room
            .participants
            .iter()
            .filter(|k| **k != key)
            .filter_map(|k| self.sessions.get(k))
            .filter(|p| waiting::sees(&participant, p))
            .map(|p| p.info(&room.tracks))
            .collect();
        let me = participant.info(&room.tracks);
        let hidden = participant.hidden();
        self.sessions.insert(key, participant);
        let room_info = self.room_info(&params.room).unwrap_or_default();

        let response = lk::JoinResponse {
            room: Some(room_info),
            participant: Some(me.clone()),
            other_participants: others,
            server_version: self.config.server_version.clone(),
            // The client offers its publisher connection first and connect() resolves when
            // that is up (see docs/protocol.md); the server offers the subscriber side.
            subscriber_primary: false,
            ping_interval: self.config.ping_interval.as_secs() as i32,
            ping_timeout: self.config.ping_timeout.as_secs() as i32,
            server_info: Some(self.server_info()),
            server_region: self.config.region.clone(),
            ..Default::default()
        };

        if !hidden {
            self.broadcast_participant(&params.room, key, me);
        }
        // The subscriber connection carries the server's data channels and every track this
        // participant receives; offering it now lets the client connect at once.
        self.ensure_subscriber(now, key);
        self.subscribe_existing(now, key);
        self.negotiate_subscriber(now, key);
        self.process_events(now);
        Ok((key, response))
    }

    fn server_info(&self) -> lk::ServerInfo {
        lk::ServerInfo {
            edition: lk::server_info::Edition::Standard as i32,
            version: self.config.server_version.clone(),
            protocol: huiyi_proto::PROTOCOL_VERSION,
            region: self.config.region.clone(),
            node_id: self.config.node_id.clone(),
            debug_info: concat!("huiyi ", env!("CARGO_PKG_VERSION")).into(),
            ..Default::default()
        }
    }

    /// A client whose signalling socket dropped reconnects (`/rtc?reconnect=1&sid=…`).
    /// Returns the session and the `ReconnectResponse`; the subscriber connection is then
    /// re-offered with an ICE restart, and the client sends an ICE-restart publisher offer.
    pub fn resume(&mut self, now: Instant, room: &RoomName, sid: &str, identity: &ParticipantIdentity) -> Result<(SessionKey, lk::ReconnectResponse), ResumeError> {
        // Sids are visible to everyone in a room: the token's room and identity must match too.
        let key = self
            .sessions
            .values()
            .find(|p| p.sid.as_str() == sid && &p.identity == identity && &p.room == room)
            .map(|p| p.key)
            .ok_or_else(|| ResumeError::UnknownSession(sid.to_owned()))?;
        let p = self.sessions.get_mut(&key).expect("key found above");
        p.disconnected_until = None;
        p.pending_mids.clear();
        p.last_seen = now;
        info!(sid = %p.sid, "session resumed");
        let room = p.room.clone();
        // Updates sent while the socket was down were lost: resend everyone's state.
        if let (Some(r), Some(me)) = (self.rooms.get(&room), self.sessions.get(&key)) {
            let infos: Vec<lk::ParticipantInfo> = r
                .participants
                .iter()
                .filter_map(|k| self.sessions.get(k))
                .filter(|o| waiting::sees(me, o))
                .map(|o| o.info(&r.tracks))
                .collect();
            self.outputs.push_back(Output::Signal(key, Response::Update(lk::ParticipantUpdate { participants: infos })));
        }
        if let Some(peer_id) = self.sessions.get(&key).and_then(|p| p.subscriber) {
            if let Some(peer) = self.peers.get_mut(&peer_id) {
                // An outstanding offer will never be answered now; the restart replaces it,
                // and the tracks it carried are offered again.
                peer.pending_offer = None;
                peer.ice_restart = true;
                peer.renegotiate = true;
            }
            self.negotiate_subscriber(now, key);
        }
        self.process_events(now);
        let response = lk::ReconnectResponse { server_info: Some(self.server_info()), ..Default::default() };
        Ok((key, response))
    }

    /// The client's signalling socket closed. The session stays for `resume_window`, so a
    /// client that lost its network can resume; after that it is removed.
    pub fn handle_socket_closed(&mut self, now: Instant, key: SessionKey) {
        if let Some(p) = self.sessions.get_mut(&key) {
            debug!(sid = %p.sid, "signalling socket closed; holding session for resume");
            p.disconnected_until = Some(now + self.config.resume_window);
        }
    }

    /// Removes a session: closes its peers, unpublishes its tracks, tells the room.
    pub(crate) fn remove_session(&mut self, now: Instant, key: SessionKey, reason: CloseReason) {
        let Some(mut p) = self.sessions.remove(&key) else { return };
        info!(room = %p.room, identity = %p.identity, ?reason, "participant left");
        if p.waiting() {
            self.outputs.push_back(Output::Event(RoomEvent::WaitingLeft {
                room: p.room.to_string(),
                sid: p.sid.to_string(),
                identity: p.identity.to_string(),
                name: p.name.clone(),
                metadata: p.metadata.clone(),
                at_ms: self.now_ms,
            }));
        }
        // One who was admitted once and then sent back was recorded as joined, and leaves.
        if p.announced {
            self.outputs.push_back(Output::Event(RoomEvent::ParticipantLeft {
                room: p.room.to_string(),
                sid: p.sid.to_string(),
                identity: p.identity.to_string(),
                at_ms: self.now_ms,
            }));
        }
        for peer_id in [p.publisher.take(), p.subscriber.take()].into_iter().flatten() {
            self.drop_peer(peer_id);
        }
        // Stop receiving: detach from every track this session subscribed to.
        if let Some(room) = self.rooms.get_mut(&p.room) {
            for sid in p.downtracks.keys() {
                if let Some(t) = room.tracks.get_mut(sid) {
                    t.subscribers.retain(|k| *k != key);
                }
            }
            room.participants.retain(|k| *k != key);
            room.speakers.remove(&key);
            if room.participants.is_empty() {
                room.empty_since = Some(now);
            }
        }
        // Unpublish: remove its tracks from everyone who received them.
        let owned: Vec<_> = self
            .rooms
            .get(&p.room)
            .map(|r| r.tracks.iter().filter(|(_, t)| t.owner == key).map(|(s, _)| s.clone()).collect())
            .unwrap_or_default();
        for sid in owned {
            self.unpublish_track(now, &p.room, &sid);
        }
        if reason != CloseReason::ClientLeft {
            self.outputs.push_back(Output::Signal(
                key,
                Response::Leave(lk::LeaveRequest {
                    can_reconnect: false,
                    reason: reason.disconnect_reason() as i32,
                    action: lk::leave_request::Action::Disconnect as i32,
                    ..Default::default()
                }),
            ));
        }
        self.outputs.push_back(Output::Close(key, reason));
        p.state = lk::participant_info::State::Disconnected;
        p.version += 1;
        let mut info = p.info(&HashMap::new());
        info.disconnect_reason = reason.disconnect_reason() as i32;
        // Those who were told of it (never anyone of a hidden one) are told it left.
        if let Some(r) = self.rooms.get(&p.room) {
            for k in &r.participants {
                if self.sessions.get(k).is_some_and(|v| waiting::sees(v, &p)) {
                    self.outputs.push_back(Output::Signal(*k, Response::Update(lk::ParticipantUpdate { participants: vec![info.clone()] })));
                }
            }
        }
        self.process_events(now);
    }

    fn drop_peer(&mut self, id: PeerId) {
        if let Some(mut peer) = self.peers.remove(&id) {
            peer.rtc.disconnect();
            self.by_ufrag.remove(&peer.ufrag);
            for route in &peer.remote_addrs {
                if self.by_addr.get(route) == Some(&id) {
                    self.by_addr.remove(route);
                }
            }
        }
    }

    /// Removes sessions whose peer connection failed while something else was being done
    /// (forwarding to many subscribers): each ends alone, the room goes on.
    pub(crate) fn remove_failed(&mut self, now: Instant, failed: Vec<SessionKey>) {
        for key in failed {
            self.remove_session(now, key, CloseReason::MediaFailure);
        }
    }

    /// A peer connection. Only a subscriber peer estimates bandwidth (the estimate picks its
    /// simulcast layers): on a publisher peer the server sends nothing but RTCP, and an
    /// estimator there only adds a pacer and timers. TWCC feedback to a publishing client is
    /// sent either way (str0m enables it from the SDP).
    pub(crate) fn new_rtc(&self, now: Instant, role: PeerRole) -> Rtc {
        let bwe = (role == PeerRole::Subscriber).then(|| str0m::bwe::Bitrate::kbps(1500));
        let mut cfg = Rtc::builder()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .set_dtls_cert(self.dtls_cert.clone())
            .clear_codecs()
            .enable_opus(true, true)
            .enable_vp8(true)
            .enable_h264(true)
            .enable_bwe(bwe)
            .set_stats_interval(Some(Duration::from_secs(2)));
        // Sent video kept for retransmission. NACKs come within a round trip, so 400 packets
        // (3.6 s of 720p, 10 s of a small tile) is plenty. str0m's default, 1,000, held
        // 1.2 MB for every 720p down track.
        cfg = cfg.set_send_buffer_video(VIDEO_SEND_BUFFER);
        cfg.build(now)
    }

    pub(crate) fn register_peer(&mut self, now: Instant, owner: SessionKey, role: PeerRole, rtc: Rtc) -> PeerId {
        let id = PeerId(self.alloc_id());
        let mut peer = Peer::new(rtc, owner, role);
        peer.add_local_candidates(&self.local_candidates);
        peer.refresh_ufrag();
        self.by_ufrag.insert(peer.ufrag.clone(), id);
        self.peers.insert(id, peer);
        let _ = now;
        id
    }

    // ---------------------------------------------------------------------------------------
    // Network input

    /// One packet from a media socket. Unknown or malformed packets are dropped. A packet is
    /// routed to a peer by a verified STUN request's ufrag, or by a source address that an
    /// earlier verified STUN request taught ([`EngineConfig::max_remote_addrs`] per peer).
    pub fn handle_datagram(&mut self, now: Instant, proto: Protocol, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        self.last_now = now;
        let Some(peer_id) = self.route(proto, source, data) else {
            debug!(%source, len = data.len(), "dropping packet for no known peer");
            return;
        };
        // str0m answers ICE only for the address it advertised. The socket may be bound to
        // 0.0.0.0 or sit behind NAT, so the advertised candidate is the destination.
        let destination = match proto {
            Protocol::Udp => self.config.udp_candidate,
            Protocol::Tcp => self.config.tcp_candidate.unwrap_or(destination),
            _ => destination,
        };
        let Ok(contents) = data.try_into() else {
            debug!(%source, "dropping unparseable packet");
            return;
        };
        let input = Input::Receive(now, Receive { proto, source, destination, contents });
        let Some(peer) = self.peers.get_mut(&peer_id) else { return };
        if !peer.rtc.accepts(&input) {
            debug!(%source, "peer does not accept packet");
            return;
        }
        peer.last_heard = Some(now);
        let result = peer.rtc.handle_input(input);
        self.after_mutation(now, peer_id, result.map(|_| ()));
        self.process_events(now);
    }

    fn route(&mut self, proto: Protocol, source: SocketAddr, data: &[u8]) -> Option<PeerId> {
        // STUN is recognised by its first two bits being zero and the magic cookie.
        let is_stun = data.len() >= 20 && data[0] < 2 && data[4..8] == [0x21, 0x12, 0xa4, 0x42];
        if is_stun {
            let msg = StunMessage::parse(data).ok()?;
            let (local, _remote) = msg.split_username()?;
            let id = *self.by_ufrag.get(local)?;
            let peer = self.peers.get_mut(&id)?;
            // Only a request signed with this peer's ICE password proves the sender knows
            // it: anything else is dropped here, before it can teach us an address.
            if !msg.verify(peer.ice_pass.as_bytes(), sha1_hmac) {
                debug!(%source, "dropping STUN with a bad MESSAGE-INTEGRITY");
                return None;
            }
            // A verified STUN binding from a new address also routes the media that follows.
            if !peer.remote_addrs.contains(&(proto, source)) {
                if peer.remote_addrs.len() >= self.config.max_remote_addrs.max(1) {
                    // Forget this peer's oldest route, unless it now leads to another peer.
                    let oldest = peer.remote_addrs.remove(0);
                    if self.by_addr.get(&oldest) == Some(&id) {
                        self.by_addr.remove(&oldest);
                    }
                }
                peer.remote_addrs.push((proto, source));
                if proto == Protocol::Tcp {
                    // Logged here, once verified, not when the socket opened: junk cannot
                    // fill the log.
                    info!(%source, peer = id.0, "ICE-TCP connection established");
                }
            }
            self.by_addr.insert((proto, source), id);
            return Some(id);
        }
        self.by_addr.get(&(proto, source)).copied()
    }

    /// After any mutation of a peer: drain it, and close its session if str0m failed.
    fn after_mutation(&mut self, now: Instant, id: PeerId, result: Result<(), str0m::RtcError>) {
        let Some(peer) = self.peers.get_mut(&id) else { return };
        let result = result.and_then(|_| drain(id, peer, &mut self.outputs, &mut self.events, &mut self.timers));
        if let Err(e) = result {
            let owner = peer.owner;
            warn!(%e, peer = id.0, "peer connection failed; closing its session");
            self.remove_session(now, owner, CloseReason::MediaFailure);
        }
    }

    /// Time passed: drive every peer whose deadline is due, and the housekeeping tick.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        // Collect the due peers first: a peer may ask for a timeout at `now` again, and must
        // then wait for the next call rather than spin here. Clearing `next_timeout` as a peer
        // is collected makes any other entry of it stale, so each is collected once.
        let mut due = std::mem::take(&mut self.due);
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            if let Some(peer) = self.peers.get_mut(&id).filter(|p| p.next_timeout == Some(t)) {
                peer.next_timeout = None;
                due.push(id);
            }
        }
        for id in due.drain(..) {
            let Some(peer) = self.peers.get_mut(&id) else { continue };
            let result = peer.rtc.handle_input(Input::Timeout(now));
            self.after_mutation(now, id, result);
        }
        self.due = due;
        if self.next_tick.is_some_and(|t| t <= now) {
            self.next_tick = Some(now + TICK);
            self.tick(now);
        }
        self.process_events(now);
    }

    /// Advances the wall clock used for protocol timestamps.
    pub fn set_unix_millis(&mut self, now_ms: UnixMillis) {
        self.now_ms = now_ms;
    }

    fn tick(&mut self, now: Instant) {
        // Sessions whose socket dropped and did not resume in time.
        let expired: Vec<SessionKey> = self
            .sessions
            .values()
            .filter(|p| p.disconnected_until.is_some_and(|t| t <= now))
            .map(|p| p.key)
            .collect();
        for key in expired {
            self.remove_session(now, key, CloseReason::MediaFailure);
        }
        // Peers that str0m has given up on (ICE timed out), and the peers of sessions without a
        // signalling socket (WHIP, WHEP) from which nothing has come for a while: a broadcaster
        // or player that vanished without DELETE. (A socket's close ends the others.) Silence,
        // not str0m's "ICE disconnected", is the test: as an ICE-lite agent str0m reports that
        // when binding requests stop, and libnice (GStreamer's webrtcbin) stops sending them
        // once connected while its media flows on.
        let dead: Vec<SessionKey> = self
            .peers
            .values()
            .filter(|p| {
                let Some(s) = self.sessions.get(&p.owner) else { return !p.rtc.is_alive() };
                let http = s.whep || s.kind == lk::participant_info::Kind::Ingress as i32;
                let heard = p.last_heard.map_or(s.last_seen, |t| t.max(s.last_seen));
                !p.rtc.is_alive() || (http && now.duration_since(heard) >= HTTP_SESSION_SILENCE)
            })
            .map(|p| p.owner)
            .collect();
        for key in dead {
            self.remove_session(now, key, CloseReason::MediaFailure);
        }
        // Empty rooms past their timeout; their taps close first.
        let closing: Vec<RoomName> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.empty_since.is_some_and(|t| now.duration_since(t) >= Duration::from_secs(r.empty_timeout as u64)))
            .map(|(name, _)| name.clone())
            .collect();
        for name in closing {
            info!(room = %name, "closing empty room");
            self.close_room_taps(&name);
            self.rooms.remove(&name);
        }
        self.update_speakers(now);
        // Bandwidth estimates and layer availability change continuously.
        let downtracks: Vec<(SessionKey, crate::ids::TrackSid)> = self
            .sessions
            .values()
            .flat_map(|p| p.downtracks.keys().map(move |sid| (p.key, sid.clone())))
            .collect();
        for (key, sid) in downtracks {
            self.choose_layer(now, key, &sid);
        }
        // Which layers anyone wants, once per video track: each announcement looks at every
        // subscriber, so once per subscriber would cost the square of the audience.
        let tracks: Vec<crate::ids::TrackSid> = self.rooms.values().flat_map(|r| r.tracks.iter().filter(|(_, t)| t.kind == str0m::media::MediaKind::Video).map(|(sid, _)| sid.clone())).collect();
        for sid in tracks {
            self.update_dynacast(&sid);
        }
        self.ticks += 1;
        if self.ticks % QUALITY_EVERY_TICKS == 0 {
            self.update_connection_quality();
        }
    }

    // ---------------------------------------------------------------------------------------
    // Room-wide messages

    pub(crate) fn room_info(&self, name: &RoomName) -> Option<lk::Room> {
        let room = self.rooms.get(name)?;
        let visible = room.participants.iter().filter_map(|k| self.sessions.get(k)).filter(|p| !p.hidden() && !p.waiting());
        let (mut n, mut publishers) = (0, 0);
        for p in visible {
            n += 1;
            if room.tracks.values().any(|t| t.owner == p.key) {
                publishers += 1;
            }
        }
        Some(room.info(n, publishers))
    }

    /// Sends a participant's new state to everyone in the room who sees it (itself included:
    /// clients learn their own permission and metadata changes this way).
    pub(crate) fn broadcast_participant(&mut self, room: &RoomName, about: SessionKey, info: lk::ParticipantInfo) {
        let Some(r) = self.rooms.get(room) else { return };
        let subject = self.sessions.get(&about);
        for k in &r.participants {
            if let (Some(s), Some(v)) = (subject, self.sessions.get(k)) {
                if !waiting::sees(v, s) {
                    continue;
                }
            }
            self.outputs.push_back(Output::Signal(
                *k,
                Response::Update(lk::ParticipantUpdate { participants: vec![info.clone()] }),
            ));
        }
    }

    pub(crate) fn participant_changed(&mut self, key: SessionKey) {
        let Some(p) = self.sessions.get_mut(&key) else { return };
        p.version += 1;
        let room = p.room.clone();
        let hidden = p.hidden();
        let info = match self.rooms.get(&room) {
            Some(r) => p.info(&r.tracks),
            None => return,
        };
        if hidden {
            self.outputs.push_back(Output::Signal(key, Response::Update(lk::ParticipantUpdate { participants: vec![info] })));
        } else {
            self.broadcast_participant(&room, key, info);
        }
    }

    fn update_speakers(&mut self, now: Instant) {
        let names: Vec<RoomName> = self.rooms.keys().cloned().collect();
        for name in names {
            let Some(room) = self.rooms.get_mut(&name) else { continue };
            let current = room.speakers.speakers(now);
            let active: Vec<(SessionKey, bool)> = current.iter().map(|(k, _)| (*k, true)).collect();
            if active == room.last_speakers {
                continue;
            }
            // Speakers who stopped are announced once as inactive.
            let mut infos: Vec<lk::SpeakerInfo> = Vec::new();
            for (k, level) in &current {
                if let Some(p) = self.sessions.get(k) {
                    infos.push(lk::SpeakerInfo { sid: p.sid.to_string(), level: *level, active: true });
                }
            }
            for (k, _) in &room.last_speakers {
                if !active.iter().any(|(a, _)| a == k) {
                    if let Some(p) = self.sessions.get(k) {
                        infos.push(lk::SpeakerInfo { sid: p.sid.to_string(), level: 0.0, active: false });
                    }
                }
            }
            room.last_speakers = active;
            let loudest: Vec<SessionKey> = current.iter().map(|(k, _)| *k).collect();
            self.taps_speakers(&name, &loudest);
            let Some(room) = self.rooms.get(&name) else { continue };
            for k in room.participants.clone() {
                if self.sessions.get(&k).is_some_and(Participant::waiting) {
                    continue;
                }
                self.outputs.push_back(Output::Signal(k, Response::SpeakersChanged(lk::SpeakersChanged { speakers: infos.clone() })));
            }
        }
    }

    /// Handles events drained from peers until none are left.
    fn process_events(&mut self, now: Instant) {
        while let Some((peer_id, event)) = self.events.pop_front() {
            self.handle_peer_event(now, peer_id, event);
        }
    }
}

/// HMAC-SHA1, as STUN's MESSAGE-INTEGRITY (RFC 5389 §15.4) needs: `key` over the `parts`.
fn sha1_hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}
