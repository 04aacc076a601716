//! Per-subscriber RTP rewriting: sequence numbers, timestamps and VP8 picture ids.
//!
//! A subscriber sees one continuous stream even though the SFU switches it between simulcast
//! layers (each an RTP stream with its own sequence and timestamp space) and pauses it.
//! On every switch the munger re-bases the offsets so that the next packet follows the last
//! one sent. Within one layer the offsets stay fixed, so a gap caused by loss stays a gap
//! and the subscriber NACKs it, and a late packet keeps its place.

/// How one packet is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Munged {
    /// Extended (64-bit) outgoing sequence number.
    pub seq: u64,
    /// Outgoing RTP timestamp.
    pub timestamp: u32,
    /// Outgoing VP8 picture id (15-bit), when the packet carries one.
    pub picture_id: Option<u16>,
}

/// The rewriting state of one down track. Call [`RtpMunger::resync`] before the first packet
/// of a new source (layer switch or start), then [`RtpMunger::munge`] for every packet.
#[derive(Debug, Default)]
pub struct RtpMunger {
    /// Added (wrapping) to the incoming extended sequence number.
    seq_offset: u64,
    /// Added (wrapping) to the incoming RTP timestamp.
    ts_offset: u32,
    /// Added (mod 2^15) to the incoming VP8 picture id.
    pic_offset: u16,
    /// Incoming extended seq of the packet that started the current source; older ones drop.
    sync_seq: u64,
    /// The highest outgoing seq and the timestamp/picture id sent with it.
    last: Option<Last>,
    /// Set by `resync`: the next packet re-bases the offsets.
    pending_sync: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u64,
    timestamp: u32,
    picture_id: Option<u16>,
}

const PIC_ID_MOD: u16 = 1 << 15;

impl RtpMunger {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next packet comes from a new source. `ts_gap` is how far its timestamp should be
    /// placed after the last one sent, in RTP clock units (elapsed time times clock rate);
    /// at least 1 so the subscriber's jitter buffer sees time move forward.
    pub fn resync(&mut self, ts_gap: u32) {
        self.pending_sync = Some(ts_gap.max(1));
    }

    /// Whether a resync is pending (the next packet must start a new source).
    pub fn needs_sync(&self) -> bool {
        self.pending_sync.is_some() || self.last.is_none()
    }

    /// Rewrites one packet of the current source. Returns `None` for a packet that belongs
    /// before the current source's start (it would collide with numbers already sent).
    pub fn munge(&mut self, seq: u64, timestamp: u32, picture_id: Option<u16>) -> Option<Munged> {
        if let Some(gap) = self.pending_sync.take().or(self.last.is_none().then_some(0)) {
            self.rebase(seq, timestamp, picture_id, gap);
        } else if seq < self.sync_seq {
            return None;
        }
        let out = Munged {
            seq: seq.wrapping_add(self.seq_offset),
            timestamp: timestamp.wrapping_add(self.ts_offset),
            picture_id: picture_id.map(|p| (p.wrapping_add(self.pic_offset)) % PIC_ID_MOD),
        };
        match self.last {
            Some(last) if last.seq >= out.seq => {}
            _ => {
                self.last = Some(Last {
                    seq: out.seq,
                    timestamp: out.timestamp,
                    picture_id: out.picture_id.or(self.last.and_then(|l| l.picture_id)),
                })
            }
        }
        Some(out)
    }

    fn rebase(&mut self, seq: u64, timestamp: u32, picture_id: Option<u16>, ts_gap: u32) {
        self.sync_seq = seq;
        match self.last {
            None => {
                // First packet ever: keep the publisher's numbers, but start the sequence
                // below 2^16 so the subscriber's SRTP rollover counter starts at zero.
                self.seq_offset = (seq & 0xffff).wrapping_sub(seq);
                self.ts_offset = 0;
                self.pic_offset = 0;
            }
            Some(last) => {
                self.seq_offset = (last.seq + 1).wrapping_sub(seq);
                self.ts_offset = last.timestamp.wrapping_add(ts_gap).wrapping_sub(timestamp);
                if let (Some(last_pic), Some(pic)) = (last.picture_id, picture_id) {
                    let next = (last_pic + 1) % PIC_ID_MOD;
                    self.pic_offset = (next + PIC_ID_MOD - pic % PIC_ID_MOD) % PIC_ID_MOD;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_through_one_source_and_keeps_loss_gaps() {
        let mut m = RtpMunger::new();
        let a = m.munge(100, 9000, Some(5)).unwrap();
        assert_eq!((a.seq, a.timestamp, a.picture_id), (100, 9000, Some(5)));
        // Packet 101 lost: 102 keeps its gap so the subscriber NACKs 101.
        let b = m.munge(102, 9000, Some(5)).unwrap();
        assert_eq!(b.seq, 102);
        // The retransmitted 101 arrives late and keeps its place.
        assert_eq!(m.munge(101, 9000, Some(5)).unwrap().seq, 101);
    }

    #[test]
    fn continuous_across_a_layer_switch() {
        let mut m = RtpMunger::new();
        for i in 0..10u64 {
            m.munge(1000 + i, 3000 * i as u32, Some(200 + i as u16)).unwrap();
        }
        // Switch to a layer with unrelated numbering; 33 ms later at 90 kHz.
        m.resync(2970);
        let first = m.munge(50_000, 777_000, Some(9)).unwrap();
        assert_eq!(first.seq, 1010, "sequence continues");
        assert_eq!(first.timestamp, 27_000 + 2970, "timestamp moves forward by the gap");
        assert_eq!(first.picture_id, Some(210), "picture id continues");
        let second = m.munge(50_001, 780_000, Some(10)).unwrap();
        assert_eq!((second.seq, second.timestamp, second.picture_id), (1011, 27_000 + 2970 + 3000, Some(211)));
        // A straggler from before the switch point is dropped, not sent with a colliding seq.
        assert_eq!(m.munge(49_999, 774_000, Some(8)), None);
    }

    #[test]
    fn picture_id_wraps_at_15_bits() {
        let mut m = RtpMunger::new();
        m.munge(1, 0, Some(PIC_ID_MOD - 1)).unwrap();
        m.resync(1);
        assert_eq!(m.munge(500, 10, Some(42)).unwrap().picture_id, Some(0));
        assert_eq!(m.munge(501, 10, Some(43)).unwrap().picture_id, Some(1));
    }

    #[test]
    fn first_sequence_starts_below_rollover() {
        let mut m = RtpMunger::new();
        let out = m.munge(3 * 65_536 + 7, 1, None).unwrap();
        assert_eq!(out.seq, 7);
        assert_eq!(m.munge(3 * 65_536 + 8, 1, None).unwrap().seq, 8);
    }
}
