//! The virtual network shared by the engine's integration tests and the packet-path
//! benchmark: LiveKit-style clients, each two str0m peers in RTP mode, talk to an [`Engine`]
//! over an in-memory network that can drop packets, in virtual time. No sockets, no sleeps:
//! time jumps to the next deadline, so runs are deterministic and faster than real time.
//!
//! Included with `#[path = "support/mod.rs"] mod support;` (or `../tests/support/mod.rs` from
//! a bench); each test binary uses only part of it.
#![allow(dead_code)]

pub mod counting;
pub mod fanout;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use huiyi_proto::lk::{self, signal_request::Message as Req, signal_response::Message as Resp};
use huiyi_sfu_core::{Engine, EngineConfig, JoinParams, MuteOnEntry, Output, ParticipantIdentity, Protocol, RoomEvent, RoomName, SessionKey};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequest, MediaKind, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::Receive;
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, Input, Output as RtcOutput, Rtc};

pub const SERVER: &str = "10.0.0.100:7882";

/// One client peer connection.
pub struct Peer {
    pub rtc: Rtc,
    pub addr: SocketAddr,
    pub next: Option<Instant>,
    pub events: Vec<Event>,
    pub connected: bool,
}

impl Peer {
    /// Takes everything the peer has to say: packets into `out`, events into `events`.
    pub fn pump(&mut self, out: &mut Vec<(SocketAddr, SocketAddr, Vec<u8>)>) {
        loop {
            match self.rtc.poll_output().unwrap() {
                RtcOutput::Timeout(t) => {
                    self.next = Some(t);
                    break;
                }
                RtcOutput::Transmit(t) => out.push((t.source, t.destination, t.contents.to_vec())),
                RtcOutput::Event(Event::Connected) => self.connected = true,
                RtcOutput::Event(e) => self.events.push(e),
            }
        }
    }

    pub fn new(now: Instant, addr: &str) -> Self {
        let addr: SocketAddr = addr.parse().unwrap();
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        Self { rtc, addr, next: None, events: Vec::new(), connected: false }
    }
}

/// What the network does to packets from the engine to clients.
pub type Loss = Box<dyn FnMut(&[u8]) -> bool>;

pub struct Net {
    pub now: Instant,
    pub engine: Engine,
    pub next_engine: Option<Instant>,
    pub peers: Vec<Peer>,
    pub signals: HashMap<SessionKey, VecDeque<Resp>>,
    /// Returns true to drop a packet on its way to a client.
    pub loss: Loss,
    /// Exchanges at the current instant, bounded by `step`.
    pub rounds: u32,
    /// What the next joins are told about muting on entry.
    pub mute_on_entry: MuteOnEntry,
    /// Packets peers sent while receiving, for the next exchange.
    pub held: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// What the engine sent to media taps, and the room events it emitted.
    pub taps: Vec<(SocketAddr, Vec<u8>)>,
    pub events: Vec<RoomEvent>,
}

impl Net {
    pub fn new() -> Self {
        let now = Instant::now();
        let config = EngineConfig { udp_candidate: SERVER.parse().unwrap(), ..EngineConfig::default() };
        Self { now, engine: Engine::new(config, now), next_engine: None, peers: Vec::new(), signals: HashMap::new(), loss: Box::new(|_| false), rounds: 0, mute_on_entry: MuteOnEntry::Never, held: Vec::new(), taps: Vec::new(), events: Vec::new() }
    }

    pub fn add_peer(&mut self, addr: &str) -> usize {
        self.peers.push(Peer::new(self.now, addr));
        self.peers.len() - 1
    }

    pub fn join(&mut self, identity: &str) -> SessionKey {
        let params = JoinParams {
            room: RoomName::parse("virtual").unwrap(),
            identity: ParticipantIdentity::parse(identity).unwrap(),
            name: identity.into(),
            metadata: String::new(),
            attributes: HashMap::new(),
            permission: lk::ParticipantPermission { can_publish: true, can_subscribe: true, can_publish_data: true, ..Default::default() },
            auto_subscribe: true,
            now_ms: 0,
            client_addr: None,
            mute_on_entry: self.mute_on_entry,
            chat: huiyi_sfu_core::ChatRule::Free,
            waiting: false,
            may_rename: false,
        };
        let (key, _join) = self.engine.join(self.now, params).unwrap();
        key
    }

    pub fn signal(&mut self, key: SessionKey, req: Req) {
        self.engine.handle_signal(self.now, key, req).unwrap();
        self.exchange();
    }

    pub fn take_signal<T>(&mut self, key: SessionKey, mut pick: impl FnMut(&Resp) -> Option<T>) -> Option<T> {
        let q = self.signals.entry(key).or_default();
        let pos = q.iter().position(|m| pick(m).is_some())?;
        let m = q.remove(pos)?;
        pick(&m)
    }

    /// Moves what is in flight; when nothing is, advances time to the next deadline.
    pub fn step(&mut self) {
        // Packets can keep flowing at one instant (a pacer, a ping-pong); time must still move.
        if self.exchange() && self.rounds < 8 {
            self.rounds += 1;
        } else {
            self.rounds = 0;
            self.advance();
        }
    }

    pub fn advance(&mut self) {
        let next = self.peers.iter().filter_map(|p| p.next).chain(self.next_engine).min().unwrap_or(self.now);
        // Virtual time never stands still, and never jumps more than 10 ms at once.
        self.now = next.max(self.now + Duration::from_micros(100)).min(self.now + Duration::from_millis(10));
        for p in &mut self.peers {
            p.rtc.handle_input(Input::Timeout(self.now)).unwrap();
        }
        self.engine.handle_timeout(self.now);
    }

    /// Drains every output and delivers the packets. Returns whether any packet moved.
    pub fn exchange(&mut self) -> bool {
        let mut in_flight: Vec<(SocketAddr, SocketAddr, Vec<u8>)> = std::mem::take(&mut self.held);
        for p in &mut self.peers {
            p.pump(&mut in_flight);
        }
        loop {
            match self.engine.poll_output() {
                Output::Timeout(t) => {
                    self.next_engine = Some(t);
                    break;
                }
                Output::Transmit(t) => {
                    if !(self.loss)(&t.contents) {
                        in_flight.push((t.source, t.destination, t.contents.to_vec()));
                    }
                }
                Output::Signal(k, m) => self.signals.entry(k).or_default().push_back(m),
                Output::TapTransmit { to, packet } => self.taps.push((to, packet)),
                Output::Event(e) => self.events.push(e),
                Output::Close(..) => {}
            }
        }
        let server: SocketAddr = SERVER.parse().unwrap();
        let moved = !in_flight.is_empty();
        for (src, dst, data) in in_flight {
            if dst == server {
                self.engine.handle_datagram(self.now, Protocol::Udp, src, dst, &data);
            } else if let Some(p) = self.peers.iter_mut().find(|p| p.addr == dst) {
                let input = Input::Receive(self.now, Receive { proto: Protocol::Udp, source: src, destination: dst, contents: data.as_slice().try_into().unwrap() });
                p.rtc.handle_input(input).unwrap();
                // str0m must be drained after every input, or the input's events are lost.
                p.pump(&mut self.held);
            }
        }
        moved
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    pub fn run_until(&mut self, what: &str, mut cond: impl FnMut(&mut Net) -> bool) {
        let end = self.now + Duration::from_secs(5);
        while !cond(self) {
            assert!(self.now < end, "virtual timeout waiting for {what}");
            self.step();
        }
    }

    /// Answers the engine's subscriber offers for `key` with peer `sub`, until none are left.
    pub fn answer_offers(&mut self, key: SessionKey, sub: usize) {
        while let Some(offer) = self.take_signal(key, |m| if let Resp::Offer(o) = m { Some(o.sdp.clone()) } else { None }) {
            let offer = SdpOffer::from_sdp_string(&offer).unwrap();
            let answer = self.peers[sub].rtc.sdp_api().accept_offer(offer).unwrap();
            self.signal(key, Req::Answer(lk::SessionDescription { r#type: "answer".into(), sdp: answer.to_sdp_string(), ..Default::default() }));
            self.step();
        }
    }
}

/// A publishing participant: its session and its publisher peer, with one video track.
pub struct Publisher {
    pub key: SessionKey,
    pub peer: usize,
    pub video: Mid,
    pub audio: Option<Mid>,
    /// The STUN USERNAME the client uses towards the server (`server:client` ufrags), and the
    /// server's ICE password that signs it.
    pub stun_username: String,
    pub server_pwd: String,
}

pub fn publish(net: &mut Net, identity: &str, addr: &str, rids: &[&str], with_audio: bool) -> Publisher {
    let key = net.join(identity);
    let peer = net.add_peer(addr);
    let simulcast = (!rids.is_empty()).then(|| Simulcast { send: rids.iter().map(|r| SimulcastLayer::new(r)).collect(), recv: vec![] });
    let layers: Vec<lk::VideoLayer> = [(lk::VideoQuality::Low, 320, 180), (lk::VideoQuality::Medium, 640, 360), (lk::VideoQuality::High, 1280, 720)]
        .into_iter()
        .take(rids.len().max(1))
        .map(|(q, w, h)| lk::VideoLayer { quality: q as i32, width: w, height: h, bitrate: 0, ..Default::default() })
        .collect();
    net.signal(key, Req::AddTrack(lk::AddTrackRequest { cid: "cam".into(), r#type: lk::TrackType::Video as i32, source: lk::TrackSource::Camera as i32, width: 1280, height: 720, layers, ..Default::default() }));
    if with_audio {
        net.signal(key, Req::AddTrack(lk::AddTrackRequest { cid: "mic".into(), r#type: lk::TrackType::Audio as i32, source: lk::TrackSource::Microphone as i32, ..Default::default() }));
    }
    let mut api = net.peers[peer].rtc.sdp_api();
    let video = api.add_media(MediaKind::Video, Direction::SendOnly, Some("stream".into()), Some("cam".into()), simulcast);
    let audio = with_audio.then(|| api.add_media(MediaKind::Audio, Direction::SendOnly, Some("stream".into()), Some("mic".into()), None));
    let (offer, pending): (SdpOffer, SdpPendingOffer) = api.apply().unwrap();
    let client_ufrag = sdp_attr(&offer.to_sdp_string(), "ice-ufrag");
    net.signal(key, Req::Offer(lk::SessionDescription { r#type: "offer".into(), sdp: offer.to_sdp_string(), id: 1, ..Default::default() }));
    let answer = net.take_signal(key, |m| if let Resp::Answer(a) = m { Some(a.sdp.clone()) } else { None }).expect("engine answers the publisher offer");
    let stun_username = format!("{}:{client_ufrag}", sdp_attr(&answer, "ice-ufrag"));
    let server_pwd = sdp_attr(&answer, "ice-pwd");
    net.peers[peer].rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap()).unwrap();
    net.run_until("publisher connected", |n| n.peers[peer].connected);
    Publisher { key, peer, video, audio, stun_username, server_pwd }
}

pub fn subscribe(net: &mut Net, identity: &str, addr: &str) -> (SessionKey, usize) {
    let key = net.join(identity);
    let sub = net.add_peer(addr);
    net.step();
    net.answer_offers(key, sub);
    net.run_until("subscriber connected", |n| n.peers[sub].connected);
    (key, sub)
}

/// A VP8 payload with a 15-bit picture id; `layer` is written into the body to tell layers apart.
pub fn vp8(pic: u16, keyframe: bool, layer: u8) -> Vec<u8> {
    vec![0x90, 0x80, 0x80 | (pic >> 8) as u8, pic as u8, if keyframe { 0x00 } else { 0x01 }, 0x9d, 0x01, 0x2a, layer]
}

/// Sends one frame (one packet) on each of the publisher's layers.
pub struct Sender {
    pub frame: u32,
    pub seq: [u64; 3],
    pub force_key: [bool; 3],
}

impl Sender {
    pub fn new() -> Self {
        Self { frame: 0, seq: [1000, 20_000, 40_000], force_key: [true; 3] }
    }

    pub fn send_frame(&mut self, net: &mut Net, p: &Publisher, rids: &[Option<&str>]) {
        // Keyframes on request (PLI), and every 3 seconds.
        for e in net.peers[p.peer].events.drain(..) {
            if let Event::KeyframeRequest(KeyframeRequest { rid, .. }) = e {
                let idx = rids.iter().position(|r| r.map(Rid::from) == rid).unwrap_or(0);
                self.force_key[idx] = true;
            }
        }
        let now = net.now;
        let pt = net.peers[p.peer].rtc.codec_config().find(|c| c.spec().codec == Codec::Vp8).unwrap().pt();
        for (i, rid) in rids.iter().enumerate() {
            let key = self.force_key[i] || self.frame.is_multiple_of(90);
            self.force_key[i] = false;
            let payload = vp8((self.frame % 32768) as u16, key, i as u8);
            let mut api = net.peers[p.peer].rtc.direct_api();
            let tx = api.stream_tx_by_mid(p.video, rid.map(Rid::from)).expect("publisher stream for the layer");
            tx.write_rtp(RtpWrite::new(pt, self.seq[i].into(), self.frame * 3000, now, payload).marker(true).nackable(true));
            self.seq[i] += 1;
            net.step();
        }
        if let Some(mid) = p.audio {
            let pt = net.peers[p.peer].rtc.codec_config().find(|c| c.spec().codec == Codec::Opus).unwrap().pt();
            let ext = ExtensionValues { audio_level: Some(-20), voice_activity: Some(true), ..Default::default() };
            let mut api = net.peers[p.peer].rtc.direct_api();
            if let Some(tx) = api.stream_tx_by_mid(mid, None) {
                tx.write_rtp(RtpWrite::new(pt, (self.frame as u64 + 1).into(), self.frame * 1600, now, vec![0xfc, 0xff, 0xfe]).ext_vals(ext));
            }
            net.step();
        }
        self.frame += 1;
    }
}

/// The `a=<attr>:` value of the first line that has it in an SDP.
pub fn sdp_attr(sdp: &str, attr: &str) -> String {
    sdp.lines().find_map(|l| l.strip_prefix(&format!("a={attr}:"))).expect("attribute in SDP").trim().to_owned()
}

/// RTP (not RTCP) from the engine: version 2 and a payload type outside RTCP's 200–206.
pub fn rtp_header(data: &[u8]) -> Option<(u32, u16)> {
    if data.len() < 12 || data[0] >> 6 != 2 || (200..=206).contains(&data[1]) {
        return None;
    }
    Some((u32::from_be_bytes([data[8], data[9], data[10], data[11]]), u16::from_be_bytes([data[2], data[3]])))
}
