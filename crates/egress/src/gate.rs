//! Pause and resume of the file output, and its recorded duration.
//!
//! A [`Gate`] sits on each pad that feeds the file muxer (one "lane" per pad: video, audio). While
//! paused it drops buffers; on resume it drops until the lead lane (video if any, else audio) has
//! a keyframe, then shifts every later timestamp back by the paused span, so the file has neither
//! a gap nor a frozen picture where the pause was. The live outputs never pass through a gate.
//!
//! Sound and picture must start together, at the start and at each resume: a fragmented MP4
//! (mp4mux with `fragment-duration`) has no edit list, so each track plays from its own first
//! sample and any difference between the two first timestamps becomes an A/V offset for the
//! rest of the file. So while the lead lane waits for its keyframe, the other lane's buffers
//! *wait* in their pad probe (the streaming thread blocks, its queue fills) instead of being
//! dropped; once the keyframe at time K has passed, they are dropped up to K and pass from K
//! on. Dropping them instead lost the sound that arrived before the (slower) encoded picture:
//! the recording's sound then led its picture by about 300 ms.
//!
//! [`GateState`] is the pure rule, tested below; [`Gate::attach`] runs it from a pad probe on the
//! streaming thread. The mutex is taken once per encoded buffer of the file branch (tens per
//! second), never on the RTP path.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Which input of the muxer a pad is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Video,
    Audio,
}

/// What to do with one buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Drop,
    /// Hold it until the lead lane has started (or resumed), then ask again.
    Wait,
    /// Pass it, with its timestamps moved back by this many nanoseconds.
    Pass {
        shift: u64,
    },
}

#[derive(Debug, Clone)]
pub struct GateState {
    lead: Lane,
    paused: bool,
    /// Resumed, but the lead lane has not passed a keyframe yet.
    resuming: bool,
    /// PTS of the first lead buffer dropped by this pause.
    paused_at: Option<u64>,
    /// PTS (before shifting) of the keyframe that started the file or ended the last pause; the
    /// other lane's buffers older than it are dropped, so both lanes start together.
    resumed_at: u64,
    /// The lead lane has passed its first buffer (a keyframe). Until then the other lanes wait,
    /// so the muxer sees video first and never writes a header without the video track's caps
    /// (mp4mux, live, times out on a lone audio pad otherwise).
    lead_started: bool,
    /// Sum of all paused spans so far.
    shift: u64,
    /// First shifted PTS passed, and the furthest shifted end: the file's duration.
    first: Option<u64>,
    end: u64,
}

impl GateState {
    pub fn new(lead: Lane) -> Self {
        GateState {
            lead,
            paused: false,
            resuming: false,
            lead_started: false,
            paused_at: None,
            resumed_at: 0,
            shift: 0,
            first: None,
            end: 0,
        }
    }

    pub fn pause(&mut self) {
        if !self.paused {
            self.paused = true;
            self.resuming = false;
            self.paused_at = None;
        }
    }

    pub fn resume(&mut self) {
        if self.paused {
            self.paused = false;
            self.resuming = true;
        }
    }

    #[cfg(test)]
    pub fn is_paused(&self) -> bool {
        self.paused || self.resuming
    }

    /// Decides one buffer's fate. `pts` is its running time, `duration` in ns; `keyframe` is false for delta units.
    pub fn handle_buffer(
        &mut self,
        lane: Lane,
        pts: Option<u64>,
        duration: Option<u64>,
        keyframe: bool,
    ) -> Verdict {
        if self.paused {
            if lane == self.lead && self.paused_at.is_none() {
                self.paused_at = pts;
            }
            return Verdict::Drop;
        }
        if lane != self.lead && (self.resuming || !self.lead_started) {
            return Verdict::Wait;
        }
        if self.resuming {
            if lane == Lane::Video && !keyframe {
                return Verdict::Drop;
            }
            if let (Some(at), Some(now)) = (self.paused_at, pts) {
                self.shift += now.saturating_sub(at);
                self.resumed_at = now;
            }
            self.resuming = false;
            self.paused_at = None;
        }
        if !self.lead_started {
            if lane == Lane::Video && !keyframe {
                return Verdict::Drop;
            }
            self.lead_started = true;
            self.resumed_at = pts.unwrap_or(0);
        }
        if let Some(pts) = pts {
            // The buffer nearest the lead's start is the first kept: half an AAC frame at most.
            if lane != self.lead && pts.saturating_add(duration.unwrap_or(0) / 2) < self.resumed_at {
                return Verdict::Drop;
            }
            let shifted = pts.saturating_sub(self.shift);
            let first = *self.first.get_or_insert(shifted);
            self.end = self
                .end
                .max(shifted.saturating_sub(first) + duration.unwrap_or(0));
        }
        Verdict::Pass { shift: self.shift }
    }

    /// Media time in the file so far, in ms.
    pub fn duration_ms(&self) -> u64 {
        self.end / 1_000_000
    }
}

/// The longest a buffer waits for the lead lane; then it is dropped. The file branch's queues
/// hold more than this ([`crate::pipeline::outputs`]), so a wait never blocks the tee.
const MAX_WAIT: Duration = Duration::from_secs(2);

/// A [`GateState`] shared by the probes of one file output and the worker.
#[derive(Clone)]
pub struct Gate {
    state: Arc<(Mutex<GateState>, Condvar)>,
}

impl Gate {
    pub fn new(lead: Lane) -> Self {
        Gate {
            state: Arc::new((Mutex::new(GateState::new(lead)), Condvar::new())),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, GateState> {
        // A poisoned lock means a probe panicked; the state itself is still consistent numbers.
        self.state
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides one buffer, waiting (bounded by [`MAX_WAIT`]) while the verdict is
    /// [`Verdict::Wait`]. Each lead buffer wakes the waiters.
    fn decide(&self, lane: Lane, pts: Option<u64>, duration: Option<u64>, keyframe: bool) -> Verdict {
        let (_, changed) = &*self.state;
        let mut state = self.lock();
        let verdict = state.handle_buffer(lane, pts, duration, keyframe);
        if verdict != Verdict::Wait {
            if lane == state.lead {
                changed.notify_all();
            }
            return verdict;
        }
        let deadline = Instant::now() + MAX_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::debug!(?lane, "dropping a buffer that waited too long for the lead lane");
                return Verdict::Drop;
            }
            state = changed
                .wait_timeout(state, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
            let verdict = state.handle_buffer(lane, pts, duration, keyframe);
            if verdict != Verdict::Wait {
                return verdict;
            }
        }
    }

    /// Runs the gate on every buffer through `pad` (one of the muxer's inputs).
    ///
    /// Decisions use running time (the lanes' PTS need not share a base: x264enc's start 1000 h
    /// in); the shift, a span, is applied to the buffer's own PTS and DTS.
    pub fn attach(&self, pad: &gst::Pad, lane: Lane) {
        let gate = self.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let segment = pad
                .sticky_event::<gst::event::Segment>(0)
                .and_then(|e| e.segment().clone().downcast::<gst::ClockTime>().ok());
            let Some(buffer) = info.buffer_mut() else {
                return gst::PadProbeReturn::Ok;
            };
            if buffer.pts().is_none() {
                // mp4mux fails the whole pipeline on one ("Buffer has no PTS"); avenc_aac
                // emits such a buffer now and then when its input was dropped.
                tracing::debug!(?lane, "dropping a buffer without PTS before the file muxer");
                return crate::pipeline::swallow(info);
            }
            let running = match (&segment, buffer.pts()) {
                (Some(segment), Some(pts)) => segment.to_running_time(pts).map(|t| t.nseconds()),
                _ => None,
            };
            let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
            let duration = buffer.duration().map(|t| t.nseconds());
            match gate.decide(lane, running, duration, keyframe) {
                Verdict::Drop | Verdict::Wait => crate::pipeline::swallow(info),
                Verdict::Pass { shift: 0 } => gst::PadProbeReturn::Ok,
                Verdict::Pass { shift } => {
                    let buffer = buffer.make_mut();
                    let back = |t: gst::ClockTime| {
                        gst::ClockTime::from_nseconds(t.nseconds().saturating_sub(shift))
                    };
                    buffer.set_pts(buffer.pts().map(back));
                    buffer.set_dts(buffer.dts().map(back));
                    gst::PadProbeReturn::Ok
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn pause_removes_the_span_and_waits_for_a_keyframe() {
        let mut g = GateState::new(Lane::Video);
        assert_eq!(
            g.handle_buffer(Lane::Audio, Some(0), Some(20 * MS), true),
            Verdict::Wait,
            "audio waits for video"
        );
        assert_eq!(
            g.handle_buffer(Lane::Video, Some(0), Some(33 * MS), true),
            Verdict::Pass { shift: 0 }
        );
        assert_eq!(
            g.handle_buffer(Lane::Audio, Some(10 * MS), Some(20 * MS), true),
            Verdict::Pass { shift: 0 }
        );
        g.pause();
        assert_eq!(
            g.handle_buffer(Lane::Video, Some(1000 * MS), None, false),
            Verdict::Drop
        );
        assert_eq!(
            g.handle_buffer(Lane::Audio, Some(1000 * MS), None, true),
            Verdict::Drop
        );
        g.resume();
        assert!(g.is_paused(), "still waiting for a keyframe");
        assert_eq!(
            g.handle_buffer(Lane::Video, Some(3000 * MS), None, false),
            Verdict::Drop,
            "delta frame"
        );
        assert_eq!(
            g.handle_buffer(Lane::Audio, Some(3000 * MS), None, true),
            Verdict::Wait,
            "audio waits for video"
        );
        assert_eq!(
            g.handle_buffer(Lane::Video, Some(3100 * MS), Some(33 * MS), true),
            Verdict::Pass { shift: 2100 * MS }
        );
        assert!(!g.is_paused());
        assert_eq!(
            g.handle_buffer(Lane::Audio, Some(3090 * MS), None, true),
            Verdict::Drop,
            "older than the keyframe"
        );
        assert_eq!(
            g.handle_buffer(Lane::Audio, Some(3110 * MS), None, true),
            Verdict::Pass { shift: 2100 * MS }
        );
        assert_eq!(
            g.duration_ms(),
            1000 + 33,
            "the paused 2.1 s are not counted"
        );
    }

    #[test]
    fn sound_that_came_before_the_first_keyframe_is_kept_from_the_keyframe_on() {
        // The encoded picture is slower than the sound: sound from 280 ms on reaches the gate
        // before the keyframe of 300 ms. It waits, and the file starts both at 300 ms.
        let mut g = GateState::new(Lane::Video);
        for pts in [280, 300, 320] {
            assert_eq!(g.handle_buffer(Lane::Audio, Some(pts * MS), Some(20 * MS), true), Verdict::Wait);
        }
        assert_eq!(g.handle_buffer(Lane::Video, Some(300 * MS), Some(33 * MS), true), Verdict::Pass { shift: 0 });
        // The waiters ask again, in order.
        assert_eq!(g.handle_buffer(Lane::Audio, Some(280 * MS), Some(20 * MS), true), Verdict::Drop, "before the picture starts");
        assert_eq!(g.handle_buffer(Lane::Audio, Some(300 * MS), Some(20 * MS), true), Verdict::Pass { shift: 0 });
        assert_eq!(g.handle_buffer(Lane::Audio, Some(320 * MS), Some(20 * MS), true), Verdict::Pass { shift: 0 });
        // A frame that straddles the start is kept when most of it is after it.
        let mut g = GateState::new(Lane::Video);
        g.handle_buffer(Lane::Video, Some(300 * MS), Some(33 * MS), true);
        assert_eq!(g.handle_buffer(Lane::Audio, Some(295 * MS), Some(21 * MS), true), Verdict::Pass { shift: 0 });
    }

    #[test]
    fn the_wait_ends_when_the_lead_passes_its_keyframe() {
        let gate = Gate::new(Lane::Video);
        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.decide(Lane::Audio, Some(310 * MS), Some(20 * MS), true))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(gate.decide(Lane::Video, Some(290 * MS), None, false), Verdict::Drop, "not a keyframe");
        assert_eq!(gate.decide(Lane::Video, Some(300 * MS), None, true), Verdict::Pass { shift: 0 });
        assert_eq!(waiter.join().unwrap(), Verdict::Pass { shift: 0 });
    }

    #[test]
    fn audio_only_resumes_on_the_next_buffer() {
        let mut g = GateState::new(Lane::Audio);
        g.handle_buffer(Lane::Audio, Some(0), Some(20 * MS), true);
        g.pause();
        g.handle_buffer(Lane::Audio, Some(500 * MS), Some(20 * MS), true);
        g.resume();
        assert_eq!(
            g.handle_buffer(Lane::Audio, Some(900 * MS), Some(20 * MS), true),
            Verdict::Pass { shift: 400 * MS }
        );
    }

    #[test]
    fn resume_without_pause_is_a_no_op() {
        let mut g = GateState::new(Lane::Video);
        g.resume();
        assert_eq!(
            g.handle_buffer(Lane::Video, Some(0), None, false),
            Verdict::Drop,
            "the file starts on a keyframe"
        );
        assert_eq!(
            g.handle_buffer(Lane::Video, Some(1), None, true),
            Verdict::Pass { shift: 0 }
        );
    }
}
