//! The worker's life: wait for `start`, build the pipeline, report `ready`, then react to control
//! lines, bus messages and a 250 ms tick until a stop (line, stdin EOF or signal), a limit or a
//! failure; finalise and report `done` or `failed`.
//!
//! Everything here runs on the main thread, which alone writes to stdout. Other threads only send
//! [`Event`]s (see `event.rs`).

use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::control::{
    parse_command, Command, FailCode, FileReport, JobKind, Report, Reporter, StreamStatus,
    TrackSpec,
};
use crate::event::{Event, EventSender};
use crate::job::{is_stream_url, layout_or_grid, Job};
use crate::keyframe;
use crate::pipeline::composite::Composite;
use crate::pipeline::outputs::{RtmpFlags, RtmpOutput};
use crate::pipeline::track::TrackRecording;
use crate::pipeline::BuildError;
use crate::rtp_in::Router;

const TICK: Duration = Duration::from_millis(250);
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// How long a stop waits for EOS to reach every sink before giving up on clean files.
const EOS_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for the picture to catch up with the sound before it ends both
/// (`Composite::cut_now`); part of [`EOS_TIMEOUT`].
const EOS_DRAIN: Duration = Duration::from_secs(3);
/// How much longer than [`EOS_TIMEOUT`] a stop may take before the watchdog ends the process.
const WATCHDOG_MARGIN: Duration = Duration::from_secs(5);
/// A stream is reported active this long after its first buffer, if it has not failed by then.
const STREAM_SETTLE: Duration = Duration::from_secs(1);
/// How long a removed stream gets to send its EOS before it is taken out.
const STREAM_CLOSE: Duration = Duration::from_secs(1);
/// `no_media` after this long without a single RTP packet; the environment variable shortens it
/// (tests).
const NO_MEDIA_DEFAULT: Duration = Duration::from_secs(20);
pub const NO_MEDIA_ENV: &str = "HUIYI_EGRESS_NO_MEDIA_SECS";
/// Longest control line read; longer ones are ignored.
const MAX_LINE: usize = 1 << 20;

/// Runs one job to its end; returns the process exit code (0 after `done`, 1 after `failed`).
pub fn run() -> i32 {
    let mut reporter = Reporter::stdout();
    let (events, rx) = EventSender::channel();
    spawn_stdin_reader(events.clone());
    spawn_signal_watcher(events.clone());
    let job = match wait_for_start(&rx) {
        Ok(job) => job,
        Err(error) => {
            reporter.send(&Report::Failed {
                code: FailCode::BadRequest,
                error,
            });
            return 1;
        }
    };
    if let Err(err) = gst::init() {
        reporter.send(&Report::Failed {
            code: FailCode::Pipeline,
            error: format!("GStreamer does not start: {err}"),
        });
        return 1;
    }
    // The job's id on every line the main thread logs: a server runs several workers, whose
    // logs meet in one place.
    let _job_span = tracing::info_span!("egress", id = %job.egress_id).entered();
    tracing::info!(kind = ?job.kind, layout = %job.layout, "starting");
    match Worker::build(job, events, reporter) {
        Ok(worker) => worker.run(rx),
        Err((mut reporter, err)) => {
            reporter.send(&Report::Failed {
                code: FailCode::Pipeline,
                error: err.to_string(),
            });
            1
        }
    }
}

fn wait_for_start(rx: &Receiver<Event>) -> Result<Job, String> {
    loop {
        match rx.recv() {
            Ok(Event::Line(line)) if line.trim().is_empty() => continue,
            Ok(Event::Line(line)) => {
                return match parse_command(&line) {
                    Ok(Command::Start(req)) => Job::from_request(req).map_err(|e| e.to_string()),
                    Ok(other) => Err(format!("the first line must be start, got {other:?}")),
                    Err(err) => Err(format!("bad start line: {err}")),
                };
            }
            Ok(Event::StdinClosed | Event::Signal(_)) | Err(_) => {
                return Err("stopped before start".into())
            }
            Ok(_) => continue,
        }
    }
}

fn spawn_stdin_reader(events: EventSender) {
    let spawned = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            use std::io::BufRead;
            let mut stdin = std::io::stdin().lock();
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match stdin.read_until(b'\n', &mut buf) {
                    Ok(0) => break,
                    Ok(_) if buf.len() > MAX_LINE => {
                        tracing::warn!(len = buf.len(), "control line too long; ignored")
                    }
                    Ok(_) => events.send(Event::Line(
                        String::from_utf8_lossy(&buf).trim_end().to_string(),
                    )),
                    Err(err) => {
                        tracing::warn!(%err, "stdin read failed; treating as EOF");
                        break;
                    }
                }
            }
            events.send(Event::StdinClosed);
        });
    if let Err(err) = spawned {
        tracing::error!(%err, "no stdin thread");
    }
}

fn spawn_signal_watcher(events: EventSender) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    match signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) {
        Ok(mut signals) => {
            let _ = std::thread::Builder::new()
                .name("signals".into())
                .spawn(move || {
                    for signal in signals.forever() {
                        events.send(Event::Signal(signal));
                    }
                });
        }
        Err(err) => tracing::warn!(%err, "cannot watch SIGTERM/SIGINT"),
    }
}

/// How a job ends.
enum Outcome {
    Stop { limit_reached: bool },
    Failed(FailCode, String),
}

enum Recorder {
    Track(TrackRecording),
    // Boxed: a composite holds far more than a track recording.
    Composite(Box<Composite>),
}

struct Worker {
    job: Job,
    pipeline: gst::Pipeline,
    recorder: Recorder,
    router: Router,
    events: EventSender,
    reporter: Reporter,
    keyframes: keyframe::Limiter,
    ready_at: Instant,
    no_media_after: Duration,
    output_flowing: bool,
    active_sent: bool,
    last_progress: Instant,
    /// Streams removed by `remove_stream`, sending their EOS; taken out of the pipeline and
    /// reported finished after [`STREAM_CLOSE`].
    closing: Vec<(RtmpOutput, Instant)>,
}

impl Worker {
    fn build(
        job: Job,
        events: EventSender,
        reporter: Reporter,
    ) -> Result<Worker, (Reporter, BuildError)> {
        macro_rules! try_build {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(err) => return Err((reporter, BuildError::from(err))),
                }
            };
        }
        if let Some(dir) = job.file.as_deref().and_then(Path::parent) {
            try_build!(std::fs::create_dir_all(dir));
        }
        let router = try_build!(Router::bind(events.clone()));
        let pipeline = gst::Pipeline::with_name(&job.egress_id);
        let (recorder, flags) = match job.kind {
            JobKind::Track => {
                let path = job
                    .file
                    .as_deref()
                    .expect("Job::from_request refuses a track job without a file");
                (
                    Recorder::Track(TrackRecording::new(&pipeline, path)),
                    RtmpFlags::default(),
                )
            }
            JobKind::Composite => {
                let composite = try_build!(Composite::build(&pipeline, &job, &events));
                let flags = composite.rtmp_flags.clone();
                (Recorder::Composite(Box::new(composite)), flags)
            }
        };
        if let Some(bus) = pipeline.bus() {
            let events = events.clone();
            bus.set_sync_handler(move |_, msg| {
                // Before anything else: a failing RTMP branch must stop being fed at once.
                flags.mark_failed(msg);
                events.send(Event::Bus(msg.clone()));
                gst::BusSyncReply::Drop
            });
        }
        let tracks: Vec<TrackSpec> = job.tracks.clone();
        let no_media_after = std::env::var(NO_MEDIA_ENV)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(NO_MEDIA_DEFAULT, Duration::from_secs_f64);
        let now = Instant::now();
        let mut worker = Worker {
            job,
            pipeline,
            recorder,
            router,
            events,
            reporter,
            keyframes: keyframe::Limiter::default(),
            ready_at: now,
            no_media_after,
            output_flowing: false,
            active_sent: false,
            last_progress: now,
            closing: Vec::new(),
        };
        for track in &tracks {
            if let Err(err) = worker.add_track(track) {
                return Err((worker.reporter, err));
            }
        }
        if let Err(err) = worker.pipeline.set_state(gst::State::Playing) {
            let _ = worker.pipeline.set_state(gst::State::Null);
            return Err((worker.reporter, err.into()));
        }
        let port = worker.router.port;
        worker.reporter.send(&Report::Ready { port });
        tracing::info!(port, "ready");
        Ok(worker)
    }

    fn run(mut self, rx: Receiver<Event>) -> i32 {
        let outcome = loop {
            let event = match rx.recv_timeout(TICK) {
                Ok(event) => Some(event),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    break Outcome::Stop {
                        limit_reached: false,
                    }
                }
            };
            if let Some(outcome) = event.and_then(|e| self.handle_event(e)) {
                break outcome;
            }
            if let Recorder::Composite(c) = &mut self.recorder {
                for (ssrc, width, height) in c.take_tile_sizes() {
                    self.reporter.send(&Report::VideoSize { ssrc, width, height });
                }
            }
            if let Some(outcome) = self.handle_tick(Instant::now()) {
                break outcome;
            }
        };
        match outcome {
            Outcome::Stop { limit_reached } => self.finish(&rx, limit_reached),
            Outcome::Failed(code, error) => self.fail(code, error),
        }
    }

    fn handle_event(&mut self, event: Event) -> Option<Outcome> {
        match event {
            Event::Line(line) if line.trim().is_empty() => None,
            Event::Line(line) => match parse_command(&line) {
                Ok(command) => self.handle_command(command),
                Err(err) => {
                    tracing::warn!(%err, line = %truncate(&line, 200), "bad control line ignored");
                    None
                }
            },
            Event::StdinClosed => {
                tracing::info!("stdin closed: stopping");
                Some(Outcome::Stop {
                    limit_reached: false,
                })
            }
            Event::Signal(signal) => {
                tracing::info!(signal, "signal: stopping");
                Some(Outcome::Stop {
                    limit_reached: false,
                })
            }
            Event::Bus(msg) => self.handle_bus(&msg),
            Event::KeyframeWanted(ssrc) => {
                if self.keyframes.allow(ssrc, Instant::now()) {
                    self.reporter.send(&Report::Keyframe { ssrc });
                }
                None
            }
            Event::OutputFlowing => {
                self.output_flowing = true;
                None
            }
            Event::StreamFlowing(url) => {
                if let Recorder::Composite(c) = &mut self.recorder {
                    if let Some(s) = c.streams.iter_mut().find(|s| s.url == url) {
                        s.first_buffer_at.get_or_insert_with(Instant::now);
                    }
                }
                None
            }
            Event::TrackDrained(ssrc) => {
                if let Recorder::Composite(c) = &mut self.recorder {
                    c.finish_removal(ssrc);
                }
                None
            }
            Event::SenderReport(ssrc, report) => {
                // A track recording keeps each track's own timing; only a mix needs lip sync.
                if let Recorder::Composite(c) = &mut self.recorder {
                    c.lipsync.on_report(ssrc, report);
                }
                None
            }
        }
    }

    fn handle_command(&mut self, command: Command) -> Option<Outcome> {
        match command {
            Command::Start(_) => tracing::warn!("a second start line ignored"),
            Command::TrackAdded(track) => {
                if let Err(err) = self.add_track(&track) {
                    tracing::error!(ssrc = track.ssrc, %err, "track not added");
                }
            }
            Command::TrackRemoved { ssrc } => {
                self.keyframes.forget(ssrc);
                match &mut self.recorder {
                    Recorder::Track(t) => t.remove_track(ssrc, &self.router),
                    Recorder::Composite(c) => c.remove_track(ssrc, &self.router),
                }
            }
            Command::Speakers { identities } => {
                if let Recorder::Composite(c) = &mut self.recorder {
                    c.set_speakers(identities);
                }
            }
            Command::SetLayout { layout } => match &mut self.recorder {
                Recorder::Composite(c) => c.set_layout(layout_or_grid(&layout)),
                Recorder::Track(_) => {
                    tracing::warn!(%layout, "a track job has no layout; set_layout ignored")
                }
            },
            Command::Pause => match &mut self.recorder {
                Recorder::Track(t) => t.pause(),
                Recorder::Composite(c) => c.file.iter().for_each(|f| f.pause()),
            },
            Command::Resume => match &mut self.recorder {
                Recorder::Track(t) => t.resume(&self.events),
                Recorder::Composite(c) => c.file.iter().for_each(|f| f.resume()),
            },
            Command::AddStream { url } => self.add_stream(&url),
            Command::RemoveStream { url } => {
                if let Recorder::Composite(c) = &mut self.recorder {
                    match c.take_stream(&url) {
                        Some(stream) => {
                            stream.finish();
                            self.closing.push((stream, Instant::now()));
                        }
                        None => tracing::warn!(%url, "remove_stream for a URL not streamed to"),
                    }
                }
            }
            Command::Stop => {
                return Some(Outcome::Stop {
                    limit_reached: false,
                })
            }
        }
        None
    }

    fn add_track(&mut self, track: &TrackSpec) -> Result<(), BuildError> {
        match &mut self.recorder {
            Recorder::Track(t) => t.add_track(track, &self.router, &self.events),
            Recorder::Composite(c) => c.add_track(track, &self.router, &self.events),
        }
    }

    fn add_stream(&mut self, url: &str) {
        let Recorder::Composite(c) = &mut self.recorder else {
            tracing::warn!(%url, "a track job does not stream; add_stream ignored");
            return;
        };
        if !is_stream_url(url) {
            self.reporter.send(&Report::Stream {
                url: url.to_string(),
                status: StreamStatus::Failed,
                error: Some("not an rtmp:// or rtmps:// URL".into()),
            });
            return;
        }
        if let Err(err) = c.add_stream(url, &self.events) {
            self.reporter.send(&Report::Stream {
                url: url.to_string(),
                status: StreamStatus::Failed,
                error: Some(err.to_string()),
            });
        }
    }

    fn handle_bus(&mut self, msg: &gst::Message) -> Option<Outcome> {
        use gst::MessageView;
        match msg.view() {
            MessageView::Error(err) => {
                let source = msg
                    .src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default();
                let text = format!("{}: {}", source, err.error());
                tracing::warn!(%text, debug = ?err.debug(), "pipeline error");
                if let Recorder::Composite(c) = &self.recorder {
                    if let Some(bin) = c.rtmp_flags.bin_of(msg) {
                        // A live stream fails; errors from a retired one are old news.
                        return match c.stream_url_by_bin(&bin) {
                            Some(url) => self.stream_failed(&url, err.error().to_string()),
                            None => None,
                        };
                    }
                }
                let no_space = err.error().matches(gst::ResourceError::NoSpaceLeft)
                    || text.contains("No space left")
                    || err
                        .debug()
                        .is_some_and(|d| d.contains("No space left") || d.contains("ENOSPC"));
                let code = if no_space {
                    FailCode::DiskFull
                } else {
                    FailCode::Pipeline
                };
                Some(Outcome::Failed(code, text))
            }
            MessageView::Warning(w) => {
                tracing::warn!(src = ?msg.src().map(|s| s.path_string()), warning = %w.error(), debug = ?w.debug(), "pipeline warning");
                None
            }
            MessageView::StateChanged(change) => {
                if msg
                    .src()
                    .is_some_and(|s| s == self.pipeline.upcast_ref::<gst::Object>())
                {
                    tracing::debug!(from = ?change.old(), to = ?change.current(), pending = ?change.pending(), "pipeline state");
                }
                None
            }
            MessageView::Latency(_) => {
                // The application's duty: without it the mixers keep the failed latency query of
                // the start (videotestsrc answers only once negotiated), think they are not live,
                // and wait for every input, forever for a camera with no keyframe yet.
                if let Err(err) = self.pipeline.recalculate_latency() {
                    tracing::debug!(%err, "latency not recalculated (yet)");
                }
                None
            }
            MessageView::AsyncStart(_) | MessageView::AsyncDone(_) => {
                tracing::debug!(src = ?msg.src().map(|s| s.path_string()), kind = ?msg.type_(), "bus");
                None
            }
            MessageView::Eos(_) => {
                tracing::warn!("the pipeline ended by itself");
                Some(Outcome::Stop {
                    limit_reached: false,
                })
            }
            _ => None,
        }
    }

    /// Takes a failed stream out of service; the job goes on while another output remains.
    fn stream_failed(&mut self, url: &str, error: String) -> Option<Outcome> {
        let Recorder::Composite(c) = &mut self.recorder else {
            return None;
        };
        if let Some(stream) = c.take_stream(url) {
            stream.retire();
        }
        self.reporter.send(&Report::Stream {
            url: url.to_string(),
            status: StreamStatus::Failed,
            error: Some(error.clone()),
        });
        let outputs_left =
            self.job.file.is_some() || self.job.hls.is_some() || !c.streams.is_empty();
        (!outputs_left)
            .then(|| Outcome::Failed(FailCode::RtmpUnreachable, format!("{url}: {error}")))
    }

    fn handle_tick(&mut self, now: Instant) -> Option<Outcome> {
        let received = self.router.has_received();
        if !self.active_sent && self.output_flowing && received {
            self.active_sent = true;
            self.reporter.send(&Report::Active);
        }
        if let Recorder::Composite(c) = &mut self.recorder {
            for s in c.streams.iter_mut() {
                let settled = s
                    .first_buffer_at
                    .is_some_and(|t| now.duration_since(t) >= STREAM_SETTLE);
                if settled && !s.reported_active && !s.has_failed() {
                    s.reported_active = true;
                    // A stream that took media counts as an output flowing: a job that only
                    // streams (no file, no HLS) is active from then on.
                    self.output_flowing = true;
                    self.reporter.send(&Report::Stream {
                        url: s.url.clone(),
                        status: StreamStatus::Active,
                        error: None,
                    });
                }
            }
            let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.closing)
                .into_iter()
                .partition(|(_, at)| now.duration_since(*at) >= STREAM_CLOSE);
            self.closing = waiting;
            for (stream, _) in done {
                let url = stream.url.clone();
                stream.take_out(&self.pipeline);
                self.reporter.send(&Report::Stream {
                    url,
                    status: StreamStatus::Finished,
                    error: None,
                });
            }
        }
        if self.job.file.is_some() && now.duration_since(self.last_progress) >= PROGRESS_EVERY {
            self.last_progress = now;
            let (duration_ms, bytes) = self.file_stats();
            self.reporter.send(&Report::Progress { duration_ms, bytes });
        }
        if !received && now.duration_since(self.ready_at) >= self.no_media_after {
            let error = format!(
                "no RTP arrived within {:.1} s of ready",
                self.no_media_after.as_secs_f64()
            );
            return Some(Outcome::Failed(FailCode::NoMedia, error));
        }
        if self
            .job
            .max_duration
            .is_some_and(|max| now.duration_since(self.ready_at) >= max)
        {
            tracing::info!("max_duration_s reached: stopping");
            return Some(Outcome::Stop {
                limit_reached: true,
            });
        }
        None
    }

    /// (recorded media duration in ms, bytes on disk) of the file output.
    fn file_stats(&self) -> (u64, u64) {
        let (path, duration_ms) = match &self.recorder {
            Recorder::Track(t) => (Some(t.path()), t.duration_ms()),
            Recorder::Composite(c) => match &c.file {
                Some(f) => (Some(f.path.as_path()), f.gate.lock().duration_ms()),
                None => (None, 0),
            },
        };
        let bytes = path
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        (duration_ms, bytes)
    }

    /// Sends EOS, waits (bounded) for it to reach every sink, and reports `done`.
    fn finish(mut self, rx: &Receiver<Event>, limit_reached: bool) -> i32 {
        let has_media = match &self.recorder {
            Recorder::Track(t) => t.has_branch(),
            Recorder::Composite(_) => true,
        };
        let _watchdog = Watchdog::arm(EOS_TIMEOUT + WATCHDOG_MARGIN);
        if has_media {
            tracing::info!("stopping: EOS through the pipeline");
            // From another thread: sending EOS to a source takes its stream lock, which a stuck
            // streaming thread may hold forever; the wait below stays bounded either way.
            let pipeline = self.pipeline.clone();
            let eos_pads = match &self.recorder {
                Recorder::Track(_) => Vec::new(),
                Recorder::Composite(c) => c.cut_now(),
            };
            let _ = std::thread::Builder::new()
                .name("eos".into())
                .spawn(move || {
                    if eos_pads.is_empty() {
                        pipeline.send_event(gst::event::Eos::new());
                    }
                    // Until picture and sound have both reached the stop (bounded).
                    let drain_until = Instant::now() + EOS_DRAIN;
                    while Instant::now() < drain_until && !eos_pads.iter().all(|(_, reached)| reached.load(std::sync::atomic::Ordering::SeqCst)) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    for (pad, _) in eos_pads {
                        pad.send_event(gst::event::Eos::new());
                    }
                });
            let deadline = Instant::now() + EOS_TIMEOUT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                // Checked first: a steady stream of events would otherwise keep the loop alive.
                if left.is_zero() {
                    tracing::warn!("EOS did not reach every sink within {EOS_TIMEOUT:?}; files may be unfinished");
                    break;
                }
                match rx.recv_timeout(left) {
                    Ok(Event::Bus(msg)) => match msg.view() {
                        gst::MessageView::Eos(_) => break,
                        gst::MessageView::Error(_) | gst::MessageView::Warning(_) => {
                            tracing::debug!(src = ?msg.src().map(|s| s.path_string()), "while stopping: {:?}", msg.view());
                            if let Some(Outcome::Failed(code, error)) = self.handle_bus(&msg) {
                                return self.fail(code, error);
                            }
                        }
                        _ => {}
                    },
                    Ok(Event::TrackDrained(ssrc)) => {
                        if let Recorder::Composite(c) = &mut self.recorder {
                            c.finish_removal(ssrc);
                        }
                    }
                    Ok(other) => tracing::trace!(?other, "while stopping"),
                    Err(_) => {
                        tracing::warn!("EOS did not reach every sink within {EOS_TIMEOUT:?}; files may be unfinished");
                        break;
                    }
                }
            }
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Recorder::Composite(c) = &mut self.recorder {
            let streams = std::mem::take(&mut c.streams)
                .into_iter()
                .chain(self.closing.drain(..).map(|(s, _)| s));
            for s in streams {
                self.reporter.send(&Report::Stream {
                    url: s.url.clone(),
                    status: StreamStatus::Finished,
                    error: None,
                });
            }
        }
        let (duration_ms, size) = self.file_stats();
        let files = match self.job.file.as_ref() {
            Some(path) if path.exists() => vec![FileReport {
                path: path.clone(),
                size,
                duration_ms,
            }],
            _ => Vec::new(),
        };
        self.reporter.send(&Report::Done {
            files,
            limit_reached,
        });
        tracing::info!("done");
        0
    }

    fn fail(mut self, code: FailCode, error: String) -> i32 {
        let watchdog = Watchdog::arm(EOS_TIMEOUT);
        let _ = self.pipeline.set_state(gst::State::Null);
        drop(watchdog);
        tracing::error!(?code, %error, "job failed");
        self.reporter.send(&Report::Failed { code, error });
        1
    }
}

/// Ends the process with a `failed` line if the stop has not finished in time (a GStreamer
/// deadlock must not leave a worker the server waits on forever). Disarmed when dropped.
struct Watchdog {
    _disarm: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    fn arm(limit: Duration) -> Watchdog {
        let (disarm, rx) = std::sync::mpsc::channel::<()>();
        let _ = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                    tracing::error!(?limit, "the pipeline did not stop in time; exiting");
                    // The main thread is stuck inside GStreamer, so this thread writes the last line.
                    Reporter::stdout().send(&Report::Failed {
                        code: FailCode::Pipeline,
                        error: format!("the pipeline did not stop within {} s", limit.as_secs()),
                    });
                    std::process::exit(1);
                }
            });
        Watchdog { _disarm: disarm }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
