//! The async shell around [`huiyi_sfu_core::Engine`]: it owns the media sockets and the
//! clock, and serialises every input into the one engine task.
//!
//! - UDP: one socket for every peer (ICE-lite, all peers multiplexed on one port).
//! - TCP: ICE-TCP passive, RFC 4571 framing (2-byte length prefix), one task per connection.
//! - Commands: signalling and the server API reach the engine through [`SfuHandle`].
//! - Metrics: the engine task publishes [`SfuMetrics`] once a second ([`metrics`]).
//!
//! # Architecture invariant
//! Only this crate's engine task touches the `Engine`; everything else talks to it through
//! channels, so the engine needs no locks.

pub mod metrics;
mod run;
mod tcp;
mod udp;

pub use metrics::SfuMetrics;
pub use tcp::TcpLimits;

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use huiyi_proto::lk::{self, signal_request::Message as Request, signal_response::Message as Response};
use huiyi_sfu_core::{CloseReason, Engine, EngineConfig, JoinError, JoinParams, ParticipantIdentity, ResumeError, RoomName, SessionKey};
use tokio::sync::{mpsc, oneshot, watch};

/// Sockets and engine settings.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    pub udp_bind: SocketAddr,
    /// ICE-TCP listener; `None` disables ICE over TCP.
    pub tcp_bind: Option<SocketAddr>,
    /// How many ICE-TCP connections may be open, in all and per remote address.
    pub tcp_limits: TcpLimits,
    pub engine: EngineConfig,
}

/// What the engine says to one session's signalling socket.
#[derive(Debug)]
pub enum SessionMessage {
    Signal(Response),
    Close(CloseReason),
}

/// How many messages may wait for one session's socket before it counts as stuck and is
/// closed. A healthy client drains far faster than the engine produces.
const SESSION_QUEUE: usize = 1024;

/// Room events waiting for the recorder.
pub const EVENT_QUEUE: usize = 65_536;

type EngineFn = Box<dyn FnOnce(&mut Engine, Instant) + Send>;

pub(crate) enum Command {
    Join {
        params: Box<JoinParams>,
        reply: oneshot::Sender<Result<Joined, JoinError>>,
    },
    Resume {
        room: RoomName,
        sid: String,
        identity: ParticipantIdentity,
        reply: oneshot::Sender<Result<Resumed, ResumeError>>,
    },
    Signal {
        key: SessionKey,
        request: Request,
    },
    SocketClosed {
        key: SessionKey,
        conn: u64,
    },
    TcpPacket {
        source: SocketAddr,
        destination: SocketAddr,
        data: Vec<u8>,
    },
    TcpOpened {
        remote: SocketAddr,
        frames: mpsc::Sender<Vec<u8>>,
    },
    TcpClosed {
        remote: SocketAddr,
    },
    WithEngine(EngineFn),
}

/// A successful join: the session's key, its JoinResponse and its message stream.
pub struct Joined {
    pub key: SessionKey,
    /// Which socket of the session this is; a resumed session gets a new one.
    pub conn: u64,
    pub response: lk::JoinResponse,
    pub messages: mpsc::Receiver<SessionMessage>,
}

/// A successful resume: like [`Joined`], with the ReconnectResponse.
pub struct Resumed {
    pub key: SessionKey,
    pub conn: u64,
    pub response: lk::ReconnectResponse,
    pub messages: mpsc::Receiver<SessionMessage>,
}

/// The engine stopped (the server is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the media engine has stopped")]
pub struct EngineGone;

/// A cheap, cloneable handle to the engine task.
#[derive(Clone)]
pub struct SfuHandle {
    tx: mpsc::Sender<Command>,
    /// The metrics the engine task last published (once a second). Reading them never
    /// reaches the engine task.
    metrics: watch::Receiver<SfuMetrics>,
}

impl SfuHandle {
    pub async fn join(&self, params: JoinParams) -> Result<Result<Joined, JoinError>, EngineGone> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Join { params: Box::new(params), reply }).await.map_err(|_| EngineGone)?;
        rx.await.map_err(|_| EngineGone)
    }

    pub async fn resume(&self, room: RoomName, sid: String, identity: ParticipantIdentity) -> Result<Result<Resumed, ResumeError>, EngineGone> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Resume { room, sid, identity, reply }).await.map_err(|_| EngineGone)?;
        rx.await.map_err(|_| EngineGone)
    }

    pub async fn signal(&self, key: SessionKey, request: Request) -> Result<(), EngineGone> {
        self.tx.send(Command::Signal { key, request }).await.map_err(|_| EngineGone)
    }

    /// The socket `conn` of session `key` closed. Ignored if the session has since resumed on
    /// a newer socket.
    pub async fn socket_closed(&self, key: SessionKey, conn: u64) {
        let _ = self.tx.send(Command::SocketClosed { key, conn }).await;
    }

    /// The metrics as of the engine task's last publication, at most
    /// [`metrics::PUBLISH_EVERY`] old while it runs (all zero before the first).
    pub fn metrics(&self) -> SfuMetrics {
        *self.metrics.borrow()
    }

    /// Runs `f` on the engine task and returns its result: the server API's way in.
    pub async fn with_engine<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine, Instant) -> T + Send + 'static,
    ) -> Result<T, EngineGone> {
        let (reply, rx) = oneshot::channel();
        let job: EngineFn = Box::new(move |engine, now| {
            let _ = reply.send(f(engine, now));
        });
        self.tx.send(Command::WithEngine(job)).await.map_err(|_| EngineGone)?;
        rx.await.map_err(|_| EngineGone)
    }
}

/// A running SFU: its handle and the addresses it actually bound.
pub struct Sfu {
    pub handle: SfuHandle,
    /// Room events (joins, leaves), in order. Bounded ([`EVENT_QUEUE`]); each one is a record
    /// someone cares about (attendance), so joins are refused while the queue is nearly full
    /// (see `run::JOIN_HEADROOM`), which keeps room for the leaves of everyone admitted.
    pub events: mpsc::Receiver<huiyi_sfu_core::RoomEvent>,
    pub udp_addr: SocketAddr,
    pub tcp_addr: Option<SocketAddr>,
    pub task: tokio::task::JoinHandle<()>,
}

/// The receive and send buffers asked of the kernel for the media socket. Every packet of
/// every room passes through that one socket, so a short stall of the engine (a burst of
/// joins, a busy tick) must not overflow it: Linux's default of about 208 KiB held only
/// tens of milliseconds of a 300-person meeting's input, and the overflow was lost for every
/// receiver at once.
const UDP_BUFFER: usize = 8 << 20;

/// Sizes the media socket's buffers to [`UDP_BUFFER`]: beyond `net.core.rmem_max` when the
/// process may (CAP_NET_ADMIN), else as far as that limit allows, with a warning that says so.
fn size_buffers(udp: &tokio::net::UdpSocket) {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{getsockopt, setsockopt, sockopt};
        if setsockopt(udp, sockopt::RcvBufForce, &UDP_BUFFER).is_err() {
            let _ = setsockopt(udp, sockopt::RcvBuf, &UDP_BUFFER);
        }
        if setsockopt(udp, sockopt::SndBufForce, &UDP_BUFFER).is_err() {
            let _ = setsockopt(udp, sockopt::SndBuf, &UDP_BUFFER);
        }
        // The kernel reports twice what it was given (its bookkeeping overhead).
        let (recv, send) = (getsockopt(udp, sockopt::RcvBuf).unwrap_or(0) / 2, getsockopt(udp, sockopt::SndBuf).unwrap_or(0) / 2);
        if recv < UDP_BUFFER || send < UDP_BUFFER {
            tracing::warn!(recv, send, wanted = UDP_BUFFER, "the media socket's buffers are smaller than wanted; packets may be lost in bursts. Raise net.core.rmem_max and net.core.wmem_max (sysctl), or grant CAP_NET_ADMIN");
        } else {
            tracing::debug!(recv, send, "media socket buffers");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = udp;
}

/// Binds the media sockets and starts the engine on its own thread. It ends when every
/// [`SfuHandle`] is dropped; [`Sfu::task`] completes then.
pub async fn start(config: SfuConfig) -> io::Result<Sfu> {
    let udp = tokio::net::UdpSocket::bind(config.udp_bind).await?;
    let udp_addr = udp.local_addr()?;
    size_buffers(&udp);
    let (tx, rx) = mpsc::channel(4096);
    let tcp_addr = match config.tcp_bind {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let bound = listener.local_addr()?;
            tokio::spawn(tcp::accept_loop(listener, tx.downgrade(), config.tcp_limits));
            Some(bound)
        }
        None => None,
    };
    let mut engine_config = config.engine;
    // A port of 0 in the advertised candidates means "whatever was bound".
    if engine_config.udp_candidate.port() == 0 {
        engine_config.udp_candidate.set_port(udp_addr.port());
    }
    if let (Some(c), Some(bound)) = (engine_config.tcp_candidate.as_mut(), tcp_addr) {
        if c.port() == 0 {
            c.set_port(bound.port());
        }
    }
    let engine = Engine::new(engine_config, Instant::now());
    let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
    let (metrics_tx, metrics) = watch::channel(SfuMetrics::default());
    // The engine gets a thread and a single-threaded runtime of its own. On the shared
    // multi-threaded runtime it was woken for every burst of packets and moved between
    // workers: about a fifth of its CPU time went to parking and waking threads.
    let udp = udp.into_std()?;
    // Media taps (recording workers) are fed from a loopback socket of their own, never from
    // the media socket, so a worker cannot be confused with a peer.
    let tap = std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    tap.set_nonblocking(true)?;
    let (done_tx, done_rx) = oneshot::channel::<()>();
    std::thread::Builder::new().name("huiyi-engine".into()).spawn(move || {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(async move {
                match tokio::net::UdpSocket::from_std(udp) {
                    Ok(udp) => run::run(engine, udp, rx, events_tx, metrics_tx, tap).await,
                    Err(e) => tracing::error!(%e, "the engine thread could not take the UDP socket"),
                }
            }),
            Err(e) => tracing::error!(%e, "the engine thread could not start its runtime"),
        }
        let _ = done_tx.send(());
    })?;
    let task = tokio::spawn(async move {
        let _ = done_rx.await;
    });
    Ok(Sfu { handle: SfuHandle { tx, metrics }, events, udp_addr, tcp_addr, task })
}
