//! Janus 1.1 as the SFU under test, and the generator's Janus VideoRoom signalling.
//!
//! [`Janus::start`] runs `janus` for one run on loopback with its own configuration (VideoRoom
//! and WebSockets only, ICE-lite, two event loops, a free WebSocket port, a fresh RTP port
//! range), preloading `janus/lo_only_ifaddrs.c` so that its ICE offers 127.0.0.1 (Janus skips
//! loopback interfaces otherwise). [`JanusSignal`] is one participant's signalling: a session
//! with a publisher handle (join, then `publish` with the same str0m offer the LiveKit path
//! makes) and, once every expected feed is up, a subscriber handle (join with all other feeds,
//! answer Janus's offers with `start`).

use std::collections::VecDeque;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tracing::debug;

use crate::client::{News, Publish, Shared};
use crate::server::Process;

const SHIM: &str = include_str!("../janus/lo_only_ifaddrs.c");
const CONFIGS: [&str; 3] = ["janus.jcfg", "janus.transport.websockets.jcfg", "janus.plugin.videoroom.jcfg"];
const OTHER_PLUGINS: &str = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so";
const OTHER_TRANSPORTS: &str = "libjanus_http.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so";

/// Which simulcast substream a Janus subscriber asks for (0 = q/180p, 1 = h/360p, 2 = f/720p).
/// Janus forwards the highest (2) by default. Huiyi forwards a bench subscriber (which never
/// sends track settings) the highest layer too: in `livestream --subscribers 6` both deliver
/// 1,140 packets/s and 7.2 Mbit/s (about 1.2 Mbit/s per viewer, the 720p layer plus audio), so
/// asking for 2 explicitly keeps the two SFUs' forwarded load identical.
pub const SUBSTREAM: u64 = 2;


pub fn noise() -> u64 {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (t.as_nanos() as u64) ^ ((std::process::id() as u64) << 20)
}

/// Replaces the first line of `text` whose trimmed start is `prefix` with `line` (indented);
/// fails if there is none, so that a changed stock config is noticed, not silently ignored.
fn set_line(text: &str, prefix: &str, line: &str) -> Result<String> {
    let mut done = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if !done && l.trim_start().starts_with(prefix) {
                done = true;
                format!("\t{line}")
            } else {
                l.to_string()
            }
        })
        .collect();
    if !done {
        bail!("no line starting with {prefix:?} in the stock Janus config");
    }
    Ok(out.join("\n") + "\n")
}

/// Starts Janus 1.1 from `bin`, configured for loopback and the VideoRoom only.
pub struct Janus;

impl Janus {
    pub async fn start(bin: &Path) -> Result<Process> {
        let dir = std::env::temp_dir().join(format!("huiyi-bench-janus-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let port = crate::server::free_tcp()?;
        // 20,000 RTP ports (one per peer connection) from a random base, so that concurrent
        // runs rarely overlap.
        let rtp_min = 20_000 + (noise() % 20_000) as u16;
        let rtp_max = rtp_min + 19_999;
        let read = |name: &str| std::fs::read_to_string(Path::new("/etc/janus").join(name)).with_context(|| format!("reading /etc/janus/{name} (is the janus package installed?)"));
        let mut main = read(CONFIGS[0])?;
        for (prefix, line) in [
            ("configs_folder =", format!("configs_folder = \"{}\"", dir.display())),
            ("debug_level =", "debug_level = 3".to_string()),
            ("#interface =", "interface = \"127.0.0.1\"".to_string()),
            ("#event_loops =", "event_loops = 2".to_string()),
            ("#rtp_port_range =", format!("rtp_port_range = \"{rtp_min}-{rtp_max}\"")),
            ("#ice_lite =", "ice_lite = true".to_string()),
            ("#disable = \"libjanus_voicemail.so", format!("disable = \"{OTHER_PLUGINS}\"")),
            ("#disable = \"libjanus_rabbitmq.so\"", format!("disable = \"{OTHER_TRANSPORTS}\"")),
            ("#disable = \"libjanus_jsonlog.so\"", "disable = \"libjanus_jsonlog.so\"".to_string()),
        ] {
            main = set_line(&main, prefix, &line)?;
        }
        let mut ws = read(CONFIGS[1])?;
        for (prefix, line) in [("ws_port =", format!("ws_port = {port}")), ("#ws_ip =", "ws_ip = \"127.0.0.1\"".to_string()), ("json =", "json = \"plain\"".to_string())] {
            ws = set_line(&ws, prefix, &line)?;
        }
        std::fs::write(dir.join(CONFIGS[0]), main)?;
        std::fs::write(dir.join(CONFIGS[1]), ws)?;
        std::fs::write(dir.join(CONFIGS[2]), read(CONFIGS[2])?)?;
        std::fs::write(dir.join("lo_only_ifaddrs.c"), SHIM)?;
        let shim = dir.join("lo_only_ifaddrs.so");
        let gcc = Command::new("gcc").args(["-shared", "-fPIC", "-O2", "-o"]).arg(&shim).arg(dir.join("lo_only_ifaddrs.c")).arg("-ldl").status().context("running gcc for the Janus shim")?;
        if !gcc.success() {
            bail!("gcc failed to build the Janus loopback shim ({gcc})");
        }
        let mut command = Command::new(bin);
        command.arg("-C").arg(dir.join(CONFIGS[0])).arg("-F").arg(&dir).args(["-d", "3", "-o"]).env("LD_PRELOAD", &shim);
        Process::spawn(command, dir, "janus.log", port).await
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A Janus API connection carrying one session: requests with transactions, and the messages
/// that arrived while a request waited for its reply.
pub struct JanusWs {
    ws: Ws,
    held: VecDeque<Value>,
    next_tx: u64,
    pub session: u64,
}

impl JanusWs {
    /// Connects and creates a session.
    pub async fn connect(url: &str) -> Result<Self> {
        let mut request = url.into_client_request()?;
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("janus-protocol"));
        let (ws, _) = tokio::time::timeout(Duration::from_secs(30), tokio_tungstenite::connect_async(request)).await.context("connect timed out")??;
        let mut c = Self { ws, held: VecDeque::new(), next_tx: 0, session: 0 };
        let created = c.request(json!({"janus": "create"})).await?;
        c.session = created["data"]["id"].as_u64().ok_or_else(|| anyhow!("create: no session id in {created}"))?;
        Ok(c)
    }

    /// Sends a request (with this session and a fresh transaction); the transaction.
    pub async fn send(&mut self, mut v: Value) -> Result<String> {
        self.next_tx += 1;
        let tx = format!("t{}", self.next_tx);
        v["transaction"] = json!(tx);
        if self.session != 0 {
            v["session_id"] = json!(self.session);
        }
        self.ws.send(WsMessage::Text(v.to_string().into())).await?;
        Ok(tx)
    }

    /// Sends a request and waits for its outcome: `success`, or the plugin's `event` for an
    /// asynchronous one. Errors (Janus's or the plugin's) are errors.
    pub async fn request(&mut self, v: Value) -> Result<Value> {
        let what = v["body"]["request"].as_str().or(v["janus"].as_str()).unwrap_or("?").to_string();
        let tx = self.send(v).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = tokio::time::timeout_at(deadline.into(), self.read()).await.with_context(|| format!("{what}: no reply within 30 s"))??;
            if m["transaction"].as_str() != Some(tx.as_str()) {
                self.held.push_back(m);
                continue;
            }
            match m["janus"].as_str() {
                Some("ack") => continue,
                Some("success") | Some("event") => {
                    check_plugin(&m).with_context(|| format!("{what} refused"))?;
                    return Ok(m);
                }
                Some("error") => bail!("{what} refused: {}", m["error"]),
                _ => bail!("{what}: unexpected reply {m}"),
            }
        }
    }

    /// The next message: one held back by a request first. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Value> {
        if let Some(m) = self.held.pop_front() {
            return Ok(m);
        }
        self.read().await
    }

    async fn read(&mut self) -> Result<Value> {
        loop {
            match self.ws.next().await.ok_or_else(|| anyhow!("signalling closed"))?? {
                WsMessage::Text(t) => return serde_json::from_str(t.as_str()).context("Janus sent bad JSON"),
                WsMessage::Close(frame) => bail!("signalling closed: {frame:?}"),
                _ => {}
            }
        }
    }

    pub async fn attach(&mut self) -> Result<u64> {
        let r = self.request(json!({"janus": "attach", "plugin": "janus.plugin.videoroom"})).await?;
        r["data"]["id"].as_u64().ok_or_else(|| anyhow!("attach: no handle id in {r}"))
    }
}

/// A plugin-level refusal inside a reply or event.
fn check_plugin(m: &Value) -> Result<()> {
    let data = &m["plugindata"]["data"];
    if let Some(code) = data.get("error_code") {
        bail!("VideoRoom error {code}: {}", data["error"]);
    }
    Ok(())
}

/// Creates the run's room over the driver's own session: room for every publisher (and one
/// more), VP8 and Opus, no bitrate cap (no REMB) and no periodic keyframe requests.
pub async fn create_room(url: &str, room: u64, publishers: usize) -> Result<JanusWs> {
    let mut c = JanusWs::connect(url).await?;
    let handle = c.attach().await?;
    let body = json!({"request": "create", "room": room, "publishers": publishers + 1, "videocodec": "vp8", "audiocodec": "opus", "bitrate": 0, "fir_freq": 0, "permanent": false});
    c.request(json!({"janus": "message", "handle_id": handle, "body": body})).await.context("creating the Janus room")?;
    Ok(c)
}

/// Sends keepalives for a session that only exists to hold the room (the driver's).
pub async fn keep_alive(mut c: JanusWs) {
    loop {
        tokio::time::sleep(KEEPALIVE).await;
        if c.send(json!({"janus": "keepalive"})).await.is_err() {
            return;
        }
        // Drain replies so the socket never backs up.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_millis(1), c.ws.next()).await {}
    }
}

const KEEPALIVE: Duration = Duration::from_secs(25);

/// One participant's Janus signalling.
pub struct JanusSignal {
    c: JanusWs,
    room: u64,
    name: String,
    /// Feeds in the room, the participant's own included, before it subscribes.
    expected: usize,
    publisher: Option<u64>,
    feed: Option<u64>,
    subscriber: Option<u64>,
    video_mids: Vec<String>,
    configured: bool,
    next_keepalive: Instant,
    next_look: Instant,
    give_up: Instant,
}

impl JanusSignal {
    pub async fn connect(url: &str, room: u64, name: String, expected: usize) -> Result<Self> {
        let c = JanusWs::connect(url).await?;
        let now = Instant::now();
        Ok(Self {
            c,
            room,
            name,
            expected,
            publisher: None,
            feed: None,
            subscriber: None,
            video_mids: Vec::new(),
            configured: false,
            next_keepalive: now + KEEPALIVE,
            next_look: now,
            give_up: now + Duration::from_secs(60 + expected as u64),
        })
    }

    /// Joins the room as a publisher (before the offer).
    pub async fn announce(&mut self, _publish: Publish) -> Result<()> {
        let handle = self.c.attach().await?;
        self.publisher = Some(handle);
        let body = json!({"request": "join", "ptype": "publisher", "room": self.room, "display": self.name});
        let r = self.c.request(json!({"janus": "message", "handle_id": handle, "body": body})).await?;
        self.feed = Some(r["plugindata"]["data"]["id"].as_u64().ok_or_else(|| anyhow!("join: no feed id in {r}"))?);
        Ok(())
    }

    /// `publish` with the offer. The rids are listed low to high (q, h, f).
    pub async fn offer(&mut self, sdp: String) -> Result<()> {
        let handle = self.publisher.ok_or_else(|| anyhow!("an offer before joining"))?;
        self.c.send(json!({"janus": "message", "handle_id": handle, "body": {"request": "publish"}, "jsep": {"type": "offer", "sdp": sdp, "rid_order": "lmh"}})).await?;
        Ok(())
    }

    /// `start` with the subscriber's answer; after the first, the substream (see [`SUBSTREAM`]).
    pub async fn answer(&mut self, sdp: String) -> Result<()> {
        let handle = self.subscriber.ok_or_else(|| anyhow!("an answer without a subscription"))?;
        self.c.send(json!({"janus": "message", "handle_id": handle, "body": {"request": "start"}, "jsep": {"type": "answer", "sdp": sdp}})).await?;
        if !self.configured && !self.video_mids.is_empty() {
            self.configured = true;
            let streams: Vec<Value> = self.video_mids.iter().map(|mid| json!({"mid": mid, "substream": SUBSTREAM})).collect();
            self.c.send(json!({"janus": "message", "handle_id": handle, "body": {"request": "configure", "streams": streams}})).await?;
        }
        Ok(())
    }

    /// Keepalives, and the subscription once every expected feed is up; when to come back.
    pub async fn tick(&mut self, now: Instant, shared: &Shared) -> Result<Instant> {
        if now >= self.next_keepalive {
            self.next_keepalive = now + KEEPALIVE;
            self.c.send(json!({"janus": "keepalive"})).await?;
        }
        if self.subscriber.is_some() || self.expected == 0 {
            return Ok(self.next_keepalive);
        }
        if now >= self.next_look {
            self.next_look = now + Duration::from_millis(20);
            let feeds: Vec<u64> = shared.feeds.lock().map_err(|_| anyhow!("feeds lock poisoned"))?.clone();
            if feeds.len() >= self.expected {
                let others: Vec<Value> = feeds.iter().filter(|f| Some(**f) != self.feed).map(|f| json!({"feed": f})).collect();
                if others.is_empty() {
                    // Nothing to receive (the livestream's publisher).
                    self.expected = 0;
                    return Ok(self.next_keepalive);
                }
                let handle = self.c.attach().await?;
                self.subscriber = Some(handle);
                let body = json!({"request": "join", "ptype": "subscriber", "room": self.room, "streams": others});
                self.c.send(json!({"janus": "message", "handle_id": handle, "body": body})).await?;
                return Ok(self.next_keepalive);
            }
            if now > self.give_up {
                bail!("only {} of {} feeds came up", feeds.len(), self.expected);
            }
        }
        Ok(self.next_look.min(self.next_keepalive))
    }

    pub async fn recv(&mut self) -> Result<Value> {
        self.c.recv().await
    }

    /// What a message means for the peers.
    pub fn handle(&mut self, m: Value, shared: &Shared) -> Result<News> {
        let sender = m["sender"].as_u64();
        match m["janus"].as_str() {
            Some("event") => {
                check_plugin(&m)?;
                debug!(handle = ?sender, %m, "Janus event");
                let Some(jsep) = m.get("jsep") else { return Ok(News::Nothing) };
                let sdp = jsep["sdp"].as_str().ok_or_else(|| anyhow!("a jsep without sdp"))?.to_string();
                // Without the loopback shim Janus would offer other addresses: refuse those.
                if let Some(bad) = sdp.lines().find(|l| l.starts_with("a=candidate") && !l.contains(" 127.0.0.1 ")) {
                    bail!("Janus offered a non-loopback candidate ({bad}): is the shim loaded?");
                }
                match (jsep["type"].as_str(), sender) {
                    (Some("answer"), s) if s.is_some() && s == self.publisher => Ok(News::Answer(sdp)),
                    (Some("offer"), s) if s.is_some() && s == self.subscriber => {
                        if let Some(streams) = m["plugindata"]["data"]["streams"].as_array() {
                            self.video_mids = streams.iter().filter(|s| s["type"] == "video").filter_map(|s| s["mid"].as_str().map(String::from)).collect();
                        }
                        Ok(News::Offer(sdp))
                    }
                    (t, _) => bail!("an unexpected {t:?} jsep from handle {sender:?}"),
                }
            }
            Some("webrtcup") if sender.is_some() && sender == self.publisher => {
                if let Some(feed) = self.feed {
                    shared.feeds.lock().map_err(|_| anyhow!("feeds lock poisoned"))?.push(feed);
                }
                Ok(News::Nothing)
            }
            Some("error") => bail!("Janus error: {}", m["error"]),
            Some("timeout") => bail!("the Janus session timed out"),
            Some("hangup") => {
                debug!(%m, "Janus hung up a peer connection");
                Ok(News::Nothing)
            }
            _ => Ok(News::Nothing),
        }
    }
}
