//! Keyframe requests from the depayloaders, turned into `keyframe{ssrc}` lines for the server.
//!
//! `rtpvp8depay`/`rtph264depay` with `request-keyframe=true` send a `GstForceKeyUnit` event
//! upstream when they start or lose packets. Nothing upstream of them can make a keyframe (the
//! sender is the publisher, behind the SFU), so a probe catches the event and the worker asks the
//! server, at most once per [`MIN_INTERVAL`] per SSRC.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Least time between two requests for one track.
pub const MIN_INTERVAL: Duration = Duration::from_millis(500);

/// The per-SSRC rate limit.
#[derive(Debug, Default)]
pub struct Limiter {
    last: HashMap<u32, Instant>,
}

impl Limiter {
    /// True when a request for `ssrc` may go out at `now` (and records it).
    pub fn allow(&mut self, ssrc: u32, now: Instant) -> bool {
        match self.last.get(&ssrc) {
            Some(last) if now.saturating_duration_since(*last) < MIN_INTERVAL => false,
            _ => {
                self.last.insert(ssrc, now);
                true
            }
        }
    }

    pub fn forget(&mut self, ssrc: u32) {
        self.last.remove(&ssrc);
    }
}

/// Calls `on_request` whenever a force-key-unit event goes upstream through `pad`. The event
/// itself goes on (harmless upstream of a depayloader).
pub fn watch(pad: &gst::Pad, on_request: impl Fn() + Send + Sync + 'static) {
    pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
        let is_fku = info
            .event()
            .and_then(|e| e.structure())
            .is_some_and(|s| s.name() == "GstForceKeyUnit");
        if is_fku {
            on_request();
        }
        gst::PadProbeReturn::Ok
    });
}

/// The upstream event that makes an encoder (x264enc) produce a keyframe now.
pub fn force_key_unit_event() -> gst::Event {
    let s = gst::Structure::builder("GstForceKeyUnit")
        .field("running-time", u64::MAX) // GST_CLOCK_TIME_NONE: as soon as possible
        .field("all-headers", true)
        .field("count", 0u32)
        .build();
    gst::event::CustomUpstream::new(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_per_interval_per_ssrc() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        assert!(l.allow(1, t0));
        assert!(!l.allow(1, t0 + Duration::from_millis(499)));
        assert!(l.allow(2, t0), "another track is independent");
        assert!(l.allow(1, t0 + Duration::from_millis(500)));
        l.forget(2);
        assert!(l.allow(2, t0 + Duration::from_millis(1)));
    }
}
