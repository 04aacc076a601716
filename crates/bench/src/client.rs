//! One simulated participant: a signalling WebSocket (LiveKit's protocol for Huiyi, or Janus's
//! VideoRoom API, see `janus.rs`) and up to two str0m peers (the subscriber, which the server
//! offers, and the publisher, which the client offers), each on its own UDP socket. It
//! publishes the stored media on a fixed schedule, answers keyframe requests by jumping to the
//! clip's keyframe, and measures every media packet it receives. The peers, the media and the
//! measurement are the same whichever signalling carries the offers and answers.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use huiyi_proto::lk::{self, signal_request::Message as Req, signal_response::Message as Resp};
use huiyi_proto::Message as _;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequest, MediaKind, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, Input, Output, PacerReason, Reason, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tracing::debug;

use crate::janus::JanusSignal;
use crate::media::{self, Media, Track};
use crate::stats::{Collector, Counters, Receiver, SendLog};

/// What a participant sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publish {
    pub audio: bool,
    /// Video layers, low to high: 0 for none, 1 for 180p only, 3 for 180p/360p/720p simulcast.
    pub video_layers: usize,
}

impl Publish {
    pub const NOTHING: Self = Self { audio: false, video_layers: 0 };
    pub fn any(self) -> bool {
        self.audio || self.video_layers > 0
    }
}

/// Shared by every participant of a run.
pub struct Shared {
    pub media: Media,
    pub log: SendLog,
    pub counters: Counters,
    pub collector: Collector,
    pub epoch: Instant,
    /// Janus only: the feeds (publisher ids) whose media is up, for the subscriptions.
    pub feeds: Mutex<Vec<u64>>,
}

/// Which signalling a participant speaks.
pub enum Target {
    /// LiveKit's protocol (Huiyi), with the participant's access token.
    LiveKit { token: String },
    /// Janus VideoRoom: the room, the participant's display name, and how many feeds are
    /// published in the run (it subscribes once they are all up).
    Janus { room: u64, name: String, feeds: usize },
    /// The bare relay of `--target ceiling` (`relay.rs`): its address, the run's key seed, and
    /// this participant's index.
    Ceiling { relay: SocketAddr, seed: u64, index: u32 },
}

/// What a viewer asks of the cameras it receives (the `meeting` scenario), as the web app does
/// in a large meeting: only the last N speakers' cameras (`bench-0` to `bench-{N-1}`) are on,
/// and at the size of a small tile, so that simulcast forwards their lowest layer.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub last_n: usize,
}

pub struct Spec {
    /// The server's base URL, `ws://host:port`.
    pub url: String,
    pub target: Target,
    pub publish: Publish,
    /// LiveKit only: the video this participant asks for; `None` takes every camera as sent.
    pub view: Option<View>,
    /// Where in the media loop this participant starts, so that publishers never send the
    /// same bytes at the same moment (the send log tells packets apart by their bytes).
    pub offset: usize,
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One peer connection and its socket.
struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    /// The same socket for sending: tokio's `try_send_to` reports WouldBlock until the reactor
    /// has seen the socket writable once, which silently dropped packets.
    sender: std::net::UdpSocket,
    local: SocketAddr,
    next: Instant,
    connected: bool,
}

impl Peer {
    async fn new(now: Instant) -> Result<Self> {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        std_socket.set_nonblocking(true)?;
        let sender = std_socket.try_clone()?;
        let socket = UdpSocket::from_std(std_socket)?;
        let local = socket.local_addr()?;
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(now);
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
        Ok(Self { rtc, socket, sender, local, next: now, connected: false })
    }

    fn receive(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        let Ok(contents) = data.try_into() else { return };
        let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination: self.local, contents });
        if let Err(e) = self.rtc.handle_input(input) {
            debug!(%e, "peer refused a datagram");
        }
    }
}

/// A publishing layer's place in its track and its RTP numbering.
struct Sending {
    mid: Mid,
    rid: Option<Rid>,
    pt: str0m::media::Pt,
    frame: usize,
    sent_frames: u32,
    seq: u64,
    picture_id: u16,
    ts_base: u32,
    last_jump: Option<Instant>,
    /// A keyframe request is to be answered with the next frame written.
    jump: bool,
}

/// The publisher's schedule: the next audio packet and video frame.
struct Publisher {
    peer: Peer,
    pending: Option<SdpPendingOffer>,
    audio: Option<Sending>,
    video: Vec<Sending>,
    next_audio: Instant,
    next_video: Instant,
}

const RIDS: [&str; 3] = ["q", "h", "f"];
const LAYERS: [(lk::VideoQuality, u32, u32); 3] = [(lk::VideoQuality::Low, 320, 180), (lk::VideoQuality::Medium, 640, 360), (lk::VideoQuality::High, 1280, 720)];

/// What one participant saw, filled in by its session whatever the target, and reported to
/// the collector when it ends.
pub struct Progress {
    /// When the participant began to connect.
    pub started: Instant,
    pub receiver: Receiver,
    /// Start to a connected media path.
    pub joined: Option<Duration>,
    /// Start to the first media packet.
    pub first_packet: Option<Duration>,
}

impl Progress {
    /// Records the join, once.
    pub fn join(&mut self, shared: &Shared) {
        if self.joined.is_none() {
            self.joined = Some(self.started.elapsed());
            shared.counters.joined.fetch_add(1, Relaxed);
        }
    }

    /// Records the first media packet, once it has arrived.
    pub fn note_media(&mut self) {
        if self.first_packet.is_none() && self.receiver.got_media() {
            self.first_packet = Some(self.started.elapsed());
        }
    }
}

/// Runs one participant until `stop` turns true, then reports to the collector. A failure to
/// join is reported as such, not as an error of the run.
pub async fn run(shared: Arc<Shared>, spec: Spec, mut stop: watch::Receiver<bool>) {
    let started = Instant::now();
    let mut progress = Progress { started, receiver: Receiver::default(), joined: None, first_packet: None };
    let mut watch_stop = stop.clone();
    let outcome = tokio::select! {
        r = async {
            match spec.target {
                Target::Ceiling { relay, seed, index } => crate::ceiling::session(&shared, relay, seed, index, spec.publish, spec.offset, &mut progress, &mut stop).await,
                _ => session(&shared, &spec, &mut progress, &mut stop).await,
            }
        } => r,
        _ = watch_stop.wait_for(|s| *s) => Ok(()),
    };
    if let Err(e) = outcome {
        debug!(%e, "participant ended with an error");
    }
    if std::env::var_os("HUIYI_BENCH_STREAMS").is_some() {
        eprintln!("{}", progress.receiver.describe());
    }
    shared.collector.add(&progress.receiver, progress.joined, progress.first_packet);
}

fn encode(req: Req) -> WsMessage {
    WsMessage::Binary(lk::SignalRequest { message: Some(req) }.encode_to_vec().into())
}

/// What the signalling brought for the peers.
pub enum News {
    Nothing,
    /// An offer for the subscriber peer.
    Offer(String),
    /// The answer to the publisher peer's offer.
    Answer(String),
}

/// LiveKit signalling: the WebSocket and its ping schedule.
struct LiveKit {
    ws: Ws,
    ping_every: Duration,
    next_ping: Instant,
    /// Video tracks of others, (identity, track sid), in the order they were announced.
    video: Vec<(String, String)>,
    /// How many of `video` have been given their settings.
    settled: usize,
}

impl LiveKit {
    fn learn(&mut self, participants: &[lk::ParticipantInfo]) {
        for p in participants {
            for t in p.tracks.iter().filter(|t| t.r#type == lk::TrackType::Video as i32) {
                if !self.video.iter().any(|(_, sid)| *sid == t.sid) {
                    self.video.push((p.identity.clone(), t.sid.clone()));
                }
            }
        }
    }

    /// Sends the view's settings for the cameras not yet settled (all of them again with
    /// `again`, after an offer: a setting for a track not yet subscribed is not kept).
    async fn settle(&mut self, view: View, again: bool) -> Result<()> {
        let from = if again { 0 } else { self.settled };
        for (identity, sid) in self.video[from..].iter().cloned() {
            let camera = identity.strip_prefix("bench-").and_then(|i| i.parse::<usize>().ok()).unwrap_or(usize::MAX);
            let (w, h) = (LAYERS[0].1, LAYERS[0].2);
            let settings = lk::UpdateTrackSettings { track_sids: vec![sid], disabled: camera >= view.last_n, quality: lk::VideoQuality::Low as i32, width: w, height: h, ..Default::default() };
            self.ws.send(encode(Req::TrackSetting(settings))).await?;
        }
        self.settled = self.video.len();
        Ok(())
    }
}

/// A participant's signalling, whichever the target speaks.
enum Signalling {
    LiveKit(Box<LiveKit>),
    Janus(Box<JanusSignal>),
}

enum Incoming {
    LiveKit(Box<Resp>),
    Janus(serde_json::Value),
}

impl Signalling {
    async fn connect(spec: &Spec) -> Result<Self> {
        match &spec.target {
            Target::LiveKit { token } => {
                let url = format!("{}/rtc?access_token={}&auto_subscribe=1&sdk=rust&protocol=16", spec.url, token);
                let (mut ws, _) = tokio::time::timeout(Duration::from_secs(30), tokio_tungstenite::connect_async(url)).await.context("connect timed out")??;
                let join = match next_response(&mut ws).await? {
                    Resp::Join(j) => j,
                    other => bail!("expected a join response, got {other:?}"),
                };
                let ping_every = Duration::from_secs(join.ping_interval.clamp(1, 30) as u64);
                let mut l = LiveKit { ws, ping_every, next_ping: Instant::now() + ping_every, video: Vec::new(), settled: 0 };
                l.learn(&join.other_participants);
                Ok(Self::LiveKit(Box::new(l)))
            }
            Target::Janus { room, name, feeds } => Ok(Self::Janus(Box::new(JanusSignal::connect(&spec.url, *room, name.clone(), *feeds).await?))),
            Target::Ceiling { .. } => bail!("the ceiling relay has no signalling"),
        }
    }

    /// Before the publisher's offer: LiveKit announces the tracks, Janus joins as publisher.
    async fn announce(&mut self, publish: Publish) -> Result<()> {
        match self {
            Self::LiveKit(l) => {
                let layers = publish.video_layers.min(3);
                if layers > 0 {
                    let video_layers = LAYERS[..layers].iter().map(|(q, w, h)| lk::VideoLayer { quality: *q as i32, width: *w, height: *h, ..Default::default() }).collect();
                    let (_, w, h) = LAYERS[layers - 1];
                    let add = lk::AddTrackRequest { cid: "cam".into(), r#type: lk::TrackType::Video as i32, source: lk::TrackSource::Camera as i32, width: w, height: h, layers: video_layers, ..Default::default() };
                    l.ws.send(encode(Req::AddTrack(add))).await?;
                }
                if publish.audio {
                    let add = lk::AddTrackRequest { cid: "mic".into(), r#type: lk::TrackType::Audio as i32, source: lk::TrackSource::Microphone as i32, ..Default::default() };
                    l.ws.send(encode(Req::AddTrack(add))).await?;
                }
                Ok(())
            }
            Self::Janus(j) => j.announce(publish).await,
        }
    }

    async fn offer(&mut self, sdp: String) -> Result<()> {
        match self {
            Self::LiveKit(l) => Ok(l.ws.send(encode(Req::Offer(lk::SessionDescription { r#type: "offer".into(), sdp, id: 1, ..Default::default() }))).await?),
            Self::Janus(j) => j.offer(sdp).await,
        }
    }

    async fn answer(&mut self, sdp: String) -> Result<()> {
        match self {
            Self::LiveKit(l) => Ok(l.ws.send(encode(Req::Answer(lk::SessionDescription { r#type: "answer".into(), sdp, ..Default::default() }))).await?),
            Self::Janus(j) => j.answer(sdp).await,
        }
    }

    /// Timed work (pings, keepalives, Janus's subscription); when it wants to run next.
    async fn tick(&mut self, now: Instant, shared: &Shared) -> Result<Instant> {
        match self {
            Self::LiveKit(l) => {
                if now >= l.next_ping {
                    l.next_ping = now + l.ping_every;
                    l.ws.send(encode(Req::Ping(shared.epoch.elapsed().as_millis() as i64))).await?;
                }
                Ok(l.next_ping)
            }
            Self::Janus(j) => j.tick(now, shared).await,
        }
    }

    /// The next message. Cancel-safe.
    async fn recv(&mut self) -> Result<Incoming> {
        match self {
            Self::LiveKit(l) => Ok(Incoming::LiveKit(Box::new(next_response(&mut l.ws).await?))),
            Self::Janus(j) => Ok(Incoming::Janus(j.recv().await?)),
        }
    }

    fn handle(&mut self, m: Incoming, shared: &Shared) -> Result<News> {
        match (self, m) {
            (Self::Janus(j), Incoming::Janus(v)) => j.handle(v, shared),
            (Self::LiveKit(l), Incoming::LiveKit(r)) => match *r {
                Resp::Update(u) => {
                    l.learn(&u.participants);
                    Ok(News::Nothing)
                }
                Resp::Offer(o) => Ok(News::Offer(o.sdp)),
                Resp::Answer(a) => Ok(News::Answer(a.sdp)),
                Resp::Leave(l) => bail!("the server asked us to leave: {:?}", l.reason()),
                _ => Ok(News::Nothing),
            },
            _ => Ok(News::Nothing),
        }
    }
}

async fn session(shared: &Shared, spec: &Spec, progress: &mut Progress, stop: &mut watch::Receiver<bool>) -> Result<()> {
    let mut sig = Signalling::connect(spec).await?;
    let now = Instant::now();
    let mut sub = Peer::new(now).await?;
    let mut publisher = if spec.publish.any() { Some(start_publishing(&mut sig, spec, now).await?) } else { None };
    let mut sub_buf = vec![0u8; 2048];
    let mut pub_buf = vec![0u8; 2048];
    let media = &shared.media;
    // str0m wants its output drained after every input: a second input before that loses
    // the first one's events (a received packet among them).
    let mut keyframes: Vec<Option<Rid>> = Vec::new();
    loop {
        let now = Instant::now();
        // Time first, then media, then whatever each peer has to say.
        if now >= sub.next {
            let _ = sub.rtc.handle_input(Input::Timeout(now));
        }
        drain(&mut sub, shared, Some(&mut progress.receiver), &mut None)?;
        if let Some(p) = publisher.as_mut() {
            if now >= p.peer.next {
                let _ = p.peer.rtc.handle_input(Input::Timeout(now));
            }
            drain(&mut p.peer, shared, None, &mut Some(&mut keyframes))?;
            for rid in keyframes.drain(..) {
                if let Some(s) = p.video.iter_mut().find(|s| s.rid == rid) {
                    // At most one jump to the clip's keyframe per half second.
                    if s.last_jump.is_none_or(|t| now.duration_since(t) > Duration::from_millis(500)) {
                        s.jump = true;
                        s.last_jump = Some(now);
                    }
                }
            }
            if p.peer.connected && send_media(p, media, shared, now, spec.offset) {
                // Written packets leave only after a timeout stamps them: now, not a timer
                // tick later (which would count as server latency).
                let _ = p.peer.rtc.handle_input(Input::Timeout(now));
                drain(&mut p.peer, shared, None, &mut Some(&mut keyframes))?;
            }
            if p.peer.connected {
                progress.join(shared);
            }
        }
        if sub.connected && !spec.publish.any() {
            progress.join(shared);
        }
        let next_signal = sig.tick(now, shared).await?;
        progress.note_media();
        let mut wake = sub.next.min(next_signal);
        if let Some(p) = &publisher {
            wake = wake.min(p.peer.next);
            if p.peer.connected && p.audio.is_some() {
                wake = wake.min(p.next_audio);
            }
            if p.peer.connected && !p.video.is_empty() {
                wake = wake.min(p.next_video);
            }
        }
        tokio::select! {
            r = sub.socket.recv_from(&mut sub_buf) => {
                let (n, source) = r?;
                sub.receive(Instant::now(), source, &sub_buf[..n]);
                drain(&mut sub, shared, Some(&mut progress.receiver), &mut None)?;
                // Take what else has arrived without another turn of the loop.
                for _ in 0..32 {
                    let Ok((n, source)) = sub.socket.try_recv_from(&mut sub_buf) else { break };
                    sub.receive(Instant::now(), source, &sub_buf[..n]);
                    drain(&mut sub, shared, Some(&mut progress.receiver), &mut None)?;
                }
            }
            r = async { match publisher.as_mut() { Some(p) => p.peer.socket.recv_from(&mut pub_buf).await, None => std::future::pending().await } } => {
                let (n, source) = r?;
                if let Some(p) = publisher.as_mut() {
                    p.peer.receive(Instant::now(), source, &pub_buf[..n]);
                    drain(&mut p.peer, shared, None, &mut Some(&mut keyframes))?;
                }
            }
            msg = sig.recv() => match sig.handle(msg?, shared)? {
                News::Offer(offer) => {
                    let offer = SdpOffer::from_sdp_string(&offer)?;
                    let answer = sub.rtc.sdp_api().accept_offer(offer)?;
                    sig.answer(answer.to_sdp_string()).await?;
                    if let (Some(view), Signalling::LiveKit(l)) = (spec.view, &mut sig) {
                        l.settle(view, true).await?;
                    }
                }
                News::Answer(answer) => {
                    let p = publisher.as_mut().ok_or_else(|| anyhow!("an answer without an offer"))?;
                    let pending = p.pending.take().ok_or_else(|| anyhow!("a second answer"))?;
                    p.peer.rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer)?)?;
                    bind_streams(p);
                }
                News::Nothing => {
                    if let (Some(view), Signalling::LiveKit(l)) = (spec.view, &mut sig) {
                        if l.settled < l.video.len() {
                            l.settle(view, false).await?;
                        }
                    }
                }
            },
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}

async fn next_response(ws: &mut Ws) -> Result<Resp> {
    loop {
        match ws.next().await.ok_or_else(|| anyhow!("signalling closed"))?? {
            WsMessage::Binary(b) => {
                if let Some(m) = lk::SignalResponse::decode(b.as_ref())?.message {
                    return Ok(m);
                }
            }
            WsMessage::Close(frame) => bail!("signalling closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Announces the tracks and sends the publisher's offer.
async fn start_publishing(sig: &mut Signalling, spec: &Spec, now: Instant) -> Result<Publisher> {
    let mut peer = Peer::new(now).await?;
    let layers = spec.publish.video_layers.min(3);
    sig.announce(spec.publish).await?;
    let mut api = peer.rtc.sdp_api();
    let mut video_mid = None;
    if layers > 0 {
        let simulcast = (layers > 1).then(|| Simulcast { send: RIDS[..layers].iter().map(|r| SimulcastLayer::new(r)).collect(), recv: vec![] });
        video_mid = Some(api.add_media(MediaKind::Video, Direction::SendOnly, Some("stream".into()), Some("cam".into()), simulcast));
    }
    let audio_mid = spec.publish.audio.then(|| api.add_media(MediaKind::Audio, Direction::SendOnly, Some("stream".into()), Some("mic".into()), None));
    let (offer, pending) = api.apply().ok_or_else(|| anyhow!("nothing to offer"))?;
    sig.offer(offer.to_sdp_string()).await?;
    let base = |i: u32| 0x1000_0000u32.wrapping_mul(i + 1) ^ (spec.offset as u32).wrapping_mul(7919);
    let sending = |mid: Mid, rid: Option<&str>, i: u32| Sending {
        mid,
        rid: rid.map(Rid::from),
        pt: 0.into(),
        frame: 0,
        sent_frames: 0,
        seq: base(i) as u64 & 0x7fff,
        picture_id: base(i) as u16 & 0x7fff,
        ts_base: base(i),
        last_jump: None,
        jump: false,
    };
    let video = match video_mid {
        Some(mid) if layers > 1 => RIDS[..layers].iter().enumerate().map(|(i, r)| sending(mid, Some(r), i as u32)).collect(),
        Some(mid) => vec![sending(mid, None, 0)],
        None => Vec::new(),
    };
    let audio = audio_mid.map(|mid| sending(mid, None, 7));
    Ok(Publisher { peer, pending: Some(pending), audio, video, next_audio: now, next_video: now })
}

/// After the answer: the negotiated payload types.
fn bind_streams(p: &mut Publisher) {
    let pt = |codec: Codec| p.peer.rtc.codec_config().find(|c| c.spec().codec == codec).map(|c| c.pt());
    if let (Some(a), Some(pt)) = (p.audio.as_mut(), pt(Codec::Opus)) {
        a.pt = pt;
    }
    if let Some(vp8) = pt(Codec::Vp8) {
        for v in &mut p.video {
            v.pt = vp8;
        }
    }
}

/// Writes every audio packet and video frame that is due; whether it wrote any.
fn send_media(p: &mut Publisher, media: &Media, shared: &Shared, now: Instant, offset: usize) -> bool {
    let mut wrote = false;
    if let Some(a) = p.audio.as_mut() {
        while p.next_audio <= now {
            write_frame(&mut p.peer.rtc, a, &media.audio, shared, now, offset, false);
            p.next_audio += media.audio.interval;
            wrote = true;
        }
    }
    if !p.video.is_empty() {
        while p.next_video <= now {
            let single = p.video.len() == 1;
            for (i, v) in p.video.iter_mut().enumerate() {
                let track = &media.video[if single { 0 } else { i }];
                write_frame(&mut p.peer.rtc, v, track, shared, now, offset, true);
            }
            p.next_video += media.video[0].interval;
            wrote = true;
        }
    }
    wrote
}

fn write_frame(rtc: &mut Rtc, s: &mut Sending, track: &Track, shared: &Shared, now: Instant, offset: usize, video: bool) {
    if s.jump {
        // The clip's keyframe is its first frame; this sender reads the clip `offset` frames
        // ahead, so it lands there at this frame index (a plain 0 landed on a delta frame for
        // every publisher but the first, and Janus's repeated requests then kept it off the
        // clip's own keyframes).
        s.frame = (track.frames.len() - offset % track.frames.len()) % track.frames.len();
        s.jump = false;
    }
    let frame = &track.frames[(s.frame + offset) % track.frames.len()];
    let frame = if s.sent_frames == 0 && video { &track.frames[0] } else { frame };
    let ts = s.ts_base.wrapping_add(s.sent_frames.wrapping_mul(track.ticks));
    let mut api = rtc.direct_api();
    let Some(tx) = api.stream_tx_by_mid(s.mid, s.rid) else { return };
    for packet in &frame.packets {
        let mut bytes = packet.bytes.clone();
        if video {
            media::set_picture_id(&mut bytes, s.picture_id);
        }
        let len = bytes.len();
        let mut write = RtpWrite::new(s.pt, s.seq.into(), ts, now, bytes).marker(packet.marker || !video).nackable(video);
        if !video {
            write = write.ext_vals(ExtensionValues { audio_level: Some(-30), voice_activity: Some(true), ..Default::default() });
        }
        tx.write_rtp(write);
        shared.log.sent(packet.fingerprint, now);
        shared.counters.packets_sent.fetch_add(1, Relaxed);
        shared.counters.bytes_sent.fetch_add(len as u64 + 12, Relaxed);
        s.seq += 1;
    }
    if video {
        s.picture_id = (s.picture_id + 1) & 0x7fff;
    }
    s.frame = (s.frame + 1) % track.frames.len();
    s.sent_frames += 1;
}

/// Carries a peer's output to its socket and records what it received.
fn drain(peer: &mut Peer, shared: &Shared, mut receiver: Option<&mut Receiver>, keyframes: &mut Option<&mut Vec<Option<Rid>>>) -> Result<()> {
    let mut immediate = 0;
    loop {
        match peer.rtc.poll_output()? {
            // The pacer's "again in 1 µs", served at once (as the server does).
            Output::Timeout(t) if peer.rtc.last_timeout_reason() == Reason::Pacer(PacerReason::Immediate) && immediate < 512 => {
                immediate += 1;
                peer.rtc.handle_input(Input::Timeout(t))?;
            }
            Output::Timeout(t) => {
                peer.next = t;
                return Ok(());
            }
            Output::Transmit(t) => {
                if peer.sender.send_to(&t.contents, t.destination).is_err() {
                    shared.counters.send_errors.fetch_add(1, Relaxed);
                }
            }
            Output::Event(Event::Connected) => peer.connected = true,
            Output::Event(Event::RtpPacket(p)) => {
                let Some(r) = receiver.as_deref_mut() else { continue };
                let (ssrc, seq, time) = (*p.header.ssrc, *p.seq_no, p.time);
                measure(shared, r, ssrc, seq, time.numer(), time.frequency().get(), &p.payload, p.timestamp);
            }
            Output::Event(Event::KeyframeRequest(KeyframeRequest { rid, .. })) => {
                if let Some(k) = keyframes.as_deref_mut() {
                    k.push(rid);
                }
            }
            Output::Event(_) => {}
        }
    }
}

/// Counts and measures one received media packet, the same way for every target: its stream's
/// loss and jitter, and, while the window is open, its latency from the send log (or, if it
/// matches no send, "unmatched"). `seq` is extended; `rtp_time` is in `clock` Hz (90 kHz is
/// video).
#[allow(clippy::too_many_arguments)]
pub fn measure(shared: &Shared, r: &mut Receiver, ssrc: u32, seq: u64, rtp_time: u64, clock: u32, payload: &[u8], arrival: Instant) {
    let c = &shared.counters;
    c.packets_received.fetch_add(1, Relaxed);
    c.bytes_received.fetch_add(payload.len() as u64 + 12, Relaxed);
    let video = clock == 90_000;
    r.packet(ssrc, seq, rtp_time, clock, arrival, shared.epoch);
    r.media_seen = true;
    if !c.measuring.load(Relaxed) {
        return;
    }
    let bytes = if video { media::vp8_media(payload) } else { Some(payload) };
    match bytes.and_then(|b| shared.log.latency(media::fingerprint(b), arrival)) {
        Some(d) => {
            let h = if video { &mut r.video } else { &mut r.audio };
            let _ = h.record(d.as_micros().max(1) as u64);
        }
        None => {
            c.unmatched.fetch_add(1, Relaxed);
        }
    }
}
