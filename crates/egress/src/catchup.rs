//! A camera's picture that falls behind its sound catches up by skipping to a keyframe.
//!
//! In a composite, each camera's frames are decoded, converted and named on one thread (the
//! jitter buffer's). When the machine is short of CPU, that thread can take longer per frame
//! than the camera's frame interval. The frames then wait in the jitter buffer, each one later
//! than the one before. The compositor waits only its latency for an input, then shows the
//! newest frame it has. So the picture trails the sound by the backlog, and keeps trailing it
//! after the shortage ends, since the frames still arrive as fast as they are decoded. A loaded
//! CI run recorded a steady 0.4 s of this; nothing bounded the backlog but memory.
//!
//! A probe between the depayloader and the decoder measures how far behind each compressed
//! frame is: the pipeline's running time now, less the frame's. Past [`MAX_BEHIND_NS`] it drops
//! frames up to the next keyframe that is on time, and asks the publisher for one (again every
//! [`ASK_AGAIN`] while it waits, as browsers send keyframes only when asked). Dropped frames
//! cost nothing to decode, so the backlog drains at once. The picture freezes for a moment
//! rather than trailing the sound for the rest of the meeting. Sound needs no such care: Opus
//! decodes fast, and the audio mixer drops samples that come too late rather than playing them.
//!
//! [`Catchup`] is the pure decision; [`watch`] installs it on a pad.

use std::time::{Duration, Instant};

use gst::prelude::*;

/// How far behind a compressed frame may be before the decoder. The mixers wait 400 ms for an
/// input (`MIXER_UPSTREAM_LATENCY_NS` + `MIXER_LATENCY_NS` in the composite), and decoding,
/// converting and naming a frame takes tens of milliseconds on a busy machine; a jitter
/// buffer waiting for a lost packet holds frames up to its 200 ms.
pub const MAX_BEHIND_NS: i64 = 320_000_000;

/// While skipping, how often the keyframe request is repeated.
pub const ASK_AGAIN: Duration = Duration::from_secs(1);

/// What to do with one compressed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Drop,
    /// Drop it, and ask the publisher for a keyframe.
    DropAndAsk,
}

/// One camera's state: in step, or skipping to a keyframe.
#[derive(Debug, Default)]
pub struct Catchup {
    /// Since when frames are skipped, and when a keyframe was last asked for.
    skipping: Option<(Instant, Instant)>,
    dropped: u64,
}

/// What a frame's verdict changed, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    None,
    /// Fell behind by this much; skipping starts.
    FellBehind { behind_ns: i64 },
    /// A keyframe on time ends the skip, after this many dropped frames and this long.
    CaughtUp { dropped: u64, frozen: Duration },
}

impl Catchup {
    /// The verdict on a frame `behind_ns` late at `now`.
    pub fn frame(&mut self, behind_ns: i64, keyframe: bool, now: Instant) -> (Verdict, Change) {
        match self.skipping {
            None if behind_ns <= MAX_BEHIND_NS => (Verdict::Pass, Change::None),
            None => {
                self.skipping = Some((now, now));
                self.dropped = 1;
                (Verdict::DropAndAsk, Change::FellBehind { behind_ns })
            }
            Some((since, _)) if keyframe && behind_ns <= MAX_BEHIND_NS => {
                self.skipping = None;
                let dropped = std::mem::take(&mut self.dropped);
                let frozen = now.saturating_duration_since(since);
                (Verdict::Pass, Change::CaughtUp { dropped, frozen })
            }
            Some((since, asked)) => {
                self.dropped += 1;
                if now.saturating_duration_since(asked) >= ASK_AGAIN {
                    self.skipping = Some((since, now));
                    (Verdict::DropAndAsk, Change::None)
                } else {
                    (Verdict::Drop, Change::None)
                }
            }
        }
    }
}

/// Watches the compressed frames leaving `pad` (a video depayloader's source) for track `ssrc`,
/// dropping as [`Catchup`] says and calling `ask_keyframe` when it asks.
pub fn watch(pad: &gst::Pad, ssrc: u32, ask_keyframe: impl Fn() + Send + Sync + 'static) {
    let state = std::sync::Mutex::new(Catchup::default());
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let running = buffer.pts().and_then(|pts| {
            pad.sticky_event::<gst::event::Segment>(0)
                .and_then(|e| e.segment().clone().downcast::<gst::ClockTime>().ok())
                .and_then(|s| s.to_running_time(pts))
        });
        let now = pad.parent_element().and_then(|e| e.current_running_time());
        let (Some(running), Some(now)) = (running, now) else {
            return gst::PadProbeReturn::Ok;
        };
        let behind_ns = now.nseconds() as i64 - running.nseconds() as i64;
        let (verdict, change) = state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .frame(behind_ns, keyframe, Instant::now());
        match change {
            Change::None => {}
            Change::FellBehind { behind_ns } => tracing::warn!(
                ssrc,
                behind_ms = behind_ns / 1_000_000,
                "picture fell behind its sound; skipping to the next keyframe"
            ),
            Change::CaughtUp { dropped, frozen } => tracing::info!(
                ssrc,
                dropped,
                frozen_ms = frozen.as_millis() as u64,
                "picture caught up at a keyframe"
            ),
        }
        match verdict {
            Verdict::Pass => gst::PadProbeReturn::Ok,
            Verdict::Drop => gst::PadProbeReturn::Drop,
            Verdict::DropAndAsk => {
                ask_keyframe();
                gst::PadProbeReturn::Drop
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    #[test]
    fn frames_in_time_pass() {
        let mut c = Catchup::default();
        let t = Instant::now();
        for behind in [0, 40 * MS, 200 * MS, MAX_BEHIND_NS] {
            assert_eq!(c.frame(behind, false, t), (Verdict::Pass, Change::None));
        }
    }

    #[test]
    fn a_late_frame_skips_to_the_next_keyframe_in_time() {
        let mut c = Catchup::default();
        let t = Instant::now();
        assert_eq!(
            c.frame(MAX_BEHIND_NS + MS, false, t),
            (Verdict::DropAndAsk, Change::FellBehind { behind_ns: MAX_BEHIND_NS + MS })
        );
        // The rest of the backlog, on time or not, up to a keyframe.
        assert_eq!(c.frame(900 * MS, false, t).0, Verdict::Drop);
        assert_eq!(c.frame(10 * MS, false, t).0, Verdict::Drop);
        // An old keyframe from the backlog is still late.
        assert_eq!(c.frame(700 * MS, true, t).0, Verdict::Drop);
        let later = t + Duration::from_millis(300);
        assert_eq!(
            c.frame(20 * MS, true, later),
            (Verdict::Pass, Change::CaughtUp { dropped: 4, frozen: Duration::from_millis(300) })
        );
        // In step again: the next late frame starts a new skip.
        assert_eq!(c.frame(30 * MS, false, later), (Verdict::Pass, Change::None));
        assert_eq!(c.frame(MAX_BEHIND_NS * 2, false, later).0, Verdict::DropAndAsk);
    }

    #[test]
    fn the_keyframe_request_is_repeated_while_skipping() {
        let mut c = Catchup::default();
        let t = Instant::now();
        assert_eq!(c.frame(500 * MS, false, t).0, Verdict::DropAndAsk);
        let at = |ms| t + Duration::from_millis(ms);
        assert_eq!(c.frame(0, false, at(500)).0, Verdict::Drop);
        assert_eq!(c.frame(0, false, at(1_000)).0, Verdict::DropAndAsk);
        assert_eq!(c.frame(0, false, at(1_500)).0, Verdict::Drop);
        assert_eq!(c.frame(0, false, at(2_000)).0, Verdict::DropAndAsk);
        assert_eq!(c.frame(0, true, at(2_100)).0, Verdict::Pass);
    }
}
