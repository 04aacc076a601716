//! The composite's outputs, each a branch off the two encoder tees with its own queues and
//! parsers: a fragmented MP4 file (behind the pause [`Gate`]), HLS segments, and RTMP streams.
//!
//! An RTMP branch lives in its own bin so it can come and go at run time. When anything inside it
//! fails, the bus sync handler sets the branch's `failed` flag (see [`RtmpFlags::mark_failed`])
//! before the error's flow return can travel back up to the tee; from then on the probes on the
//! tee's pads drop everything bound for that branch (buffers and events alike), so one dead RTMP
//! server never stops the recording. The worker then takes the branch down with [`RtmpOutput::teardown`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::prelude::*;

use super::{
    link_chain, link_to_request, make, mux_not_live, on_first_buffer, static_pad, BuildError,
};
use crate::event::{Event, EventSender};
use crate::gate::{Gate, Lane};
use crate::keyframe;

/// The encoders' tees; every output takes one request pad of each.
pub struct Tees {
    pub video: gst::Element,
    pub audio: gst::Element,
}

/// The file output: `queue ! h264parse` and `queue ! aacparse` into `mp4mux fragment-duration=1000`.
pub struct FileOutput {
    pub path: PathBuf,
    pub gate: Gate,
    /// Where the force-key-unit event for a resume is sent (upstream, to x264enc).
    video_queue_sink: gst::Pad,
}

impl FileOutput {
    pub fn build(
        pipeline: &gst::Pipeline,
        tees: &Tees,
        path: &Path,
        events: &EventSender,
    ) -> Result<Self, BuildError> {
        let vq = make("queue", Some("file-vq"))?;
        let vparse = make("h264parse", None)?;
        let aq = make("queue", Some("file-aq"))?;
        // Room for the sound that waits in the gate for the picture's first keyframe (at most
        // two seconds, `gate::MAX_WAIT`), so a wait never blocks the tee and the live outputs.
        aq.set_property("max-size-time", 4_000_000_000u64);
        aq.set_property("max-size-buffers", 0u32);
        aq.set_property("max-size-bytes", 0u32);
        let aparse = make("aacparse", None)?;
        let mux = make("mp4mux", Some("file-mux"))?;
        // Fragments every second: a killed worker leaves a file that plays up to the last one.
        mux.set_property("fragment-duration", 1000u32);
        let sink = make("filesink", Some("file-sink"))?;
        sink.set_property("location", path.to_string_lossy().as_ref());
        // Every buffer goes to the file as it comes (`write`, no fsync): filesink's default 64 KiB
        // buffer held the whole of a killed worker's quiet track recording (a still picture's
        // VP8, or Opus, is a few kB a second), which then left an empty file.
        sink.set_property_from_str("buffer-mode", "unbuffered");
        // Live pipeline: no preroll. An async sink would hold the pipeline in PAUSED when another
        // branch (a failing RTMP server) never prerolls.
        sink.set_property("async", false);
        pipeline.add_many([&vq, &vparse, &aq, &aparse, &mux, &sink])?;
        link_chain(&[&vq, &vparse])?;
        link_chain(&[&aq, &aparse])?;
        link_chain(&[&mux, &sink])?;
        mux_not_live(&link_to_request(
            &static_pad(&vparse, "src")?,
            &mux,
            "video_%u",
        )?);
        mux_not_live(&link_to_request(
            &static_pad(&aparse, "src")?,
            &mux,
            "audio_%u",
        )?);
        link_from_tee(&tees.video, &static_pad(&vq, "sink")?)?;
        link_from_tee(&tees.audio, &static_pad(&aq, "sink")?)?;
        let gate = Gate::new(Lane::Video);
        gate.attach(&static_pad(&vparse, "src")?, Lane::Video);
        gate.attach(&static_pad(&aparse, "src")?, Lane::Audio);
        let events = events.clone();
        on_first_buffer(&static_pad(&sink, "sink")?, move || {
            events.send(Event::OutputFlowing)
        });
        let video_queue_sink = static_pad(&vq, "sink")?;
        Ok(FileOutput {
            path: path.to_path_buf(),
            gate,
            video_queue_sink,
        })
    }

    pub fn pause(&self) {
        self.gate.lock().pause();
    }

    /// Lets buffers through again from the next keyframe, which it asks the encoder for.
    pub fn resume(&self) {
        self.gate.lock().resume();
        if !self
            .video_queue_sink
            .send_event(keyframe::force_key_unit_event())
        {
            tracing::warn!(
                "the encoder did not take the force-key-unit event; resuming at the next keyframe"
            );
        }
    }
}

/// Links a tee's new source pad to `sink`.
pub fn link_from_tee(tee: &gst::Element, sink: &gst::Pad) -> Result<gst::Pad, BuildError> {
    let tee_pad = tee
        .request_pad_simple("src_%u")
        .ok_or_else(|| BuildError::Link(format!("{} gave no src pad", tee.name())))?;
    tee_pad
        .link(sink)
        .map_err(|e| BuildError::Link(format!("{} → {}: {e:?}", tee.name(), sink.name())))?;
    Ok(tee_pad)
}

/// HLS: `hlssink2` writing `index.m3u8` and `seg%05d.ts` into `dir`.
pub fn build_hls(
    pipeline: &gst::Pipeline,
    tees: &Tees,
    dir: &Path,
    segment_s: u32,
    events: &EventSender,
) -> Result<(), BuildError> {
    std::fs::create_dir_all(dir)?;
    let vq = make("queue", Some("hls-vq"))?;
    let vparse = make("h264parse", None)?;
    let aq = make("queue", Some("hls-aq"))?;
    let aparse = make("aacparse", None)?;
    let sink = make("hlssink2", Some("hls"))?;
    sink.set_property(
        "location",
        dir.join("seg%05d.ts").to_string_lossy().as_ref(),
    );
    sink.set_property(
        "playlist-location",
        dir.join("index.m3u8").to_string_lossy().as_ref(),
    );
    sink.set_property("target-duration", segment_s);
    sink.set_property("playlist-length", 6u32);
    sink.set_property("max-files", 12u32);
    pipeline.add_many([&vq, &vparse, &aq, &aparse, &sink])?;
    link_chain(&[&vq, &vparse])?;
    link_chain(&[&aq, &aparse])?;
    link_to_request(&static_pad(&vparse, "src")?, &sink, "video")?;
    link_to_request(&static_pad(&aparse, "src")?, &sink, "audio")?;
    link_from_tee(&tees.video, &static_pad(&vq, "sink")?)?;
    link_from_tee(&tees.audio, &static_pad(&aq, "sink")?)?;
    let events = events.clone();
    on_first_buffer(&static_pad(&vparse, "src")?, move || {
        events.send(Event::OutputFlowing)
    });
    Ok(())
}

/// The `failed` flags of the RTMP bins, by bin name, shared with the bus sync handler.
#[derive(Clone, Default)]
pub struct RtmpFlags(Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>);

impl RtmpFlags {
    fn insert(&self, bin: &str) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        self.lock().insert(bin.to_string(), flag.clone());
        flag
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AtomicBool>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The RTMP bin (alive or retired) that holds the message's source, if any.
    pub fn bin_of(&self, msg: &gst::Message) -> Option<String> {
        let flags = self.lock();
        let mut object = msg.src().cloned();
        while let Some(o) = object {
            if flags.contains_key(o.name().as_str()) {
                return Some(o.name().to_string());
            }
            object = o.parent();
        }
        None
    }

    /// If `msg` is an error from inside an RTMP bin, marks that bin failed and returns its name.
    /// Runs in the bus sync handler, i.e. on the thread that failed, before its flow return.
    pub fn mark_failed(&self, msg: &gst::Message) -> Option<String> {
        if !matches!(msg.view(), gst::MessageView::Error(_)) {
            return None;
        }
        let mut object = msg.src().cloned();
        let flags = self.lock();
        while let Some(o) = object {
            if let Some(flag) = flags.get(o.name().as_str()) {
                flag.store(true, Ordering::SeqCst);
                return Some(o.name().to_string());
            }
            object = o.parent();
        }
        None
    }
}

/// One RTMP stream: a bin `queue ! h264parse`, `queue ! aacparse` → `flvmux streamable=true !
/// rtmp2sink`, fed from the tees.
pub struct RtmpOutput {
    pub url: String,
    pub bin: gst::Bin,
    /// The bin's ghost sink pads (video, audio), fed by the tees.
    ghosts: Vec<gst::Pad>,
    sink: gst::Element,
    failed: Arc<AtomicBool>,
    /// When the first buffer reached the sink; `active` is reported a second later if the
    /// branch has not failed by then (a refused connection fails at once).
    pub first_buffer_at: Option<Instant>,
    pub reported_active: bool,
}

impl RtmpOutput {
    pub fn build(
        pipeline: &gst::Pipeline,
        tees: &Tees,
        url: &str,
        bin_name: &str,
        flags: &RtmpFlags,
        events: &EventSender,
    ) -> Result<Self, BuildError> {
        let bin = gst::Bin::with_name(bin_name);
        let vq = make("queue", None)?;
        let aq = make("queue", None)?;
        for q in [&vq, &aq] {
            // A slow server drops old media here instead of holding back the encoders.
            q.set_property_from_str("leaky", "downstream");
            q.set_property("max-size-time", 3_000_000_000u64);
            q.set_property("max-size-buffers", 0u32);
            q.set_property("max-size-bytes", 0u32);
        }
        let vparse = make("h264parse", None)?;
        let aparse = make("aacparse", None)?;
        let mux = make("flvmux", None)?;
        mux.set_property("streamable", true);
        let sink = make("rtmp2sink", None)?;
        sink.set_property("location", url);
        sink.set_property("async-connect", true);
        sink.set_property("sync", false);
        sink.set_property("async", false);
        bin.add_many([&vq, &vparse, &aq, &aparse, &mux, &sink])?;
        link_chain(&[&vq, &vparse])?;
        link_chain(&[&aq, &aparse])?;
        mux_not_live(&link_to_request(
            &static_pad(&vparse, "src")?,
            &mux,
            "video",
        )?);
        mux_not_live(&link_to_request(
            &static_pad(&aparse, "src")?,
            &mux,
            "audio",
        )?);
        link_chain(&[&mux, &sink])?;
        let vghost = gst::GhostPad::builder_with_target(&static_pad(&vq, "sink")?)?
            .name("video")
            .build();
        let aghost = gst::GhostPad::builder_with_target(&static_pad(&aq, "sink")?)?
            .name("audio")
            .build();
        bin.add_pad(&vghost)?;
        bin.add_pad(&aghost)?;
        {
            let events = events.clone();
            let url = url.to_string();
            on_first_buffer(&static_pad(&sink, "sink")?, move || {
                events.send(Event::StreamFlowing(url.clone()))
            });
        }
        let failed = flags.insert(bin_name);
        pipeline.add(&bin)?;
        // Playing before the tees feed it: a pad of a stopped element answers FLUSHING, which
        // the tee would pass up to the encoder, stopping every output.
        bin.sync_state_with_parent()?;
        let mut ghosts = Vec::new();
        for (tee, ghost) in [
            (&tees.video, vghost.upcast::<gst::Pad>()),
            (&tees.audio, aghost.upcast::<gst::Pad>()),
        ] {
            let tee_pad = link_from_tee(tee, &ghost)?;
            let failed = failed.clone();
            // Events too: the tee pushes pending sticky events (caps, segment) before a
            // buffer's probes run, and a failed branch refusing them would stall the encoder.
            tee_pad.add_probe(gst::PadProbeType::DATA_DOWNSTREAM, move |_, info| {
                if failed.load(Ordering::SeqCst) {
                    super::swallow(info)
                } else {
                    gst::PadProbeReturn::Ok
                }
            });
            ghosts.push(ghost);
        }
        Ok(RtmpOutput {
            url: url.to_string(),
            bin,
            ghosts,
            sink,
            failed,
            first_buffer_at: None,
            reported_active: false,
        })
    }

    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// Stops feeding the branch and sends it EOS so the FLV ends cleanly (`remove_stream`).
    pub fn finish(&self) {
        self.failed.store(true, Ordering::SeqCst);
        for ghost in &self.ghosts {
            let _ = ghost.send_event(gst::event::Eos::new());
        }
    }

    /// After `finish` has let the EOS through: stops the bin (closing the RTMP connection, so the
    /// server sees the stream end) and takes it out of the pipeline. The tees' pads stay, their
    /// probes swallowing everything, so no push ever reaches a stopped pad.
    pub fn take_out(self, pipeline: &gst::Pipeline) {
        self.failed.store(true, Ordering::SeqCst);
        let _ = self.bin.set_state(gst::State::Null);
        let _ = pipeline.remove(&self.bin);
    }

    /// After a failure: nothing reaches the branch any more (the tee probes swallow it all) and
    /// its sink is told EOS directly (its queue refuses events after the error), so the
    /// pipeline's own EOS at the end of the job does not wait for it.
    ///
    /// The bin stays in the pipeline, linked, until the job ends: taking it out (and releasing
    /// the tees' pads) while the encoders pushed stalled the 1.22 pipeline now and then. One
    /// idle bin per dead stream is the price.
    pub fn retire(&self) {
        self.failed.store(true, Ordering::SeqCst);
        if let Some(pad) = self.sink.static_pad("sink") {
            let _ = pad.send_event(gst::event::Eos::new());
        }
    }
}
