//! A composite whose camera decodes slower than it arrives (as on a machine short of CPU) keeps
//! the picture with the sound: the worker skips to a keyframe instead of letting the picture
//! trail further and further behind (`src/catchup.rs`).

mod harness;

use std::time::Duration;

use harness::*;
use serde_json::json;

#[test]
fn a_camera_that_decodes_too_slowly_stays_with_its_sound() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.mp4");
    // 40 ms more per frame at 30 frames a second: the decoder manages 25 a second, so without
    // catching up the picture falls 0.2 s further behind every second.
    let mut worker = Worker::spawn(dir.path(), &[("HUIYI_EGRESS_DECODE_DELAY_MS", "40")]);
    let tracks = vec![
        track(1, "video/VP8", "alice", "Alice"),
        track(2, "audio/opus", "alice", ""),
    ];
    let port = worker.start(json!({
        "type": "start", "egress_id": "EG_slow", "kind": "composite",
        "outputs": {"file": path}, "tracks": tracks,
    }));
    const SECS: u32 = 14;
    let sender = FlashSender::start(1, 2, SECS, port);
    worker.expect("active", Duration::from_secs(5));
    sender.wait(Duration::from_secs(SECS as u64 + 5));
    std::thread::sleep(Duration::from_millis(500));
    worker.stop();
    let log = std::fs::read_to_string(&worker.stderr_path).unwrap_or_default();

    // Alice's tile fills the 16:9 canvas; look at its middle, clear of her name.
    let lumas = frame_lumas(&path, (160, 90), (60, 25, 40, 30));
    let flashes: Vec<f64> = lumas
        .windows(2)
        .filter(|w| w[0].1 < 120.0 && w[1].1 >= 120.0)
        .map(|w| w[1].0)
        .collect();
    let beeps = sound_onsets(&path);
    // A beep at the sound's very first moment has no quiet before it and is not heard as an
    // onset; its flash is left out rather than paired with the next second's beep.
    let heard = |f: f64| {
        beeps.first().is_some_and(|&b| f >= b - 0.5) && beeps.last().is_some_and(|&b| f <= b + 0.5)
    };
    let mut offsets: Vec<f64> = flashes
        .iter()
        .filter(|&&f| heard(f))
        .filter_map(|&f| {
            beeps
                .iter()
                .map(|&b| f - b)
                .min_by(|a, b| a.abs().total_cmp(&b.abs()))
        })
        .collect();
    offsets.sort_by(f64::total_cmp);
    eprintln!(
        "{} flashes, {} beeps; picture minus sound (ms): {:?}",
        flashes.len(),
        beeps.len(),
        offsets.iter().map(|o| (o * 1000.0).round() as i64).collect::<Vec<_>>()
    );
    let skips = log.matches("skipping to the next keyframe").count();
    eprintln!("the worker skipped to a keyframe {skips} times");
    if let Some(dir) = std::env::var_os("HUIYI_ARTIFACTS") {
        let _ = std::fs::copy(&path, std::path::Path::new(&dir).join("egress-slow-decoder.mp4"));
    }
    assert!(beeps.len() >= 10, "beeps heard: {beeps:?}");
    assert!(
        offsets.len() >= 8,
        "flashes seen: {flashes:?}, beeps: {beeps:?}"
    );
    // Nearest beeps are a second apart, so a picture trailing by a growing lag shows as offsets
    // anywhere within ±0.5 s: the median size of the offset, not its sign, tells.
    let mut sizes: Vec<f64> = offsets.iter().map(|o| o.abs()).collect();
    sizes.sort_by(f64::total_cmp);
    let median = sizes[sizes.len() / 2];
    assert!(
        median < 0.1,
        "the picture's median distance from its sound is {:.0} ms: {offsets:?}",
        median * 1000.0
    );
    // Every flash shown is near its own beep: none trails by a second's fraction.
    let worst = offsets.iter().fold(0.0f64, |m, o| m.max(o.abs()));
    assert!(worst < 0.2, "a flash {:.0} ms from its beep: {offsets:?}", worst * 1000.0);
    assert!(skips >= 1, "the decoder kept up after all: the test slowed nothing");
}
