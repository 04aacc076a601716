//! The track job: one track into one file without transcoding, the container chosen by codec:
//! VP8 → WebM, Opus → Ogg, H.264 → fragmented MP4 (a killed worker leaves a playable file).
//!
//! The pipeline starts empty and PLAYING; the branch is built when the track is known (in `start`
//! or the first `track_added`), and the output path keeps the extension the server gave.

use std::path::{Path, PathBuf};

use gst::prelude::*;

use super::{make, on_first_buffer, static_pad, BuildError, InputBranch, InputEnd};
use crate::control::{Mime, TrackSpec};
use crate::event::{Event, EventSender};
use crate::gate::{Gate, Lane};
use crate::rtp_in::Router;

pub struct TrackRecording {
    pipeline: gst::Pipeline,
    path: PathBuf,
    /// The recorded track, once known.
    recorded: Option<Recorded>,
    /// Asked for before the track was known; applied when it is.
    paused: bool,
}

struct Recorded {
    ssrc: u32,
    mime: Mime,
    gate: Gate,
}

impl TrackRecording {
    pub fn new(pipeline: &gst::Pipeline, path: &Path) -> Self {
        TrackRecording {
            pipeline: pipeline.clone(),
            path: path.to_path_buf(),
            recorded: None,
            paused: false,
        }
    }

    /// Builds the branch for `track` and routes its RTP to it. A second track is refused.
    pub fn add_track(
        &mut self,
        track: &TrackSpec,
        router: &Router,
        events: &EventSender,
    ) -> Result<(), BuildError> {
        if let Some(r) = &self.recorded {
            tracing::warn!(
                ssrc = track.ssrc,
                recorded = r.ssrc,
                "a track job records one track; ignoring another"
            );
            return Ok(());
        }
        let bin = self.pipeline.upcast_ref::<gst::Bin>();
        let input = InputBranch::build(bin, track, InputEnd::Parsed, events)?;
        let mux = match track.mime {
            Mime::Vp8 => make("webmmux", None)?,
            Mime::Opus => make("oggmux", None)?,
            Mime::H264 => {
                let mux = make("mp4mux", None)?;
                mux.set_property("fragment-duration", 1000u32);
                mux
            }
        };
        let sink = make("filesink", Some("file-sink"))?;
        sink.set_property("location", self.path.to_string_lossy().as_ref());
        // Every buffer goes to the file as it comes (`write`, no fsync): filesink's default 64 KiB
        // buffer held the whole of a killed worker's quiet track recording (a still picture's
        // VP8, or Opus, is a few kB a second), which then left an empty file.
        sink.set_property_from_str("buffer-mode", "unbuffered");
        // A track known only after the pipeline plays is added to a PLAYING pipeline: an async
        // sink would pull it back to PAUSED to preroll, where the live appsrc never produces.
        sink.set_property("async", false);
        bin.add_many([&mux, &sink])?;
        input
            .tail()
            .link(&mux)
            .map_err(|_| BuildError::Link(format!("{} → {}", input.tail().name(), mux.name())))?;
        mux.link(&sink)
            .map_err(|_| BuildError::Link("mux → filesink".into()))?;

        let lane = if track.mime.is_video() {
            Lane::Video
        } else {
            Lane::Audio
        };
        let gate = Gate::new(lane);
        gate.attach(&static_pad(input.tail(), "src")?, lane);
        if self.paused {
            gate.lock().pause();
        }
        let flowing = events.clone();
        on_first_buffer(&static_pad(&sink, "sink")?, move || {
            flowing.send(Event::OutputFlowing)
        });

        sink.sync_state_with_parent()?;
        mux.sync_state_with_parent()?;
        input.sync_state()?;
        router.add(track.ssrc, input.appsrc.clone());
        if track.mime.is_video() {
            events.send(Event::KeyframeWanted(track.ssrc));
        }
        self.recorded = Some(Recorded {
            ssrc: track.ssrc,
            mime: track.mime,
            gate,
        });
        tracing::info!(ssrc = track.ssrc, mime = ?track.mime, track_sid = %track.track_sid, path = %self.path.display(), "recording track");
        Ok(())
    }

    /// The track left: its packets are dropped from now on; the file ends at `stop`.
    pub fn remove_track(&mut self, ssrc: u32, router: &Router) {
        if self.recorded.as_ref().is_some_and(|r| r.ssrc == ssrc) {
            router.remove(ssrc);
        }
    }

    pub fn has_branch(&self) -> bool {
        self.recorded.is_some()
    }

    pub fn pause(&mut self) {
        self.paused = true;
        if let Some(r) = &self.recorded {
            r.gate.lock().pause();
        }
    }

    /// Resumes at the next keyframe, which it asks the server for.
    pub fn resume(&mut self, events: &EventSender) {
        self.paused = false;
        if let Some(r) = &self.recorded {
            r.gate.lock().resume();
            if r.mime.is_video() {
                events.send(Event::KeyframeWanted(r.ssrc));
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn duration_ms(&self) -> u64 {
        self.recorded
            .as_ref()
            .map_or(0, |r| r.gate.lock().duration_ms())
    }
}
