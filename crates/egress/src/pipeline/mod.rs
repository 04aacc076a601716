//! Building GStreamer pipelines: the element inventory, small helpers, and the per-track input
//! branch (appsrc → jitter buffer → depayloader → parser or decoder) that both job kinds use.
//!
//! - [`track`]: one track, no transcoding, into WebM / Ogg / fragmented MP4.
//! - [`composite`]: every track mixed into one H.264 + AAC picture and sound.
//! - [`outputs`]: the file, HLS and RTMP branches hung off the composite's encoders.

pub mod composite;
pub mod outputs;
pub mod track;

use gst::prelude::*;

use crate::control::{Mime, TrackSpec};
use crate::event::{Event, EventSender};
use crate::keyframe;

/// Every element the worker may create, with the Debian package that ships it.
pub const ELEMENTS: &[(&str, &str)] = &[
    ("appsrc", "gstreamer1.0-plugins-base"),
    ("rtpjitterbuffer", "gstreamer1.0-plugins-good"),
    ("rtpvp8depay", "gstreamer1.0-plugins-good"),
    ("rtph264depay", "gstreamer1.0-plugins-good"),
    ("rtpopusdepay", "gstreamer1.0-plugins-good"),
    ("h264parse", "gstreamer1.0-plugins-bad"),
    ("opusparse", "gstreamer1.0-plugins-bad"),
    ("aacparse", "gstreamer1.0-plugins-good"),
    ("webmmux", "gstreamer1.0-plugins-good"),
    ("oggmux", "gstreamer1.0-plugins-base"),
    ("mp4mux", "gstreamer1.0-plugins-good"),
    ("flvmux", "gstreamer1.0-plugins-good"),
    ("filesink", "libgstreamer1.0-0"),
    ("queue", "libgstreamer1.0-0"),
    ("tee", "libgstreamer1.0-0"),
    ("capsfilter", "libgstreamer1.0-0"),
    ("vp8dec", "gstreamer1.0-plugins-good"),
    ("avdec_h264", "gstreamer1.0-libav"),
    ("opusdec", "gstreamer1.0-plugins-base"),
    ("videoconvert", "gstreamer1.0-plugins-base"),
    ("textoverlay", "gstreamer1.0-x"),
    ("videotestsrc", "gstreamer1.0-plugins-base"),
    ("audiotestsrc", "gstreamer1.0-plugins-base"),
    ("compositor", "gstreamer1.0-plugins-base"),
    ("audiomixer", "gstreamer1.0-plugins-base"),
    ("audioconvert", "gstreamer1.0-plugins-base"),
    ("audioresample", "gstreamer1.0-plugins-base"),
    ("x264enc", "gstreamer1.0-plugins-ugly"),
    ("avenc_aac", "gstreamer1.0-libav"),
    ("hlssink2", "gstreamer1.0-plugins-bad"),
    ("rtmp2sink", "gstreamer1.0-plugins-bad"),
];

/// Why a pipeline (or a part added at run time) could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("GStreamer element {element:?} is missing (install the Debian package {package})")]
    Missing {
        element: String,
        package: &'static str,
    },
    #[error("cannot link {0}")]
    Link(String),
    #[error("{0}")]
    Glib(#[from] gst::glib::BoolError),
    #[error("state change failed: {0}")]
    State(#[from] gst::StateChangeError),
    #[error("cannot prepare an output: {0}")]
    Io(#[from] std::io::Error),
}

/// Creates an element, or names the package that ships it.
pub fn make(factory: &str, name: Option<&str>) -> Result<gst::Element, BuildError> {
    let mut builder = gst::ElementFactory::make(factory);
    if let Some(name) = name {
        builder = builder.name(name);
    }
    builder.build().map_err(|_| BuildError::Missing {
        element: factory.to_string(),
        package: ELEMENTS
            .iter()
            .find(|(e, _)| *e == factory)
            .map_or("(unknown)", |(_, p)| p),
    })
}

/// Links elements in a chain, naming the pair that failed.
pub fn link_chain(elements: &[&gst::Element]) -> Result<(), BuildError> {
    for pair in elements.windows(2) {
        pair[0]
            .link(pair[1])
            .map_err(|_| BuildError::Link(format!("{} → {}", pair[0].name(), pair[1].name())))?;
    }
    Ok(())
}

/// Links `src` to a new request pad of `sink` (`template`, e.g. `sink_%u`, `video`), returning it.
pub fn link_to_request(
    src: &gst::Pad,
    sink: &gst::Element,
    template: &str,
) -> Result<gst::Pad, BuildError> {
    let pad = sink.request_pad_simple(template).ok_or_else(|| {
        BuildError::Link(format!("{} has no request pad {template}", sink.name()))
    })?;
    src.link(&pad)
        .map_err(|e| BuildError::Link(format!("{} → {}: {e:?}", src.name(), pad.name())))?;
    Ok(pad)
}

pub fn static_pad(element: &gst::Element, name: &str) -> Result<gst::Pad, BuildError> {
    element
        .static_pad(name)
        .ok_or_else(|| BuildError::Link(format!("{} has no pad {name}", element.name())))
}

pub fn capsfilter(caps: gst::Caps) -> Result<gst::Element, BuildError> {
    let filter = make("capsfilter", None)?;
    filter.set_property("caps", caps);
    Ok(filter)
}

/// Calls `on_first` once, when the first buffer goes through `pad`.
pub fn on_first_buffer(pad: &gst::Pad, on_first: impl Fn() + Send + Sync + 'static) {
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        on_first();
        gst::PadProbeReturn::Remove
    });
}

/// Drops the buffer or event a probe holds. With GStreamer 1.22 and gstreamer-rs 0.24, returning
/// `PadProbeReturn::Drop` ends in a GStreamer-CRITICAL (`gst_mini_object_unref` of NULL) per
/// dropped item; taking the data and returning `Handled` is the clean way.
pub fn swallow(info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
    drop(info.data.take());
    gst::PadProbeReturn::Handled
}

/// Makes the element behind `sink_pad` (a file or FLV muxer) see its upstream as not live, so it
/// muxes only when every input has data. Live, it times out on a lone audio input and writes a
/// header without the video track (mp4mux: "mdhd time scale 0").
pub fn mux_not_live(sink_pad: &gst::Pad) {
    sink_pad.add_probe(
        gst::PadProbeType::QUERY_UPSTREAM | gst::PadProbeType::PULL,
        |_, info| {
            if let Some(query) = info.query_mut() {
                if let gst::QueryViewMut::Latency(latency) = query.view_mut() {
                    let (_, min, max) = latency.result();
                    latency.set(false, min, max);
                }
            }
            gst::PadProbeReturn::Ok
        },
    );
}

/// The caps that describe a track's RTP to the depayloader.
fn rtp_caps(track: &TrackSpec) -> gst::Caps {
    let (media, clock_rate, name) = match track.mime {
        Mime::Vp8 => ("video", 90_000, "VP8"),
        Mime::H264 => ("video", 90_000, "H264"),
        Mime::Opus => ("audio", 48_000, "OPUS"),
    };
    gst::Caps::builder("application/x-rtp")
        .field("media", media)
        .field("clock-rate", clock_rate)
        .field("encoding-name", name)
        .field("payload", i32::from(track.pt))
        .build()
}

/// What an input branch ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputEnd {
    /// Parsed compressed frames, for muxing as they are (track jobs).
    Parsed,
    /// Raw video or audio (composite jobs).
    Decoded,
}

/// The elements from the track's appsrc to its last element; the caller links `tail`.
pub struct InputBranch {
    pub ssrc: u32,
    pub appsrc: gst_app::AppSrc,
    /// The last buffer out of the jitter buffer (for lip sync, `crate::sync`).
    pub observed: crate::sync::ObservedCell,
    /// In stream order, appsrc first.
    pub elements: Vec<gst::Element>,
}

impl InputBranch {
    /// Builds the branch into `bin` (not yet linked downstream, not yet synced to its state).
    pub fn build(
        bin: &gst::Bin,
        track: &TrackSpec,
        end: InputEnd,
        events: &EventSender,
    ) -> Result<Self, BuildError> {
        let ssrc = track.ssrc;
        let caps = rtp_caps(track);
        let appsrc = gst_app::AppSrc::builder()
            .name(format!("rtp-{ssrc}"))
            .caps(&caps)
            .is_live(true)
            .format(gst::Format::Time)
            .do_timestamp(true)
            .max_bytes(2 << 20)
            .leaky_type(gst_app::AppLeakyType::Downstream)
            .build();
        let jitter = make("rtpjitterbuffer", None)?;
        jitter.set_property("latency", 200u32);
        let observed = crate::sync::observe(&static_pad(&jitter, "src")?, track.mime.clock_rate());
        let depay = make(
            match track.mime {
                Mime::Vp8 => "rtpvp8depay",
                Mime::H264 => "rtph264depay",
                Mime::Opus => "rtpopusdepay",
            },
            None,
        )?;
        if track.mime.is_video() {
            depay.set_property("request-keyframe", true);
            depay.set_property("wait-for-keyframe", true);
            let asker = events.clone();
            keyframe::watch(&static_pad(&depay, "sink")?, move || {
                asker.send(Event::KeyframeWanted(ssrc))
            });
            if end == InputEnd::Decoded {
                let events = events.clone();
                crate::catchup::watch(&static_pad(&depay, "src")?, ssrc, move || {
                    events.send(Event::KeyframeWanted(ssrc))
                });
            }
        }
        let mut elements = vec![appsrc.clone().upcast::<gst::Element>(), jitter, depay];
        match (track.mime, end) {
            (Mime::Vp8, InputEnd::Parsed) => {}
            (Mime::H264, InputEnd::Parsed) => elements.push(make("h264parse", None)?),
            (Mime::Opus, InputEnd::Parsed) => elements.push(make("opusparse", None)?),
            (Mime::Vp8, InputEnd::Decoded) => elements.push(make("vp8dec", None)?),
            (Mime::H264, InputEnd::Decoded) => {
                elements.push(make("h264parse", None)?);
                elements.push(make("avdec_h264", None)?);
            }
            (Mime::Opus, InputEnd::Decoded) => {
                let dec = make("opusdec", None)?;
                dec.set_property("plc", true);
                elements.push(dec);
                elements.push(make("audioconvert", None)?);
                elements.push(make("audioresample", None)?);
            }
        }
        bin.add_many(&elements)?;
        link_chain(&elements.iter().collect::<Vec<_>>())?;
        Ok(InputBranch {
            ssrc,
            appsrc,
            observed,
            elements,
        })
    }

    pub fn tail(&self) -> &gst::Element {
        self.elements
            .last()
            .expect("a branch always has appsrc, jitter buffer and depayloader")
    }

    /// Brings every element to its parent's state (after linking the tail).
    pub fn sync_state(&self) -> Result<(), BuildError> {
        for e in self.elements.iter().rev() {
            e.sync_state_with_parent()?;
        }
        Ok(())
    }

    /// Stops the elements and takes them out of `bin`. Call only when no data flows any more.
    pub fn dispose(self, bin: &gst::Bin) {
        for e in &self.elements {
            let _ = e.set_state(gst::State::Null);
        }
        let _ = bin.remove_many(&self.elements);
    }
}
