//! A participant of `--target ceiling`: one UDP socket, registered with the bare relay
//! (`relay.rs`), sending the same stored media on the same schedule as a LiveKit participant
//! and measuring what comes back the same way (loss, jitter, latency by fingerprint). Only the
//! transport differs: plain SRTP with preset keys instead of ICE, DTLS and str0m.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::client::{Progress, Publish, Shared};
use crate::media::{self, Track};
use crate::relay::MAX_RTP;
use crate::srtp::{Dir, Extend, Key, Rtp, TAG};
use crate::stats::Receiver;

const OPUS_PT: u8 = 111;
const VP8_PT: u8 = 96;

/// One stream this participant sends.
struct Sending {
    ssrc: u32,
    /// The SRTP index: the extended sequence number.
    seq: u64,
    ts_base: u32,
    picture_id: u16,
    sent_frames: u32,
}

/// Runs one participant: registers, then sends and receives until `stop`.
#[allow(clippy::too_many_arguments)]
pub async fn session(
    shared: &Shared,
    relay: SocketAddr,
    seed: u64,
    index: u32,
    publish: Publish,
    offset: usize,
    progress: &mut Progress,
    stop: &mut watch::Receiver<bool>,
) -> Result<()> {
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    std_socket.set_nonblocking(true)?;
    let sender = std_socket.try_clone()?;
    let socket = UdpSocket::from_std(std_socket)?;
    let mut buf = vec![0u8; 2048];

    // Register, asking again every 100 ms: the relay may still be starting.
    let layers = publish.video_layers.min(3) as u8;
    let mut hello = [0u8; 10];
    hello[..4].copy_from_slice(b"HYRJ");
    hello[4..8].copy_from_slice(&index.to_be_bytes());
    hello[8] = publish.audio as u8;
    hello[9] = layers;
    loop {
        sender.send_to(&hello, relay)?;
        if let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(100), socket.recv_from(&mut buf)).await {
            if buf[..n].starts_with(b"HYRA") {
                break;
            }
        }
        if progress.started.elapsed() > Duration::from_secs(30) {
            bail!("the relay did not answer within 30 s");
        }
    }
    progress.join(shared);

    let (up, down) = (Key::derive(seed, index, Dir::Up), Key::derive(seed, index, Dir::Down));
    let base = |i: u32| 0x1000_0000u32.wrapping_mul(i + 1) ^ (offset as u32).wrapping_mul(7919);
    let ssrc = |stream: u32| (index + 1) << 8 | stream;
    let new = |stream: u32| Sending { ssrc: ssrc(stream), seq: base(stream) as u64 & 0x7fff, ts_base: base(stream), picture_id: base(stream) as u16 & 0x7fff, sent_frames: 0 };
    let mut audio = publish.audio.then(|| new(0));
    let mut video: Vec<Sending> = (1..=layers as u32).map(new).collect();
    let now = Instant::now();
    let (mut next_audio, mut next_video) = (now, now);
    let mut streams: HashMap<u32, (Extend, Extend)> = HashMap::new();
    let mut out = vec![0u8; MAX_RTP + TAG];
    let media = &shared.media;
    loop {
        let now = Instant::now();
        if let Some(a) = audio.as_mut() {
            while next_audio <= now {
                send_frame(shared, &sender, relay, &up, &mut out, a, &media.audio, offset, false, now);
                next_audio += media.audio.interval;
            }
        }
        if !video.is_empty() {
            while next_video <= now {
                let single = video.len() == 1;
                for (i, v) in video.iter_mut().enumerate() {
                    send_frame(shared, &sender, relay, &up, &mut out, v, &media.video[if single { 0 } else { i }], offset, true, now);
                }
                next_video += media.video[0].interval;
            }
        }
        let far = now + Duration::from_secs(3600);
        let wake = if audio.is_some() { next_audio } else { far }.min(if video.is_empty() { far } else { next_video });
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let (n, _) = r?;
                receive(shared, &down, &mut streams, &mut progress.receiver, &mut buf[..n], Instant::now());
                // Take what else has arrived without another turn of the loop.
                for _ in 0..32 {
                    let Ok((n, _)) = socket.try_recv_from(&mut buf) else { break };
                    receive(shared, &down, &mut streams, &mut progress.receiver, &mut buf[..n], Instant::now());
                }
                progress.note_media();
            }
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Seals and sends one frame's packets.
#[allow(clippy::too_many_arguments)]
fn send_frame(shared: &Shared, socket: &std::net::UdpSocket, relay: SocketAddr, key: &Key, out: &mut [u8], s: &mut Sending, track: &Track, offset: usize, video: bool, now: Instant) {
    let frame = if s.sent_frames == 0 && video { &track.frames[0] } else { &track.frames[(s.sent_frames as usize + offset) % track.frames.len()] };
    let ts = s.ts_base.wrapping_add(s.sent_frames.wrapping_mul(track.ticks));
    for packet in &frame.packets {
        let len = 12 + packet.bytes.len();
        if len > MAX_RTP {
            continue;
        }
        crate::srtp::Rtp::write(out, if video { VP8_PT } else { OPUS_PT }, packet.marker || !video, s.seq as u16, ts, s.ssrc);
        out[12..len].copy_from_slice(&packet.bytes);
        if video {
            media::set_picture_id(&mut out[12..len], s.picture_id);
        }
        let Some(sealed) = key.seal(out, len, 12, s.seq) else { continue };
        if socket.send_to(&out[..sealed], relay).is_err() {
            shared.counters.send_errors.fetch_add(1, Relaxed);
        }
        shared.log.sent(packet.fingerprint, now);
        shared.counters.packets_sent.fetch_add(1, Relaxed);
        shared.counters.bytes_sent.fetch_add(len as u64, Relaxed);
        s.seq += 1;
    }
    if video {
        s.picture_id = (s.picture_id + 1) & 0x7fff;
    }
    s.sent_frames += 1;
}

/// Decrypts and measures one datagram from the relay.
fn receive(shared: &Shared, key: &Key, streams: &mut HashMap<u32, (Extend, Extend)>, r: &mut Receiver, packet: &mut [u8], arrival: Instant) {
    let Some(rtp) = Rtp::parse(packet) else { return };
    // Bounded: a participant hears at most a few streams from each of the others.
    if streams.len() >= 4096 && !streams.contains_key(&rtp.ssrc) {
        return;
    }
    let (seq, ts) = streams.entry(rtp.ssrc).or_default();
    let index = seq.seq(rtp.seq);
    let timestamp = ts.timestamp(rtp.timestamp);
    let Some(len) = key.open(packet, rtp.header, index) else { return };
    let clock = if rtp.ssrc & 0xff != 0 { 90_000 } else { 48_000 };
    crate::client::measure(shared, r, rtp.ssrc, index, timestamp, clock, &packet[rtp.header..len], arrival);
}
