//! The control channel: JSON lines between the Huiyi server and this worker.
//!
//! Server → worker lines arrive on stdin and parse into [`Command`]; worker → server lines are
//! [`Report`]s written to stdout, one object per line, flushed at once. stdout carries nothing
//! else (logs go to stderr). The contract, with examples, is in the crate's README.md.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One line from the server. Unknown fields are ignored; an unknown `type` is a parse error, which
/// the worker logs and ignores.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Always the first line.
    Start(StartRequest),
    TrackAdded(TrackSpec),
    TrackRemoved {
        ssrc: u32,
    },
    /// Active speakers' identities, loudest first.
    Speakers {
        identities: Vec<String>,
    },
    /// Composite only: re-lay the tiles out in another of LiveKit's layouts (`grid`, `speaker`,
    /// `single-speaker`; an unknown name means `grid`, with a warning).
    SetLayout {
        layout: String,
    },
    /// Pause the file output (never the live outputs).
    Pause,
    Resume,
    AddStream {
        url: String,
    },
    RemoveStream {
        url: String,
    },
    Stop,
}

/// Parses one control line.
pub fn parse_command(line: &str) -> Result<Command, serde_json::Error> {
    serde_json::from_str(line)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// One track, recorded without transcoding.
    Track,
    /// All tracks mixed into one H.264 + AAC picture and sound.
    Composite,
}

/// The `start` line, as sent. [`crate::job::Job::from_request`] checks it.
#[derive(Debug, Clone, Deserialize)]
pub struct StartRequest {
    pub egress_id: String,
    pub kind: JobKind,
    pub outputs: OutputsSpec,
    #[serde(default)]
    pub tracks: Vec<TrackSpec>,
    #[serde(default = "defaults::width")]
    pub width: u32,
    #[serde(default = "defaults::height")]
    pub height: u32,
    #[serde(default = "defaults::fps")]
    pub fps: u32,
    #[serde(default = "defaults::video_kbps")]
    pub video_kbps: u32,
    #[serde(default = "defaults::audio_kbps")]
    pub audio_kbps: u32,
    /// 0 = no limit.
    #[serde(default)]
    pub max_duration_s: u64,
    /// Composite only: LiveKit's layout name; absent means `grid`.
    #[serde(default)]
    pub layout: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OutputsSpec {
    #[serde(default)]
    pub file: Option<PathBuf>,
    #[serde(default)]
    pub rtmp: Vec<String>,
    #[serde(default)]
    pub hls: Option<HlsSpec>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HlsSpec {
    pub dir: PathBuf,
    #[serde(default = "defaults::segment_s")]
    pub segment_s: u32,
}

/// One track of the job, as the server's media tap sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct TrackSpec {
    pub ssrc: u32,
    pub pt: u8,
    pub mime: Mime,
    #[serde(default)]
    pub track_sid: String,
    #[serde(default)]
    pub participant_identity: String,
    #[serde(default)]
    pub participant_name: String,
    #[serde(default)]
    pub source: Source,
}

/// The codecs the worker can take in. Anything else fails to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Mime {
    #[serde(rename = "video/VP8", alias = "video/vp8")]
    Vp8,
    #[serde(rename = "video/H264", alias = "video/h264")]
    H264,
    #[serde(rename = "audio/opus", alias = "audio/OPUS", alias = "audio/Opus")]
    Opus,
}

impl Mime {
    pub fn is_video(self) -> bool {
        matches!(self, Mime::Vp8 | Mime::H264)
    }

    /// The RTP clock rate (RFC 7741, RFC 6184, RFC 7587).
    pub fn clock_rate(self) -> u32 {
        if self.is_video() {
            90_000
        } else {
            48_000
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    Camera,
    Microphone,
    ScreenShare,
    ScreenShareAudio,
    /// A source this worker does not know; treated like a camera or microphone.
    #[serde(other)]
    Unknown,
}

/// One line to the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Report {
    /// The RTP socket is bound on 127.0.0.1:`port`; tracks may be sent now.
    Ready {
        port: u16,
    },
    /// The worker needs a keyframe on this video track.
    Keyframe {
        ssrc: u32,
    },
    /// This camera's tile is now this big: it needs no larger picture (0×0 is never sent;
    /// a hidden tile is 1×1).
    VideoSize {
        ssrc: u32,
        width: u32,
        height: u32,
    },
    /// The first media reached an output.
    Active,
    Stream {
        url: String,
        status: StreamStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Progress {
        duration_ms: u64,
        bytes: u64,
    },
    Done {
        files: Vec<FileReport>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        limit_reached: bool,
    },
    Failed {
        code: FailCode,
        error: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamStatus {
    Active,
    Failed,
    Finished,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    pub path: PathBuf,
    pub size: u64,
    pub duration_ms: u64,
}

/// Why a job failed, as the server maps it to an egress error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailCode {
    DiskFull,
    Pipeline,
    NoMedia,
    RtmpUnreachable,
    BadRequest,
}

/// Writes reports to stdout. Only the worker's main thread holds one, so lines never interleave.
pub struct Reporter {
    out: std::io::Stdout,
}

impl Reporter {
    pub fn stdout() -> Self {
        Reporter {
            out: std::io::stdout(),
        }
    }

    /// Sends one line. A closed stdout (the server is gone) is logged, not fatal: the worker
    /// still finalises its files when stdin reaches EOF.
    pub fn send(&mut self, report: &Report) {
        let line = match serde_json::to_string(report) {
            Ok(line) => line,
            Err(err) => {
                tracing::error!(%err, "report does not serialise");
                return;
            }
        };
        tracing::debug!(%line, "report");
        let mut out = self.out.lock();
        if let Err(err) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            tracing::warn!(%err, "stdout closed; report lost");
        }
    }
}

mod defaults {
    pub fn width() -> u32 {
        1280
    }
    pub fn height() -> u32 {
        720
    }
    pub fn fps() -> u32 {
        30
    }
    pub fn video_kbps() -> u32 {
        3000
    }
    pub fn audio_kbps() -> u32 {
        128
    }
    pub fn segment_s() -> u32 {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_line_with_defaults() {
        let line = r#"{"type":"start","egress_id":"EG_abc","kind":"track",
            "outputs":{"file":"/tmp/a.webm","rtmp":[],"hls":null},
            "tracks":[{"ssrc":1234,"pt":96,"mime":"video/VP8","track_sid":"TR_x",
              "participant_identity":"alice","participant_name":"Alice","source":"camera"}]}"#;
        let Command::Start(start) = parse_command(&line.replace('\n', " ")).unwrap() else {
            panic!("not a start");
        };
        assert_eq!(start.kind, JobKind::Track);
        assert_eq!((start.width, start.height, start.fps), (1280, 720, 30));
        assert_eq!(start.tracks[0].mime, Mime::Vp8);
        assert_eq!(start.max_duration_s, 0);
        assert_eq!(start.layout, None);
    }

    #[test]
    fn layout_in_start_and_set_layout() {
        let line = r#"{"type":"start","egress_id":"E","kind":"composite","outputs":{"file":"/a.mp4"},"layout":"speaker"}"#;
        let Ok(Command::Start(start)) = parse_command(line) else {
            panic!("not a start");
        };
        assert_eq!(start.layout.as_deref(), Some("speaker"));
        let Ok(Command::SetLayout { layout }) =
            parse_command(r#"{"type":"set_layout","layout":"single-speaker"}"#)
        else {
            panic!("not a set_layout");
        };
        assert_eq!(layout, "single-speaker");
        assert!(parse_command(r#"{"type":"set_layout"}"#).is_err());
    }

    #[test]
    fn unit_commands_and_unknown_source() {
        assert!(matches!(
            parse_command(r#"{"type":"pause"}"#),
            Ok(Command::Pause)
        ));
        assert!(matches!(
            parse_command(r#"{"type":"stop","extra":1}"#),
            Ok(Command::Stop)
        ));
        let added =
            r#"{"type":"track_added","ssrc":1,"pt":111,"mime":"audio/opus","source":"hologram"}"#;
        let Ok(Command::TrackAdded(track)) = parse_command(added) else {
            panic!("not parsed")
        };
        assert_eq!(track.source, Source::Unknown);
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(parse_command("not json").is_err());
        assert!(parse_command(r#"{"type":"explode"}"#).is_err());
        assert!(
            parse_command(r#"{"type":"track_added","ssrc":1,"pt":96,"mime":"video/AV1"}"#).is_err()
        );
        assert!(parse_command(r#"{"type":"track_removed","ssrc":-1}"#).is_err());
    }

    #[test]
    fn reports_serialise_as_the_contract_says() {
        let done = Report::Done {
            files: vec![],
            limit_reached: false,
        };
        assert_eq!(
            serde_json::to_string(&done).unwrap(),
            r#"{"type":"done","files":[]}"#
        );
        let failed = Report::Failed {
            code: FailCode::NoMedia,
            error: "x".into(),
        };
        assert_eq!(
            serde_json::to_string(&failed).unwrap(),
            r#"{"type":"failed","code":"no_media","error":"x"}"#
        );
        let stream = Report::Stream {
            url: "rtmp://h/a".into(),
            status: StreamStatus::Active,
            error: None,
        };
        assert_eq!(
            serde_json::to_string(&stream).unwrap(),
            r#"{"type":"stream","url":"rtmp://h/a","status":"active"}"#
        );
    }
}
