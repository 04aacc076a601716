//! Test harness: the real `huiyi-egress` binary driven over its stdin/stdout, real RTP from
//! `gst-launch-1.0` senders, and `ffprobe`/`ffmpeg` to check what was written. Everything lives in
//! a tempdir that is removed at the end, and every wait is bounded.

#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The tests encode video on a 2-core machine: one at a time keeps their timing honest.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running worker.
pub struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    /// Every report seen so far, in order.
    pub seen: Vec<Value>,
    pub stderr_path: PathBuf,
}

impl Worker {
    pub fn spawn(dir: &Path, env: &[(&str, &str)]) -> Worker {
        let stderr_path = dir.join("worker.log");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_huiyi-egress"));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .env("RUST_LOG", "debug");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stdout line {line:?} is not JSON: {e}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Worker {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            stderr_path,
        }
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    pub fn send_json(&mut self, value: &Value) {
        self.send(&value.to_string());
    }

    /// Closes stdin (the server died).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next report of `kind`, skipping (and keeping) others.
    pub fn expect(&mut self, kind: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if v["type"] == kind {
                        return v;
                    }
                }
                Err(_) => panic!(
                    "no {kind:?} within {timeout:?}; seen {:?}\n{}",
                    self.seen,
                    self.log_tail()
                ),
            }
        }
    }

    /// Starts a job and returns the RTP port from `ready`.
    pub fn start(&mut self, start: Value) -> u16 {
        self.send_json(&start);
        let ready = self.expect("ready", Duration::from_secs(10));
        ready["port"].as_u64().expect("ready has a port") as u16
    }

    /// Sends stop and returns the `done` line.
    pub fn stop(&mut self) -> Value {
        self.send(r#"{"type":"stop"}"#);
        let done = self.expect("done", Duration::from_secs(15));
        assert_eq!(
            self.wait(Duration::from_secs(5)),
            Some(0),
            "exit code after done"
        );
        done
    }

    /// The exit code, or None if it had to be killed.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "--- worker stderr (tail) ---\n{}",
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `gst-launch-1.0` process sending RTP; `PORT` in the description is replaced.
pub struct Sender(Child);

impl Sender {
    pub fn start(description: &str, port: u16) -> Sender {
        let description = description.replace("PORT", &port.to_string());
        let child = Command::new("gst-launch-1.0")
            .arg("-q")
            .args(description.split_whitespace())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Sender(child)
    }

    /// Waits for the sender to finish (its sources have `num-buffers`).
    pub fn wait(mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.0.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sender still running after {timeout:?}");
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `seconds` of 640x360 VP8 at 30 fps, as SSRC `ssrc`, PT 96.
pub fn vp8(ssrc: u32, seconds: u32) -> String {
    format!(
        "videotestsrc is-live=true num-buffers={} ! video/x-raw,width=640,height=360,framerate=30/1 \
         ! vp8enc deadline=1 ! rtpvp8pay pt=96 ssrc={ssrc} ! udpsink host=127.0.0.1 port=PORT",
        seconds * 30
    )
}

/// `seconds` of a 320x180 VP8 picture of one `colour` (a `videotestsrc` pattern: `red`,
/// `green`, `blue`, `white`…) at 30 fps, as SSRC `ssrc`, PT 96. Small: several run at once.
pub fn vp8_colour(ssrc: u32, seconds: u32, colour: &str) -> String {
    vp8_colour_as(ssrc, seconds, colour, (320, 180), 30)
}

/// [`vp8_colour`] at another size, and at `fps` frames a second (a slow camera, or one a busy
/// browser throttles).
pub fn vp8_colour_as(
    ssrc: u32,
    seconds: u32,
    colour: &str,
    (width, height): (u32, u32),
    fps: u32,
) -> String {
    format!(
        "videotestsrc is-live=true pattern={colour} num-buffers={} ! video/x-raw,width={width},height={height},framerate={fps}/1 \
         ! vp8enc deadline=1 ! rtpvp8pay pt=96 ssrc={ssrc} ! udpsink host=127.0.0.1 port=PORT",
        seconds * fps
    )
}

/// `seconds` of 640x360 H.264 at 30 fps, PT 102.
pub fn h264(ssrc: u32, seconds: u32) -> String {
    format!(
        "videotestsrc is-live=true pattern=ball num-buffers={} ! video/x-raw,width=640,height=360,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! rtph264pay pt=102 ssrc={ssrc} config-interval=-1 \
         ! udpsink host=127.0.0.1 port=PORT",
        seconds * 30
    )
}

/// `seconds` of stereo Opus in 20 ms frames, PT 111.
pub fn opus(ssrc: u32, seconds: u32, freq: u32) -> String {
    format!(
        "audiotestsrc is-live=true freq={freq} samplesperbuffer=960 num-buffers={} ! audio/x-raw,rate=48000,channels=2 \
         ! opusenc ! rtpopuspay pt=111 ssrc={ssrc} ! udpsink host=127.0.0.1 port=PORT",
        seconds * 50
    )
}

pub fn track(ssrc: u32, mime: &str, identity: &str, name: &str) -> Value {
    let pt = match mime {
        "video/VP8" => 96,
        "video/H264" => 102,
        _ => 111,
    };
    let source = if mime.starts_with("video") {
        "camera"
    } else {
        "microphone"
    };
    json!({"ssrc": ssrc, "pt": pt, "mime": mime, "track_sid": format!("TR_{ssrc}"),
           "participant_identity": identity, "participant_name": name, "source": source})
}

/// A `track_added` line for `track`.
pub fn added(mut track: Value) -> Value {
    track["type"] = json!("track_added");
    track
}

/// `ffprobe -show_streams -show_format` as JSON.
pub fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn codecs(probe: &Value) -> Vec<String> {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap_or("?").to_string())
        .collect()
}

pub fn duration_s(probe: &Value) -> f64 {
    probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0)
}

/// Decodes the whole file; returns (ffmpeg succeeded, seconds of video decoded).
pub fn decode(path: &Path) -> (bool, f64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames,r_frame_rate",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    let probe: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let frames: f64 = probe["streams"][0]["nb_read_frames"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .status()
        .unwrap()
        .success();
    (ok, frames / 30.0)
}

/// The `w`x`h` rectangle at (`x`,`y`) of the frame at `t` seconds, as raw `pix_fmt` bytes.
fn crop_frame(
    path: &Path,
    t: f64,
    (x, y, w, h): (u32, u32, u32, u32),
    pix_fmt: &str,
) -> std::process::Output {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &t.to_string(), "-i"])
        .arg(path)
        .args([
            "-frames:v",
            "1",
            "-vf",
            &format!("crop={w}:{h}:{x}:{y}"),
            "-f",
            "rawvideo",
            "-pix_fmt",
            pix_fmt,
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "no frame at {t} s: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every video frame of the file through the filter `vf`, as raw `pix_fmt` bytes on stdout
/// (ffmpeg's log, at the level `options` set, on stderr); panics if the file does not decode.
fn raw_frames(path: &Path, options: &[&str], vf: &str, pix_fmt: &str) -> std::process::Output {
    let out = Command::new("ffmpeg")
        .args(options)
        .arg("-i")
        .arg(path)
        .args(["-map", "0:v:0", "-fps_mode", "passthrough", "-vf", vf])
        .args(["-f", "rawvideo", "-pix_fmt", pix_fmt, "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "decoding {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every video frame of the file, scaled to `w`x`h`, as rgb24 bytes (one `Vec` a frame).
pub fn all_frames(path: &Path, (w, h): (u32, u32)) -> Vec<Vec<u8>> {
    let out = raw_frames(path, &["-v", "error"], &format!("scale={w}:{h}:flags=area"), "rgb24");
    out.stdout
        .chunks_exact((w * h * 3) as usize)
        .map(<[u8]>::to_vec)
        .collect()
}

/// Mean red, green and blue of the `w`x`h` rectangle at (`x`,`y`) of an rgb24 frame `width` wide.
pub fn frame_mean_rgb(frame: &[u8], width: u32, (x, y, w, h): (u32, u32, u32, u32)) -> [f64; 3] {
    let mut sum = [0.0; 3];
    for row in y..y + h {
        for col in x..x + w {
            let i = ((row * width + col) * 3) as usize;
            for (s, &c) in sum.iter_mut().zip(&frame[i..i + 3]) {
                *s += f64::from(c);
            }
        }
    }
    sum.map(|s| s / f64::from(w * h))
}

/// Mean luma (0..255) of the `w`x`h` rectangle at (`x`,`y`) in the frame at `t` seconds.
pub fn mean_luma(path: &Path, t: f64, (x, y, w, h): (u32, u32, u32, u32)) -> f64 {
    let out = crop_frame(path, t, (x, y, w, h), "gray");
    out.stdout.iter().map(|&b| f64::from(b)).sum::<f64>() / out.stdout.len() as f64
}

/// Mean red, green and blue (0..255) of the `w`x`h` rectangle at (`x`,`y`) in the frame at `t`
/// seconds.
pub fn mean_rgb(path: &Path, t: f64, (x, y, w, h): (u32, u32, u32, u32)) -> [f64; 3] {
    let out = crop_frame(path, t, (x, y, w, h), "rgb24");
    let pixels = out.stdout.len() / 3;
    let mut sum = [0.0; 3];
    for rgb in out.stdout.chunks_exact(3) {
        for (s, &c) in sum.iter_mut().zip(rgb) {
            *s += f64::from(c);
        }
    }
    sum.map(|s| s / pixels as f64)
}

/// The mean volume (dB) of the file's sound through a narrow band-pass at `hz`: how loud one
/// tone is in a mix.
pub fn tone_volume_db(path: &Path, hz: u32) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "info", "-nostats", "-i"])
        .arg(path)
        .args([
            "-map",
            "0:a:0",
            "-af",
            &format!("bandpass=f={hz}:width_type=q:w=30,volumedetect"),
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    let log = String::from_utf8_lossy(&out.stderr);
    log.lines()
        .find_map(|l| l.split("mean_volume:").nth(1))
        .and_then(|v| v.trim().trim_end_matches("dB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no mean_volume for {hz} Hz in {}: {log}", path.display()))
}

/// The share (0..1) of the area's pixels that are light grey to white (every channel over
/// 100), as the letters of a name drawn on a tile are and a pure red, green or blue picture
/// never is, in the frame at `t` seconds.
pub fn light_share(path: &Path, t: f64, area: (u32, u32, u32, u32)) -> f64 {
    let out = crop_frame(path, t, area, "rgb24");
    let pixels = out.stdout.chunks_exact(3);
    let total = pixels.len().max(1);
    pixels.filter(|p| p.iter().all(|&c| c > 100)).count() as f64 / total as f64
}

/// The colour a mean RGB is: `red`, `green`, `blue`, `white` or `black`, or `mixed` for anything
/// else.
pub fn colour_name([r, g, b]: [f64; 3]) -> &'static str {
    let only = |c: f64, others: [f64; 2]| c > 150.0 && others.iter().all(|&o| o < 90.0);
    if only(r, [g, b]) {
        "red"
    } else if only(g, [r, b]) {
        "green"
    } else if only(b, [r, g]) {
        "blue"
    } else if r > 200.0 && g > 200.0 && b > 200.0 {
        "white"
    } else if r < 40.0 && g < 40.0 && b < 40.0 {
        "black"
    } else {
        "mixed"
    }
}

/// Freezes process `pid` (SIGSTOP) for `frozen` of every `period`, for `for_how_long`, the way
/// a CPU quota throttles a busy machine's processes; the thread stops, and the process runs
/// again (SIGCONT), when the returned value is dropped or the time is up.
pub fn throttle(pid: u32, frozen: Duration, period: Duration, for_how_long: Duration) -> Throttle {
    let until = Instant::now() + for_how_long;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let signal = move |name: &str| {
        let _ = Command::new("kill").args([name, &pid.to_string()]).status();
    };
    let thread = std::thread::spawn(move || {
        while Instant::now() < until && !flag.load(std::sync::atomic::Ordering::SeqCst) {
            signal("-STOP");
            std::thread::sleep(frozen);
            signal("-CONT");
            std::thread::sleep(period.saturating_sub(frozen));
        }
        signal("-CONT");
    });
    Throttle(stop, Some(thread))
}

pub struct Throttle(
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    Option<std::thread::JoinHandle<()>>,
);

impl Drop for Throttle {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.1.take() {
            let _ = t.join();
        }
    }
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on 127.0.0.1:`port` (read from /proc, so no connection is made).
pub fn wait_listening(port: u16, timeout: Duration) {
    let needle = format!("0100007F:{port:04X}");
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        if table
            .lines()
            .any(|l| l.contains(&needle) && l.split_whitespace().nth(3) == Some("0A"))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {port} after {timeout:?}");
}

/// A camera and microphone in one GStreamer pipeline, in this process, on one clock: the
/// picture flashes white for the first 100 ms of every second and the sound beeps (1 kHz) for
/// the same 100 ms, so in a recording each flash should start with its beep. VP8 at 30 fps
/// with a keyframe every half second (SSRC `video_ssrc`, PT 96), Opus in 20 ms frames
/// (`audio_ssrc`, PT 111), both to 127.0.0.1:`port`, for `seconds`.
pub struct FlashSender(gst::Pipeline);

impl FlashSender {
    pub fn start(video_ssrc: u32, audio_ssrc: u32, seconds: u32, port: u16) -> FlashSender {
        use gst::prelude::*;
        gst::init().unwrap();
        let description = format!(
            "videotestsrc name=v is-live=true pattern=black num-buffers={frames} \
             ! video/x-raw,format=GRAY8,width=320,height=180,framerate=30/1 ! videoconvert \
             ! vp8enc deadline=1 keyframe-max-dist=15 ! rtpvp8pay pt=96 ssrc={video_ssrc} \
             ! udpsink host=127.0.0.1 port={port} \
             audiotestsrc is-live=true wave=ticks freq=1000 sine-periods-per-tick=100 volume=0.6 \
             samplesperbuffer=960 num-buffers={blocks} ! audio/x-raw,rate=48000,channels=2 \
             ! opusenc ! rtpopuspay pt=111 ssrc={audio_ssrc} ! udpsink host=127.0.0.1 port={port}",
            frames = seconds * 30,
            blocks = seconds * 50,
        );
        let pipeline = gst::parse::launch(&description)
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let camera = pipeline.by_name("v").unwrap().static_pad("src").unwrap();
        camera.add_probe(gst::PadProbeType::BUFFER, |_, info| {
            if let Some(gst::PadProbeData::Buffer(ref mut buffer)) = info.data {
                let pts = buffer.pts().map_or(0, |t| t.nseconds());
                let flash = pts % 1_000_000_000 < 100_000_000;
                if let Ok(mut map) = buffer.make_mut().map_writable() {
                    map.fill(if flash { 235 } else { 40 });
                }
            }
            gst::PadProbeReturn::Ok
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        FlashSender(pipeline)
    }

    /// Waits for the end of both streams.
    pub fn wait(self, timeout: Duration) {
        use gst::prelude::*;
        let bus = self.0.bus().unwrap();
        let message = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        match message.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => {}
            other => panic!("the flash sender did not finish: {other:?}"),
        }
    }
}

impl Drop for FlashSender {
    fn drop(&mut self) {
        use gst::prelude::*;
        let _ = self.0.set_state(gst::State::Null);
    }
}

/// Every video frame's time (s, on the file's timeline) and the mean luma of its `w`x`h`
/// rectangle at (`x`, `y`) of the picture scaled to `size`.
pub fn frame_lumas(path: &Path, size: (u32, u32), area: (u32, u32, u32, u32)) -> Vec<(f64, f64)> {
    let (sw, sh) = size;
    let out = raw_frames(
        path,
        &["-v", "info", "-nostats", "-copyts"],
        &format!("scale={sw}:{sh}:flags=area,showinfo"),
        "gray",
    );
    let times: Vec<f64> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("Parsed_showinfo") && l.contains(" n:"))
        .filter_map(|l| l.split("pts_time:").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    let frames: Vec<&[u8]> = out.stdout.chunks_exact((sw * sh) as usize).collect();
    assert_eq!(times.len(), frames.len(), "showinfo lines and frames");
    let (x, y, w, h) = area;
    times
        .into_iter()
        .zip(frames)
        .map(|(t, frame)| {
            let mut sum = 0.0;
            for row in y..y + h {
                for col in x..x + w {
                    sum += f64::from(frame[(row * sw + col) as usize]);
                }
            }
            (t, sum / f64::from(w * h))
        })
        .collect()
}

/// The times (s, on the file's timeline) at which a loud sound starts after at least 300 ms of
/// quiet, in 5 ms steps.
pub fn sound_onsets(path: &Path) -> Vec<f64> {
    const RATE: usize = 8000;
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=start_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    let start: f64 = String::from_utf8_lossy(&probe.stdout).trim().parse().unwrap_or(0.0);
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-ac", "1", "-ar", &RATE.to_string(), "-f", "s16le", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "decoding the sound: {}", String::from_utf8_lossy(&out.stderr));
    let samples: Vec<f64> = out
        .stdout
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    let step = RATE / 200;
    let mut onsets = Vec::new();
    let mut quiet = 0;
    for (i, window) in samples.chunks(step).enumerate() {
        let rms = (window.iter().map(|s| s * s).sum::<f64>() / window.len() as f64).sqrt();
        if rms > 2000.0 {
            if quiet >= 60 {
                onsets.push(start + (i * step) as f64 / RATE as f64);
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    onsets
}
