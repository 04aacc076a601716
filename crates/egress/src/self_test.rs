//! `--self-test <dir>`: is this machine able to run jobs? Checks that every element the worker
//! uses exists (naming the Debian package of any missing one), then encodes a 2-second test
//! pattern with a CJK caption through the composite's encoders into `<dir>/self-test.mp4`.
//! Prints one JSON object on stdout: `{"ok":true,...}` or `{"ok":false,"error":...}`.

use std::path::Path;
use std::time::Duration;

use gst::prelude::*;

use crate::pipeline::ELEMENTS;

pub fn run(dir: &Path) -> i32 {
    let (ok, report) = match check(dir) {
        Ok(report) => (true, report),
        Err(report) => (false, report),
    };
    println!("{report}");
    if ok {
        0
    } else {
        1
    }
}

fn check(dir: &Path) -> Result<serde_json::Value, serde_json::Value> {
    let fail = |error: String| serde_json::json!({ "ok": false, "error": error });
    gst::init().map_err(|e| fail(format!("GStreamer does not start: {e}")))?;
    let missing: Vec<_> = ELEMENTS
        .iter()
        .filter(|(e, _)| gst::ElementFactory::find(e).is_none())
        .collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .iter()
            .map(|(e, p)| format!("{e} (Debian package {p})"))
            .collect();
        let mut report = fail(format!("missing GStreamer elements: {}", names.join(", ")));
        report["missing"] = missing
            .iter()
            .map(|(e, p)| serde_json::json!({ "element": e, "package": p }))
            .collect();
        return Err(report);
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    let out = dir.join("self-test.mp4");
    let description = format!(
        "videotestsrc num-buffers=60 ! video/x-raw,width=640,height=360,framerate=30/1 \
         ! textoverlay text=\"自检 self-test\" font-desc=\"Noto Sans CJK SC 16\" valignment=bottom halignment=left \
         ! compositor background=black ! video/x-raw,format=I420 \
         ! x264enc tune=zerolatency speed-preset=superfast key-int-max=60 bframes=0 ! h264parse \
         ! mp4mux name=mux fragment-duration=1000 ! filesink location=\"{}\" \
         audiotestsrc num-buffers=100 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 \
         ! audiomixer ! audioconvert ! avenc_aac bitrate=128000 ! aacparse ! mux.",
        out.display()
    );
    let pipeline =
        gst::parse::launch(&description).map_err(|e| fail(format!("test pipeline: {e}")))?;
    let started = std::time::Instant::now();
    let result = run_to_eos(&pipeline, Duration::from_secs(30));
    let _ = pipeline.set_state(gst::State::Null);
    result.map_err(fail)?;
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        return Err(fail(format!("{} is empty", out.display())));
    }
    Ok(serde_json::json!({
        "ok": true,
        "gstreamer": gst::version_string().to_string(),
        "elements": ELEMENTS.len(),
        "file": out,
        "size": size,
        "encode_ms": started.elapsed().as_millis() as u64,
    }))
}

fn run_to_eos(pipeline: &gst::Element, timeout: Duration) -> Result<(), String> {
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("test pipeline does not play: {e}"))?;
    let bus = pipeline.bus().ok_or("a pipeline without a bus")?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(format!("no EOS within {timeout:?}"));
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(e) => {
                return Err(format!("test pipeline: {} ({:?})", e.error(), e.debug()))
            }
            _ => {}
        }
    }
}
