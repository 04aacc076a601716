//! Batched UDP sends. One drain of the engine yields many packets for many peers; on Linux
//! they leave in one `sendmmsg(2)` call per batch instead of one `sendto(2)` per packet.
//! A packet the kernel cannot take right now is dropped, never waited for: NACK or the next
//! keyframe recovers it, a stalled engine would stall every room.

use huiyi_sfu_core::Transmit;
use tokio::net::UdpSocket;
use tracing::debug;

/// Packets per system call.
const BATCH: usize = 64;

/// Packets waiting to be sent. The system-call headers are built per batch (one allocation
/// per up to `BATCH` packets): nix's header buffer holds raw pointers and cannot live in
/// the engine task's future across awaits.
pub(crate) struct UdpBatch {
    queue: Vec<Transmit>,
}

impl UdpBatch {
    pub(crate) fn new() -> Self {
        Self { queue: Vec::with_capacity(BATCH) }
    }

    pub(crate) fn push(&mut self, socket: &UdpSocket, t: Transmit) {
        self.queue.push(t);
        if self.queue.len() == BATCH {
            self.flush(socket);
        }
    }

    /// Sends everything queued.
    pub(crate) fn flush(&mut self, socket: &UdpSocket) {
        if self.queue.is_empty() {
            return;
        }
        let sent = self.send(socket);
        if sent < self.queue.len() {
            debug!(dropped = self.queue.len() - sent, "udp send buffer full; packets dropped");
        }
        self.queue.clear();
    }

    #[cfg(target_os = "linux")]
    fn send(&mut self, socket: &UdpSocket) -> usize {
        use std::io::IoSlice;
        use std::os::fd::AsRawFd;

        use nix::sys::socket::{sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage};

        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(self.queue.len(), None);
        let slices: Vec<[IoSlice<'_>; 1]> = self.queue.iter().map(|t| [IoSlice::new(&t.contents)]).collect();
        let addrs: Vec<Option<SockaddrStorage>> = self.queue.iter().map(|t| Some(SockaddrStorage::from(t.destination))).collect();
        let none: [ControlMessage<'_>; 0] = [];
        match sendmmsg(socket.as_raw_fd(), &mut headers, &slices, &addrs, none, MsgFlags::MSG_DONTWAIT) {
            Ok(results) => results.count(),
            Err(e) => {
                debug!(%e, "sendmmsg failed");
                0
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn send(&mut self, socket: &UdpSocket) -> usize {
        self.queue.iter().filter(|t| socket.try_send_to(&t.contents, t.destination).is_ok()).count()
    }
}
