//! The test media, read once from the files in `crates/bench/media` (made by
//! `scripts/bench-media`) and cut into RTP payloads ahead of time, so that sending costs a copy
//! and nothing else.
//!
//! Every payload carries a fingerprint of the bytes an SFU must forward untouched (the VP8
//! payload after its descriptor, the whole Opus packet). A receiver computes the same
//! fingerprint and finds when the packet was sent: that is how server-added latency is measured
//! without changing the media.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// The largest VP8 payload chunk per RTP packet, as browsers cut them (about 1,200 bytes).
const VP8_CHUNK: usize = 1150;
/// VP8 payload descriptor with the 15-bit picture id: X, I and M bits set.
const VP8_DESCRIPTOR: usize = 4;

/// One RTP payload, ready to send.
pub struct Payload {
    /// The bytes; for VP8 the descriptor's picture id is written at send time.
    pub bytes: Vec<u8>,
    pub fingerprint: u64,
    /// Last packet of its frame: the RTP marker bit.
    pub marker: bool,
}

/// A frame of one stream: its packets, sent together.
pub struct Frame {
    pub packets: Vec<Payload>,
    pub keyframe: bool,
}

/// One encoded stream, looped by the sender.
pub struct Track {
    pub frames: Vec<Frame>,
    /// Time between frames.
    pub interval: Duration,
    /// RTP clock ticks between frames.
    pub ticks: u32,
}

/// Everything the generator sends: Opus audio and three VP8 simulcast layers, low to high.
pub struct Media {
    pub audio: Track,
    pub video: [Track; 3],
}

/// Where the media files are, unless `--media` says otherwise.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("media")
}

impl Media {
    pub fn load(dir: &Path) -> Result<Self> {
        let audio = opus(&dir.join("audio.opus.ogg"))?;
        let video = [vp8(&dir.join("vp8-q.ivf"))?, vp8(&dir.join("vp8-h.ivf"))?, vp8(&dir.join("vp8-f.ivf"))?];
        Ok(Self { audio, video })
    }
}

/// A cheap fingerprint of a payload's media bytes: its length, its first 16 and last 32 bytes.
pub fn fingerprint(media: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ media.len() as u64;
    let head = &media[..media.len().min(16)];
    let tail = &media[media.len().saturating_sub(32)..];
    for b in head.iter().chain(tail) {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The media bytes of a received VP8 payload: what follows its descriptor (RFC 7741 §4.2).
pub fn vp8_media(payload: &[u8]) -> Option<&[u8]> {
    let first = *payload.first()?;
    let mut at = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(1)?;
        at = 2;
        if ext & 0x80 != 0 {
            // Picture id: one byte, or two if its M bit is set.
            at += if payload.get(at)? & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1;
        }
        if ext & 0x30 != 0 {
            at += 1;
        }
    }
    payload.get(at..)
}

fn vp8(path: &Path) -> Result<Track> {
    let data = std::fs::read(path).with_context(|| format!("reading {} (run scripts/bench-media)", path.display()))?;
    if data.len() < 32 || &data[..4] != b"DKIF" || &data[8..12] != b"VP80" {
        bail!("{} is not a VP8 IVF file", path.display());
    }
    let rate = u32::from_le_bytes(data[16..20].try_into()?).max(1);
    let scale = u32::from_le_bytes(data[20..24].try_into()?).max(1);
    let header = u16::from_le_bytes(data[6..8].try_into()?) as usize;
    let mut frames = Vec::new();
    let mut at = header;
    while at + 12 <= data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into()?) as usize;
        let frame = data.get(at + 12..at + 12 + len).with_context(|| format!("{} is truncated", path.display()))?;
        at += 12 + len;
        let keyframe = frame.first().is_some_and(|b| b & 1 == 0);
        let chunks: Vec<&[u8]> = frame.chunks(VP8_CHUNK).collect();
        let last = chunks.len() - 1;
        let packets = chunks
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| {
                let mut bytes = Vec::with_capacity(VP8_DESCRIPTOR + chunk.len());
                // X, S (start of partition) on the first chunk; I; M with a 15-bit id.
                bytes.extend_from_slice(&[if i == 0 { 0x90 } else { 0x80 }, 0x80, 0x80, 0x00]);
                bytes.extend_from_slice(chunk);
                Payload { fingerprint: fingerprint(chunk), bytes, marker: i == last }
            })
            .collect();
        frames.push(Frame { packets, keyframe });
    }
    if frames.is_empty() || !frames[0].keyframe {
        bail!("{} must start with a keyframe", path.display());
    }
    // IVF's time base is scale/rate seconds per tick; frames are one tick apart here.
    let interval = Duration::from_secs_f64(scale as f64 / rate as f64);
    Ok(Track { frames, interval, ticks: (90_000.0 * interval.as_secs_f64()).round() as u32 })
}

fn opus(path: &Path) -> Result<Track> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {} (run scripts/bench-media)", path.display()))?;
    let mut reader = ogg::PacketReader::new(std::io::BufReader::new(file));
    let mut frames = Vec::new();
    let mut index = 0;
    while let Some(packet) = reader.read_packet()? {
        index += 1;
        // OpusHead and OpusTags come first.
        if index <= 2 {
            continue;
        }
        let bytes = packet.data;
        frames.push(Frame { packets: vec![Payload { fingerprint: fingerprint(&bytes), bytes, marker: false }], keyframe: true });
    }
    if frames.is_empty() {
        bail!("{} holds no Opus packets", path.display());
    }
    Ok(Track { frames, interval: Duration::from_millis(20), ticks: 960 })
}

/// Writes a 15-bit picture id into a VP8 payload made by [`vp8`].
pub fn set_picture_id(payload: &mut [u8], id: u16) {
    payload[2] = 0x80 | ((id >> 8) as u8 & 0x7f);
    payload[3] = id as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_media_loads_and_round_trips_fingerprints() {
        let media = Media::load(&default_dir()).unwrap();
        // 10 s of 20 ms packets, plus the encoder's priming packet.
        assert!((500..=502).contains(&media.audio.frames.len()), "{} Opus packets", media.audio.frames.len());
        for (layer, track) in media.video.iter().enumerate() {
            assert_eq!(track.frames.len(), 90, "3 s at 30 fps in layer {layer}");
            assert_eq!(track.ticks, 3000);
            let p = &track.frames[0].packets[0];
            assert_eq!(fingerprint(vp8_media(&p.bytes).unwrap()), p.fingerprint);
        }
        // The top layer's keyframe needs several packets, the last one marked.
        let key = &media.video[2].frames[0];
        assert!(key.packets.len() > 3 && key.packets.last().unwrap().marker && !key.packets[0].marker);
        // Fingerprints tell packets apart: a few repeats at most in a whole loop.
        let mut all: Vec<u64> = media.audio.frames.iter().map(|f| f.packets[0].fingerprint).collect();
        all.sort_unstable();
        all.dedup();
        assert!(all.len() > 490, "{} distinct audio fingerprints", all.len());
    }

    #[test]
    fn vp8_descriptors_of_every_shape_are_skipped() {
        assert_eq!(vp8_media(&[0x10, 7]).unwrap(), &[7]);
        assert_eq!(vp8_media(&[0x90, 0x80, 0x85, 0x01, 7]).unwrap(), &[7]);
        assert_eq!(vp8_media(&[0x90, 0x80, 0x05, 7]).unwrap(), &[7]);
        assert_eq!(vp8_media(&[0x90, 0xe0, 0x85, 0x01, 3, 0x40, 7]).unwrap(), &[7]);
        assert!(vp8_media(&[0x90]).is_none());
        let mut p = vec![0x90, 0x80, 0x80, 0x00, 1];
        set_picture_id(&mut p, 0x1234);
        assert_eq!(&p[..4], &[0x90, 0x80, 0x92, 0x34]);
    }
}
