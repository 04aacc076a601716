//! The engine task: one loop that feeds the engine sockets, commands and time, and carries
//! its output to sockets and sessions. It also times each media packet's trip through the
//! engine and publishes the metrics once a second (`crate::metrics`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use huiyi_sfu_core::{Engine, Output, Protocol, SessionKey};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::metrics::{Histogram, SfuMetrics, PUBLISH_EVERY};
use crate::udp::UdpBatch;
use crate::{Command, Joined, Resumed, SessionMessage, SESSION_QUEUE};

/// Joins are refused while fewer than this many room events fit in the recorder's queue, so
/// the leaves of the sessions already admitted always fit.
const JOIN_HEADROOM: usize = 16_384;
/// Datagrams read in one turn of the loop before commands and timers get theirs.
const RECV_BATCH: usize = 64;

/// A session's current socket: its connection number and its message queue.
type Sessions = HashMap<SessionKey, (u64, mpsc::Sender<SessionMessage>)>;

fn unix_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub(crate) async fn run(
    mut engine: Engine,
    udp: UdpSocket,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<huiyi_sfu_core::RoomEvent>,
    metrics: watch::Sender<SfuMetrics>,
    tap: std::net::UdpSocket,
) {
    let local_udp = udp.local_addr().ok();
    let mut sessions: Sessions = HashMap::new();
    let mut next_conn: u64 = 1;
    let mut tcp: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    let mut batch = UdpBatch::new();
    // Time spent in `handle_datagram`, per packet; published with the engine's counters.
    let mut forwarding = Histogram::default();
    let mut next_publish = Instant::now();
    // One timer, moved when the deadline moves: building a new one each turn registered it in
    // tokio's timer wheel once per received packet.
    let mut deadline = drain(&mut engine, &udp, &mut batch, &mut sessions, &tcp, &events, &tap);
    batch.flush(&udp);
    let sleep = tokio::time::sleep_until(deadline.min(next_publish).into());
    tokio::pin!(sleep);
    loop {
        let recorder_has_room = events.capacity() > JOIN_HEADROOM || events.is_closed();
        tokio::select! {
            ready = udp.readable() => {
                if let Err(e) = ready {
                    debug!(%e, "udp readiness error");
                }
                // Everything that has arrived, up to a bound, in this one turn: one wake-up
                // and one send batch for a burst instead of one of each per packet.
                for _ in 0..RECV_BATCH {
                    match udp.try_recv_from(&mut buf) {
                        Ok((n, source)) => {
                            let now = Instant::now();
                            let destination = local_udp.unwrap_or(source);
                            engine.handle_datagram(now, Protocol::Udp, source, destination, &buf[..n]);
                            forwarding.record(now.elapsed());
                            deadline = drain(&mut engine, &udp, &mut batch, &mut sessions, &tcp, &events, &tap);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            debug!(%e, "udp receive error");
                            break;
                        }
                    }
                }
            }
            command = commands.recv() => {
                let Some(command) = command else {
                    debug!("every handle dropped; engine task stops");
                    return;
                };
                let media = matches!(command, Command::TcpPacket { .. });
                engine.set_unix_millis(unix_millis());
                let now = Instant::now();
                handle_command(&mut engine, now, command, &mut sessions, &mut tcp, &mut next_conn, recorder_has_room);
                if media {
                    forwarding.record(now.elapsed());
                }
                deadline = drain(&mut engine, &udp, &mut batch, &mut sessions, &tcp, &events, &tap);
            }
            _ = &mut sleep => {
                let now = Instant::now();
                if now >= deadline {
                    engine.set_unix_millis(unix_millis());
                    engine.handle_timeout(now);
                    deadline = drain(&mut engine, &udp, &mut batch, &mut sessions, &tcp, &events, &tap);
                }
            }
        }
        batch.flush(&udp);
        let now = Instant::now();
        if now >= next_publish {
            metrics.send_replace(SfuMetrics { engine: engine.metrics(), forwarding });
            next_publish = now + PUBLISH_EVERY;
        }
        // An idle engine may sleep for long; the metrics still go out every second.
        let wake = deadline.min(next_publish);
        if sleep.deadline() != wake.into() {
            sleep.as_mut().reset(wake.into());
        }
    }
}

fn handle_command(
    engine: &mut Engine,
    now: Instant,
    command: Command,
    sessions: &mut Sessions,
    tcp: &mut HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    next_conn: &mut u64,
    recorder_has_room: bool,
) {
    let mut new_conn = || {
        *next_conn += 1;
        *next_conn
    };
    match command {
        Command::Join { params, reply } => {
            if !recorder_has_room {
                warn!("the recorder is behind; refusing a join until it catches up");
                let _ = reply.send(Err(huiyi_sfu_core::JoinError::ServerFull));
                return;
            }
            let result = engine.join(now, *params).map(|(key, response)| {
                let (tx, rx) = mpsc::channel(SESSION_QUEUE);
                let conn = new_conn();
                sessions.insert(key, (conn, tx));
                Joined { key, conn, response, messages: rx }
            });
            if let Err(Ok(joined)) = reply.send(result) {
                // The socket went away while joining.
                engine.handle_socket_closed(now, joined.key);
            }
        }
        Command::Resume { room, sid, identity, reply } => {
            let result = engine.resume(now, &room, &sid, &identity).map(|(key, response)| {
                let (tx, rx) = mpsc::channel(SESSION_QUEUE);
                let conn = new_conn();
                // The old socket, if still open, loses its queue and closes.
                sessions.insert(key, (conn, tx));
                Resumed { key, conn, response, messages: rx }
            });
            if let Err(Ok(resumed)) = reply.send(result) {
                engine.handle_socket_closed(now, resumed.key);
            }
        }
        Command::Signal { key, request } => {
            if let Err(e) = engine.handle_signal(now, key, request) {
                debug!(session = key.0, %e, "signal request not applied");
            }
        }
        Command::SocketClosed { key, conn } => {
            if sessions.get(&key).is_some_and(|(c, _)| *c == conn) {
                sessions.remove(&key);
                engine.handle_socket_closed(now, key);
            }
        }
        Command::TcpPacket { source, destination, data } => {
            engine.handle_datagram(now, Protocol::Tcp, source, destination, &data);
        }
        Command::TcpOpened { remote, frames } => {
            tcp.insert(remote, frames);
        }
        Command::TcpClosed { remote } => {
            tcp.remove(&remote);
        }
        Command::WithEngine(f) => f(engine, now),
    }
}

/// Drains the engine's output into the send batch (which sends whenever it is full); returns
/// the engine's next deadline. The caller sends what is left with `batch.flush`.
fn drain(
    engine: &mut Engine,
    udp: &UdpSocket,
    batch: &mut UdpBatch,
    sessions: &mut Sessions,
    tcp: &HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    events: &mpsc::Sender<huiyi_sfu_core::RoomEvent>,
    tap: &std::net::UdpSocket,
) -> Instant {
    loop {
        match engine.poll_output() {
            Output::Timeout(t) => return t,
            Output::Transmit(t) => match t.proto {
                Protocol::Udp => batch.push(udp, t),
                _ => {
                    if let Some(conn) = tcp.get(&t.destination) {
                        let _ = conn.try_send(t.contents.to_vec());
                    }
                }
            },
            Output::Signal(key, message) => {
                let Some((_, tx)) = sessions.get(&key) else { continue };
                if let Err(e) = tx.try_send(SessionMessage::Signal(message)) {
                    if matches!(e, mpsc::error::TrySendError::Full(_)) {
                        warn!(session = key.0, "signalling queue full: the client is not reading; dropping its socket");
                    }
                    sessions.remove(&key);
                    engine.handle_socket_closed(Instant::now(), key);
                }
            }
            // A chat message was delivered already; its record may wait for nobody, and must
            // not take the room that leaves need.
            Output::Event(e) if e.is_droppable() && events.capacity() <= JOIN_HEADROOM && !events.is_closed() => {
                warn!("recorder behind: a chat message was delivered but not stored");
            }
            Output::Event(e) => match events.try_send(e) {
                // No receiver (a test without a recorder) simply means nobody records it.
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                // Joins stop at JOIN_HEADROOM, so only a flood of leaves beyond every admitted
                // session could get here: that is a bug, and it is loud.
                Err(mpsc::error::TrySendError::Full(e)) => tracing::error!(?e, "room event queue full; event lost"),
            },
            // Plain RTP to a recording worker on loopback: a worker that falls behind loses
            // packets (its depayloader asks for a keyframe), the engine never waits for it.
            Output::TapTransmit { to, packet } => {
                if let Err(e) = tap.send_to(&packet, to) {
                    debug!(%e, %to, "tap packet dropped");
                }
            }
            Output::Close(key, reason) => {
                if let Some((_, tx)) = sessions.remove(&key) {
                    let _ = tx.try_send(SessionMessage::Close(reason));
                }
            }
        }
    }
}
