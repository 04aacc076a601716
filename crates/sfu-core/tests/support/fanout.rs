//! The steady state that the packet-path benchmark and the allocation test measure: one
//! publisher (VP8 video and Opus audio) and N subscribers, all connected and forwarded to.
//! The publisher's next packets are captured as SRTP datagrams first ([`Fanout::capture`]);
//! [`Fanout::forward`] then does exactly what the server's engine loop does per datagram
//! (`handle_datagram`, then `poll_output` until `Timeout`), and nothing else, so it is the part
//! to time or count; [`Fanout::deliver`] afterwards hands the engine's copies to the
//! subscribers and runs the network briefly (RTCP, ICE keepalives), outside any measurement.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use huiyi_sfu_core::{Output, Protocol, Transmit};
use str0m::format::Codec;
use str0m::media::{KeyframeRequest, Mid, Pt};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Event, Input, Output as RtcOutput};

use super::{publish, rtp_header, subscribe, vp8, Net, Publisher, SERVER};

/// Which of the publisher's tracks a packet is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// VP8, 1,000-byte payloads (a typical video packet), one frame per packet.
    Video,
    /// Opus, 100-byte payloads with an audio level.
    Audio,
}

/// Virtual time between two captured packets' arrivals at the engine, unless changed with
/// [`Fanout::spacing`]: 250 packets/s, a 2 Mbit/s video stream, or the audio of five speakers.
const SPACING: Duration = Duration::from_millis(4);
const VIDEO_PAYLOAD: usize = 1000;
const AUDIO_PAYLOAD: usize = 100;
/// Bound on the timeouts served per packet in [`Fanout::forward`] (one is what it takes).
const MAX_TURNS: u32 = 4;

pub struct Fanout {
    pub net: Net,
    /// Virtual time between two captured packets. The engine's cost per packet depends on it:
    /// str0m's bandwidth estimate smoother sums every estimate of the last 3 s on each timeout.
    pub spacing: Duration,
    publisher: Publisher,
    publisher_addr: SocketAddr,
    server: SocketAddr,
    subscribers: Vec<usize>,
    video_pt: Pt,
    audio: (Mid, Pt),
    /// The publisher's next RTP sequence numbers and timestamps, per track.
    video_seq: u64,
    audio_seq: u64,
    /// The next video packet starts a keyframe (at the start, and after a PLI).
    keyframe: bool,
    /// Captured packets, not yet forwarded: the instant each arrives at the engine, and its
    /// SRTP datagram.
    pending: Vec<(Instant, Vec<u8>)>,
    /// What the engine gave back while forwarding: transmits, and any other output.
    transmits: Vec<Transmit>,
    others: Vec<Output>,
    /// Set once warmed up: from then on, every packet must reach every subscriber.
    steady: bool,
}

/// What one [`Fanout::deliver`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Publisher packets forwarded.
    pub packets: usize,
    /// RTP datagrams the engine produced for subscribers.
    pub copies: usize,
    /// Other transmits the engine produced meanwhile (RTCP, STUN).
    pub other_transmits: usize,
    /// RTP packets the subscribers decrypted and reported.
    pub received: usize,
}

impl Fanout {
    /// Connects a publisher and `subscribers` subscribers, forwards a keyframe and some
    /// packets on both tracks, and checks that one packet now becomes one copy per subscriber.
    pub fn new(subscribers: usize) -> Self {
        let mut net = Net::new();
        let publisher = publish(&mut net, "pub", "10.0.0.1:1000", &[], true);
        let subscribers: Vec<usize> = (0..subscribers)
            .map(|i| subscribe(&mut net, &format!("sub{i}"), &format!("10.0.{}.{}:2000", 1 + i / 250, 1 + i % 250)).1)
            .collect();
        let config = net.peers[publisher.peer].rtc.codec_config();
        let video_pt = config.find(|c| c.spec().codec == Codec::Vp8).expect("VP8 negotiated").pt();
        let audio_pt = config.find(|c| c.spec().codec == Codec::Opus).expect("Opus negotiated").pt();
        let audio = (publisher.audio.expect("the publisher has a microphone"), audio_pt);
        let mut fanout = Fanout {
            spacing: SPACING,
            publisher_addr: net.peers[publisher.peer].addr,
            server: SERVER.parse().expect("a socket address"),
            net,
            publisher,
            subscribers,
            video_pt,
            audio,
            video_seq: 1000,
            audio_seq: 1000,
            keyframe: true,
            pending: Vec::new(),
            transmits: Vec::new(),
            others: Vec::new(),
            steady: false,
        };
        for media in [Media::Video, Media::Audio] {
            for _ in 0..10 {
                fanout.round(media, 10);
            }
            let one = fanout.round(media, 1);
            let n = fanout.subscribers.len();
            assert_eq!((one.copies, one.received), (n, n), "one {media:?} packet is forwarded to each of the {n} subscribers: {one:?}");
        }
        fanout.steady = true;
        fanout
    }

    pub fn subscribers(&self) -> usize {
        self.subscribers.len()
    }

    /// Captures, forwards and delivers `count` packets, unmeasured.
    pub fn round(&mut self, media: Media, count: usize) -> Delivery {
        self.capture(media, count);
        self.forward();
        let delivery = self.deliver();
        self.free_copies();
        delivery
    }

    /// Has the publisher send `count` packets on `media`, one every [`Fanout::spacing`] from now, and
    /// keeps their SRTP datagrams for [`Fanout::forward`]. Whatever else the publisher sends
    /// (RTCP) goes through the network as usual.
    pub fn capture(&mut self, media: Media, count: usize) {
        let start = self.net.now;
        for i in 0..count as u32 {
            let at = start + self.spacing * i;
            let peer = &mut self.net.peers[self.publisher.peer];
            peer.rtc.handle_input(Input::Timeout(at)).expect("the publisher takes a timeout");
            let mut api = peer.rtc.direct_api();
            let write = match media {
                Media::Video => {
                    let mut payload = vp8(self.video_seq as u16 & 0x7fff, self.keyframe, 0);
                    payload.resize(VIDEO_PAYLOAD, 0);
                    self.keyframe = false;
                    let write = RtpWrite::new(self.video_pt, self.video_seq.into(), self.video_seq as u32 * 90, at, payload);
                    self.video_seq += 1;
                    write.marker(true).nackable(true)
                }
                Media::Audio => {
                    let ext = ExtensionValues { audio_level: Some(-20), voice_activity: Some(true), ..Default::default() };
                    let write = RtpWrite::new(self.audio.1, self.audio_seq.into(), self.audio_seq as u32 * 48, at, vec![0x55; AUDIO_PAYLOAD]);
                    self.audio_seq += 1;
                    write.ext_vals(ext)
                }
            };
            let mid = if media == Media::Video { self.publisher.video } else { self.audio.0 };
            let tx = api.stream_tx_by_mid(mid, None).expect("the publisher's stream");
            // Captured packets leave at once, not when a pacer would let them.
            tx.set_unpaced(true);
            tx.write_rtp(write);
            let before = self.pending.len();
            // A written packet leaves at the next timeout (str0m's send queue), due now.
            let mut turns = 0;
            loop {
                match peer.rtc.poll_output().expect("the publisher's output") {
                    RtcOutput::Timeout(t) if t <= at && turns < 8 => {
                        turns += 1;
                        peer.rtc.handle_input(Input::Timeout(at)).expect("the publisher takes a timeout");
                    }
                    RtcOutput::Timeout(_) => break,
                    RtcOutput::Transmit(t) if t.destination == self.server && rtp_header(&t.contents).is_some() => self.pending.push((at, t.contents.to_vec())),
                    RtcOutput::Transmit(t) => self.net.held.push((t.source, t.destination, t.contents.to_vec())),
                    RtcOutput::Event(Event::KeyframeRequest(KeyframeRequest { .. })) => self.keyframe = true,
                    RtcOutput::Event(_) => {}
                }
            }
            assert_eq!(self.pending.len() - before, 1, "one write, one datagram");
        }
        self.net.now = start + self.spacing * count as u32;
        // Room for every copy, so that collecting them allocates nothing while measured.
        self.transmits.reserve(self.pending.len() * (self.subscribers.len() + 4));
        self.others.reserve(64);
    }

    /// The measured part: each captured datagram into the engine, every output drained, and
    /// the timeouts that are due by then served, as the server's engine loop does. A packet
    /// written to a subscriber's str0m leaves at one of its next `handle_timeout`s, which str0m
    /// asks for at once (a deadline already passed, or the instant the packet was queued): the
    /// copies come out of those later turns.
    pub fn forward(&mut self) {
        for (at, data) in &self.pending {
            self.net.engine.handle_datagram(*at, Protocol::Udp, self.publisher_addr, self.server, data);
            for turn in 0.. {
                let deadline = loop {
                    match self.net.engine.poll_output() {
                        Output::Timeout(t) => break t,
                        Output::Transmit(t) => self.transmits.push(t),
                        other => self.others.push(other),
                    }
                };
                if deadline > *at || turn == MAX_TURNS {
                    break;
                }
                self.net.engine.handle_timeout(*at);
            }
        }
    }

    /// Hands the engine's copies to the subscribers, and runs the network for a moment.
    /// Unmeasured. Once warmed up, panics unless the engine made one copy per packet and
    /// subscriber, and the subscribers received them all.
    pub fn deliver(&mut self) -> Delivery {
        let packets = self.pending.len();
        self.pending.clear();
        let mut copies = 0;
        for t in &self.transmits {
            if t.destination != self.publisher_addr && rtp_header(&t.contents).is_some() {
                copies += 1;
            }
            self.net.held.push((t.source, t.destination, t.contents.to_vec()));
        }
        let other_transmits = self.transmits.len() - copies;
        self.others.clear();
        self.net.exchange();
        self.net.run_for(self.spacing);
        let mut received = 0;
        for &sub in &self.subscribers {
            received += self.net.peers[sub].events.drain(..).filter(|e| matches!(e, Event::RtpPacket(_))).count();
        }
        for e in self.net.peers[self.publisher.peer].events.drain(..) {
            if matches!(e, Event::KeyframeRequest(_)) {
                self.keyframe = true;
            }
        }
        // Signalling nobody reads (speaker and quality updates) would pile up.
        self.net.signals.clear();
        let delivery = Delivery { packets, copies, other_transmits, received };
        if self.steady {
            let n = packets * self.subscribers.len();
            assert_eq!((copies, received), (n, n), "one copy per packet and subscriber: {delivery:?}");
        }
        delivery
    }

    /// Drops the copies, as the shell's send batch does once they are sent: part of the
    /// per-packet cost, so measured too.
    pub fn free_copies(&mut self) {
        self.transmits.clear();
    }
}
