//! The composite job ("cloud recording"): every video track decoded, named and placed on one
//! canvas by [`crate::layout::layout`] (in the job's [`Layout`], which `set_layout` changes),
//! every audio track mixed, both encoded once (x264 + AAC) and fanned out through two tees to
//! the file, HLS and RTMP outputs.
//!
//! ```text
//! videotestsrc(black, live) ─┐
//! track: appsrc ! rtpjitterbuffer ! depay ! dec ! videoconvert ! textoverlay ! queue ─┤
//!                            compositor ! I420 ! x264enc ! tee(video) ─→ outputs
//! audiotestsrc(silence, live) ─┐
//! track: appsrc ! rtpjitterbuffer ! rtpopusdepay ! opusdec ! audioconvert ! audioresample ! queue ─┤
//!                            audiomixer ! audioconvert ! audioresample ! avenc_aac ! tee(audio) ─→ outputs
//! ```
//! The live base sources keep both mixers producing when no track (or nobody) is there.
//!
//! Removing a track: its packets stop, its appsrc gets EOS, and when the EOS reaches the mixer
//! pad (a probe sees it and sends [`Event::TrackDrained`]) the worker calls
//! [`Composite::finish_removal`], which unlinks and disposes of the branch's elements. So no
//! element is stopped while data still flows through it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;

use super::outputs::{build_hls, FileOutput, RtmpFlags, RtmpOutput, Tees};
use super::{
    capsfilter, link_chain, link_to_request, make, static_pad, BuildError, InputBranch, InputEnd,
};
use crate::control::{Source, TrackSpec};
use crate::event::{Event, EventSender};
use crate::job::Job;
use crate::layout::{layout, Layout, Rect, Size, Tile};
use crate::rtp_in::Router;
use crate::sync::LipSync;

/// The least upstream latency the mixers assume: the jitter buffers' 200 ms plus decoding, so a
/// track added at run time (after the latency was computed) is not dropped as late.
const MIXER_UPSTREAM_LATENCY_NS: u64 = 300_000_000;
/// Extra time the mixers wait for inputs on top of that.
const MIXER_LATENCY_NS: u64 = 100_000_000;
/// FFmpeg's AAC encoder (avenc_aac) starts its stream with 1024 samples of priming, which the
/// muxers here (mp4mux, flvmux, HLS's mpegtsmux) do not signal, so players play it and the sound
/// runs 21.3 ms behind the picture (measured: a synced clip through x264enc and avenc_aac into
/// mp4mux came out +20 ms). The encoded picture is delayed by as much.
const AAC_PRIMING_NS: i64 = 1024 * 1_000_000_000 / 48_000;
/// Tests only: each camera's frames take this many more milliseconds to decode, as on a machine
/// too busy to keep up (see `crate::catchup`).
pub const DECODE_DELAY_ENV: &str = "HUIYI_EGRESS_DECODE_DELAY_MS";

fn decode_delay_us() -> Option<u32> {
    let ms: u32 = std::env::var(DECODE_DELAY_ENV).ok()?.parse().ok()?;
    (ms > 0).then(|| ms.saturating_mul(1000))
}

/// Font for the names on the tiles; Noto Sans CJK SC renders Chinese names (fonts-noto-cjk).
const NAME_FONT: &str = "Noto Sans CJK SC 16";

pub struct Composite {
    pipeline: gst::Pipeline,
    canvas: Size,
    compositor: gst::Element,
    mixer: gst::Element,
    /// The encoders' sink pads: a stop's EOS goes in here (see [`Composite::cut_now`]).
    encoder_inputs: [gst::Pad; 2],
    tees: Tees,
    pub file: Option<FileOutput>,
    pub streams: Vec<RtmpOutput>,
    pub rtmp_flags: RtmpFlags,
    next_stream: u32,
    /// Video inputs in join order (the layout's order).
    videos: Vec<Input>,
    audios: Vec<Input>,
    /// Inputs whose EOS is on its way to the mixer.
    draining: HashMap<u32, Input>,
    /// Active speakers, loudest first, as the last `speakers` line said.
    speakers: Vec<String>,
    layout: Layout,
    /// The participant the last layout enlarged, kept so that it stays while it speaks.
    main_speaker: Option<String>,
    /// Each participant's sound and picture kept together.
    pub lipsync: LipSync,
    /// Pad geometry waiting for the compositor's next output frame (see [`PendingGeometry`]).
    pending: PendingGeometry,
    /// The picture size each camera was last said to need (its tile), by SSRC, and the
    /// changes not yet reported (see [`Composite::take_tile_sizes`]).
    tile_sizes: HashMap<u32, (u32, u32)>,
    tile_size_changes: Vec<(u32, u32, u32)>,
}

/// Where one compositor pad draws.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PadGeometry {
    rect: Rect,
    zorder: u32,
    shown: bool,
}

/// Pad geometry that the compositor applies itself, between two output frames.
///
/// Setting a compositor pad's properties from another thread while it mixes is not atomic: a
/// pad's `width` waits on its lock while the compositor converts that pad's frame, so under
/// load the tiles showed their new positions at their old sizes for several frames (a new
/// main speaker small at the top left, the old one full size half off the canvas). Instead,
/// a layout is stored here and the compositor's `samples-selected` signal, emitted on its own
/// thread after it has picked the next frame's inputs and before it converts and blends
/// them, applies it all at once. Later layouts replace earlier ones pad by pad.
#[derive(Clone, Default)]
struct PendingGeometry(Arc<Mutex<Vec<(gst::Pad, PadGeometry)>>>);

impl PendingGeometry {
    fn set(&self, updates: impl IntoIterator<Item = (gst::Pad, PadGeometry)>) {
        let mut pending = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (pad, geometry) in updates {
            match pending.iter_mut().find(|(p, _)| *p == pad) {
                Some(slot) => slot.1 = geometry,
                None => pending.push((pad, geometry)),
            }
        }
    }

    /// Applies everything pending; called on the compositor's thread between frames.
    fn apply(&self) {
        let pending = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        for (pad, g) in pending {
            pad.set_property("xpos", g.rect.x as i32);
            pad.set_property("ypos", g.rect.y as i32);
            pad.set_property("width", g.rect.width.max(1) as i32);
            pad.set_property("height", g.rect.height.max(1) as i32);
            pad.set_property("zorder", g.zorder);
            pad.set_property("alpha", if g.shown { 1.0f64 } else { 0.0 });
        }
    }
}

/// One track's branch and the mixer pad it feeds.
struct Input {
    branch: InputBranch,
    mixer_pad: gst::Pad,
    tile: Tile,
    /// Set when the track is removed, so the branch's EOS is reported as drained (a stop's EOS
    /// is not).
    removing: Arc<AtomicBool>,
}

impl Composite {
    /// Builds the mixers, the encoders and the outputs of `job` into `pipeline`.
    pub fn build(
        pipeline: &gst::Pipeline,
        job: &Job,
        events: &EventSender,
    ) -> Result<Composite, BuildError> {
        let v = job.video;
        let canvas = Size {
            width: v.width,
            height: v.height,
        };
        let raw_video = gst::Caps::builder("video/x-raw")
            .field("width", v.width as i32)
            .field("height", v.height as i32)
            .field("framerate", gst::Fraction::new(v.fps as i32, 1))
            .build();
        let raw_audio = gst::Caps::builder("audio/x-raw")
            .field("rate", 48_000i32)
            .field("channels", 2i32)
            .build();

        let base_video = make("videotestsrc", Some("base-video"))?;
        base_video.set_property("is-live", true);
        base_video.set_property_from_str("pattern", "black");
        let mut base_video_format = raw_video.clone();
        // Without a format the base would negotiate the compositor's richest (Y412_LE): costly.
        base_video_format.make_mut().set("format", "I420");
        let base_video_caps = capsfilter(base_video_format)?;
        let compositor = make_mixer("compositor")?;
        compositor.set_property_from_str("background", "black");
        let pending = PendingGeometry::default();
        compositor.set_property("emit-signals", true);
        {
            let pending = pending.clone();
            compositor.connect("samples-selected", false, move |_| {
                pending.apply();
                None
            });
        }
        // Blend and convert on the compositor's own thread: with its worker pool (GStreamer
        // 1.22.0) the output stalled for good under load, the thread waiting on the pool.
        compositor.set_property("max-threads", 1u32);
        let mut i420 = raw_video.clone();
        i420.make_mut().set("format", "I420");
        let out_caps = capsfilter(i420)?;
        let x264 = make("x264enc", None)?;
        x264.set_property_from_str("tune", "zerolatency");
        // ultrafast: a 720p30 composite in about a third of a core on this class of machine;
        // superfast looked better but fell behind real time beside four browsers on 2 cores.
        x264.set_property_from_str("speed-preset", "ultrafast");
        x264.set_property("bitrate", v.kbps);
        x264.set_property("key-int-max", 2 * v.fps);
        x264.set_property("bframes", 0u32);
        // The encoder must not hold the compositor back: when it falls behind (a busy
        // machine), pictures are dropped here, so the file keeps real time at a lower frame
        // rate instead of a timeline that shrinks and drifts from the sound.
        let enc_queue = make("queue", Some("encode-queue"))?;
        enc_queue.set_property_from_str("leaky", "downstream");
        enc_queue.set_property("max-size-buffers", 2u32);
        enc_queue.set_property("max-size-bytes", 0u32);
        enc_queue.set_property("max-size-time", 0u64);
        let vtee = make("tee", Some("video-tee"))?;
        vtee.set_property("allow-not-linked", true);

        let base_audio = make("audiotestsrc", Some("base-audio"))?;
        base_audio.set_property("is-live", true);
        base_audio.set_property_from_str("wave", "silence");
        let base_audio_caps = capsfilter(raw_audio.clone())?;
        let mixer = make_mixer("audiomixer")?;
        let aconv = make("audioconvert", None)?;
        let aresample = make("audioresample", None)?;
        let mixed_caps = capsfilter(raw_audio)?;
        let aac = make("avenc_aac", None)?;
        aac.set_property("bitrate", (job.audio_kbps * 1000) as i32);
        let atee = make("tee", Some("audio-tee"))?;
        atee.set_property("allow-not-linked", true);

        pipeline.add_many([
            &base_video,
            &base_video_caps,
            &compositor,
            &out_caps,
            &enc_queue,
            &x264,
            &vtee,
            &base_audio,
            &base_audio_caps,
            &mixer,
            &aconv,
            &aresample,
            &mixed_caps,
            &aac,
            &atee,
        ])?;
        link_chain(&[&base_video, &base_video_caps])?;
        let base_pad = link_to_request(
            &static_pad(&base_video_caps, "src")?,
            &compositor,
            "sink_%u",
        )?;
        base_pad.set_property("zorder", 0u32);
        base_pad.set_property("converter-config", single_threaded_converter());
        link_chain(&[&compositor, &out_caps, &enc_queue, &x264, &vtee])?;
        static_pad(&x264, "src")?.set_offset(AAC_PRIMING_NS);
        keep_on_clock(&compositor)?;
        link_chain(&[&base_audio, &base_audio_caps])?;
        link_to_request(&static_pad(&base_audio_caps, "src")?, &mixer, "sink_%u")?;
        link_chain(&[&mixer, &aconv, &aresample, &mixed_caps, &aac, &atee])?;

        let tees = Tees {
            video: vtee,
            audio: atee,
        };
        let file = match &job.file {
            Some(path) => Some(FileOutput::build(pipeline, &tees, path, events)?),
            None => None,
        };
        if let Some(hls) = &job.hls {
            build_hls(pipeline, &tees, &hls.dir, hls.segment_s, events)?;
        }
        let encoder_inputs = [static_pad(&x264, "sink")?, static_pad(&aac, "sink")?];
        let mut composite = Composite {
            pipeline: pipeline.clone(),
            canvas,
            compositor,
            mixer,
            encoder_inputs,
            tees,
            file,
            streams: Vec::new(),
            rtmp_flags: RtmpFlags::default(),
            next_stream: 0,
            videos: Vec::new(),
            audios: Vec::new(),
            draining: HashMap::new(),
            speakers: Vec::new(),
            layout: job.layout,
            main_speaker: None,
            lipsync: LipSync::default(),
            pending,
            tile_sizes: HashMap::new(),
            tile_size_changes: Vec::new(),
        };
        for url in &job.rtmp {
            composite.add_stream(url, events)?;
        }
        Ok(composite)
    }

    /// Decodes `track` into the compositor or the mixer and re-lays the tiles out.
    pub fn add_track(
        &mut self,
        track: &TrackSpec,
        router: &Router,
        events: &EventSender,
    ) -> Result<(), BuildError> {
        let ssrc = track.ssrc;
        if self
            .videos
            .iter()
            .chain(&self.audios)
            .chain(self.draining.values())
            .any(|i| i.branch.ssrc == ssrc)
        {
            tracing::warn!(ssrc, "track already added");
            return Ok(());
        }
        let bin = self.pipeline.upcast_ref::<gst::Bin>();
        let mut branch = InputBranch::build(bin, track, InputEnd::Decoded, events)?;
        let mut extra = Vec::new();
        if track.mime.is_video() {
            if let Some(us) = decode_delay_us() {
                let slow = make("identity", None)?;
                slow.set_property("sleep-time", us);
                extra.push(slow);
            }
            extra.push(make("videoconvert", None)?);
            let overlay = make("textoverlay", None)?;
            let name = if track.participant_name.is_empty() {
                &track.participant_identity
            } else {
                &track.participant_name
            };
            overlay.set_property("text", name.as_str());
            overlay.set_property("font-desc", NAME_FONT);
            overlay.set_property_from_str("valignment", "bottom");
            overlay.set_property_from_str("halignment", "left");
            overlay.set_property("shaded-background", true);
            extra.push(overlay);
        }
        let queue = make("queue", None)?;
        queue.set_property_from_str("leaky", "downstream");
        queue.set_property("max-size-time", 1_000_000_000u64);
        extra.push(queue.clone());
        bin.add_many(&extra)?;
        let mut chain: Vec<&gst::Element> = vec![branch.tail()];
        chain.extend(extra.iter());
        link_chain(&chain)?;
        branch.elements.extend(extra);

        let mixer = if track.mime.is_video() {
            &self.compositor
        } else {
            &self.mixer
        };
        let mixer_pad = link_to_request(&static_pad(&queue, "src")?, mixer, "sink_%u")?;
        if track.mime.is_video() {
            mixer_pad.set_property_from_str("sizing-policy", "keep-aspect-ratio");
            mixer_pad.set_property("converter-config", single_threaded_converter());
            mixer_pad.set_property("alpha", 0.0f64); // shown by the layout below
        }
        let removing = Arc::new(AtomicBool::new(false));
        {
            let removing = removing.clone();
            let events = events.clone();
            static_pad(&queue, "src")?.add_probe(
                gst::PadProbeType::EVENT_DOWNSTREAM,
                move |_, info| {
                    let is_eos = info
                        .event()
                        .is_some_and(|e| e.type_() == gst::EventType::Eos);
                    if is_eos && removing.load(Ordering::SeqCst) {
                        events.send(Event::TrackDrained(ssrc));
                    }
                    gst::PadProbeReturn::Ok
                },
            );
        }
        branch.sync_state()?;
        self.lipsync.add(
            ssrc,
            &track.participant_identity,
            track.mime.clock_rate(),
            branch.observed.clone(),
            static_pad(&queue, "src")?,
        );
        router.add(ssrc, branch.appsrc.clone());
        let tile = Tile {
            identity: track.participant_identity.clone(),
            screen_share: track.source == Source::ScreenShare,
        };
        let input = Input {
            branch,
            mixer_pad,
            tile,
            removing,
        };
        if track.mime.is_video() {
            self.videos.push(input);
            self.relayout();
            events.send(Event::KeyframeWanted(ssrc));
        } else {
            self.audios.push(input);
        }
        tracing::info!(ssrc, mime = ?track.mime, track_sid = %track.track_sid, identity = %track.participant_identity, "track added to the composite");
        Ok(())
    }

    /// Stops routing `ssrc` and drains its branch; [`Composite::finish_removal`] follows.
    pub fn remove_track(&mut self, ssrc: u32, router: &Router) {
        router.remove(ssrc);
        self.lipsync.remove(ssrc);
        let input = if let Some(i) = self.videos.iter().position(|i| i.branch.ssrc == ssrc) {
            let input = self.videos.remove(i);
            self.tile_sizes.remove(&ssrc);
            self.tile_size_changes.retain(|&(s, _, _)| s != ssrc);
            self.relayout();
            input
        } else if let Some(i) = self.audios.iter().position(|i| i.branch.ssrc == ssrc) {
            self.audios.remove(i)
        } else {
            tracing::warn!(ssrc, "track_removed for an unknown track");
            return;
        };
        input.removing.store(true, Ordering::SeqCst);
        if input.mixer_pad.has_property("alpha") {
            let hidden = PadGeometry {
                rect: Rect::HIDDEN,
                zorder: 1,
                shown: false,
            };
            self.pending.set([(input.mixer_pad.clone(), hidden)]);
        }
        let _ = input.branch.appsrc.end_of_stream();
        self.draining.insert(ssrc, input);
    }

    /// Takes down a drained branch (its EOS reached the mixer pad).
    ///
    /// The mixer pad itself stays, at EOS, hidden and unlinked. Releasing it stalled the
    /// compositor once, together with a GStreamer-CRITICAL that later proved to come from a
    /// probe returning `Drop` (see `pipeline::swallow`); releasing has not been re-tested since.
    /// One idle pad per departed track is the price.
    pub fn finish_removal(&mut self, ssrc: u32) {
        let Some(input) = self.draining.remove(&ssrc) else {
            return;
        };
        if let Some(peer) = input.mixer_pad.peer() {
            let _ = peer.unlink(&input.mixer_pad);
        }
        input.branch.dispose(self.pipeline.upcast_ref());
        tracing::info!(ssrc, "track branch removed");
    }

    /// The cameras whose tiles changed size since the last call: `(ssrc, width, height)`, for
    /// the server to send each the smallest simulcast layer that fills its tile, as it does
    /// for a browser's small tiles. A 320×180 strip tile then costs a 180p decode, not 720p.
    pub fn take_tile_sizes(&mut self) -> Vec<(u32, u32, u32)> {
        std::mem::take(&mut self.tile_size_changes)
    }

    pub fn set_speakers(&mut self, identities: Vec<String>) {
        if identities != self.speakers {
            self.speakers = identities;
            self.relayout();
        }
    }

    /// Re-lays the tiles out at once in `layout`.
    pub fn set_layout(&mut self, layout: Layout) {
        if layout != self.layout {
            tracing::info!(%layout, "layout changed");
            self.layout = layout;
            self.relayout();
        }
    }

    fn relayout(&mut self) {
        let tiles: Vec<Tile> = self.videos.iter().map(|v| v.tile.clone()).collect();
        let placed = layout(
            self.canvas,
            &tiles,
            &self.speakers,
            self.layout,
            self.main_speaker.as_deref(),
        );
        self.main_speaker = placed.main_speaker;
        let rects = placed.rects;
        for (input, rect) in self.videos.iter().zip(&rects) {
            // A hidden tile needs the least the publisher sends, not "the best" (0×0).
            let size = if rect.is_hidden() { (1, 1) } else { (rect.width, rect.height) };
            if self.tile_sizes.insert(input.branch.ssrc, size) != Some(size) {
                self.tile_size_changes.push((input.branch.ssrc, size.0, size.1));
            }
        }
        self.pending
            .set(
                self.videos
                    .iter()
                    .zip(rects.iter().enumerate())
                    .map(|(input, (z, rect))| {
                        let geometry = PadGeometry {
                            rect: *rect,
                            zorder: z as u32 + 1,
                            shown: !rect.is_hidden(),
                        };
                        (input.mixer_pad.clone(), geometry)
                    }),
            );
        tracing::debug!(layout = %self.layout, main_speaker = ?self.main_speaker, ?rects, "layout");
    }

    /// Where a stop sends EOS: the encoders' inputs, not the sources. EOS from the sources must
    /// pass every jitter buffer, decoder and both mixers, and pausing a live source's task to
    /// send it deadlocked when that source was blocked on a full mixer pad. From the encoders
    /// on, EOS reaches every output; the last mixer latency (under half a second) is not
    /// recorded.
    ///
    /// Cuts both encoders' inputs at this instant's running time, so picture and sound end
    /// together: the picture runs behind the sound (the compositor and its queue are slower
    /// than the mixer), and an EOS sent at once ended the video track that much (up to seconds
    /// on a busy machine) before the audio. Buffers from the instant on are dropped; each
    /// pad's flag turns true once its lane has reached the instant, and the caller then sends
    /// EOS (bounded by its own timeout).
    pub fn cut_now(&self) -> Vec<(gst::Pad, Arc<AtomicBool>)> {
        let now = match (self.pipeline.clock(), self.pipeline.base_time()) {
            (Some(clock), Some(base)) => Some(clock.time().saturating_sub(base)),
            _ => None,
        };
        self.encoder_inputs
            .iter()
            .map(|pad| {
                let reached = Arc::new(AtomicBool::new(now.is_none()));
                if let Some(cut) = now {
                    let flag = reached.clone();
                    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                        let running = info.buffer().and_then(|b| b.pts()).and_then(|pts| {
                            pad.sticky_event::<gst::event::Segment>(0)
                                .and_then(|e| e.segment().clone().downcast::<gst::ClockTime>().ok())
                                .and_then(|s| s.to_running_time(pts))
                        });
                        if running.is_some_and(|t| t >= cut) {
                            flag.store(true, Ordering::SeqCst);
                            return super::swallow(info);
                        }
                        gst::PadProbeReturn::Ok
                    });
                }
                (pad.clone(), reached)
            })
            .collect()
    }

    /// Adds an RTMP output (at start or at run time). A URL already streamed to is ignored.
    pub fn add_stream(&mut self, url: &str, events: &EventSender) -> Result<(), BuildError> {
        if self.streams.iter().any(|s| s.url == url) {
            return Ok(());
        }
        let name = format!("rtmp-{}", self.next_stream);
        self.next_stream += 1;
        let stream = RtmpOutput::build(
            &self.pipeline,
            &self.tees,
            url,
            &name,
            &self.rtmp_flags,
            events,
        )?;
        self.streams.push(stream);
        Ok(())
    }

    /// Takes the stream out of the list (the caller finishes or tears it down).
    pub fn take_stream(&mut self, url: &str) -> Option<RtmpOutput> {
        let i = self.streams.iter().position(|s| s.url == url)?;
        Some(self.streams.remove(i))
    }

    /// The stream whose bin is called `bin_name`.
    pub fn stream_url_by_bin(&self, bin_name: &str) -> Option<String> {
        self.streams
            .iter()
            .find(|s| s.bin.name() == bin_name)
            .map(|s| s.url.clone())
    }
}

/// A compositor or audiomixer that always runs on the clock: `force-live` (construct-only),
/// because the latency query of the start fails (videotestsrc answers only once negotiated) and
/// a non-live mixer waits for every input, forever for a camera whose keyframe was lost.
fn make_mixer(factory: &str) -> Result<gst::Element, BuildError> {
    let name = if factory == "compositor" {
        "compositor"
    } else {
        "mixer"
    };
    let mixer = gst::ElementFactory::make(factory)
        .name(name)
        .property("force-live", true)
        .property("ignore-inactive-pads", true)
        .property("min-upstream-latency", MIXER_UPSTREAM_LATENCY_NS)
        .property("latency", MIXER_LATENCY_NS)
        .build();
    // Building fails only if the element is missing (make names its package) or the properties
    // are wrong (a bug: GStreamer < 1.22 has no force-live).
    mixer.or_else(|_| {
        make(factory, None).and(Err(BuildError::Link(format!(
            "{factory} has no force-live (GStreamer < 1.22?)"
        ))))
    })
}

/// Keeps the compositor on the clock when the machine cannot keep up. A live aggregator that
/// is too slow does not skip anything: it stamps each frame one frame after the last, so its
/// timeline falls further behind the clock and the file ends up shorter than the meeting (with
/// four browsers beside two composites on 2 cores, under half of it). So each frame that
/// leaves after its deadline (its running time plus the mixer's latency) sends a QoS event back
/// into the compositor, which then skips frames (not blending them at all) until it is on time
/// again: the file keeps real time at a lower frame rate.
fn keep_on_clock(compositor: &gst::Element) -> Result<(), BuildError> {
    let src = static_pad(compositor, "src")?;
    let weak = compositor.downgrade();
    let latency = gst::ClockTime::from_nseconds(MIXER_UPSTREAM_LATENCY_NS + MIXER_LATENCY_NS);
    src.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(element) = weak.upgrade() else {
            return gst::PadProbeReturn::Ok;
        };
        let (Some(clock), Some(base)) = (element.clock(), element.base_time()) else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(pts) = info.buffer().and_then(|b| b.pts()) else {
            return gst::PadProbeReturn::Ok;
        };
        let running = pad
            .sticky_event::<gst::event::Segment>(0)
            .and_then(|e| e.segment().clone().downcast::<gst::ClockTime>().ok())
            .and_then(|s| s.to_running_time(pts));
        let Some(running) = running else {
            return gst::PadProbeReturn::Ok;
        };
        let now = clock.time().saturating_sub(base);
        let deadline = running + latency;
        if now > deadline {
            // GstVideoAggregator skips to `timestamp + 2 × jitter + one frame`: half the
            // lateness lands it on the clock. The whole of it overshot by as much again, and a
            // slow start (seconds late) then left the file without pictures for seconds.
            let late = (now - deadline).nseconds() as i64 / 2;
            let qos = gst::event::Qos::new(gst::QOSType::Underflow, 1.0, late, running);
            if !pad.send_event(qos) {
                tracing::debug!("the compositor refused a QoS event");
            }
        }
        gst::PadProbeReturn::Ok
    });
    Ok(())
}

/// A compositor pad's scaler/converter running on the calling thread (see `max-threads`).
fn single_threaded_converter() -> gst::Structure {
    gst::Structure::builder("GstVideoConverter")
        .field("GstVideoConverter.threads", 1u32)
        .build()
}
