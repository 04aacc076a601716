//! Huiyi's sans-IO SFU core.
//!
//! Rooms, participants, and the forwarding of their media, as one state machine with no
//! threads, sockets or clock: the caller feeds it time, packets and signal messages and
//! drains what it produces. See [`Engine`] for the driving contract.
//!
//! Each participant has two WebRTC peer connections, as LiveKit clients expect: a publisher
//! (client offers, server receives) and a subscriber (server offers, server sends). Each is a
//! str0m `Rtc` in RTP mode with ICE-lite: packets are forwarded as RTP, never reassembled
//! into frames.
//!
//! # Architecture invariant
//! Nothing here opens a socket, spawns a task, reads the clock or touches a database: `now`
//! is an argument of every input, [`Engine::new`] included.

// LiveKit marks fields "deprecated" that 2.x clients still send and read (TrackInfo.layers,
// DataPacket.kind, …); Huiyi must keep speaking them.
#![allow(deprecated)]

pub mod engine;
pub mod forward;
pub mod ids;
pub mod interaction;
pub mod permission;
pub mod speaker;

pub use engine::{ChatEvent, CloseReason, Engine, EngineConfig, JoinError, JoinParams, MetricsSnapshot, MuteOnEntry, Output, PeerRole, ResumeError, RoomEvent, ServiceError, TapScope, TapSpec, TapTrack, WhepSource, WAITING_ATTRIBUTE};
pub use engine::signal::SignalError;
pub use interaction::ChatRule;
pub use ids::{NameError, ParticipantIdentity, ParticipantSid, PeerId, RoomName, SessionKey, TrackSid};
pub use str0m::net::{Protocol, Transmit};
