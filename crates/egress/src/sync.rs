//! Lip sync for the composite: each participant's sound and picture presented together.
//!
//! Every input branch times its packets by arrival (`appsrc do-timestamp`), and its jitter
//! buffer keeps that time base from the first packet on. A camera's first packet is usually a
//! keyframe that left the sender later than the audio captured at the same instant, so without
//! correction the picture trails the sound by the difference (about 300 ms was measured).
//!
//! The media tap passes on each publisher's RTCP sender reports, moved onto the tap's RTP
//! timeline: they map the stream's RTP time to the sender's wallclock (NTP), one clock for all of
//! a participant's tracks. For each stream the worker keeps the buffers that left its jitter
//! buffer in the last 3 s (PTS and RTP time), so `lateness = PTS − capture time` is known per
//! stream: the least over them, since a buffer is only ever held up beyond its stream's steady
//! lateness (a busy thread, a large keyframe), never advanced. The
//! streams of one participant are then delayed (a pad offset before the mixer) so that all of
//! them have the lateness of the latest one, as `rtpbin` does with its `ts-offset`. Nothing is
//! ever advanced, which would make buffers late at the mixer.
//!
//! A sender's reports are not exact: under load, Chromium's audio reports were seen to move the
//! wallclock behind an RTP instant by 300 ms and back at the next report. So a stream's mapping
//! is the median of its last [`REPORTS_KEPT`] reports' (see [`median_shift_ns`]): one report
//! out of line moves nothing, and a real change (a new RTP timeline) is followed once most
//! reports show it. The tap places a new simulcast layer at its capture time by the reports
//! (`sfu-core`'s munger), so a layer switch leaves the mapping as it was.
//!
//! An estimate still moves with the sender's load, and each change of a pad offset costs the mixer a new segment
//! (a skipped or repeated moment). So a new offset is applied only when the last
//! [`STABLE_COUNT`] estimates for the stream agree within [`STABLE_SPREAD_NS`]; with four
//! browsers on a loaded 2-core machine, applying every estimate swung offsets between 0 and
//! 1.1 s.
//!
//! The arithmetic is pure ([`lateness_ns`], [`offsets`]); [`LipSync`] holds the state and applies
//! offsets to pads.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use gst::prelude::*;

/// A sender report: the wallclock (64-bit NTP) that goes with an RTP time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    pub ntp: u64,
    pub rtp: u32,
}

/// The last buffer out of a jitter buffer: its PTS (running time, ns) and RTP time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub pts_ns: u64,
    pub rtp: u32,
}

/// The buffers that left a jitter buffer lately, oldest first: written by its pad probe, read
/// by [`LipSync`].
pub type ObservedCell = Arc<Mutex<VecDeque<Observed>>>;

/// How far back the observations go, and how many are kept at most (a second of audio in
/// 20 ms packets is 50; of 720p video, a few hundred packets).
const OBSERVED_WINDOW_NS: u64 = 3_000_000_000;
const MAX_OBSERVED: usize = 1024;
/// Sender reports kept per stream, whose median mapping is used.
const REPORTS_KEPT: usize = 5;
/// A jump of the RTP timeline against the PTS beyond this (a simulcast layer switch rebases
/// the tap's RTP clock) starts the observations afresh.
const TIMELINE_JUMP_NS: i128 = 500_000_000;

/// An offset change smaller than this is not applied: jitter-buffer skew and report rounding move
/// the estimate by a few milliseconds, and each change makes the mixer see a new segment.
const HYSTERESIS_NS: i64 = 20_000_000;
/// A skew larger than this between one participant's streams is taken for a bad sender clock,
/// not corrected, and logged.
const MAX_SKEW_NS: i64 = 1_000_000_000;
/// How many successive estimates must agree before an offset is applied, and how closely.
const STABLE_COUNT: usize = 3;
const STABLE_SPREAD_NS: i64 = 30_000_000;
/// Estimates closer together than this count as one (the newer replaces the older): a
/// participant's audio and video reports often arrive within a millisecond of each other, and
/// the two estimates they give are one look at the streams, not two.
const ESTIMATE_SPACING_NS: u64 = 1_000_000_000;

/// Parses an RTCP packet's first sender report (PT 200): `(ssrc, report)`, or `None`.
pub fn parse_sender_report(packet: &[u8]) -> Option<(u32, SenderReport)> {
    if packet.len() < 28 || packet[0] >> 6 != 2 || packet[1] != 200 {
        return None;
    }
    let word = |i: usize| u32::from_be_bytes([packet[i], packet[i + 1], packet[i + 2], packet[i + 3]]);
    let ntp = (u64::from(word(8)) << 32) | u64::from(word(12));
    Some((word(4), SenderReport { ntp, rtp: word(16) }))
}

/// 64-bit NTP time in nanoseconds.
fn ntp_ns(ntp: u64) -> i128 {
    let secs = i128::from(ntp >> 32);
    let frac = i128::from(ntp & 0xffff_ffff);
    secs * 1_000_000_000 + ((frac * 1_000_000_000) >> 32)
}

/// How much later than its capture a stream is presented: the observed buffer's PTS minus the
/// wallclock at which it was captured (from the report, and the RTP distance to it). Only the
/// differences between streams of one sender mean anything.
pub fn lateness_ns(report: SenderReport, observed: Observed, clock_rate: u32) -> i128 {
    // Signed distance on the 32-bit RTP clock: the buffer may be before or after the report.
    let ticks = i128::from(observed.rtp.wrapping_sub(report.rtp) as i32);
    let capture = ntp_ns(report.ntp) + ticks * 1_000_000_000 / i128::from(clock_rate.max(1));
    i128::from(observed.pts_ns) - capture
}

/// How far apart two sender reports of one stream put the same RTP instant on the wallclock: 0
/// (within clock drift) for an unbroken timeline.
pub fn report_disagreement_ns(earlier: SenderReport, later: SenderReport, clock_rate: u32) -> i128 {
    let ticks = i128::from(later.rtp.wrapping_sub(earlier.rtp) as i32);
    let by_rtp = ticks * 1_000_000_000 / i128::from(clock_rate.max(1));
    (ntp_ns(later.ntp) - ntp_ns(earlier.ntp)) - by_rtp
}

/// How much later than `latest` the kept `reports` put the capture of an RTP instant, by their
/// median: 0 when they agree with it; `None` without reports. Lateness measured with `latest`
/// minus this is lateness by the median report.
pub fn median_shift_ns(reports: &VecDeque<SenderReport>, clock_rate: u32) -> Option<i128> {
    let latest = *reports.back()?;
    let mut shifts: Vec<i128> = reports.iter().map(|r| -report_disagreement_ns(*r, latest, clock_rate)).collect();
    shifts.sort_unstable();
    Some(shifts[shifts.len() / 2])
}

/// A stream's lateness from its recent buffers: the least of theirs. A buffer is only ever
/// made later than its stream's steady delay (a busy thread, a burst, a large keyframe's
/// packets), never earlier, so the least is the steady delay, where one sample can be off by a
/// frame or more on a loaded machine.
pub fn least_lateness_ns(report: SenderReport, observed: &VecDeque<Observed>, clock_rate: u32) -> Option<i128> {
    observed.iter().map(|o| lateness_ns(report, *o, clock_rate)).min()
}

/// Appends `o` to a stream's observations: drops those older than the window (or beyond the
/// cap), and all of them when the RTP timeline jumped against the PTS.
pub fn record_observed(window: &mut VecDeque<Observed>, o: Observed, clock_rate: u32) {
    if let Some(last) = window.back() {
        let rtp_step = i128::from(o.rtp.wrapping_sub(last.rtp) as i32) * 1_000_000_000 / i128::from(clock_rate.max(1));
        let pts_step = i128::from(o.pts_ns) - i128::from(last.pts_ns);
        if (pts_step - rtp_step).abs() > TIMELINE_JUMP_NS || o.pts_ns < last.pts_ns {
            window.clear();
        }
    }
    window.push_back(o);
    while window.len() > MAX_OBSERVED || window.front().is_some_and(|f| o.pts_ns.saturating_sub(f.pts_ns) > OBSERVED_WINDOW_NS) {
        window.pop_front();
    }
}

/// The delay each stream needs so that all present a capture instant together: the latest
/// stream gets 0, the others the difference. `None` if the spread is beyond [`MAX_SKEW_NS`].
pub fn offsets(lateness: &[(u32, i128)]) -> Option<Vec<(u32, i64)>> {
    let latest = lateness.iter().map(|(_, l)| *l).max()?;
    let earliest = lateness.iter().map(|(_, l)| *l).min()?;
    if latest - earliest > i128::from(MAX_SKEW_NS) {
        return None;
    }
    Some(lateness.iter().map(|(ssrc, l)| (*ssrc, (latest - l) as i64)).collect())
}

/// Adds an estimate made at `at_ns` (any monotonic clock) to `history`, where it replaces the
/// newest one if that is less than [`ESTIMATE_SPACING_NS`] older; returns the middle of the last
/// [`STABLE_COUNT`] when they agree within [`STABLE_SPREAD_NS`].
pub fn settled(history: &mut Vec<(u64, i64)>, at_ns: u64, estimate: i64) -> Option<i64> {
    match history.last_mut() {
        Some(newest) if at_ns.saturating_sub(newest.0) < ESTIMATE_SPACING_NS => *newest = (newest.0, estimate),
        _ => history.push((at_ns, estimate)),
    }
    if history.len() > STABLE_COUNT {
        history.remove(0);
    }
    let mut values: Vec<i64> = history.iter().map(|(_, e)| *e).collect();
    values.sort_unstable();
    let (min, max) = (*values.first()?, *values.last()?);
    if values.len() < STABLE_COUNT || max - min > STABLE_SPREAD_NS {
        return None;
    }
    Some(values[values.len() / 2])
}

struct Stream {
    identity: String,
    clock_rate: u32,
    observed: ObservedCell,
    /// Where the delay goes: the pad that feeds the mixer.
    pad: gst::Pad,
    /// The last sender reports, oldest first (at most [`REPORTS_KEPT`]).
    reports: VecDeque<SenderReport>,
    applied: i64,
    /// The last estimates of the offset this stream needs (when, on [`LipSync::epoch`], and
    /// how much), newest last.
    wanted: Vec<(u64, i64)>,
}

/// The composite's lip-sync state, owned by the worker's main thread.
pub struct LipSync {
    streams: HashMap<u32, Stream>,
    /// What the estimates' times count from.
    epoch: std::time::Instant,
}

impl Default for LipSync {
    fn default() -> Self {
        Self { streams: HashMap::new(), epoch: std::time::Instant::now() }
    }
}

impl LipSync {
    pub fn add(&mut self, ssrc: u32, identity: &str, clock_rate: u32, observed: ObservedCell, pad: gst::Pad) {
        self.streams.insert(
            ssrc,
            Stream { identity: identity.to_string(), clock_rate, observed, pad, reports: VecDeque::new(), applied: 0, wanted: Vec::new() },
        );
    }

    pub fn remove(&mut self, ssrc: u32) {
        self.streams.remove(&ssrc);
    }

    /// A sender report arrived for `ssrc`: re-time that participant's streams.
    pub fn on_report(&mut self, ssrc: u32, report: SenderReport) {
        let Some(stream) = self.streams.get_mut(&ssrc) else {
            tracing::debug!(ssrc, "sender report of an unknown stream");
            return;
        };
        tracing::debug!(ssrc, ?report, "sender report");
        if let Some(previous) = stream.reports.back() {
            let moved = report_disagreement_ns(*previous, report, stream.clock_rate);
            tracing::trace!(ssrc, identity = %stream.identity, clock_rate = stream.clock_rate, moved_us = moved / 1_000, "lip sync: reports compared");
        }
        stream.reports.push_back(report);
        if stream.reports.len() > REPORTS_KEPT {
            stream.reports.pop_front();
        }
        let identity = stream.identity.clone();
        let mut lateness = Vec::new();
        for (ssrc, s) in self.streams.iter().filter(|(_, s)| s.identity == identity) {
            let observed = s.observed.lock().unwrap_or_else(|e| e.into_inner());
            let least = s.reports.back().and_then(|latest| least_lateness_ns(*latest, &observed, s.clock_rate));
            let (Some(least), Some(shift)) = (least, median_shift_ns(&s.reports, s.clock_rate)) else {
                // A stream without a report or without media yet: wait for both.
                tracing::debug!(ssrc, has_report = !s.reports.is_empty(), has_media = !observed.is_empty(), "lip sync waits");
                return;
            };
            let least = least - shift;
            lateness.push((*ssrc, least));
        }
        tracing::debug!(%identity, ?lateness, "lip sync");
        if lateness.len() < 2 {
            return;
        }
        let Some(wanted) = offsets(&lateness) else {
            tracing::warn!(%identity, ?lateness, "sender clocks disagree by over a second; not synchronising");
            return;
        };
        let at_ns = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        for (ssrc, offset) in wanted {
            let Some(s) = self.streams.get_mut(&ssrc) else { continue };
            if let Some(offset) = settled(&mut s.wanted, at_ns, offset) {
                if (offset - s.applied).abs() >= HYSTERESIS_NS {
                    tracing::info!(%identity, ssrc, offset_ms = offset / 1_000_000, was_ms = s.applied / 1_000_000, "lip sync: delaying a stream");
                    s.pad.set_offset(offset);
                    s.applied = offset;
                }
            }
        }
    }
}

/// Records, on `pad` (a jitter buffer's source), the PTS and RTP time of each buffer leaving it.
pub fn observe(pad: &gst::Pad, clock_rate: u32) -> ObservedCell {
    let cell: ObservedCell = Arc::new(Mutex::new(VecDeque::new()));
    let writer = cell.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer() {
            if let (Some(pts), Ok(map)) = (buffer.pts(), buffer.map_readable()) {
                if map.len() >= 12 {
                    let rtp = u32::from_be_bytes([map[4], map[5], map[6], map[7]]);
                    let o = Observed { pts_ns: pts.nseconds(), rtp };
                    record_observed(&mut writer.lock().unwrap_or_else(|e| e.into_inner()), o, clock_rate);
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
    cell
}

#[cfg(test)]
mod tests {
    use super::*;

    const NTP_2026: u64 = (3_973_000_000u64) << 32;

    #[test]
    fn parses_a_sender_report() {
        let mut p = vec![0x80, 200, 0, 6, 0, 0, 0, 7];
        p.extend_from_slice(&NTP_2026.to_be_bytes());
        p.extend_from_slice(&1234u32.to_be_bytes());
        p.extend_from_slice(&[0; 8]);
        assert_eq!(parse_sender_report(&p), Some((7, SenderReport { ntp: NTP_2026, rtp: 1234 })));
        assert_eq!(parse_sender_report(&p[..27]), None, "short");
        p[1] = 201;
        assert_eq!(parse_sender_report(&p), None, "a receiver report");
    }

    #[test]
    fn a_picture_that_trails_the_sound_delays_the_sound() {
        // Both captured at the report's instant: audio at RTP 48 000, video at RTP 90 000.
        // The audio buffer leaves its jitter buffer at 1.0 s, the video one at 1.3 s.
        let audio = lateness_ns(SenderReport { ntp: NTP_2026, rtp: 48_000 }, Observed { pts_ns: 1_000_000_000, rtp: 48_000 }, 48_000);
        let video = lateness_ns(SenderReport { ntp: NTP_2026, rtp: 90_000 }, Observed { pts_ns: 1_300_000_000, rtp: 90_000 }, 90_000);
        assert_eq!(video - audio, 300_000_000);
        let o = offsets(&[(1, audio), (2, video)]).unwrap();
        assert_eq!(o, vec![(1, 300_000_000), (2, 0)]);
    }

    #[test]
    fn the_rtp_distance_to_the_report_counts_either_way_and_across_a_wrap() {
        let report = SenderReport { ntp: NTP_2026, rtp: u32::MAX - 44_999 };
        // Half a second after the report, across the 32-bit wrap.
        let after = lateness_ns(report, Observed { pts_ns: 2_000_000_000, rtp: 0 }, 90_000);
        let at = lateness_ns(report, Observed { pts_ns: 1_500_000_000, rtp: report.rtp }, 90_000);
        assert_eq!(after, at);
        // A second before it.
        let before = lateness_ns(report, Observed { pts_ns: 500_000_000, rtp: report.rtp.wrapping_sub(90_000) }, 90_000);
        assert_eq!(before, at);
    }

    #[test]
    fn the_least_lateness_of_recent_buffers_is_taken() {
        // Audio captured at the report's instant and every 20 ms after it, leaving the jitter
        // buffer 100 ms after capture, except two held up by 80 and 150 ms.
        let report = SenderReport { ntp: NTP_2026, rtp: 0 };
        let mut window = VecDeque::new();
        for k in 0..100u64 {
            let extra = match k {
                40 => 80_000_000,
                41 => 150_000_000,
                _ => 0,
            };
            let o = Observed { pts_ns: 1_100_000_000 + k * 20_000_000 + extra, rtp: (k * 960) as u32 };
            record_observed(&mut window, o, 48_000);
        }
        let capture0 = ntp_ns(NTP_2026);
        assert_eq!(least_lateness_ns(report, &window, 48_000), Some(1_100_000_000 - capture0));
        assert!(window.len() <= 100);
    }

    #[test]
    fn observations_forget_the_old_and_a_rebased_timeline() {
        let mut window = VecDeque::new();
        for k in 0..400u64 {
            record_observed(&mut window, Observed { pts_ns: k * 20_000_000, rtp: (k * 960) as u32 }, 48_000);
        }
        // 3 s of 20 ms buffers, and the newest.
        assert_eq!(window.len(), 151);
        // The RTP clock jumps (a layer switch rebased it): only the new buffer is left.
        record_observed(&mut window, Observed { pts_ns: 400 * 20_000_000, rtp: 9_000_000 }, 48_000);
        assert_eq!(window.len(), 1);
    }

    #[test]
    fn reports_of_an_unbroken_timeline_agree_and_a_rebase_shows() {
        let first = SenderReport { ntp: NTP_2026, rtp: 90_000 };
        // Two seconds later on both clocks.
        let later = SenderReport { ntp: NTP_2026 + (2u64 << 32), rtp: 270_000 };
        assert_eq!(report_disagreement_ns(first, later, 90_000), 0);
        // The tap's timeline moved 40 ms against the sender's (a layer switch's re-base).
        let rebased = SenderReport { ntp: NTP_2026 + (2u64 << 32), rtp: 270_000 + 3_600 };
        assert_eq!(report_disagreement_ns(first, rebased, 90_000), -40_000_000);
    }

    #[test]
    fn one_report_out_of_line_moves_nothing_and_a_lasting_change_is_followed() {
        const MS: u64 = 1_000_000;
        let sec = |k: u64| NTP_2026 + (k << 32);
        let mut reports = VecDeque::new();
        let keep = |r: SenderReport, reports: &mut VecDeque<SenderReport>| {
            reports.push_back(r);
            if reports.len() > REPORTS_KEPT {
                reports.pop_front();
            }
            median_shift_ns(reports, 48_000).unwrap()
        };
        // Audio reports every 5 s on one timeline: no shift.
        for k in 0..4 {
            assert_eq!(keep(SenderReport { ntp: sec(5 * k), rtp: (240_000 * k) as u32 }, &mut reports), 0);
        }
        // One report puts the wallclock 300 ms later (as Chromium's did under load): measured
        // against it, captures are 300 ms later than the others say; the median says so.
        let off = SenderReport { ntp: sec(20) + (300 * MS << 32) / 1_000_000_000, rtp: 960_000 };
        let shift = keep(off, &mut reports);
        assert!((shift + 300_000_000).abs() < 1_000, "{shift}");
        // Back in line: no shift.
        for k in 5..10 {
            assert_eq!(keep(SenderReport { ntp: sec(5 * k), rtp: (240_000 * k) as u32 }, &mut reports), 0);
        }
        // A lasting change of 100 ms is followed once it is the majority (3 of 5).
        let moved = |k: u64| SenderReport { ntp: sec(5 * k) + (100 * MS << 32) / 1_000_000_000, rtp: (240_000 * k) as u32 };
        assert!(keep(moved(10), &mut reports).abs() > 90_000_000, "one moved report is out of line");
        assert!(keep(moved(11), &mut reports).abs() > 90_000_000, "two are still the minority");
        assert!(keep(moved(12), &mut reports).abs() < 1_000, "three of five: the new mapping");
    }

    #[test]
    fn a_skew_beyond_a_second_is_not_corrected() {
        assert_eq!(offsets(&[(1, 0), (2, 1_500_000_000)]), None);
        assert_eq!(offsets(&[]), None);
    }

    #[test]
    fn an_offset_is_applied_only_once_estimates_agree() {
        const MS: i64 = 1_000_000;
        const S: u64 = 1_000_000_000;
        let mut h = Vec::new();
        assert_eq!(settled(&mut h, 0, 300 * MS), None, "one estimate");
        assert_eq!(settled(&mut h, S, 310 * MS), None, "two");
        assert_eq!(settled(&mut h, 2 * S, 290 * MS), Some(300 * MS), "three within 30 ms: their middle");
        assert_eq!(settled(&mut h, 3 * S, 1100 * MS), None, "a swing is not followed");
        assert_eq!(settled(&mut h, 4 * S, 0), None);
        assert_eq!(settled(&mut h, 5 * S, 20 * MS), None, "1100 is still among the last three");
        assert_eq!(settled(&mut h, 6 * S, 10 * MS), Some(10 * MS), "settled again near zero");
    }

    #[test]
    fn estimates_moments_apart_count_once() {
        const MS: i64 = 1_000_000;
        const S: u64 = 1_000_000_000;
        let mut h = Vec::new();
        assert_eq!(settled(&mut h, 0, 100 * MS), None);
        // The same participant's audio and video reports, arriving together: one look.
        assert_eq!(settled(&mut h, S, 300 * MS), None);
        assert_eq!(settled(&mut h, S + 1_000_000, 300 * MS), None, "a second estimate a millisecond later is not a third");
        assert_eq!(h.len(), 2, "it replaced the one before it");
        assert_eq!(settled(&mut h, 2 * S + 2_000_000, 300 * MS), None, "100 ms is still among the last three");
        assert_eq!(settled(&mut h, 3 * S + 2_000_000, 290 * MS), Some(300 * MS));
    }
}
