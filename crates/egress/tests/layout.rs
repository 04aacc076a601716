//! The composite's layouts end to end: the real binary, cameras of one colour each, and the
//! recorded picture read back with ffmpeg to see who is large.

mod harness;

use std::time::Duration;

use harness::*;
use serde_json::json;

/// A 720p composite in `speaker` layout with three cameras (alice red, bob green, carol blue):
/// once bob speaks he fills the left three quarters and the others sit small in the strip on the
/// right; `set_layout` to `grid` then shows all three as equal tiles.
#[test]
fn speaker_layout_enlarges_the_speaker_and_set_layout_returns_to_grid() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("speaker.mp4");
    let mut worker = Worker::spawn(dir.path(), &[]);
    let people = [
        (1, "alice", "red"),
        (2, "bob", "green"),
        (3, "carol", "blue"),
    ];
    let tracks: Vec<_> = people
        .iter()
        .map(|&(ssrc, identity, _)| track(ssrc, "video/VP8", identity, identity))
        .collect();
    let port = worker.start(json!({
        "type": "start", "egress_id": "EG_layout", "kind": "composite",
        "outputs": {"file": path}, "tracks": tracks, "layout": "speaker",
    }));
    const SECS: u32 = 7;
    let senders: Vec<Sender> = people
        .iter()
        .map(|&(ssrc, _, colour)| Sender::start(&vp8_colour(ssrc, SECS, colour), port))
        .collect();
    worker.expect("active", Duration::from_secs(5));
    worker.send(r#"{"type":"speakers","identities":["bob"]}"#);
    // The file starts about when `active` is reported: its first ~3 s are in `speaker`.
    std::thread::sleep(Duration::from_secs(3));
    worker.send(r#"{"type":"set_layout","layout":"grid"}"#);
    for s in senders {
        s.wait(Duration::from_secs(SECS as u64 + 5));
    }
    worker.stop();
    let duration = duration_s(&ffprobe(&path));
    assert!(duration > 5.0, "only {duration} s recorded");

    // At 2 s: bob large (960×720 on the left), alice then carol in the strip (320×180 places,
    // centred from y = 180), nothing above them. Areas avoid the names drawn at bottom-left.
    let speaker_at = 2.0;
    let areas = [
        ("bob, large", (300, 200, 400, 250), "green"),
        ("alice, in the strip", (1000, 210, 200, 100), "red"),
        ("carol, in the strip", (1000, 390, 200, 100), "blue"),
        ("above the strip", (1000, 20, 200, 120), "black"),
    ];
    check(&path, speaker_at, &areas);

    // Near the end, in grid: 2×2 cells of 640×360, carol centred in the second row.
    let grid_at = duration - 0.5;
    let areas = [
        ("alice, top left", (100, 80, 400, 200), "red"),
        ("bob, top right", (740, 80, 400, 200), "green"),
        ("carol, bottom centre", (440, 420, 400, 200), "blue"),
    ];
    check(&path, grid_at, &areas);
}

/// What is in an area, the area (x, y, width, height), and the colour it should be.
type Expected<'a> = (&'a str, (u32, u32, u32, u32), &'a str);

/// Asserts the colour of each named area of the frame at `t`.
fn check(path: &std::path::Path, t: f64, areas: &[Expected]) {
    for &(what, area, want) in areas {
        let rgb = mean_rgb(path, t, area);
        eprintln!("{t:.1} s, {what}: {rgb:.0?}");
        assert_eq!(
            colour_name(rgb),
            want,
            "{what} at {t:.1} s: mean RGB {rgb:.0?}"
        );
    }
}
