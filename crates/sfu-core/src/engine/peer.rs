//! One peer connection: a str0m `Rtc` and what the engine needs to drive it.
//!
//! str0m's contract: after every mutation of an `Rtc`, drain `poll_output` until it returns
//! `Timeout` before the next mutation. [`drain`] is the one place that does so; its
//! transmits go to the engine's output queue and its events to the engine's event queue.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use str0m::change::SdpPendingOffer;
use str0m::channel::ChannelId;
use str0m::net::Protocol;
use str0m::{Candidate, Event, Input, Output as RtcOutput, PacerReason, Reason, Rtc};

use crate::ids::{PeerId, SessionKey};

use super::Output;

/// Pacer turns one drain serves inline: more than a keyframe's packets, far fewer than forever.
const MAX_IMMEDIATE: u32 = 512;

/// Which of a participant's two peer connections this is. LiveKit clients publish on one
/// and receive on the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    /// The client offers; the server receives media and data.
    Publisher,
    /// The server offers; the server sends media and data.
    Subscriber,
}

impl PeerRole {
    /// LiveKit's `SignalTarget` value for this role.
    pub fn signal_target(self) -> i32 {
        match self {
            PeerRole::Publisher => 0,
            PeerRole::Subscriber => 1,
        }
    }
}

pub(crate) struct Peer {
    pub rtc: Rtc,
    pub owner: SessionKey,
    pub role: PeerRole,
    /// The local ICE ufrag, by which STUN requests are routed here. Changes on ICE restart.
    pub ufrag: String,
    /// The local ICE password, to verify a STUN request before it routes anything.
    pub ice_pass: String,
    /// The remote addresses that sent verified STUN for this peer (routing for non-STUN
    /// packets), oldest first, at most `EngineConfig::max_remote_addrs`.
    pub remote_addrs: Vec<(Protocol, SocketAddr)>,
    /// Subscriber only: the offer sent and not yet answered. At most one is outstanding.
    pub pending_offer: Option<SdpPendingOffer>,
    /// Subscriber only: something changed while an offer was outstanding; offer again after
    /// the answer arrives.
    pub renegotiate: bool,
    /// Subscriber only: the next offer restarts ICE (a resumed session, whose client may have
    /// lost its network or changed it).
    pub ice_restart: bool,
    /// Subscriber only: whether the server's data channels have been put in an offer.
    pub channels_added: bool,
    /// Subscriber only: media lines to deactivate in the next offer.
    pub pending_removals: Vec<str0m::media::Mid>,
    /// Subscriber only: tracks that had a media line here that is now inactive (newest last,
    /// at most [`MAX_RETIRED`]), so a new line for one gets a distinct msid.
    pub retired: Vec<crate::ids::TrackSid>,
    /// Subscriber only: media lines added so far, to number the msids of repeated tracks.
    pub lines_added: u64,
    /// Id of the last offer sent (LiveKit's `SessionDescription.id`).
    pub offer_id: u32,
    /// Data channels by kind: reliable and lossy. On the publisher these are the client's; on
    /// the subscriber they are the server's.
    pub reliable: Option<ChannelId>,
    pub lossy: Option<ChannelId>,
    /// Whether ICE and DTLS are up.
    pub connected: bool,
    /// When the last datagram from the client arrived (STUN, DTLS, RTP or RTCP).
    pub last_heard: Option<Instant>,
    /// Recent packet loss on this connection, 0..1, from RTCP reports (smoothed).
    pub loss: f32,
    /// Latest egress bandwidth estimate (subscriber), bits per second.
    pub bwe_bps: Option<u64>,
    /// The next time str0m wants `handle_input(Timeout)`.
    pub next_timeout: Option<Instant>,
}

/// How many tracks with an inactive line a subscriber connection remembers.
pub const MAX_RETIRED: usize = 1024;

impl Peer {
    pub fn new(rtc: Rtc, owner: SessionKey, role: PeerRole) -> Self {
        Self {
            rtc,
            owner,
            role,
            ufrag: String::new(),
            ice_pass: String::new(),
            remote_addrs: Vec::new(),
            pending_offer: None,
            renegotiate: false,
            ice_restart: false,
            pending_removals: Vec::new(),
            retired: Vec::new(),
            lines_added: 0,
            channels_added: false,
            offer_id: 0,
            reliable: None,
            lossy: None,
            connected: false,
            last_heard: None,
            bwe_bps: None,
            loss: 0.0,
            next_timeout: None,
        }
    }

    /// Adds the server's host candidates; with ICE-lite they are all the client needs.
    pub fn add_local_candidates(&mut self, candidates: &[Candidate]) {
        for c in candidates {
            self.rtc.add_local_candidate(c.clone());
        }
    }

    /// Notes that `track`'s line went inactive. Past [`MAX_RETIRED`] the oldest is forgotten;
    /// only a track subscribed, dropped and subscribed again that long after could then repeat
    /// an msid.
    pub fn retire(&mut self, track: &crate::ids::TrackSid) {
        if self.retired.contains(track) {
            return;
        }
        if self.retired.len() >= MAX_RETIRED {
            self.retired.remove(0);
        }
        self.retired.push(track.clone());
    }

    pub fn refresh_ufrag(&mut self) {
        let creds = self.rtc.direct_api().local_ice_credentials();
        self.ufrag = creds.ufrag;
        self.ice_pass = creds.pass;
    }
}

/// Drains one peer after a mutation: transmits to `outputs`, events to `events`, and the next
/// timeout into `timers`. A str0m error is returned so the caller can drop just this peer.
pub(crate) fn drain(
    id: PeerId,
    peer: &mut Peer,
    outputs: &mut VecDeque<Output>,
    events: &mut VecDeque<(PeerId, Event)>,
    timers: &mut BinaryHeap<Reverse<(Instant, PeerId)>>,
) -> Result<(), str0m::RtcError> {
    let mut immediate = 0;
    loop {
        match peer.rtc.poll_output()? {
            // str0m's pacer lets one packet out per timeout and then asks for another 1 µs
            // later. Served through the shell's timer, each such turn costs a timer tick
            // (tokio rounds up to 1 ms): the last packet of a 10-packet frame left 10 ms late.
            // Those timeouts are answered here at once, with str0m's own instant, so a frame
            // leaves in one burst. Bounded, in case a pacer ever keeps asking.
            RtcOutput::Timeout(t) if immediate < MAX_IMMEDIATE && peer.rtc.last_timeout_reason() == Reason::Pacer(PacerReason::Immediate) => {
                immediate += 1;
                peer.rtc.handle_input(Input::Timeout(t))?;
            }
            RtcOutput::Timeout(t) => {
                if peer.next_timeout != Some(t) {
                    peer.next_timeout = Some(t);
                    timers.push(Reverse((t, id)));
                }
                return Ok(());
            }
            RtcOutput::Transmit(t) => outputs.push_back(Output::Transmit(t)),
            RtcOutput::Event(e) => events.push_back((id, e)),
        }
    }
}
