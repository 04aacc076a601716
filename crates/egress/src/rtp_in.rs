//! The RTP input: one UDP socket on 127.0.0.1 for all of a job's tracks, read by one thread that
//! hands each packet to its track's `appsrc`, chosen by SSRC.
//!
//! Why not `udpsrc` + `rtpbin`: a packet whose SSRC is not (yet) known must be dropped, and the
//! server's `track_added` may arrive a little after the first packets. Routing in Rust makes that
//! rule one `HashMap` lookup, and tells the worker when the first packet of all arrived (the
//! `no_media` timer) without parsing bus messages. RTCP sender reports share the port (as with
//! rtcp-mux) and go to the worker's main loop for lip sync (`crate::sync`).
//!
//! The routing table belongs to the thread; the worker changes it through [`Router`] commands,
//! drained before each packet (no lock on the packet path).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use gst_app::AppSrc;

use crate::event::{Event, EventSender};
use crate::sync::parse_sender_report;

/// Kernel receive buffer asked for; the kernel may clamp it to `net.core.rmem_max` unless the
/// worker runs as root (then SO_RCVBUFFORCE is tried).
const RECV_BUFFER: usize = 4 << 20;
/// How often the thread wakes without packets, to see whether it should stop.
const POLL: Duration = Duration::from_millis(200);
/// Largest datagram read; RTP from the tap stays under the path MTU.
const MAX_PACKET: usize = 2048;

enum RouteCommand {
    Add(u32, AppSrc),
    Remove(u32),
}

/// The worker's handle on the input thread.
pub struct Router {
    commands: mpsc::Sender<RouteCommand>,
    /// Set by the thread at the first datagram of any SSRC; read by the worker's `no_media` timer.
    pub first_packet: Arc<AtomicBool>,
    /// Set by the worker to end the thread (it wakes within [`POLL`]).
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub port: u16,
}

impl Router {
    /// Binds 127.0.0.1 on a port the OS picks and starts the reading thread, which passes RTCP
    /// sender reports on to `events`.
    pub fn bind(events: EventSender) -> std::io::Result<Router> {
        let socket = bind_socket()?;
        let port = socket.local_addr()?.port();
        let (commands, rx) = mpsc::channel();
        let first_packet = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let first_packet = first_packet.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("rtp-in".into())
                .spawn(move || read_loop(socket, rx, first_packet, stop, events))?
        };
        Ok(Router {
            commands,
            first_packet,
            stop,
            thread: Some(thread),
            port,
        })
    }

    /// Packets of `ssrc` go to `src` from now on.
    pub fn add(&self, ssrc: u32, src: AppSrc) {
        // A send fails only when the thread has ended, i.e. at shutdown.
        let _ = self.commands.send(RouteCommand::Add(ssrc, src));
    }

    /// Packets of `ssrc` are dropped from now on.
    pub fn remove(&self, ssrc: u32) {
        let _ = self.commands.send(RouteCommand::Remove(ssrc));
    }

    pub fn has_received(&self) -> bool {
        self.first_packet.load(Ordering::Relaxed)
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn bind_socket() -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(err) = socket.set_recv_buffer_size(RECV_BUFFER) {
        tracing::warn!(%err, "SO_RCVBUF not set");
    }
    if socket.recv_buffer_size().unwrap_or(0) < RECV_BUFFER {
        force_recv_buffer(&socket);
    }
    tracing::debug!(
        recv_buffer = socket.recv_buffer_size().unwrap_or(0),
        "rtp socket"
    );
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
    socket.set_read_timeout(Some(POLL))?;
    Ok(socket.into())
}

/// SO_RCVBUFFORCE passes `rmem_max` when the process may (root, CAP_NET_ADMIN).
fn force_recv_buffer(socket: &socket2::Socket) {
    use std::os::fd::AsRawFd;
    let size = RECV_BUFFER as libc::c_int;
    // SAFETY: a valid fd, a pointer to a live c_int and its size, as setsockopt(2) asks.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::warn!("receive buffer below 4 MiB (net.core.rmem_max) and SO_RCVBUFFORCE refused");
    }
}

fn read_loop(
    socket: UdpSocket,
    commands: mpsc::Receiver<RouteCommand>,
    first_packet: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    events: EventSender,
) {
    let mut routes: HashMap<u32, AppSrc> = HashMap::new();
    let mut buf = [0u8; MAX_PACKET];
    let mut unknown_logged: Option<u32> = None;
    while !stop.load(Ordering::Relaxed) {
        let received = socket.recv(&mut buf);
        for command in commands.try_iter() {
            match command {
                RouteCommand::Add(ssrc, src) => {
                    routes.insert(ssrc, src);
                }
                RouteCommand::Remove(ssrc) => {
                    routes.remove(&ssrc);
                }
            }
        }
        let len = match received {
            Ok(len) => len,
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(err) => {
                tracing::warn!(%err, "rtp socket read");
                continue;
            }
        };
        first_packet.store(true, Ordering::Relaxed);
        let Some(ssrc) = rtp_ssrc(&buf[..len]) else {
            // RTCP on the same port (as with rtcp-mux): the tap's sender reports.
            if let Some((ssrc, report)) = parse_sender_report(&buf[..len]) {
                if routes.contains_key(&ssrc) {
                    events.send(Event::SenderReport(ssrc, report));
                }
            }
            continue;
        };
        let Some(src) = routes.get(&ssrc) else {
            if unknown_logged != Some(ssrc) {
                tracing::debug!(ssrc, "dropping RTP of an unknown SSRC");
                unknown_logged = Some(ssrc);
            }
            continue;
        };
        // One allocation per packet: the buffer GStreamer owns from here on.
        if let Err(err) = src.push_buffer(gst::Buffer::from_mut_slice(buf[..len].to_vec())) {
            tracing::debug!(ssrc, ?err, "appsrc refused a packet");
        }
    }
}

/// The SSRC of an RTP packet (version 2, at least the 12-byte fixed header), or `None`.
pub fn rtp_ssrc(packet: &[u8]) -> Option<u32> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    // RTCP (payload types 200..=204 with the marker bit) shares no port with us, but skip it anyway.
    if (200..=204).contains(&packet[1]) {
        return None;
    }
    Some(u32::from_be_bytes([
        packet[8], packet[9], packet[10], packet[11],
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssrc_of_rtp_packets() {
        let mut p = [0u8; 12];
        p[0] = 0x80;
        p[1] = 96;
        p[8..12].copy_from_slice(&1234u32.to_be_bytes());
        assert_eq!(rtp_ssrc(&p), Some(1234));
        assert_eq!(rtp_ssrc(&p[..11]), None, "short");
        p[0] = 0x40;
        assert_eq!(rtp_ssrc(&p), None, "version 1");
        p[0] = 0x80;
        p[1] = 200;
        assert_eq!(rtp_ssrc(&p), None, "RTCP sender report");
    }
}
