//! Recording and streaming jobs, as LiveKit's egress: each job is one `huiyi-egress` worker
//! process, fed plain RTP by a media tap on the job's room (`huiyi_sfu_core::engine::tap`).
//!
//! The supervisor here starts the worker, opens the tap on the port the worker reports,
//! relays the room's changes to it (tracks added and removed, active speakers) and its
//! keyframe requests to the engine, and keeps the job's LiveKit `EgressInfo` in the store on
//! every change. A worker that dies (a GStreamer fault, `kill -9`) only fails its own job:
//! the supervisor notices the exit, closes the tap and marks the job failed; the meeting goes
//! on. A job that outlives `max_duration` is stopped as LIMIT_REACHED.
//!
//! Control with the worker is JSON lines: the supervisor writes `start`, `track_added`,
//! `track_removed`, `speakers`, `add_stream`, `remove_stream` and `stop` to its stdin; the
//! worker answers `ready`, `keyframe`, `active`, `progress`, `stream`, `done` and `failed` on
//! its stdout (docs/egress.md). Files are written under the recordings folder only: a
//! requested path is always relative to it.

// LiveKit marks the single-output fields of its requests deprecated; older SDKs still send them.
#![allow(deprecated)]

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use huiyi_proto::lk;
use huiyi_sfu::SfuHandle;

use crate::egress_s3::{parse_location, S3Target};
use huiyi_sfu_core::{RoomEvent, ServiceError, SessionKey, TapScope, TapSpec, TapTrack};
use huiyi_store::{EgressRow, Meeting, Store};

use crate::webhook::{Event, Operator, Webhooks};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// Where the worker is and what jobs may do.
#[derive(Debug, Clone)]
pub struct EgressConfig {
    /// The `huiyi-egress` binary; `None` when it is not installed (jobs are then refused).
    pub worker: Option<PathBuf>,
    /// The recordings folder: every file a job writes is inside it.
    pub dir: PathBuf,
    /// Jobs running at once; more are refused (each composite is an encoder's worth of CPU).
    pub max_concurrent: usize,
    /// A job running this long is stopped, as LIMIT_REACHED.
    pub max_duration: Duration,
    /// Signs recordings' download links (`download_link`), and how long a link lives.
    pub link_key: [u8; 32],
    pub link_ttl: Duration,
    /// The bucket every recording without its own upload goes to; `None`: the folder.
    pub s3: Option<S3Target>,
    /// Finished recordings older than this are deleted (file or object, and the job); `None`
    /// keeps them.
    pub retention: Option<Duration>,
}

/// Why a request for a job was refused.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unimplemented(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("{0}")]
    Conflict(String),
    #[error("recording is not available: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal,
}

impl From<ServiceError> for EgressError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::InvalidArgument(m) => EgressError::InvalidArgument(m),
            other => EgressError::NotFound(other.to_string()),
        }
    }
}

impl From<huiyi_sfu::EngineGone> for EgressError {
    fn from(_: huiyi_sfu::EngineGone) -> Self {
        EgressError::Unavailable("the server is shutting down".into())
    }
}

/// What a job does, as the worker's `start` line says it, and what its tap covers.
#[derive(Debug, Clone)]
struct Plan {
    kind: &'static str,
    scope: TapScope,
    audio: bool,
    video: bool,
    file: Option<PathBuf>,
    rtmp: Vec<String>,
    /// HLS for Huiyi's own viewer page (`/live/<code>`): the folder its playlist goes to.
    hls: Option<PathBuf>,
    width: u32,
    height: u32,
    fps: u32,
    video_kbps: u32,
    layout: String,
    /// The meeting a cloud recording belongs to, for Tencent's records and webhooks.
    link: Link,
    /// Where the file goes when the job ends (`None`: it stays in the folder).
    upload: Option<S3Target>,
}

/// A job's meeting, when it is a meeting's cloud recording (Tencent's API started it, or a
/// host in the web app), and who started it.
#[derive(Debug, Clone, Default)]
pub struct Link {
    pub meeting_id: String,
    pub enterprise_id: String,
    pub operator: Option<Operator>,
}

enum Control {
    Stop,
    Pause,
    Resume,
    Tap(RoomEvent),
    AddStream(String),
    RemoveStream(String),
    SetLayout(String),
}

struct Job {
    room: String,
    control: mpsc::Sender<Control>,
    tap: Option<SessionKey>,
    /// Whether it writes a file (a recording, which participants are shown), not only streams.
    records: bool,
    /// Whether it is a composite (it has a layout).
    composite: bool,
    meeting_id: String,
    paused: bool,
    /// The HLS folder of a meeting's live stream.
    hls: Option<PathBuf>,
}

struct Inner {
    config: EgressConfig,
    sfu: SfuHandle,
    store: Store,
    webhooks: Webhooks,
    jobs: Mutex<HashMap<String, Job>>,
}

/// The egress supervisor: cheap to clone, shared by every handler.
#[derive(Clone)]
pub struct Egress {
    inner: Arc<Inner>,
}

/// Messages waiting for one job's task (room events and requests); beyond it a speaker
/// change is dropped, and a track change is logged as lost.
const CONTROL_QUEUE: usize = 1024;
/// How long a worker has to say `ready`, and to finish its files after `stop`.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// A control line from a worker longer than this is not read as one (the worker is broken).
const MAX_LINE: usize = 64 * 1024;
/// The largest tile side a worker may report; a composite canvas is at most 1920×1080, and a
/// size past this only means "the best layer".
const MAX_TILE_SIDE: u64 = 8192;

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

fn now_ms() -> i64 {
    now_ns() / 1_000_000
}

fn new_egress_id() -> String {
    use rand::distr::Alphanumeric;
    use rand::Rng;
    let suffix: String = rand::rng().sample_iter(&Alphanumeric).take(12).map(char::from).collect();
    format!("EG_{suffix}")
}

impl Egress {
    pub fn new(config: EgressConfig, sfu: SfuHandle, store: Store, webhooks: Webhooks) -> Self {
        Self { inner: Arc::new(Inner { config, sfu, store, webhooks, jobs: Mutex::new(HashMap::new()) }) }
    }

    /// Jobs a crash left STARTING, ACTIVE or ENDING are marked failed: their worker died with
    /// the server (its files are finished up to the cut). Returns how many.
    pub async fn fail_unfinished(&self) -> Result<usize, huiyi_store::StoreError> {
        let rows = self.inner.store.list_egress("", true).await?;
        let n = rows.len();
        for row in rows {
            let mut info = parse_info(&row.info);
            info.status = lk::EgressStatus::EgressFailed as i32;
            info.error = "the server restarted while the job ran".into();
            info.ended_at = now_ns();
            info.updated_at = info.ended_at;
            // The worker finished its file when the server's end closed its stdin (or the file
            // was cut, and plays up to its last fragment): what is on disk is the result.
            for f in &mut info.file_results {
                if let Ok(meta) = std::fs::metadata(&f.filename) {
                    f.size = meta.len() as i64;
                    f.ended_at = info.ended_at;
                }
            }
            let link = Link { meeting_id: row.meeting_id.clone(), enterprise_id: row.enterprise_id.clone(), operator: None };
            save(&self.inner.store, &info, &link).await;
            self.recording_event(Event::RecordingFailed, &info, &link).await;
            self.inner.webhooks.livekit().egress("egress_ended", &info).await;
        }
        Ok(n)
    }

    /// A room event for a tap: handed to the job that owns the tap.
    pub fn tap_event(&self, event: RoomEvent) {
        let tap = match &event {
            RoomEvent::TapTrackAdded { tap, .. } | RoomEvent::TapTrackRemoved { tap, .. } | RoomEvent::TapSpeakers { tap, .. } | RoomEvent::TapClosed { tap } => *tap,
            _ => return,
        };
        let jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(job) = jobs.values().find(|j| j.tap == Some(tap)) else { return };
        let droppable = matches!(event, RoomEvent::TapSpeakers { .. });
        if job.control.try_send(Control::Tap(event)).is_err() && !droppable {
            warn!(tap = tap.0, "an egress job's queue is full; a track change was lost");
        }
    }

    /// `StartTrackEgress`: one track to a file, as it was published (no transcoding).
    pub async fn start_track(&self, req: lk::TrackEgressRequest) -> Result<lk::EgressInfo, EgressError> {
        let file = match &req.output {
            Some(lk::track_egress_request::Output::File(f)) => f,
            Some(lk::track_egress_request::Output::WebsocketUrl(_)) => {
                return Err(EgressError::Unimplemented("track egress to a WebSocket is not supported; use a file output".into()))
            }
            None => return Err(EgressError::InvalidArgument("a track egress needs an output".into())),
        };
        let upload = match &file.output {
            None => self.inner.config.s3.clone(),
            Some(lk::direct_file_output::Output::S3(u)) => Some(S3Target::from_livekit(u).map_err(EgressError::InvalidArgument)?),
            Some(_) => return Err(EgressError::Unimplemented("uploads to GCP, Azure or AliOSS are not supported; use S3 (any S3-compatible store)".into())),
        };
        let (room, track_id) = (req.room_name.clone(), req.track_id.clone());
        let track = self
            .inner
            .sfu
            .with_engine(move |e, _| {
                e.list_participants(&room)?
                    .into_iter()
                    .flat_map(|p| p.tracks)
                    .find(|t| t.sid == track_id)
                    .ok_or(ServiceError::TrackNotFound)
            })
            .await??;
        let ext = match track.mime_type.to_ascii_lowercase().as_str() {
            "video/h264" => "mp4",
            "video/vp8" => "webm",
            _ => "ogg",
        };
        let vars = [("{room_name}", req.room_name.as_str()), ("{track_id}", req.track_id.as_str())];
        let path = self.output_path(&file.filepath, &vars, ext, &format!("{}-{}", req.room_name, req.track_id))?;
        let plan = Plan {
            kind: "track",
            scope: TapScope::Track(req.track_id.clone()),
            audio: true,
            video: true,
            file: Some(path),
            rtmp: Vec::new(),
            hls: None,
            width: 0,
            height: 0,
            fps: 0,
            video_kbps: 0,
            layout: String::new(),
            link: Link::default(),
            upload,
        };
        let room = req.room_name.clone();
        self.start(room, plan, lk::EgressSourceType::Sdk, lk::egress_info::Request::Track(req)).await
    }

    /// `StartRoomCompositeEgress`: the meeting as people see it, to a file and/or streams.
    pub async fn start_room_composite(&self, req: lk::RoomCompositeEgressRequest) -> Result<lk::EgressInfo, EgressError> {
        use lk::room_composite_egress_request::{Options, Output};
        if !req.custom_base_url.is_empty() {
            return Err(EgressError::Unimplemented("custom_base_url (a web page template) is not supported: Huiyi composes without a browser".into()));
        }
        if matches!(req.output, Some(Output::Segments(_))) {
            return Err(EgressError::Unimplemented("segment and image outputs are not supported yet".into()));
        }
        let mut files: Vec<lk::EncodedFileOutput> = req.file_outputs.clone();
        let mut streams: Vec<lk::StreamOutput> = req.stream_outputs.clone();
        match &req.output {
            Some(Output::File(f)) => files.push(f.clone()),
            Some(Output::Stream(s)) => streams.push(s.clone()),
            _ => {}
        }
        if req.audio_only && req.video_only {
            return Err(EgressError::InvalidArgument("audio_only and video_only exclude each other".into()));
        }
        let (preset, advanced) = match &req.options {
            Some(Options::Preset(p)) => (Some(*p), None),
            Some(Options::Advanced(a)) => (None, Some(a)),
            None => (None, None),
        };
        let layout = normalize_layout(&req.layout)?;
        let plan = self
            .composite_plan(&req.room_name, &files, &streams, !req.segment_outputs.is_empty() || !req.image_outputs.is_empty(), preset, advanced, TapScope::Room, layout)
            .await?;
        let plan = Plan { audio: !req.video_only, video: !req.audio_only, ..plan };
        let room = req.room_name.clone();
        self.start(room, plan, lk::EgressSourceType::Web, lk::egress_info::Request::RoomComposite(req)).await
    }

    /// `StartParticipantEgress`: one participant's camera and microphone (or, with
    /// `screen_share`, its screen share and its sound) composed as a room composite is, also
    /// after the participant rejoins.
    pub async fn start_participant(&self, req: lk::ParticipantEgressRequest) -> Result<lk::EgressInfo, EgressError> {
        use lk::participant_egress_request::Options;
        if req.identity.is_empty() {
            return Err(EgressError::InvalidArgument("identity is required".into()));
        }
        let (preset, advanced) = match &req.options {
            Some(Options::Preset(p)) => (Some(*p), None),
            Some(Options::Advanced(a)) => (None, Some(a)),
            None => (None, None),
        };
        let scope = TapScope::ParticipantMedia { identity: req.identity.clone(), screen_share: req.screen_share };
        let plan = self
            .composite_plan(&req.room_name, &req.file_outputs, &req.stream_outputs, !req.segment_outputs.is_empty() || !req.image_outputs.is_empty(), preset, advanced, scope, "speaker".into())
            .await?;
        let identity = req.identity.clone();
        let room_name = req.room_name.clone();
        let present = self.inner.sfu.with_engine(move |e, _| e.list_participants(&room_name).map(|ps| ps.iter().any(|p| p.identity == identity))).await?;
        if !present.unwrap_or(false) {
            return Err(EgressError::NotFound(format!("participant {} is not in room {}", req.identity, req.room_name)));
        }
        let room = req.room_name.clone();
        self.start(room, plan, lk::EgressSourceType::Sdk, lk::egress_info::Request::Participant(req)).await
    }

    /// What a composite job (room or participant) makes of its request's outputs and options.
    #[allow(clippy::too_many_arguments)]
    async fn composite_plan(
        &self,
        room_name: &str,
        files: &[lk::EncodedFileOutput],
        streams: &[lk::StreamOutput],
        segments_or_images: bool,
        preset: Option<i32>,
        advanced: Option<&lk::EncodingOptions>,
        scope: TapScope,
        layout: String,
    ) -> Result<Plan, EgressError> {
        if segments_or_images {
            return Err(EgressError::Unimplemented("segment and image outputs are not supported yet".into()));
        }
        if files.len() > 1 {
            return Err(EgressError::InvalidArgument("at most one file output".into()));
        }
        if files.is_empty() && streams.is_empty() {
            return Err(EgressError::InvalidArgument("a composite egress needs a file or stream output".into()));
        }
        let mut rtmp = Vec::new();
        for s in streams {
            if s.protocol != lk::StreamProtocol::DefaultProtocol as i32 && s.protocol != lk::StreamProtocol::Rtmp as i32 {
                return Err(EgressError::Unimplemented("only RTMP streams are supported".into()));
            }
            for url in &s.urls {
                rtmp.push(check_rtmp_url(url)?);
            }
        }
        if rtmp.len() > 4 {
            return Err(EgressError::InvalidArgument("at most 4 stream URLs per job".into()));
        }
        let (width, height, fps, video_kbps) = match (preset, advanced) {
            (Some(p), _) => match lk::EncodingOptionsPreset::try_from(p) {
                Ok(lk::EncodingOptionsPreset::H264720p60) => (1280, 720, 60, 4500),
                Ok(lk::EncodingOptionsPreset::H2641080p30) => (1920, 1080, 30, 4500),
                Ok(lk::EncodingOptionsPreset::H2641080p60) => (1920, 1080, 60, 6000),
                Ok(lk::EncodingOptionsPreset::PortraitH264720p30) => (720, 1280, 30, 3000),
                Ok(lk::EncodingOptionsPreset::PortraitH264720p60) => (720, 1280, 60, 4500),
                _ => (1280, 720, 30, 3000),
            },
            (None, Some(a)) => (
                if a.width > 0 { a.width as u32 } else { 1280 },
                if a.height > 0 { a.height as u32 } else { 720 },
                if a.framerate > 0 { a.framerate as u32 } else { 30 },
                if a.video_bitrate > 0 { a.video_bitrate as u32 } else { 3000 },
            ),
            (None, None) => (1280, 720, 30, 3000),
        };
        if !(16..=1920).contains(&width) || !(16..=1920).contains(&height) || !(1..=60).contains(&fps) || !(100..=20_000).contains(&video_kbps) {
            return Err(EgressError::InvalidArgument("encoding options out of range (at most 1920x1920, 60 fps, 20 Mbps)".into()));
        }
        let room = room_name.to_owned();
        let exists = self.inner.sfu.with_engine(move |e, _| e.list_participants(&room).is_ok()).await?;
        if !exists {
            return Err(EgressError::NotFound(format!("room {room_name} not found")));
        }
        let upload = match files.first().and_then(|f| f.output.as_ref()) {
            None => self.inner.config.s3.clone(),
            Some(lk::encoded_file_output::Output::S3(u)) => Some(S3Target::from_livekit(u).map_err(EgressError::InvalidArgument)?),
            Some(_) => return Err(EgressError::Unimplemented("uploads to GCP, Azure or AliOSS are not supported; use S3 (any S3-compatible store)".into())),
        };
        let file = match files.first() {
            Some(f) => {
                let vars = [("{room_name}", room_name)];
                Some(self.output_path(&f.filepath, &vars, "mp4", room_name)?)
            }
            None => None,
        };
        Ok(Plan { kind: "composite", scope, audio: true, video: true, file, rtmp, hls: None, width, height, fps, video_kbps, layout, link: Link::default(), upload })
    }

    /// `UpdateLayout`: a running composite's layout (`grid`, `speaker`, `single-speaker`).
    pub async fn update_layout(&self, req: lk::UpdateLayoutRequest) -> Result<lk::EgressInfo, EgressError> {
        let layout = normalize_layout(&req.layout)?;
        let control = {
            let jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
            match jobs.get(&req.egress_id) {
                Some(j) if j.composite => j.control.clone(),
                Some(_) => return Err(EgressError::InvalidArgument("a track egress has no layout".into())),
                None => return Err(EgressError::NotFound(format!("no active egress {}", req.egress_id))),
            }
        };
        let _ = control.send(Control::SetLayout(layout)).await;
        self.info(&req.egress_id).await
    }

    /// A meeting's cloud recording ("云录制"): a composite of its room to
    /// `meetings/<meeting_id>/<egress_id>.mp4`, listed by Tencent's `/v1/records`. One at a
    /// time per meeting.
    pub async fn start_meeting_recording(&self, meeting: &Meeting, operator: Operator) -> Result<lk::EgressInfo, EgressError> {
        if self.meeting_job(&meeting.meeting_id).is_some() {
            return Err(EgressError::Conflict("the meeting is being recorded already".into()));
        }
        let room = meeting.meeting_id.clone();
        let open = self.inner.sfu.with_engine({
            let room = room.clone();
            move |e, _| e.list_participants(&room).is_ok()
        });
        if !open.await? {
            return Err(EgressError::NotFound("nobody is in the meeting: a recording starts once it is in progress".into()));
        }
        let file = self.output_path(&format!("meetings/{room}/{{time}}"), &[], "mp4", &room)?;
        let req = lk::RoomCompositeEgressRequest {
            room_name: room.clone(),
            layout: "speaker".into(),
            file_outputs: vec![lk::EncodedFileOutput { filepath: file.display().to_string(), ..Default::default() }],
            ..Default::default()
        };
        let plan = Plan {
            kind: "composite",
            scope: TapScope::Room,
            audio: true,
            video: true,
            file: Some(file),
            rtmp: Vec::new(),
            hls: None,
            width: 1280,
            height: 720,
            fps: 30,
            video_kbps: 3000,
            layout: "speaker".into(),
            link: Link { meeting_id: meeting.meeting_id.clone(), enterprise_id: meeting.data.enterprise_id.clone(), operator: Some(operator) },
            upload: self.inner.config.s3.clone(),
        };
        self.start(room, plan, lk::EgressSourceType::Web, lk::egress_info::Request::RoomComposite(req)).await
    }

    /// A meeting's live stream ("直播"): the meeting as people see it, as HLS that Huiyi serves
    /// at `/live/<code>` (any number of viewers, no seat each), and pushed over RTMP to the
    /// URLs given (a CDN or video platform). One at a time per meeting; never paused.
    pub async fn start_meeting_live(&self, meeting: &Meeting, operator: Operator, rtmp: Vec<String>) -> Result<lk::EgressInfo, EgressError> {
        if self.meeting_live(&meeting.meeting_id).is_some() {
            return Err(EgressError::Conflict("the meeting is live already".into()));
        }
        let rtmp: Vec<String> = rtmp.iter().map(|u| check_rtmp_url(u)).collect::<Result<_, _>>()?;
        if rtmp.len() > 4 {
            return Err(EgressError::InvalidArgument("at most 4 RTMP URLs".into()));
        }
        let room = meeting.meeting_id.clone();
        let open = self.inner.sfu.with_engine({
            let room = room.clone();
            move |e, _| e.list_participants(&room).is_ok()
        });
        if !open.await? {
            return Err(EgressError::NotFound("nobody is in the meeting: a live stream starts once it is in progress".into()));
        }
        let hls = self.inner.config.dir.with_file_name("live").join(&room).join(new_egress_id());
        std::fs::create_dir_all(&hls).map_err(|e| EgressError::Unavailable(format!("cannot create the live folder: {e}")))?;
        let req = lk::RoomCompositeEgressRequest {
            room_name: room.clone(),
            layout: "speaker".into(),
            stream_outputs: vec![lk::StreamOutput { protocol: lk::StreamProtocol::Rtmp as i32, urls: rtmp.clone() }],
            ..Default::default()
        };
        let plan = Plan {
            kind: "composite",
            scope: TapScope::Room,
            audio: true,
            video: true,
            file: None,
            rtmp,
            hls: Some(hls),
            // 540p: a live picture for phones and laptops that leaves a small server's CPU to
            // a recording of the same meeting at 720p.
            width: 960,
            height: 540,
            fps: 30,
            video_kbps: 1800,
            layout: "speaker".into(),
            link: Link { meeting_id: meeting.meeting_id.clone(), enterprise_id: meeting.data.enterprise_id.clone(), operator: Some(operator) },
            upload: None,
        };
        self.start(room, plan, lk::EgressSourceType::Web, lk::egress_info::Request::RoomComposite(req)).await
    }

    /// The meeting's live stream: its egress id and HLS folder.
    pub fn meeting_live(&self, meeting_id: &str) -> Option<(String, PathBuf)> {
        let jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.iter().find_map(|(id, j)| (j.meeting_id == meeting_id).then(|| j.hls.clone().map(|h| (id.clone(), h))).flatten())
    }

    /// The meeting's running cloud recording: its egress id and whether it is paused.
    pub fn meeting_job(&self, meeting_id: &str) -> Option<(String, bool)> {
        let jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.iter().find(|(_, j)| j.meeting_id == meeting_id && j.records).map(|(id, j)| (id.clone(), j.paused))
    }

    /// Pauses (or resumes) a recording's file: nothing is written while paused, and the file
    /// has no gap. Live streams of the job go on.
    pub async fn set_paused(&self, egress_id: &str, paused: bool) -> Result<lk::EgressInfo, EgressError> {
        let control = {
            let mut jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let job = jobs.get_mut(egress_id).ok_or_else(|| EgressError::NotFound(format!("no active egress {egress_id}")))?;
            if job.paused == paused {
                return Err(EgressError::Conflict(if paused { "the recording is paused already" } else { "the recording is not paused" }.into()));
            }
            job.paused = paused;
            job.control.clone()
        };
        let _ = control.send(if paused { Control::Pause } else { Control::Resume }).await;
        self.info(egress_id).await
    }

    /// `StopEgress`: the worker finishes its files; the job ends COMPLETE shortly after.
    pub async fn stop(&self, egress_id: &str) -> Result<lk::EgressInfo, EgressError> {
        let control = {
            let jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
            jobs.get(egress_id).map(|j| j.control.clone())
        };
        let Some(control) = control else {
            return match self.inner.store.egress(egress_id).await {
                Ok(row) => Err(EgressError::InvalidArgument(format!("egress {egress_id} is not active (status {})", status_name(row.status)))),
                Err(_) => Err(EgressError::NotFound(format!("egress {egress_id} not found"))),
            };
        };
        let _ = control.send(Control::Stop).await;
        let mut info = self.info(egress_id).await?;
        if info.status < lk::EgressStatus::EgressEnding as i32 {
            info.status = lk::EgressStatus::EgressEnding as i32;
        }
        Ok(info)
    }

    /// `UpdateStream`: adds and removes RTMP outputs of a running composite job.
    pub async fn update_stream(&self, req: lk::UpdateStreamRequest) -> Result<lk::EgressInfo, EgressError> {
        let add: Vec<String> = req.add_output_urls.iter().map(|u| check_rtmp_url(u)).collect::<Result<_, _>>()?;
        let control = {
            let jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
            jobs.get(&req.egress_id).map(|j| j.control.clone())
        };
        let Some(control) = control else { return Err(EgressError::NotFound(format!("no active egress {}", req.egress_id))) };
        for url in add {
            let _ = control.send(Control::AddStream(url)).await;
        }
        for url in req.remove_output_urls {
            let _ = control.send(Control::RemoveStream(url)).await;
        }
        self.info(&req.egress_id).await
    }

    /// `ListEgress`: by id, or a room's (every room's) jobs, newest first.
    pub async fn list(&self, req: &lk::ListEgressRequest) -> Result<Vec<lk::EgressInfo>, EgressError> {
        if !req.egress_id.is_empty() {
            return match self.inner.store.egress(&req.egress_id).await {
                Ok(row) if !req.active || row.status < huiyi_store::EGRESS_DONE => Ok(vec![parse_info(&row.info)]),
                Ok(_) | Err(huiyi_store::StoreError::NotFound) => Ok(Vec::new()),
                Err(e) => {
                    warn!(%e, "could not read an egress job");
                    Err(EgressError::Internal)
                }
            };
        }
        let rows = self.inner.store.list_egress(&req.room_name, req.active).await.map_err(|e| {
            warn!(%e, "could not list egress jobs");
            EgressError::Internal
        })?;
        Ok(rows.iter().map(|r| parse_info(&r.info)).collect())
    }

    /// A signed link to a recording's file, valid for `link_ttl`:
    /// `<public_url>/api/records/<id>/download?exp=<unix seconds>&sig=<hex HMAC-SHA256>`.
    pub fn download_link(&self, public_url: &str, egress_id: &str) -> String {
        let exp = now_ms() / 1000 + self.inner.config.link_ttl.as_secs() as i64;
        format!("{public_url}/api/records/{egress_id}/download?exp={exp}&sig={}", link_signature(&self.inner.config.link_key, egress_id, exp))
    }

    /// Whether a download link's expiry and signature hold now.
    pub fn link_valid(&self, egress_id: &str, exp: i64, sig: &str) -> bool {
        use subtle::ConstantTimeEq;
        exp >= now_ms() / 1000 && link_signature(&self.inner.config.link_key, egress_id, exp).as_bytes().ct_eq(sig.as_bytes()).into()
    }

    /// The file of a finished recording, if it is still on disk and inside the recordings folder.
    pub async fn recording_file(&self, egress_id: &str) -> Option<PathBuf> {
        let row = self.inner.store.egress(egress_id).await.ok().filter(|r| r.status >= huiyi_store::EGRESS_DONE)?;
        let info = parse_info(&row.info);
        let path = PathBuf::from(&info.file_results.first()?.filename);
        (path.starts_with(&self.inner.config.dir) && path.is_file()).then_some(path)
    }

    /// Deletes a finished recording's file and its record, with `recording.deleted`.
    pub async fn delete_recording(&self, row: &EgressRow, meeting: &Meeting, operator: Operator) -> Result<(), EgressError> {
        self.remove_recording(row).await?;
        self.inner.webhooks.recording_event(Event::RecordingDeleted, meeting, &operator, &row.egress_id, now_ms()).await;
        Ok(())
    }

    /// Tells the room's participants whether anything records it (LiveKit's
    /// `Room.active_recording`, which clients show as a recording indicator).
    async fn update_indicator(&self, room: &str) {
        let active = {
            let jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
            jobs.values().any(|j| j.room == room && j.records && j.tap.is_some())
        };
        let room = room.to_owned();
        let _ = self.inner.sfu.with_engine(move |e, _| e.set_room_recording(&room, active)).await;
    }

    /// A Tencent-style `recording.*` webhook, for a meeting's cloud recording.
    async fn recording_event(&self, event: Event, info: &lk::EgressInfo, link: &Link) {
        // A live stream writes no file: it is no recording.
        if link.meeting_id.is_empty() || info.file_results.is_empty() {
            return;
        }
        let meeting = match self.inner.store.meeting(&link.enterprise_id, &link.meeting_id).await {
            Ok(m) => m,
            Err(e) => {
                warn!(%e, meeting_id = %link.meeting_id, "no meeting for a recording's webhook");
                return;
            }
        };
        let operator = link.operator.clone().unwrap_or(Operator { userid: meeting.data.creator_userid.clone(), user_name: String::new(), instance_id: "1".into() });
        self.inner.webhooks.recording_event(event, &meeting, &operator, &info.egress_id, now_ms()).await;
    }

    async fn info(&self, egress_id: &str) -> Result<lk::EgressInfo, EgressError> {
        match self.inner.store.egress(egress_id).await {
            Ok(row) => Ok(parse_info(&row.info)),
            Err(huiyi_store::StoreError::NotFound) => Err(EgressError::NotFound(format!("egress {egress_id} not found"))),
            Err(e) => {
                warn!(%e, "could not read an egress job");
                Err(EgressError::Internal)
            }
        }
    }

    /// Moves a finished job's files to `target` (`crate::egress_s3`): each becomes
    /// `s3://bucket/<its path in the recordings folder>`, and the local copy is removed. A
    /// failed upload fails the job and keeps the local file.
    async fn upload_files(&self, target: &S3Target, info: &mut lk::EgressInfo) {
        let dir = self.inner.config.dir.clone();
        for f in &mut info.file_results {
            let path = PathBuf::from(&f.filename);
            let Some(key) = path.strip_prefix(&dir).ok().filter(|_| path.is_file()).map(|k| k.to_string_lossy().replace('\\', "/")) else { continue };
            match target.upload(&path, &key).await {
                Ok(size) => {
                    f.location = target.location(&key);
                    f.size = size as i64;
                    info!(egress_id = %info.egress_id, location = %f.location, size, "recording uploaded");
                    if let Err(e) = tokio::fs::remove_file(&path).await {
                        warn!(%e, path = %path.display(), "could not remove an uploaded recording");
                    }
                }
                Err(e) => {
                    warn!(egress_id = %info.egress_id, error = %e, "recording upload failed; the file stays in the folder");
                    info.status = lk::EgressStatus::EgressFailed as i32;
                    info.error = e;
                }
            }
        }
    }

    /// Where a finished recording of the server's own bucket is: `(target, key)`.
    async fn recording_object(&self, egress_id: &str) -> Option<(S3Target, String)> {
        let target = self.inner.config.s3.clone()?;
        let row = self.inner.store.egress(egress_id).await.ok().filter(|r| r.status >= huiyi_store::EGRESS_DONE)?;
        let info = parse_info(&row.info);
        let location = info.file_results.first()?.location.clone();
        let (bucket, key) = parse_location(&location)?;
        (bucket == target.bucket).then(|| (target.clone(), key.to_owned()))
    }

    /// A presigned GET of a recording kept in the server's bucket, if it is there.
    pub async fn recording_url(&self, egress_id: &str) -> Option<Result<String, String>> {
        let (target, key) = self.recording_object(egress_id).await?;
        Some(target.presigned_get(&key).await)
    }

    /// Deletes finished recordings older than the retention (file or object, then the job),
    /// with `recording.deleted` for a meeting's; returns how many went.
    pub async fn sweep_expired(&self) -> usize {
        let Some(max_age) = self.inner.config.retention else { return 0 };
        let cutoff = now_ms() - max_age.as_millis() as i64;
        let rows = match self.inner.store.finished_before(cutoff, 500).await {
            Ok(r) => r,
            Err(e) => {
                warn!(%e, "cannot list expired recordings");
                return 0;
            }
        };
        let mut n = 0;
        for row in rows {
            if self.remove_recording(&row).await.is_err() {
                continue;
            }
            if !row.meeting_id.is_empty() {
                if let Ok(meeting) = self.inner.store.meeting(&row.enterprise_id, &row.meeting_id).await {
                    let operator = Operator { userid: meeting.data.creator_userid.clone(), user_name: String::new(), instance_id: "1".into() };
                    self.inner.webhooks.recording_event(Event::RecordingDeleted, &meeting, &operator, &row.egress_id, now_ms()).await;
                }
            }
            info!(egress_id = %row.egress_id, "recording deleted: past its retention");
            n += 1;
        }
        n
    }

    /// Deletes a job's file (or object) and the job.
    async fn remove_recording(&self, row: &EgressRow) -> Result<(), EgressError> {
        if let Some((target, key)) = self.recording_object(&row.egress_id).await {
            target.delete(&key).await.map_err(|e| {
                warn!(error = %e, "could not delete a recording object");
                EgressError::Internal
            })?;
        }
        if let Some(path) = self.recording_file(&row.egress_id).await {
            if let Err(e) = tokio::fs::remove_file(&path).await {
                warn!(%e, path = %path.display(), "could not delete a recording file");
                return Err(EgressError::Internal);
            }
        }
        self.inner.store.delete_egress(&row.egress_id).await.map_err(|e| {
            warn!(%e, "could not delete a recording");
            EgressError::Internal
        })?;
        Ok(())
    }

    fn output_path(&self, requested: &str, vars: &[(&str, &str)], ext: &str, default_stem: &str) -> Result<PathBuf, EgressError> {
        output_path(&self.inner.config.dir, requested, vars, ext, default_stem)
    }


    async fn start(&self, room: String, plan: Plan, source: lk::EgressSourceType, request: lk::egress_info::Request) -> Result<lk::EgressInfo, EgressError> {
        let Some(worker) = self.inner.config.worker.clone().filter(|w| w.is_file()) else {
            return Err(EgressError::Unavailable("the huiyi-egress worker is not installed (build it with GStreamer, see docs/egress.md)".into()));
        };
        if let Some(dir) = plan.file.as_ref().and_then(|f| f.parent()) {
            std::fs::create_dir_all(dir).map_err(|e| EgressError::Unavailable(format!("cannot create the recordings folder: {e}")))?;
        }
        let egress_id = new_egress_id();
        let (control, rx) = mpsc::channel(CONTROL_QUEUE);
        {
            let mut jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
            if jobs.len() >= self.inner.config.max_concurrent {
                return Err(EgressError::ResourceExhausted(format!("{} recording or streaming jobs are running already (the limit)", jobs.len())));
            }
            jobs.insert(
                egress_id.clone(),
                Job { room: room.clone(), control, tap: None, records: plan.file.is_some(), composite: plan.kind == "composite", meeting_id: plan.link.meeting_id.clone(), paused: false, hls: plan.hls.clone() },
            );
        }
        let at = now_ns();
        let info = lk::EgressInfo {
            egress_id: egress_id.clone(),
            room_name: room.clone(),
            source_type: source as i32,
            status: lk::EgressStatus::EgressStarting as i32,
            updated_at: at,
            request: Some(request),
            file_results: plan.file.iter().map(|p| lk::FileInfo { filename: p.display().to_string(), location: p.display().to_string(), ..Default::default() }).collect(),
            stream_results: plan.rtmp.iter().map(|u| lk::StreamInfo { url: redact(u), status: lk::stream_info::Status::Active as i32, ..Default::default() }).collect(),
            ..Default::default()
        };
        save(&self.inner.store, &info, &plan.link).await;
        self.inner.webhooks.livekit().egress("egress_started", &info).await;
        info!(egress_id, room, kind = plan.kind, "egress job starting");
        let this = self.clone();
        let first = info.clone();
        tokio::spawn(async move {
            let id = first.egress_id.clone();
            let link = plan.link.clone();
            let hls = plan.hls.clone();
            let upload = plan.upload.clone();
            let mut final_info = this.run(worker, first, plan, rx).await;
            if let Some(target) = upload {
                this.upload_files(&target, &mut final_info).await;
            }
            // A live stream's segments are not kept: recordings are the lasting copy.
            if let Some(dir) = hls {
                let _ = tokio::fs::remove_dir_all(&dir).await;
            }
            save(&this.inner.store, &final_info, &link).await;
            this.inner.webhooks.livekit().egress("egress_ended", &final_info).await;
            let job = this.inner.jobs.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            if let Some(tap) = job.as_ref().and_then(|j| j.tap) {
                let _ = this.inner.sfu.with_engine(move |e, _| e.close_tap(tap)).await;
            }
            if let Some(job) = job.filter(|j| j.records) {
                this.update_indicator(&job.room).await;
            }
            let event = if final_info.status == lk::EgressStatus::EgressFailed as i32 { Event::RecordingFailed } else { Event::RecordingCompleted };
            this.recording_event(event, &final_info, &link).await;
            info!(egress_id = %id, status = status_name(final_info.status), error = %final_info.error, "egress job ended");
        });
        Ok(info)
    }

    /// One job from start to end; returns its final info.
    async fn run(&self, worker: PathBuf, mut info: lk::EgressInfo, plan: Plan, mut rx: mpsc::Receiver<Control>) -> lk::EgressInfo {
        let fail = |mut info: lk::EgressInfo, why: String| {
            info.status = lk::EgressStatus::EgressFailed as i32;
            info.error = why;
            info.ended_at = now_ns();
            info.updated_at = info.ended_at;
            info
        };
        let mut child = match Command::new(&worker).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true).spawn() {
            Ok(c) => c,
            Err(e) => return fail(info, format!("could not start the worker {}: {e}", worker.display())),
        };
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return fail(info, "the worker's pipes are missing".into());
        };
        let mut lines = BufReader::new(stdout).lines();
        let mut start = json!({
            "type": "start",
            "egress_id": info.egress_id,
            "kind": plan.kind,
            "outputs": {
                "file": plan.file.as_ref().map(|p| p.display().to_string()),
                "rtmp": plan.rtmp,
                "hls": plan.hls.as_ref().map(|d| json!({"dir": d.display().to_string(), "segment_s": 2})),
            },
            "tracks": [],
            "max_duration_s": 0,
        });
        // The picture of a composite; a track recording keeps what was published.
        if plan.width > 0 {
            start["width"] = json!(plan.width);
            start["height"] = json!(plan.height);
            start["fps"] = json!(plan.fps);
            start["video_kbps"] = json!(plan.video_kbps);
            start["audio_kbps"] = json!(128);
            start["layout"] = json!(plan.layout);
        }
        if send(&mut stdin, &start).await.is_err() {
            return fail(info, worker_exit(&mut child, "the worker exited before it started").await);
        }
        // The worker binds its socket and says where.
        let port = match tokio::time::timeout(READY_TIMEOUT, wait_ready(&mut lines)).await {
            Ok(Ok(port)) => port,
            Ok(Err(why)) => return fail(info, why),
            Err(_) => return fail(info, "the worker did not get ready in time".into()),
        };
        let spec = TapSpec {
            room: info.room_name.clone(),
            to: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            scope: plan.scope.clone(),
            audio: plan.audio,
            video: plan.video,
        };
        let opened = self.inner.sfu.with_engine(move |e, now| e.open_tap(now, now_ms(), spec)).await;
        let (tap, tracks) = match opened {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                let _ = child.kill().await;
                return fail(info, format!("could not open the room's media: {e}"));
            }
            Err(_) => return fail(info, "the server is shutting down".into()),
        };
        if let Some(room_sid) = self.inner.sfu.with_engine({
            let room = info.room_name.clone();
            move |e, _| e.list_rooms(&[room]).into_iter().next().map(|r| r.sid)
        })
        .await
        .ok()
        .flatten()
        {
            info.room_id = room_sid;
        }
        if let Some(job) = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&info.egress_id) {
            job.tap = Some(tap);
        }
        for t in &tracks {
            let _ = send(&mut stdin, &track_line(t)).await;
        }
        let mut live_tracks: usize = tracks.len();
        let deadline = tokio::time::Instant::now() + self.inner.config.max_duration;
        let mut stopping: Option<tokio::time::Instant> = None;
        let mut limit_reached = false;
        let mut outcome: Option<Result<Value, String>> = None;
        loop {
            let stop_at = stopping.unwrap_or(deadline);
            tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(line)) if line.len() <= MAX_LINE => {
                        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                            debug!(egress_id = %info.egress_id, %line, "unreadable line from the worker");
                            continue;
                        };
                        match msg["type"].as_str().unwrap_or("") {
                            "keyframe" => {
                                if let Some(ssrc) = msg["ssrc"].as_u64().and_then(|s| u32::try_from(s).ok()) {
                                    let _ = self.inner.sfu.with_engine(move |e, now| e.tap_request_keyframe(now, tap, ssrc)).await;
                                }
                            }
                            "video_size" => {
                                // A composite's tile for this camera: the tap sends the smallest
                                // layer that fills it. Sizes past any real picture are clamped.
                                let size = |k: &str| msg[k].as_u64().map(|v| v.min(MAX_TILE_SIDE) as u32);
                                if let (Some(ssrc), Some(width), Some(height)) =
                                    (msg["ssrc"].as_u64().and_then(|s| u32::try_from(s).ok()), size("width"), size("height"))
                                {
                                    debug!(egress_id = %info.egress_id, ssrc, width, height, "a composite tile changed size");
                                    let _ = self.inner.sfu.with_engine(move |e, now| e.tap_set_video_size(now, tap, ssrc, width, height)).await;
                                }
                            }
                            "active" if info.status == lk::EgressStatus::EgressStarting as i32 => {
                                info.status = lk::EgressStatus::EgressActive as i32;
                                info.started_at = now_ns();
                                info.updated_at = info.started_at;
                                for f in &mut info.file_results { f.started_at = info.started_at; }
                                for s in &mut info.stream_results { s.started_at = info.started_at; }
                                save(&self.inner.store, &info, &plan.link).await;
                                self.inner.webhooks.livekit().egress("egress_updated", &info).await;
                                if plan.file.is_some() {
                                    self.update_indicator(&info.room_name).await;
                                }
                                self.recording_event(Event::RecordingStarted, &info, &plan.link).await;
                            }
                            "progress" => {
                                if let Some(f) = info.file_results.first_mut() {
                                    f.size = msg["bytes"].as_i64().unwrap_or(f.size);
                                    f.duration = msg["duration_ms"].as_i64().map(|d| d * 1_000_000).unwrap_or(f.duration);
                                }
                            }
                            "stream" => {
                                let url = redact(msg["url"].as_str().unwrap_or(""));
                                let status = match msg["status"].as_str() {
                                    Some("failed") => lk::stream_info::Status::Failed,
                                    Some("finished") => lk::stream_info::Status::Finished,
                                    _ => lk::stream_info::Status::Active,
                                };
                                let at = now_ns();
                                let entry = match info.stream_results.iter_mut().position(|s| s.url == url) {
                                    Some(i) => &mut info.stream_results[i],
                                    None => {
                                        info.stream_results.push(lk::StreamInfo { url, started_at: at, ..Default::default() });
                                        let last = info.stream_results.len() - 1;
                                        &mut info.stream_results[last]
                                    }
                                };
                                entry.status = status as i32;
                                entry.error = msg["error"].as_str().unwrap_or("").to_owned();
                                if status == lk::stream_info::Status::Active && entry.started_at == 0 {
                                    entry.started_at = at;
                                }
                                if status != lk::stream_info::Status::Active {
                                    entry.ended_at = at;
                                    // A stream that never started lasted nothing.
                                    entry.duration = if entry.started_at > 0 { at - entry.started_at } else { 0 };
                                }
                                info.updated_at = at;
                                save(&self.inner.store, &info, &plan.link).await;
                            }
                            "done" => outcome = Some(Ok(msg)),
                            "failed" => outcome = Some(Err(format!("{}: {}", msg["code"].as_str().unwrap_or("pipeline"), msg["error"].as_str().unwrap_or("the worker failed")))),
                            _ => {}
                        }
                        if outcome.is_some() {
                            break;
                        }
                    }
                    Ok(Some(_)) => warn!(egress_id = %info.egress_id, "an over-long line from the worker ignored"),
                    Ok(None) | Err(_) => break,
                },
                control = rx.recv() => match control {
                    Some(Control::Stop) | None => {
                        if stopping.is_none() {
                            let _ = send(&mut stdin, &json!({"type": "stop"})).await;
                            stopping = Some(tokio::time::Instant::now() + STOP_TIMEOUT);
                            self.recording_event(Event::RecordingStopped, &info, &plan.link).await;
                            if info.status < lk::EgressStatus::EgressEnding as i32 {
                                info.status = lk::EgressStatus::EgressEnding as i32;
                                info.updated_at = now_ns();
                                save(&self.inner.store, &info, &plan.link).await;
                                self.inner.webhooks.livekit().egress("egress_updated", &info).await;
                            }
                        }
                    }
                    Some(Control::Pause) => {
                        let _ = send(&mut stdin, &json!({"type": "pause"})).await;
                        self.recording_event(Event::RecordingPaused, &info, &plan.link).await;
                    }
                    Some(Control::Resume) => {
                        let _ = send(&mut stdin, &json!({"type": "resume"})).await;
                        self.recording_event(Event::RecordingResumed, &info, &plan.link).await;
                    }
                    Some(Control::AddStream(url)) => {
                        let _ = send(&mut stdin, &json!({"type": "add_stream", "url": url})).await;
                    }
                    Some(Control::RemoveStream(url)) => {
                        let _ = send(&mut stdin, &json!({"type": "remove_stream", "url": url})).await;
                    }
                    Some(Control::SetLayout(layout)) => {
                        let _ = send(&mut stdin, &json!({"type": "set_layout", "layout": layout})).await;
                        if let Some(lk::egress_info::Request::RoomComposite(r)) = info.request.as_mut() {
                            r.layout = layout;
                        }
                        info.updated_at = now_ns();
                        save(&self.inner.store, &info, &plan.link).await;
                    }
                    Some(Control::Tap(event)) => match event {
                        RoomEvent::TapTrackAdded { track, .. } => {
                            live_tracks += 1;
                            let _ = send(&mut stdin, &track_line(&track)).await;
                        }
                        RoomEvent::TapTrackRemoved { ssrc, .. } => {
                            live_tracks = live_tracks.saturating_sub(1);
                            let _ = send(&mut stdin, &json!({"type": "track_removed", "ssrc": ssrc})).await;
                            // A track recording ends with its track, as LiveKit's does.
                            if plan.kind == "track" && live_tracks == 0 && stopping.is_none() {
                                let _ = send(&mut stdin, &json!({"type": "stop"})).await;
                                stopping = Some(tokio::time::Instant::now() + STOP_TIMEOUT);
                            }
                        }
                        RoomEvent::TapSpeakers { identities, .. } => {
                            let _ = send(&mut stdin, &json!({"type": "speakers", "identities": identities})).await;
                        }
                        RoomEvent::TapClosed { .. } => {
                            if stopping.is_none() {
                                let _ = send(&mut stdin, &json!({"type": "stop"})).await;
                                stopping = Some(tokio::time::Instant::now() + STOP_TIMEOUT);
                            }
                        }
                        _ => {}
                    },
                },
                _ = tokio::time::sleep_until(stop_at) => {
                    if stopping.is_some() {
                        warn!(egress_id = %info.egress_id, "the worker did not finish in time; killing it");
                        let _ = child.kill().await;
                        break;
                    }
                    info!(egress_id = %info.egress_id, "egress job reached its maximum duration");
                    limit_reached = true;
                    let _ = send(&mut stdin, &json!({"type": "stop"})).await;
                    stopping = Some(tokio::time::Instant::now() + STOP_TIMEOUT);
                }
            }
        }
        drop(stdin);
        let ended = now_ns();
        match outcome {
            Some(Ok(done)) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                info.status = if limit_reached || done["limit_reached"].as_bool() == Some(true) {
                    lk::EgressStatus::EgressLimitReached
                } else {
                    lk::EgressStatus::EgressComplete
                } as i32;
                let files = done["files"].as_array().cloned().unwrap_or_default();
                for (result, f) in info.file_results.iter_mut().zip(files.iter()) {
                    result.size = f["size"].as_i64().unwrap_or(result.size);
                    result.duration = f["duration_ms"].as_i64().map(|d| d * 1_000_000).unwrap_or(result.duration);
                    result.ended_at = ended;
                }
                for s in &mut info.stream_results {
                    if s.status == lk::stream_info::Status::Active as i32 {
                        s.status = lk::stream_info::Status::Finished as i32;
                        s.ended_at = ended;
                        s.duration = if s.started_at > 0 { ended - s.started_at } else { 0 };
                    }
                }
                info.ended_at = ended;
                info.updated_at = ended;
                info
            }
            Some(Err(why)) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                fail(info, why)
            }
            None => {
                let why = worker_exit(&mut child, "the worker exited without finishing").await;
                fail(info, why)
            }
        }
    }
}

async fn wait_ready(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> Result<u16, String> {
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                let Ok(msg) = serde_json::from_str::<Value>(&line) else { continue };
                match msg["type"].as_str() {
                    Some("ready") => {
                        return msg["port"].as_u64().and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0).ok_or_else(|| "the worker reported no port".to_string())
                    }
                    Some("failed") => return Err(format!("{}: {}", msg["code"].as_str().unwrap_or("pipeline"), msg["error"].as_str().unwrap_or("the worker failed"))),
                    _ => {}
                }
            }
            Ok(None) | Err(_) => return Err("the worker exited before it was ready".into()),
        }
    }
}

/// Waits briefly for the worker to exit and says how it did.
async fn worker_exit(child: &mut Child, what: &str) -> String {
    match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(Ok(status)) => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                if let Some(sig) = status.signal() {
                    return format!("{what} (killed by signal {sig})");
                }
            }
            format!("{what} ({status})")
        }
        _ => {
            let _ = child.kill().await;
            what.to_owned()
        }
    }
}

async fn send(stdin: &mut ChildStdin, msg: &Value) -> std::io::Result<()> {
    let mut line = msg.to_string();
    line.push('\n');
    stdin.write_all(line.as_bytes()).await?;
    stdin.flush().await
}

fn track_line(t: &TapTrack) -> Value {
    json!({
        "type": "track_added",
        "ssrc": t.ssrc,
        "pt": t.pt,
        "mime": t.mime,
        "track_sid": t.track_sid,
        "participant_identity": t.identity,
        "participant_name": t.name,
        "source": t.source,
    })
}

async fn save(store: &Store, info: &lk::EgressInfo, link: &Link) {
    let json = serde_json::to_string(info).unwrap_or_default();
    let row = EgressRow {
        egress_id: info.egress_id.clone(),
        room: info.room_name.clone(),
        // Only a job that writes a file is one of the meeting's recordings; a live stream is not.
        meeting_id: if info.file_results.is_empty() { String::new() } else { link.meeting_id.clone() },
        enterprise_id: if info.file_results.is_empty() { String::new() } else { link.enterprise_id.clone() },
        status: info.status,
        info: json,
        started_at_ms: now_ms(),
        updated_at_ms: info.updated_at / 1_000_000,
    };
    if let Err(e) = store.save_egress(&row).await {
        warn!(%e, egress_id = %info.egress_id, "could not store an egress job");
    }
}

fn parse_info(json: &str) -> lk::EgressInfo {
    serde_json::from_str(json).unwrap_or_else(|e| {
        warn!(%e, "a stored egress job does not parse");
        lk::EgressInfo::default()
    })
}

fn status_name(status: i32) -> &'static str {
    lk::EgressStatus::try_from(status).map(|s| s.as_str_name()).unwrap_or("UNKNOWN")
}

/// An RTMP URL a job may push to: `rtmp://` or `rtmps://`, with a host, no whitespace.
/// LiveKit's layout names, as the worker takes them: `grid` (also for an empty name),
/// `speaker`, `single-speaker`. LiveKit's `-light` and `-dark` variants name a background
/// colour, which Huiyi's composite does not change (it is always dark).
fn normalize_layout(name: &str) -> Result<String, EgressError> {
    let base = name.trim().trim_end_matches("-light").trim_end_matches("-dark");
    match base {
        "" | "grid" => Ok("grid".into()),
        "speaker" | "single-speaker" => Ok(base.into()),
        _ => Err(EgressError::InvalidArgument(format!("unknown layout {name:?}: grid, speaker or single-speaker (optionally -light or -dark)"))),
    }
}

fn check_rtmp_url(url: &str) -> Result<String, EgressError> {
    let ok = (url.starts_with("rtmp://") || url.starts_with("rtmps://"))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if ok {
        Ok(url.to_owned())
    } else {
        Err(EgressError::InvalidArgument(format!("not an rtmp:// or rtmps:// URL with a host: {:?}", redact(url))))
    }
}

/// A stream URL as shown in job info: the stream key (the last path segment) hidden, as
/// LiveKit shows it.
fn redact(url: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, key)) if base.contains("://") && base.split("://").nth(1).is_some_and(|r| r.contains('/')) && !key.is_empty() => {
            format!("{base}/{{{}}}", "stream_key")
        }
        _ => url.to_owned(),
    }
}

#[derive(Deserialize)]
pub struct LinkQuery {
    exp: Option<i64>,
    sig: Option<String>,
    /// `1`: sent as an attachment (a download) rather than inline (to play).
    download: Option<String>,
}

/// `GET /api/records/{id}/download?exp=&sig=`: a recording's file, for whoever holds a valid
/// link (ranges served, so players can seek). 403 for a bad or expired link, 404 when gone.
pub async fn download(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<LinkQuery>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue, StatusCode};
    use axum::response::IntoResponse;
    use tower::ServiceExt;
    let (Some(exp), Some(sig)) = (q.exp, q.sig.as_deref()) else {
        return (StatusCode::FORBIDDEN, "this link is not signed").into_response();
    };
    if id.len() > 64 || !state.egress.link_valid(&id, exp, sig) {
        return (StatusCode::FORBIDDEN, "this link is invalid or has expired; ask for a new one").into_response();
    }
    // In the server's bucket: a presigned link of its own, the same for viewing and download.
    match state.egress.recording_url(&id).await {
        Some(Ok(url)) => {
            let mut r = (StatusCode::FOUND, "").into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
            return r;
        }
        Some(Err(e)) => {
            warn!(error = %e, "cannot sign a recording link");
            return (StatusCode::SERVICE_UNAVAILABLE, "the recording's storage cannot be reached; try again").into_response();
        }
        None => {}
    }
    let Some(path) = state.egress.recording_file(&id).await else {
        return (StatusCode::NOT_FOUND, "this recording no longer exists").into_response();
    };
    let name = path.file_name().map(|n| n.to_string_lossy().replace(['"', '\\'], "")).unwrap_or_default();
    let mut response = match tower_http::services::ServeFile::new(&path).oneshot(request).await {
        Ok(r) => r.into_response(),
        Err(e) => match e {},
    };
    let disposition = if q.download.as_deref() == Some("1") { "attachment" } else { "inline" };
    if let Ok(v) = HeaderValue::from_str(&format!("{disposition}; filename=\"{id}-{name}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}

/// `GET /live/{code}/{file}`: a live meeting's HLS playlist (`index.m3u8`) and segments
/// (`segNNNNN.ts`), for the public viewer page and any HLS player. 404 while not live.
pub async fn hls(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    axum::extract::Path((code, file)): axum::extract::Path<(String, String)>,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let playlist = file == "index.m3u8";
    let segment = file.len() <= 32 && file.starts_with("seg") && file.ends_with(".ts") && file[3..file.len() - 3].bytes().all(|b| b.is_ascii_digit());
    if !(playlist || segment) || code.len() > 16 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return (StatusCode::NOT_FOUND, "no such live file").into_response();
    }
    let meeting = match state.store.live_meeting_by_code(&code).await {
        Ok(m) => m,
        Err(_) => return (StatusCode::NOT_FOUND, "this meeting is not live").into_response(),
    };
    let Some((_, dir)) = state.egress.meeting_live(&meeting.meeting_id) else {
        return (StatusCode::NOT_FOUND, "this meeting is not live").into_response();
    };
    match tokio::fs::read(dir.join(&file)).await {
        Ok(bytes) => {
            let (kind, cache) = if playlist { ("application/vnd.apple.mpegurl", "no-cache") } else { ("video/mp2t", "public, max-age=60") };
            ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, cache)], bytes).into_response()
        }
        // The stream started but its first segment is not written yet.
        Err(_) => (StatusCode::NOT_FOUND, "not yet").into_response(),
    }
}

/// The hex HMAC-SHA256 of `<id>:<exp>` under the link key.
fn link_signature(key: &[u8; 32], egress_id: &str, exp: i64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{egress_id}:{exp}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A file path inside the recordings folder `dir`, from the request's relative template
/// (`{room_name}`, `{track_id}`, `{time}`), with `ext` if it names none.
fn output_path(dir: &Path, requested: &str, vars: &[(&str, &str)], ext: &str, default_stem: &str) -> Result<PathBuf, EgressError> {
    let time = chrono_like_stamp();
    let mut name = if requested.trim().is_empty() { format!("{default_stem}-{time}") } else { requested.trim().to_owned() };
    for (k, v) in vars.iter().chain([("{time}", time.as_str())].iter()) {
        name = name.replace(k, v);
    }
    if name.ends_with('/') {
        name.push_str(&format!("{default_stem}-{time}"));
    }
    let rel = Path::new(name.trim_start_matches('/'));
    if name.len() > 512 || rel.components().any(|c| !matches!(c, Component::Normal(_))) || rel.as_os_str().is_empty() {
        return Err(EgressError::InvalidArgument(format!("filepath {requested:?} must be a relative path inside the recordings folder, without ..")));
    }
    let mut path = dir.join(rel);
    if path.extension().is_none() {
        path.set_extension(ext);
    }
    Ok(path)
}

/// `YYYY-MM-DDTHHMMSS` in UTC, for file names.
fn chrono_like_stamp() -> String {
    let secs = now_ms() / 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_urls_are_checked_and_keys_hidden() {
        assert!(check_rtmp_url("rtmp://live.example.com/app/secretkey").is_ok());
        assert!(check_rtmp_url("rtmps://x/y").is_ok());
        for bad in ["http://x/y", "rtmp://", "rtmp:///x", "rtmp://a b/c", "file:///etc/passwd", ""] {
            assert!(check_rtmp_url(bad).is_err(), "{bad}");
        }
        assert_eq!(redact("rtmp://live.example.com/app/secretkey"), "rtmp://live.example.com/app/{stream_key}");
        assert_eq!(redact("rtmp://host"), "rtmp://host");
    }

    #[test]
    fn output_paths_stay_in_the_recordings_folder() {
        let dir = Path::new("/data/recordings");
        let p = output_path(dir, "{room_name}/cam-{track_id}", &[("{room_name}", "r1"), ("{track_id}", "TR_1")], "webm", "x").unwrap();
        assert_eq!(p, Path::new("/data/recordings/r1/cam-TR_1.webm"));
        // A leading slash is relative to the folder; an extension given is kept.
        assert_eq!(output_path(dir, "/a/b.mkv", &[], "webm", "x").unwrap(), Path::new("/data/recordings/a/b.mkv"));
        let p = output_path(dir, "", &[], "mp4", "room").unwrap();
        assert!(p.starts_with(dir) && p.extension().is_some_and(|e| e == "mp4"), "{p:?}");
        for bad in ["../etc/passwd", "a/../../b", "./x/..", "{room_name}/../../x"] {
            assert!(output_path(dir, bad, &[("{room_name}", "..")], "mp4", "x").is_err(), "{bad}");
        }
        // A room name is a variable's value, never a way out.
        assert!(output_path(dir, "{room_name}/f", &[("{room_name}", "..")], "mp4", "x").is_err());
    }

    #[test]
    fn stamps_are_civil_dates() {
        let s = chrono_like_stamp();
        assert_eq!(s.len(), 17, "{s}");
        assert!(s.starts_with("20"), "{s}");
        assert_eq!(&s[10..11], "T");
    }
}
