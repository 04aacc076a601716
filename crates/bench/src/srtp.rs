//! The SRTP of the ceiling relay and its clients: AEAD_AES_256_GCM (RFC 7714), the profile
//! Huiyi's peers negotiate, on the same AES-GCM code (aws-lc) that str0m uses. Session keys are
//! derived from a shared seed instead of a DTLS handshake: the ceiling measures the per-packet
//! cost, and key agreement happens once per session.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::digest::{digest, SHA256};

/// The AEAD tag appended to every packet.
pub const TAG: usize = 16;

/// Which way a key protects packets: endpoint to relay, or relay to endpoint.
#[derive(Clone, Copy)]
pub enum Dir {
    Up = 1,
    Down = 2,
}

/// One direction's session key and salt.
pub struct Key {
    key: LessSafeKey,
    salt: [u8; 12],
}

impl Key {
    /// The key of `endpoint` for `dir`, from the run's seed: both sides compute the same.
    pub fn derive(seed: u64, endpoint: u32, dir: Dir) -> Self {
        let input = |label: &[u8]| [label, &seed.to_be_bytes(), &endpoint.to_be_bytes(), &[dir as u8]].concat();
        let key = digest(&SHA256, &input(b"huiyi-bench key"));
        let salt = digest(&SHA256, &input(b"huiyi-bench salt"));
        let unbound = UnboundKey::new(&AES_256_GCM, key.as_ref()).expect("a SHA-256 digest is a valid AES-256 key");
        let mut s = [0u8; 12];
        s.copy_from_slice(&salt.as_ref()[..12]);
        Self { key: LessSafeKey::new(unbound), salt: s }
    }

    /// RFC 7714 §8.1: 00 00 || SSRC || ROC || SEQ, XOR the salt.
    fn nonce(&self, ssrc: u32, index: u64) -> Nonce {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..10].copy_from_slice(&((index >> 16) as u32).to_be_bytes());
        iv[10..12].copy_from_slice(&(index as u16).to_be_bytes());
        for (b, s) in iv.iter_mut().zip(self.salt) {
            *b ^= s;
        }
        Nonce::assume_unique_for_key(iv)
    }

    /// Encrypts `packet[..len]` (an RTP packet, header `header` bytes long) in place and
    /// appends the tag; `packet` must have room for it. Returns the SRTP length.
    pub fn seal(&self, packet: &mut [u8], len: usize, header: usize, index: u64) -> Option<usize> {
        if packet.len() < len + TAG || header > len {
            return None;
        }
        let ssrc = u32::from_be_bytes(packet[8..12].try_into().ok()?);
        let (head, rest) = packet.split_at_mut(header);
        let tag = self.key.seal_in_place_separate_tag(self.nonce(ssrc, index), Aad::from(&*head), &mut rest[..len - header]).ok()?;
        rest[len - header..len - header + TAG].copy_from_slice(tag.as_ref());
        Some(len + TAG)
    }

    /// Decrypts an SRTP packet in place; the length of the RTP packet it held, or `None` if it
    /// does not authenticate.
    pub fn open(&self, packet: &mut [u8], header: usize, index: u64) -> Option<usize> {
        if packet.len() < header + TAG {
            return None;
        }
        let ssrc = u32::from_be_bytes(packet[8..12].try_into().ok()?);
        let (head, rest) = packet.split_at_mut(header);
        let plain = self.key.open_in_place(self.nonce(ssrc, index), Aad::from(&*head), rest).ok()?;
        Some(header + plain.len())
    }
}

/// The parts of an RTP header the relay and its clients read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rtp {
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
    pub marker: bool,
    /// Bytes of header, with CSRCs and extensions.
    pub header: usize,
}

impl Rtp {
    /// Parses an RTP (version 2) header; `None` for anything else.
    pub fn parse(p: &[u8]) -> Option<Self> {
        if p.len() < 12 || p[0] >> 6 != 2 {
            return None;
        }
        let mut header = 12 + 4 * (p[0] & 0x0f) as usize;
        if p[0] & 0x10 != 0 {
            let words = u16::from_be_bytes(p.get(header + 2..header + 4)?.try_into().ok()?) as usize;
            header += 4 + 4 * words;
        }
        if header > p.len() {
            return None;
        }
        Some(Self {
            ssrc: u32::from_be_bytes(p[8..12].try_into().ok()?),
            seq: u16::from_be_bytes([p[2], p[3]]),
            timestamp: u32::from_be_bytes(p[4..8].try_into().ok()?),
            marker: p[1] & 0x80 != 0,
            header,
        })
    }

    /// Writes a 12-byte header (no CSRCs, no extensions) into `out`.
    pub fn write(out: &mut [u8], pt: u8, marker: bool, seq: u16, timestamp: u32, ssrc: u32) {
        out[0] = 0x80;
        out[1] = pt | if marker { 0x80 } else { 0 };
        out[2..4].copy_from_slice(&seq.to_be_bytes());
        out[4..8].copy_from_slice(&timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&ssrc.to_be_bytes());
    }
}

/// Extends 16-bit sequence numbers (or 32-bit timestamps) to 64 bits across wraps, RFC 3711
/// Appendix A style: the value nearest to the highest seen so far.
#[derive(Default, Clone, Copy)]
pub struct Extend {
    highest: Option<u64>,
}

impl Extend {
    pub fn seq(&mut self, seq: u16) -> u64 {
        self.extend(seq as u64, 16)
    }

    pub fn timestamp(&mut self, ts: u32) -> u64 {
        self.extend(ts as u64, 32)
    }

    fn extend(&mut self, value: u64, bits: u32) -> u64 {
        let span = 1u64 << bits;
        let Some(high) = self.highest else {
            // The first value starts the count: rollover counter 0, as both ends assume.
            self.highest = Some(value);
            return value;
        };
        let base = high & !(span - 1);
        // Below zero is no candidate: a packet older than the first stays in cycle 0.
        let candidates = [base.checked_sub(span), Some(base), Some(base + span)];
        let v = candidates.into_iter().flatten().map(|b| b + value).min_by_key(|c| c.abs_diff(high)).expect("the current cycle is a candidate");
        self.highest = Some(high.max(v));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 12 + payload.len() + TAG];
        Rtp::write(&mut p, 96, true, seq, 1234, 0x0102_0304);
        p[12..12 + payload.len()].copy_from_slice(payload);
        p
    }

    #[test]
    fn a_sealed_packet_opens_only_with_its_key_and_index() {
        let (a, b) = (Key::derive(7, 1, Dir::Up), Key::derive(7, 1, Dir::Down));
        let mut p = packet(9, b"hello media");
        let len = a.seal(&mut p, 12 + 11, 12, 9).unwrap();
        assert_eq!(len, p.len());
        assert_ne!(&p[12..23], b"hello media", "the payload is encrypted");
        assert_eq!(Rtp::parse(&p).unwrap().seq, 9, "the header stays clear");
        assert!(b.open(&mut p.clone(), 12, 9).is_none(), "another direction's key");
        assert!(a.open(&mut p.clone(), 12, 9 + 65536).is_none(), "another rollover counter");
        let mut tampered = p.clone();
        tampered[3] ^= 1;
        assert!(a.open(&mut tampered, 12, 9).is_none(), "the header is authenticated");
        let n = a.open(&mut p, 12, 9).unwrap();
        assert_eq!(&p[12..n], b"hello media");
    }

    #[test]
    fn headers_with_csrcs_and_extensions_parse_and_garbage_does_not() {
        let mut p = packet(1, &[0; 8]);
        p[0] |= 0x10;
        p[12..16].copy_from_slice(&[0xbe, 0xde, 0, 1]);
        assert_eq!(Rtp::parse(&p).unwrap().header, 20);
        assert!(Rtp::parse(&[0x80, 0, 0]).is_none());
        assert!(Rtp::parse(&[0x40; 40]).is_none(), "version 1");
        let mut long_ext = packet(1, &[]);
        long_ext[0] |= 0x10;
        long_ext[12..16].copy_from_slice(&[0xbe, 0xde, 0xff, 0xff]);
        assert!(Rtp::parse(&long_ext).is_none(), "an extension longer than the packet");
    }

    #[test]
    fn sequence_numbers_extend_across_the_wrap_and_back() {
        let mut e = Extend::default();
        let first = e.seq(65_534);
        assert_eq!(first, 65_534, "rollover counter 0 to start");
        assert_eq!(e.seq(65_535), first + 1);
        assert_eq!(e.seq(0), first + 2, "the wrap");
        assert_eq!(e.seq(65_535), first + 1, "a late packet from before the wrap");
        assert_eq!(e.seq(3), first + 5);
        let mut t = Extend::default();
        let t0 = t.timestamp(u32::MAX - 10);
        assert_eq!(t.timestamp(5), t0 + 16);
    }
}
