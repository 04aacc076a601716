//! The worker end to end: the real binary, real RTP from GStreamer senders, files checked with
//! ffprobe/ffmpeg. Tests run one at a time (see `harness::serial`), each bounded in time.

mod harness;

use std::time::Duration;

use harness::*;
use serde_json::{json, Value};

const SECS: u32 = 3;

fn start(kind: &str, outputs: Value, tracks: Vec<Value>) -> Value {
    json!({"type": "start", "egress_id": "EG_test", "kind": kind, "outputs": outputs, "tracks": tracks})
}

/// Records one track for [`SECS`] seconds and returns the file's ffprobe.
fn record_track(file: &str, mime: &str, sender: String) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    let mut worker = Worker::spawn(dir.path(), &[]);
    let port = worker.start(start(
        "track",
        json!({"file": path}),
        vec![track(1111, mime, "alice", "Alice")],
    ));
    let sending = Sender::start(&sender, port);
    worker.expect("active", Duration::from_secs(5));
    sending.wait(Duration::from_secs(SECS as u64 + 5));
    let done = worker.stop();
    let reported = &done["files"][0];
    assert_eq!(reported["path"], json!(path));
    assert_eq!(
        reported["size"].as_u64(),
        Some(std::fs::metadata(&path).unwrap().len())
    );
    let ms = reported["duration_ms"].as_u64().unwrap();
    assert!(
        (ms as f64 / 1000.0 - SECS as f64).abs() < 1.0,
        "reported duration {ms} ms"
    );
    ffprobe(&path)
}

#[test]
fn track_vp8_to_webm_and_bad_lines_are_ignored() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cam.webm");
    let mut worker = Worker::spawn(dir.path(), &[]);
    let port = worker.start(start(
        "track",
        json!({"file": path, "rtmp": [], "hls": null}),
        vec![track(1111, "video/VP8", "a", "A")],
    ));
    let sending = Sender::start(&vp8(1111, SECS), port);
    // The depayloader waits for a keyframe and asks for one.
    assert_eq!(
        worker.expect("keyframe", Duration::from_secs(5))["ssrc"],
        1111
    );
    worker.send("this is not json");
    worker.send(r#"{"type":"explode"}"#);
    worker.send(r#"{"type":"track_removed","ssrc":"x"}"#);
    worker.send("");
    worker.expect("active", Duration::from_secs(5));
    sending.wait(Duration::from_secs(SECS as u64 + 5));
    worker.stop();
    let probe = ffprobe(&path);
    assert_eq!(codecs(&probe), ["vp8"]);
    assert_eq!(probe["streams"][0]["width"], 640);
    assert!(
        (duration_s(&probe) - SECS as f64).abs() < 1.0,
        "duration {}",
        duration_s(&probe)
    );
}

/// A camera that loses packets makes the worker ask for a keyframe (the depayloader sees the
/// gap), not only at the start: with 5% of its packets dropped, requests keep coming; the same
/// camera without loss asks once or twice at the start and then never again.
#[test]
fn packet_loss_asks_for_keyframes() {
    let _serial = serial();
    let mut counts = Vec::new();
    for drop in [0.0, 0.05] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lossy.webm");
        let mut worker = Worker::spawn(dir.path(), &[]);
        let port = worker.start(start("track", json!({"file": path}), vec![track(1111, "video/VP8", "a", "A")]));
        // Keyframes only every 10 s of their own accord, so that every later one is asked for.
        let sender = format!(
            "videotestsrc is-live=true pattern=ball num-buffers=150 ! video/x-raw,width=640,height=360,framerate=30/1 \
             ! vp8enc deadline=1 keyframe-max-dist=300 ! rtpvp8pay pt=96 ssrc=1111 mtu=400 \
             ! identity drop-probability={drop} ! udpsink host=127.0.0.1 port=PORT"
        );
        let sending = Sender::start(&sender, port);
        worker.expect("active", Duration::from_secs(5));
        sending.wait(Duration::from_secs(10));
        worker.stop();
        let asked = worker.seen.iter().skip_while(|r| r["type"] != "active").filter(|r| r["type"] == "keyframe").count();
        counts.push(asked);
    }
    eprintln!("keyframe requests after the start: {counts:?} (clean, 5% loss)");
    assert_eq!(counts[0], 0, "a clean camera asked again: {counts:?}");
    assert!(counts[1] >= 2, "a lossy camera asked {} times: {counts:?}", counts[1]);
}

#[test]
fn track_opus_to_ogg() {
    let _serial = serial();
    let probe = record_track("mic.ogg", "audio/opus", opus(1111, SECS, 440));
    assert_eq!(codecs(&probe), ["opus"]);
    assert!(
        (duration_s(&probe) - SECS as f64).abs() < 1.0,
        "duration {}",
        duration_s(&probe)
    );
}

#[test]
fn track_h264_to_mp4() {
    let _serial = serial();
    let probe = record_track("cam.mp4", "video/H264", h264(1111, SECS));
    assert_eq!(codecs(&probe), ["h264"]);
    assert!(
        (duration_s(&probe) - SECS as f64).abs() < 1.0,
        "duration {}",
        duration_s(&probe)
    );
}

/// Two cameras (VP8 from the start, H.264 added later) and two microphones → one 720p H.264 + AAC.
#[test]
fn composite_mixes_two_videos_and_two_audios() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meeting.mp4");
    let mut worker = Worker::spawn(dir.path(), &[]);
    let tracks = vec![
        track(1, "video/VP8", "alice", "爱丽丝"),
        track(2, "audio/opus", "alice", ""),
    ];
    let port = worker.start(start("composite", json!({"file": path}), tracks));
    let senders = [
        Sender::start(&vp8(1, SECS), port),
        Sender::start(&opus(2, SECS, 440), port),
        Sender::start(&h264(3, SECS), port),
        Sender::start(&opus(4, SECS, 880), port),
    ];
    worker.send_json(&added(track(3, "video/H264", "bob", "Bob")));
    worker.send_json(&added(track(4, "audio/opus", "bob", "")));
    worker.send(r#"{"type":"speakers","identities":["bob","alice"]}"#);
    worker.expect("active", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1300));
    // Bob's camera leaves: alice's tile takes the whole canvas; his packets are dropped.
    worker.send(r#"{"type":"track_removed","ssrc":3}"#);
    for s in senders {
        s.wait(Duration::from_secs(SECS as u64 + 5));
    }
    worker.stop();
    let probe = ffprobe(&path);
    let mut codecs = codecs(&probe);
    codecs.sort();
    assert_eq!(codecs, ["aac", "h264"]);
    let video = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_name"] == "h264")
        .unwrap();
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(1280), Some(720))
    );
    assert!(
        (duration_s(&probe) - SECS as f64).abs() < 1.0,
        "duration {}",
        duration_s(&probe)
    );
    // The pictures made it: alice's colour bars on the left of a two-tile gallery, bob's ball
    // (mostly black) on the right; after bob left, alice's bars fill the right half too.
    let left = (100, 250, 400, 200);
    let right = (740, 250, 400, 200);
    let before = (mean_luma(&path, 0.9, left), mean_luma(&path, 0.9, right));
    let after = mean_luma(&path, duration_s(&probe) - 0.3, right);
    eprintln!(
        "luma: left {:.0}, right {:.0}, right after removal {after:.0}",
        before.0, before.1
    );
    assert!(
        before.0 > 60.0 && before.1 < 40.0,
        "two tiles expected, luma {before:?}"
    );
    assert!(after > 60.0, "alice alone expected, luma {after}");
    // Both microphones are in the mix: alice's 440 Hz and bob's 880 Hz each stand well above a
    // band where nobody sounds.
    let (a, b, none) = (tone_volume_db(&path, 440), tone_volume_db(&path, 880), tone_volume_db(&path, 2500));
    eprintln!("mix: 440 Hz {a:.1} dB, 880 Hz {b:.1} dB, 2500 Hz {none:.1} dB");
    assert!(a > none + 20.0 && b > none + 20.0, "440 Hz {a} dB, 880 Hz {b} dB, silence {none} dB");
}

/// A worker killed mid-recording leaves a fragmented MP4 that decodes up to the cut.
#[test]
fn composite_killed_leaves_a_playable_file() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.mp4");
    let mut worker = Worker::spawn(dir.path(), &[]);
    let port = worker.start(start(
        "composite",
        json!({"file": path}),
        vec![track(1, "video/VP8", "a", "A")],
    ));
    let _sending = Sender::start(&vp8(1, 10), port);
    worker.expect("active", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(3000));
    worker.kill9();
    let (ok, seconds) = decode(&path);
    assert!(ok, "ffmpeg fails on the cut file");
    assert!(seconds > 1.0, "only {seconds} s decode");
}

/// Pause drops the paused span from the file: 1 s + (pause 2 s) + 2 s of wall time → ~3 s.
#[test]
fn composite_pause_leaves_no_gap() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paused.mp4");
    let mut worker = Worker::spawn(dir.path(), &[]);
    let port = worker.start(start(
        "composite",
        json!({"file": path}),
        vec![track(1, "video/VP8", "a", "A")],
    ));
    let sending = Sender::start(&vp8(1, 5), port);
    worker.expect("active", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1000));
    worker.send(r#"{"type":"pause"}"#);
    std::thread::sleep(Duration::from_millis(2000));
    worker.send(r#"{"type":"resume"}"#);
    sending.wait(Duration::from_secs(8));
    let done = worker.stop();
    let probe = ffprobe(&path);
    let reported = done["files"][0]["duration_ms"].as_u64().unwrap() as f64 / 1000.0;
    let wall = 5.0;
    assert!(
        duration_s(&probe) < wall - 1.0,
        "file {} s: the pause is still in",
        duration_s(&probe)
    );
    assert!(
        (duration_s(&probe) - reported).abs() < 0.5,
        "file {} s, reported {reported} s",
        duration_s(&probe)
    );
    let (ok, seconds) = decode(&path);
    assert!(
        ok && (seconds - duration_s(&probe)).abs() < 0.5,
        "decoded {seconds} s"
    );
}

/// Composite to a file, then to a local RTMP server (ffmpeg listening) added and removed at run
/// time with add_stream / remove_stream.
#[test]
fn composite_streams_to_rtmp_added_at_run_time() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let rtmp_port = free_port();
    let url = format!("rtmp://127.0.0.1:{rtmp_port}/live/key");
    let flv = dir.path().join("received.flv");
    let mut server = std::process::Command::new("ffmpeg")
        .args([
            "-v", "error", "-listen", "1", "-i", &url, "-c", "copy", "-y",
        ])
        .arg(&flv)
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(rtmp_port, Duration::from_secs(5));
    let mut worker = Worker::spawn(dir.path(), &[]);
    let file = dir.path().join("rec.mp4");
    let tracks = vec![
        track(1, "video/VP8", "a", "A"),
        track(2, "audio/opus", "a", ""),
    ];
    let port = worker.start(start("composite", json!({"file": file}), tracks));
    let senders = [
        Sender::start(&vp8(1, SECS + 1), port),
        Sender::start(&opus(2, SECS + 1, 440), port),
    ];
    worker.expect("active", Duration::from_secs(5));
    worker.send_json(&json!({"type": "add_stream", "url": url}));
    let active = worker.expect("stream", Duration::from_secs(5));
    assert_eq!(
        (active["url"].as_str(), active["status"].as_str()),
        (Some(url.as_str()), Some("active"))
    );
    std::thread::sleep(Duration::from_secs(2));
    worker.send_json(&json!({"type": "remove_stream", "url": url}));
    let finished = worker.expect("stream", Duration::from_secs(5));
    assert_eq!(finished["status"], "finished");
    // The FLV ended cleanly: the server saw the stream end and exits by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = server.kill();
    for s in senders {
        s.wait(Duration::from_secs(SECS as u64 + 6));
    }
    worker.stop();
    let probe = ffprobe(&flv);
    let mut codecs = codecs(&probe);
    codecs.sort();
    assert_eq!(codecs, ["aac", "h264"]);
    assert!(duration_s(&probe) > 1.0, "flv of {} s", duration_s(&probe));
    let recorded = duration_s(&ffprobe(&file));
    assert!(
        (recorded - (SECS + 1) as f64).abs() < 1.0,
        "the file kept recording: {recorded} s for {} s sent",
        SECS + 1
    );
}

/// An RTMP URL where nobody listens fails that stream only; the file completes.
#[test]
fn unreachable_rtmp_fails_the_stream_not_the_job() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("rtmp://127.0.0.1:{}/live/key", free_port());
    let file = dir.path().join("rec.mp4");
    let mut worker = Worker::spawn(dir.path(), &[]);
    let port = worker.start(start(
        "composite",
        json!({"file": file, "rtmp": [url]}),
        vec![track(1, "video/VP8", "a", "A")],
    ));
    let sending = Sender::start(&vp8(1, SECS), port);
    let failed = worker.expect("stream", Duration::from_secs(10));
    assert_eq!(
        (failed["url"].as_str(), failed["status"].as_str()),
        (Some(url.as_str()), Some("failed"))
    );
    sending.wait(Duration::from_secs(SECS as u64 + 5));
    let done = worker.stop();
    assert_eq!(done["files"].as_array().map(Vec::len), Some(1));
    let probe = ffprobe(&file);
    assert!(
        (duration_s(&probe) - SECS as f64).abs() < 1.0,
        "duration {}",
        duration_s(&probe)
    );
    assert!(!worker.seen.iter().any(|v| v["type"] == "failed"));
}

/// HLS: a playlist and at least two segments that ffprobe reads.
#[test]
fn composite_to_hls() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let mut worker = Worker::spawn(dir.path(), &[]);
    let port = worker.start(start(
        "composite",
        json!({"hls": {"dir": live, "segment_s": 1}}),
        vec![track(1, "video/VP8", "a", "A")],
    ));
    let sending = Sender::start(&vp8(1, 4), port);
    worker.expect("active", Duration::from_secs(5));
    sending.wait(Duration::from_secs(9));
    worker.stop();
    let playlist = std::fs::read_to_string(live.join("index.m3u8")).unwrap();
    let segments: Vec<&str> = playlist.lines().filter(|l| l.ends_with(".ts")).collect();
    assert!(segments.len() >= 2, "playlist:\n{playlist}");
    for segment in segments {
        let probe = ffprobe(&live.join(segment));
        assert!(
            codecs(&probe).contains(&"h264".to_string()),
            "{segment}: {:?}",
            codecs(&probe)
        );
    }
}

#[test]
fn no_media_fails_the_job() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut worker = Worker::spawn(dir.path(), &[("HUIYI_EGRESS_NO_MEDIA_SECS", "1.5")]);
    let file = dir.path().join("never.webm");
    worker.start(start(
        "track",
        json!({"file": file}),
        vec![track(1, "video/VP8", "a", "A")],
    ));
    let failed = worker.expect("failed", Duration::from_secs(5));
    assert_eq!(failed["code"], "no_media");
    assert_eq!(worker.wait(Duration::from_secs(5)), Some(1));
}

/// max_duration_s ends the job by itself, with done and limit_reached.
#[test]
fn max_duration_stops_with_limit_reached() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("short.ogg");
    let mut worker = Worker::spawn(dir.path(), &[]);
    let mut start = start(
        "track",
        json!({"file": file}),
        vec![track(5, "audio/opus", "a", "A")],
    );
    start["max_duration_s"] = json!(2);
    let port = worker.start(start);
    let _sending = Sender::start(&opus(5, 6, 440), port);
    let done = worker.expect("done", Duration::from_secs(8));
    assert_eq!(done["limit_reached"], true);
    assert_eq!(worker.wait(Duration::from_secs(5)), Some(0));
    assert!(duration_s(&ffprobe(&file)) < 2.5);
}

#[test]
fn bad_start_is_refused_and_eof_stops_cleanly() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut worker = Worker::spawn(dir.path(), &[]);
    worker.send(
        r#"{"type":"start","egress_id":"E","kind":"track","outputs":{"file":"relative.webm"}}"#,
    );
    assert_eq!(
        worker.expect("failed", Duration::from_secs(5))["code"],
        "bad_request"
    );
    assert_eq!(worker.wait(Duration::from_secs(5)), Some(1));

    // stdin EOF after ready (the server died) finalises and exits 0.
    let mut worker = Worker::spawn(dir.path(), &[]);
    let file = dir.path().join("eof.ogg");
    let port = worker.start(start(
        "track",
        json!({"file": file}),
        vec![track(7, "audio/opus", "a", "A")],
    ));
    let sending = Sender::start(&opus(7, 2, 440), port);
    worker.expect("active", Duration::from_secs(5));
    sending.wait(Duration::from_secs(6));
    worker.close_stdin();
    worker.expect("done", Duration::from_secs(15));
    assert_eq!(worker.wait(Duration::from_secs(5)), Some(0));
    assert_eq!(codecs(&ffprobe(&file)), ["opus"]);
}

#[test]
fn self_test_writes_a_clip() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_huiyi-egress"))
        .arg("--self-test")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    let probe = ffprobe(&dir.path().join("self-test.mp4"));
    let mut codecs = codecs(&probe);
    codecs.sort();
    assert_eq!(codecs, ["aac", "h264"]);
    assert!((duration_s(&probe) - 2.0).abs() < 0.5);
}
