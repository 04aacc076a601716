//! Per-subscriber RTP rewriting: sequence numbers, timestamps and VP8 picture ids.
//!
//! A subscriber sees one continuous stream even though the SFU switches it between simulcast
//! layers (each an RTP stream with its own sequence and timestamp space) and pauses it.
//! On every switch the munger re-bases the offsets so that the next packet follows the last
//! one sent. Within one layer the offsets stay fixed, so a gap caused by loss stays a gap
//! and the subscriber NACKs it, and a late packet keeps its place.

/// A sender report (RFC 3550 §6.4.1) as the munger uses it: the sender's wallclock as 64-bit
/// NTP, and the RTP time that goes with it.
pub type Report = (u64, u32);

/// How far after the last packet sent (`last_out`, an outgoing timestamp) the first packet of a
/// new source belongs, from the senders' reports: `out_report` is the old source's last report
/// moved onto the outgoing timeline, `new_report` the new source's own, `timestamp` the new
/// packet's. Simulcast layers are encoded from one camera on one wallclock, so this places the
/// new layer's picture at its true capture time, where the arrival time (the fallback) is off
/// by whatever held either layer up. A receiver that maps RTP time to the sender's wallclock
/// (the recorder's lip sync, from the reports passed on) then sees one unbroken timeline.
/// `None` when the reports do not fit (the new packet more than half a second before the last
/// sent, or over 5 s after it); at least 1 otherwise, so time moves forward.
pub fn reported_gap(last_out: u32, out_report: Report, new_report: Report, timestamp: u32, clock_rate: u32) -> Option<u32> {
    let rate = i128::from(clock_rate.max(1));
    let ntp_ns = |ntp: u64| (i128::from(ntp >> 32) * 1_000_000_000) + ((i128::from(ntp & 0xffff_ffff) * 1_000_000_000) >> 32);
    // The new packet's capture time, against the old source's report.
    let since_report = i128::from(timestamp.wrapping_sub(new_report.1) as i32) * 1_000_000_000 / rate;
    let captured_after_out = ntp_ns(new_report.0) + since_report - ntp_ns(out_report.0);
    let wanted = out_report.1.wrapping_add((captured_after_out * rate / 1_000_000_000) as i64 as u32);
    let gap = i64::from(wanted.wrapping_sub(last_out) as i32);
    let rate = i64::from(clock_rate.max(1));
    if gap < -rate / 2 || gap > 5 * rate {
        return None;
    }
    Some(gap.max(1) as u32)
}

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

    /// The outgoing timestamp of the newest packet sent, once one was.
    pub fn last_timestamp(&self) -> Option<u32> {
        self.last.map(|l| l.timestamp)
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

    #[test]
    fn a_new_layer_is_placed_at_its_capture_time_by_the_reports() {
        const SEC: u64 = 1 << 32;
        let ntp0 = 3_973_000_000u64 << 32;
        // The old layer: outgoing timeline, report at ntp0 ↔ 900 000. Last packet sent was
        // captured 1 s after it (990 000).
        let out_report = (ntp0, 900_000);
        let last_out = 990_000;
        // The new layer has its own RTP clock: ntp0 + 0.5 s ↔ 5 000. Its keyframe was captured
        // 1.1 s after ntp0, i.e. 0.6 s after its own report: 5 000 + 54 000.
        let new_report = (ntp0 + SEC / 2, 5_000);
        let gap = reported_gap(last_out, out_report, new_report, 59_000, 90_000).unwrap();
        assert!((9_000 - 1..=9_000 + 1).contains(&gap), "100 ms after the last frame sent: {gap}");
        // The same capture instant as the last frame sent (layers share frames): just after it.
        assert_eq!(reported_gap(last_out, out_report, new_report, 50_000, 90_000), Some(1));
        // Reports that put the new packet far before the last sent, or far after, are not used.
        assert_eq!(reported_gap(last_out, out_report, new_report, 5_000u32.wrapping_sub(90_000), 90_000), None);
        assert_eq!(reported_gap(last_out, out_report, (ntp0 + 30 * SEC, 5_000), 5_000, 90_000), None);
        // Across the 32-bit wrap of either clock.
        let wrapped = reported_gap(last_out.wrapping_add(u32::MAX - 500_000), (ntp0, 900_000u32.wrapping_add(u32::MAX - 500_000)), new_report, 59_000, 90_000);
        assert_eq!(wrapped, Some(gap));
    }
}
