//! A checked job: the `start` line parsed once into values the pipelines can trust
//! (absolute paths, sane sizes, at least one output).

use std::path::PathBuf;

use crate::control::{JobKind, StartRequest, TrackSpec};
use crate::layout::Layout;

/// A start request that passed [`Job::from_request`].
#[derive(Debug, Clone)]
pub struct Job {
    pub egress_id: String,
    pub kind: JobKind,
    pub file: Option<PathBuf>,
    pub rtmp: Vec<String>,
    pub hls: Option<Hls>,
    pub tracks: Vec<TrackSpec>,
    pub video: VideoFormat,
    pub audio_kbps: u32,
    /// `None` when the start line said 0.
    pub max_duration: Option<std::time::Duration>,
    /// The composite's layout at the start (a track job has none to use).
    pub layout: Layout,
}

#[derive(Debug, Clone)]
pub struct Hls {
    pub dir: PathBuf,
    pub segment_s: u32,
}

/// The composite's output picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFormat {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub kbps: u32,
}

/// Why a start line was refused; reported as `failed{code:"bad_request"}`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    #[error("the job has no output (file, rtmp or hls)")]
    NoOutput,
    #[error("a track job records to a file and needs outputs.file")]
    TrackJobNeedsFile,
    #[error("a track job takes exactly one track, got {0}")]
    TrackJobTrackCount(usize),
    #[error("output path {0:?} is not absolute")]
    RelativePath(PathBuf),
    #[error("stream URL {0:?} is not rtmp:// or rtmps://")]
    BadStreamUrl(String),
    #[error("picture {width}x{height}@{fps} is out of range (even sizes 16..=3840 x 16..=2160, 1..=60 fps)")]
    BadPicture { width: u32, height: u32, fps: u32 },
    #[error("bitrate out of range: video {video_kbps} kbps (100..=20000), audio {audio_kbps} kbps (16..=512)")]
    BadBitrate { video_kbps: u32, audio_kbps: u32 },
    #[error("HLS segment duration {0} s is out of range (1..=30)")]
    BadSegment(u32),
}

impl Job {
    pub fn from_request(req: StartRequest) -> Result<Job, JobError> {
        let StartRequest {
            egress_id,
            kind,
            outputs,
            tracks,
            width,
            height,
            fps,
            video_kbps,
            audio_kbps,
            max_duration_s,
            layout,
        } = req;
        if outputs.file.is_none() && outputs.rtmp.is_empty() && outputs.hls.is_none() {
            return Err(JobError::NoOutput);
        }
        if let Some(file) = &outputs.file {
            if !file.is_absolute() {
                return Err(JobError::RelativePath(file.clone()));
            }
        }
        if let Some(url) = outputs.rtmp.iter().find(|u| !is_stream_url(u)) {
            return Err(JobError::BadStreamUrl(url.clone()));
        }
        let hls = match outputs.hls {
            None => None,
            Some(h) if !h.dir.is_absolute() => return Err(JobError::RelativePath(h.dir)),
            Some(h) if !(1..=30).contains(&h.segment_s) => {
                return Err(JobError::BadSegment(h.segment_s))
            }
            Some(h) => Some(Hls {
                dir: h.dir,
                segment_s: h.segment_s,
            }),
        };
        if kind == JobKind::Track {
            if outputs.file.is_none() {
                return Err(JobError::TrackJobNeedsFile);
            }
            if tracks.len() > 1 {
                return Err(JobError::TrackJobTrackCount(tracks.len()));
            }
        }
        let picture_ok = (16..=3840).contains(&width)
            && (16..=2160).contains(&height)
            && width % 2 == 0
            && height % 2 == 0
            && (1..=60).contains(&fps);
        if !picture_ok {
            return Err(JobError::BadPicture { width, height, fps });
        }
        if !(100..=20_000).contains(&video_kbps) || !(16..=512).contains(&audio_kbps) {
            return Err(JobError::BadBitrate {
                video_kbps,
                audio_kbps,
            });
        }
        Ok(Job {
            egress_id,
            kind,
            file: outputs.file,
            rtmp: outputs.rtmp,
            hls,
            tracks,
            video: VideoFormat {
                width,
                height,
                fps,
                kbps: video_kbps,
            },
            audio_kbps,
            max_duration: (max_duration_s > 0)
                .then(|| std::time::Duration::from_secs(max_duration_s)),
            layout: layout.as_deref().map_or(Layout::Grid, layout_or_grid),
        })
    }
}

/// LiveKit's layout `name`; an unknown one is not worth failing a recording for: it is logged
/// and the recording uses `grid`, LiveKit's default.
pub fn layout_or_grid(name: &str) -> Layout {
    name.parse().unwrap_or_else(|err| {
        tracing::warn!(%err, "using the grid layout");
        Layout::Grid
    })
}

pub fn is_stream_url(url: &str) -> bool {
    (url.starts_with("rtmp://") || url.starts_with("rtmps://"))
        && !url.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{parse_command, Command};

    fn request(json: &str) -> StartRequest {
        match parse_command(json) {
            Ok(Command::Start(req)) => req,
            other => panic!("not a start line: {other:?}"),
        }
    }

    #[test]
    fn composite_with_defaults_is_accepted() {
        let job = Job::from_request(request(
            r#"{"type":"start","egress_id":"E","kind":"composite","outputs":{"rtmp":["rtmp://h/live/k"]}}"#,
        ))
        .unwrap();
        assert_eq!(
            job.video,
            VideoFormat {
                width: 1280,
                height: 720,
                fps: 30,
                kbps: 3000
            }
        );
        assert!(job.max_duration.is_none());
        assert_eq!(job.layout, Layout::Grid);
    }

    #[test]
    fn layouts_by_name_and_unknown_ones_as_grid() {
        let start = |layout: &str| {
            let json = format!(
                r#"{{"type":"start","egress_id":"E","kind":"composite","outputs":{{"file":"/a.mp4"}},"layout":"{layout}"}}"#
            );
            Job::from_request(request(&json)).map(|job| job.layout)
        };
        assert_eq!(start("speaker"), Ok(Layout::Speaker));
        assert_eq!(start("single-speaker-light"), Ok(Layout::SingleSpeaker));
        assert_eq!(start("grid"), Ok(Layout::Grid));
        assert_eq!(start("mosaic"), Ok(Layout::Grid));
    }

    #[test]
    fn refusals() {
        let cases = [
            (r#"{"outputs":{}}"#, JobError::NoOutput),
            (
                r#"{"outputs":{"file":"rel.mp4"}}"#,
                JobError::RelativePath("rel.mp4".into()),
            ),
            (
                r#"{"outputs":{"rtmp":["http://x"]}}"#,
                JobError::BadStreamUrl("http://x".into()),
            ),
            (
                r#"{"outputs":{"file":"/a.mp4"},"width":1281}"#,
                JobError::BadPicture {
                    width: 1281,
                    height: 720,
                    fps: 30,
                },
            ),
            (
                r#"{"outputs":{"hls":{"dir":"/d","segment_s":0}}}"#,
                JobError::BadSegment(0),
            ),
        ];
        for (fields, want) in cases {
            let json = format!(
                r#"{{"type":"start","egress_id":"E","kind":"composite",{}"#,
                &fields[1..]
            );
            assert_eq!(
                Job::from_request(request(&json)).unwrap_err(),
                want,
                "{json}"
            );
        }
        let track_no_file =
            r#"{"type":"start","egress_id":"E","kind":"track","outputs":{"rtmp":["rtmp://h/a"]}}"#;
        assert_eq!(
            Job::from_request(request(track_no_file)).unwrap_err(),
            JobError::TrackJobNeedsFile
        );
    }
}
