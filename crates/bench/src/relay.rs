//! The ceiling (`huiyi-bench relay`, started by `--target ceiling`): a bare SRTP relay, to
//! show what this machine can do per core. It does only what every SFU must do per packet:
//! receive it (`recvmmsg`), decrypt it once, encrypt it for each receiver with that receiver's
//! key, and send the copies (`sendmmsg`). No ICE, DTLS, RTCP, NACK, congestion control,
//! simulcast switching or rewriting: whatever Huiyi spends beyond this is the price of those.
//!
//! Its protocol with the clients (`ceiling.rs`) is as small as possible. A client registers
//! with `HYRJ`, its index (u32), whether it sends audio (u8) and its video layers (u8); the
//! relay answers `HYRA` and its index. Its SRTP keys come from the run's seed and its index
//! (see `srtp.rs`). SSRCs are `(index + 1) << 8 | stream`, where stream 0 is audio and 1 to 3
//! the video layers, low to high. The relay forwards audio and the top layer to every other
//! client, as Huiyi forwards a bench viewer the 720p layer.
//!
//! One thread, like Huiyi's engine. It runs until killed or until `max_seconds` pass.

use std::collections::HashMap;
use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::socket::{recvmmsg, sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage};

use crate::srtp::{Dir, Extend, Key, Rtp, TAG};

/// Datagrams per `recvmmsg`.
const RECV_BATCH: usize = 64;
/// Copies per `sendmmsg`.
const SEND_BATCH: usize = 256;
/// Room per datagram.
const SLOT: usize = 2048;
/// Clients the relay keeps; later registrations are refused.
const MAX_ENDPOINTS: usize = 4096;
/// Streams per client (audio and three layers).
const MAX_STREAMS: usize = 4;

/// The relay's command line: `huiyi-bench relay --port P --seed S`.
#[derive(clap::Parser)]
#[command(about = "The bare SRTP relay behind --target ceiling (started by the generator)")]
pub struct Args {
    #[arg(long)]
    pub port: u16,
    #[arg(long)]
    pub seed: u64,
    /// Exits after this long even if nobody stops it.
    #[arg(long, default_value_t = 600.0)]
    pub max_seconds: f64,
}

struct Endpoint {
    addr: SocketAddr,
    up: Key,
    down: Key,
    /// The one video stream forwarded (0: none).
    top_layer: u8,
    streams: Vec<(u32, Extend)>,
}

/// What the relay did, printed when it ends.
#[derive(Default, Debug)]
struct Tally {
    received: u64,
    forwarded: u64,
    sent: u64,
    send_shortfall: u64,
    not_authentic: u64,
    unknown: u64,
}

/// Copies waiting to go out: one buffer, cut into slots.
struct Outbox {
    buf: Vec<u8>,
    lens: Vec<usize>,
    addrs: Vec<Option<SockaddrStorage>>,
    headers: MultiHeaders<SockaddrStorage>,
}

impl Outbox {
    fn new() -> Self {
        Self { buf: vec![0; SEND_BATCH * SLOT], lens: Vec::with_capacity(SEND_BATCH), addrs: Vec::with_capacity(SEND_BATCH), headers: MultiHeaders::preallocate(SEND_BATCH, None) }
    }

    fn flush(&mut self, socket: &UdpSocket, tally: &mut Tally) {
        if self.lens.is_empty() {
            return;
        }
        let slices: Vec<[IoSlice<'_>; 1]> = self.lens.iter().enumerate().map(|(i, len)| [IoSlice::new(&self.buf[i * SLOT..i * SLOT + len])]).collect();
        let none: [ControlMessage<'_>; 0] = [];
        let sent = sendmmsg(socket.as_raw_fd(), &mut self.headers, &slices, &self.addrs, none, MsgFlags::empty()).map(|r| r.count()).unwrap_or(0);
        tally.sent += sent as u64;
        tally.send_shortfall += (self.lens.len() - sent) as u64;
        self.lens.clear();
        self.addrs.clear();
    }
}

/// Runs the relay on 127.0.0.1:`port`.
pub fn serve(args: &Args) -> Result<()> {
    let socket = UdpSocket::bind(("127.0.0.1", args.port)).with_context(|| format!("binding udp {}", args.port))?;
    // The wait in recvmmsg ends now and then, so the deadline is checked.
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    eprintln!("relay listening on {}", socket.local_addr()?);
    let deadline = Instant::now() + Duration::from_secs_f64(args.max_seconds);
    let mut endpoints: Vec<Endpoint> = Vec::new();
    let mut by_addr: HashMap<SocketAddr, usize> = HashMap::new();
    let mut inbox = vec![0u8; RECV_BATCH * SLOT];
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(RECV_BATCH, None);
    let mut out = Outbox::new();
    let mut tally = Tally::default();
    let mut got: [(usize, Option<SocketAddr>); RECV_BATCH] = [(0, None); RECV_BATCH];
    while Instant::now() < deadline {
        let n = {
            let mut slices: Vec<[IoSliceMut<'_>; 1]> = inbox.chunks_mut(SLOT).map(|c| [IoSliceMut::new(c)]).collect();
            match recvmmsg(socket.as_raw_fd(), &mut headers, slices.iter_mut(), MsgFlags::MSG_WAITFORONE, None) {
                Ok(results) => {
                    let mut n = 0;
                    for (i, r) in results.enumerate() {
                        got[i] = (r.bytes, r.address.and_then(|a| a.as_sockaddr_in().map(|s| SocketAddr::V4((*s).into()))));
                        n = i + 1;
                    }
                    n
                }
                Err(Errno::EAGAIN | Errno::EINTR) => 0,
                Err(e) => return Err(e).context("recvmmsg"),
            }
        };
        for (i, (len, from)) in got[..n].iter().copied().enumerate() {
            let Some(from) = from else { continue };
            let packet = &mut inbox[i * SLOT..i * SLOT + len];
            if packet.first().is_some_and(|b| b >> 6 == 2) {
                relay(packet, from, &mut endpoints, &by_addr, &mut out, &socket, &mut tally);
            } else {
                register(packet, from, args.seed, &mut endpoints, &mut by_addr, &socket, &mut tally);
            }
        }
        out.flush(&socket, &mut tally);
    }
    eprintln!("relay done: {tally:?}");
    Ok(())
}

/// `HYRJ` index audio layers: a new client (or the same one asking again).
fn register(packet: &[u8], from: SocketAddr, seed: u64, endpoints: &mut Vec<Endpoint>, by_addr: &mut HashMap<SocketAddr, usize>, socket: &UdpSocket, tally: &mut Tally) {
    let (Some(b"HYRJ"), Some(index), Some(&layers)) = (packet.get(..4), packet.get(4..8), packet.get(9)) else {
        tally.unknown += 1;
        return;
    };
    let index = u32::from_be_bytes(index.try_into().expect("four bytes"));
    let full = endpoints.len() >= MAX_ENDPOINTS;
    if let std::collections::hash_map::Entry::Vacant(slot) = by_addr.entry(from) {
        if full {
            tally.unknown += 1;
            return;
        }
        slot.insert(endpoints.len());
        endpoints.push(Endpoint { addr: from, up: Key::derive(seed, index, Dir::Up), down: Key::derive(seed, index, Dir::Down), top_layer: layers.min(3), streams: Vec::new() });
    }
    let mut ack = *b"HYRA\0\0\0\0";
    ack[4..].copy_from_slice(&index.to_be_bytes());
    let _ = socket.send_to(&ack, from);
}

/// One SRTP packet from a client: decrypted once, sealed for every other client.
fn relay(packet: &mut [u8], from: SocketAddr, endpoints: &mut [Endpoint], by_addr: &HashMap<SocketAddr, usize>, out: &mut Outbox, socket: &UdpSocket, tally: &mut Tally) {
    let (Some(&sender), Some(rtp)) = (by_addr.get(&from), Rtp::parse(packet)) else {
        tally.unknown += 1;
        return;
    };
    let e = &mut endpoints[sender];
    let streams = &mut e.streams;
    let extend = match streams.iter().position(|(s, _)| *s == rtp.ssrc) {
        Some(at) => &mut streams[at].1,
        None if streams.len() < MAX_STREAMS => {
            streams.push((rtp.ssrc, Extend::default()));
            &mut streams.last_mut().expect("just pushed").1
        }
        None => {
            tally.unknown += 1;
            return;
        }
    };
    let index = extend.seq(rtp.seq);
    let Some(len) = e.up.open(packet, rtp.header, index) else {
        tally.not_authentic += 1;
        return;
    };
    tally.received += 1;
    let stream = (rtp.ssrc & 0xff) as u8;
    if stream != 0 && stream != e.top_layer {
        return;
    }
    tally.forwarded += 1;
    for (i, r) in endpoints.iter().enumerate() {
        if i == sender {
            continue;
        }
        if out.lens.len() == SEND_BATCH {
            out.flush(socket, tally);
        }
        let slot = &mut out.buf[out.lens.len() * SLOT..(out.lens.len() + 1) * SLOT];
        slot[..len].copy_from_slice(&packet[..len]);
        if let Some(sealed) = r.down.seal(slot, len, rtp.header, index) {
            out.lens.push(sealed);
            out.addrs.push(Some(SockaddrStorage::from(r.addr)));
        }
    }
}

/// The largest RTP packet a client may send, so that the sealed copy fits a slot.
pub const MAX_RTP: usize = SLOT - TAG;

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    }

    fn hello(index: u32, layers: u8) -> [u8; 10] {
        let mut h = [0u8; 10];
        h[..4].copy_from_slice(b"HYRJ");
        h[4..8].copy_from_slice(&index.to_be_bytes());
        h[8] = 1;
        h[9] = layers;
        h
    }

    #[test]
    fn the_relay_reseals_each_packet_for_every_other_client_and_ignores_garbage() {
        let port = crate::server::free_udp().unwrap();
        let relay = std::thread::spawn(move || serve(&Args { port, seed: 5, max_seconds: 3.0 }));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let (a, b) = (client(), client());
        let mut buf = [0u8; 2048];
        for (i, s) in [(0u32, &a), (1, &b)] {
            // The relay may not be up yet: ask until it answers.
            let ack = (0..20).find_map(|_| {
                s.send_to(&hello(i, 1), addr).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                s.recv_from(&mut buf).ok()
            });
            assert_eq!(&buf[..ack.expect("the relay answers").0], &[b"HYRA".as_slice(), &i.to_be_bytes()].concat()[..]);
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        }
        // Garbage of every kind first: not registered, not authentic, not RTP, too short.
        let stranger = client();
        let mut forged = [0u8; 64];
        Rtp::write(&mut forged, 96, false, 1, 1, 1 << 8);
        stranger.send_to(&forged, addr).unwrap();
        a.send_to(&forged, addr).unwrap();
        a.send_to(b"HYRJ", addr).unwrap();
        a.send_to(&[0x80], addr).unwrap();
        // Then a real packet from A's audio stream: B gets it sealed with B's key, A nothing.
        let mut p = [0u8; 64];
        Rtp::write(&mut p, 111, true, 300, 960, 1 << 8);
        p[12..17].copy_from_slice(b"opus!");
        let n = Key::derive(5, 0, Dir::Up).seal(&mut p, 17, 12, 300).unwrap();
        a.send_to(&p[..n], addr).unwrap();
        let (got, _) = b.recv_from(&mut buf).unwrap();
        assert_eq!(got, 17 + TAG);
        assert_ne!(&buf[12..17], b"opus!", "sealed, not passed through");
        assert!(Key::derive(5, 0, Dir::Down).open(&mut buf[..got].to_vec(), 12, 300).is_none(), "not with the sender's key");
        let plain = Key::derive(5, 1, Dir::Down).open(&mut buf[..got], 12, 300).unwrap();
        assert_eq!(&buf[12..plain], b"opus!");
        a.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        assert!(a.recv_from(&mut buf).is_err(), "the sender gets no copy of its own packet");
        relay.join().unwrap().unwrap();
    }
}
