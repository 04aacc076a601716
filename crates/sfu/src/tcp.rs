//! ICE over TCP (RFC 6544, passive side) with RFC 4571 framing: each packet is preceded by
//! its length as two bytes. Each connection gets a reader (frames → engine) and a writer
//! (engine → frames). Garbage that is not valid framing closes only that connection.
//! Connections are capped in all and per remote IP (IPv6 by /64) ([`TcpLimits`]); the first
//! frame must be STUN within 2 s, and the engine must answer it (it does only for a request
//! signed with a live peer's ICE password) within 2 s more, or the connection is closed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::Command;

/// How long a new connection may take to send its first (STUN) frame.
const FIRST_FRAME_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);
/// How long an established connection may stay silent.
const IDLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);
/// The largest first frame: a STUN binding request is a few hundred bytes.
const MAX_FIRST_FRAME: usize = 1500;
/// At most one "limit reached" warning per this interval, with the count since the last.
const WARN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// A STUN message: the first two bits zero and the magic cookie (RFC 5389).
fn is_stun(frame: &[u8]) -> bool {
    frame.len() >= 20 && frame[0] < 2 && frame[4..8] == [0x21, 0x12, 0xa4, 0x42]
}

/// How many ICE-TCP connections may be open at once: in all, and from one IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    pub max_connections: usize,
    pub max_per_address: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        // A participant needs two (publisher and subscriber); a NAT may put a few dozen
        // people behind one address.
        Self { max_connections: 4096, max_per_address: 64 }
    }
}

/// Open connections, in all and by address. Admission and release happen under one lock,
/// so concurrent accepts cannot overshoot either limit.
#[derive(Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// Releases a connection's slot when its task ends, however it ends.
struct Slot {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total -= 1;
        if let Some(n) = open.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.by_ip.remove(&self.ip);
            }
        }
    }
}

/// What one client's connections are counted under: an IPv4 address (also IPv4-mapped), or
/// the /64 of an IPv6 address, the block one subscriber usually holds.
fn address_block(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
        v4 => v4,
    }
}

/// Admits a connection from `ip` if both limits allow it.
fn admit(open: &Arc<Mutex<Open>>, ip: IpAddr, limits: TcpLimits) -> Option<Slot> {
    let mut o = open.lock().unwrap_or_else(|p| p.into_inner());
    let from_ip = o.by_ip.get(&ip).copied().unwrap_or(0);
    if o.total >= limits.max_connections || from_ip >= limits.max_per_address {
        return None;
    }
    o.total += 1;
    *o.by_ip.entry(ip).or_default() += 1;
    Some(Slot { open: open.clone(), ip })
}

pub(crate) async fn accept_loop(listener: TcpListener, engine: mpsc::WeakSender<Command>, limits: TcpLimits) {
    let open = Arc::new(Mutex::new(Open::default()));
    let (mut refused, mut last_warn) = (0u64, None::<tokio::time::Instant>);
    loop {
        let Ok((stream, remote)) = listener.accept().await else { continue };
        let Some(tx) = engine.upgrade() else { return };
        let Some(slot) = admit(&open, address_block(remote.ip()), limits) else {
            // Refused: the stream is dropped (closed) at once. Logged at most every WARN_EVERY.
            refused += 1;
            let now = tokio::time::Instant::now();
            if last_warn.is_none_or(|t| now.duration_since(t) >= WARN_EVERY) {
                warn!(%remote, refused, ?limits, "ICE-TCP connection limit reached; refusing connections");
                (refused, last_warn) = (0, Some(now));
            }
            continue;
        };
        tokio::spawn(async move {
            let _slot = slot;
            serve(stream, remote, tx.clone()).await;
            let _ = tx.send(Command::TcpClosed { remote }).await;
        });
    }
}

async fn serve(stream: TcpStream, remote: SocketAddr, engine: mpsc::Sender<Command>) {
    let Ok(local) = stream.local_addr() else { return };
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (frames_tx, mut frames_rx) = mpsc::channel::<Vec<u8>>(256);
    if engine.send(Command::TcpOpened { remote, frames: frames_tx }).await.is_err() {
        return;
    }
    // Set once the engine has sent anything back: it answers a first STUN request only when
    // the request is signed with a live peer's ICE password.
    let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Arc::new(tokio::sync::Notify::new());
    let write = {
        let answered = answered.clone();
        async move {
            while let Some(frame) = frames_rx.recv().await {
                let Ok(len) = u16::try_from(frame.len()) else { continue };
                if writer.write_all(&len.to_be_bytes()).await.is_err() || writer.write_all(&frame).await.is_err() {
                    return;
                }
                answered.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    };
    let read = {
        let started = started.clone();
        async move {
            let mut first = true;
            loop {
                // The first frame must come soon; later ones at least as often as ICE consent
                // checks (every few seconds). A stalled or silent peer is dropped.
                let limit = if first { FIRST_FRAME_WITHIN } else { IDLE_LIMIT };
                let max = if first { MAX_FIRST_FRAME } else { u16::MAX as usize };
                let frame = tokio::time::timeout(limit, async {
                    let mut len = [0u8; 2];
                    reader.read_exact(&mut len).await.ok()?;
                    let len = u16::from_be_bytes(len) as usize;
                    if len == 0 || len > max {
                        return None;
                    }
                    // Each frame gets its own buffer, which goes to the engine as it is: an idle
                    // connection holds no frame buffer at all.
                    let mut frame = vec![0u8; len];
                    reader.read_exact(&mut frame).await.ok()?;
                    Some(frame)
                })
                .await;
                let Ok(Some(frame)) = frame else {
                    debug!(%remote, "ICE-TCP connection closed, stalled or sent an empty or oversized frame");
                    return;
                };
                // ICE over TCP starts with a STUN binding request; anything else is not ICE.
                if first && !is_stun(&frame) {
                    debug!(%remote, "ICE-TCP connection did not start with STUN; closing");
                    return;
                }
                if first {
                    started.notify_one();
                }
                first = false;
                let cmd = Command::TcpPacket { source: remote, destination: local, data: frame };
                if engine.send(cmd).await.is_err() {
                    return;
                }
            }
        }
    };
    // A first STUN request that the engine does not answer (a wrong ufrag or password, or
    // junk with a magic cookie) does not get to hold the connection.
    let unanswered = async {
        started.notified().await;
        tokio::time::sleep(FIRST_FRAME_WITHIN).await;
        if answered.load(std::sync::atomic::Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = write => {}
        _ = read => {}
        _ = unanswered => debug!(%remote, "ICE-TCP connection's STUN was never answered; closing"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_counted_per_address_block() {
        let open = Arc::new(Mutex::new(Open::default()));
        let limits = TcpLimits { max_connections: 5, max_per_address: 2 };
        let a = |s: &str| address_block(s.parse().unwrap());
        let s1 = admit(&open, a("2001:db8::1"), limits).unwrap();
        let _s2 = admit(&open, a("2001:db8::2"), limits).unwrap();
        assert!(admit(&open, a("2001:db8::ffff:3"), limits).is_none(), "the same /64");
        let _s3 = admit(&open, a("2001:db8:0:1::1"), limits).unwrap();
        drop(s1);
        assert!(admit(&open, a("2001:db8::3"), limits).is_some(), "a slot is freed when its connection ends");
        assert_eq!(a("::ffff:192.0.2.1"), a("192.0.2.1"));
    }
}
