//! Cloud recordings ("云录制") in Tencent's shapes:
//! - `PUT /v1/real-control/meetings/{meeting_id}/record`: start, pause, resume or stop the
//!   meeting's recording (a Huiyi extension: Tencent documents no such endpoint; it follows
//!   the other real-control bodies);
//! - `GET /v1/records`: the enterprise's recordings in a time window (at most 31 days);
//! - `GET /v1/addresses/{record_file_id}` and `GET /v1/addresses?meeting_record_id=`: the
//!   file's view and download links, signed and expiring (`crate::egress::links`);
//! - `DELETE /v1/records/{record_file_id}`: deletes the file, with `recording.deleted`.
//!
//! A recording is one egress job (`crate::egress`); its `meeting_record_id` and its single
//! file's `record_file_id` are the job's egress id.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{acting_id, is_host, Caller, IdType};
use super::error::{ApiError, ErrorBody};
use super::meetings::Empty;
use super::real_control::{controlled_meeting, Operator};
use super::{paging, parse_body, Q};
use crate::egress::EgressError;
use crate::AppState;
use huiyi_proto::lk;

/// The longest window one query may cover, as in Tencent's API.
const MAX_WINDOW_SECS: i64 = 31 * 24 * 3600;
/// Recordings a member's listing looks through (theirs are filtered from these).
const MEMBER_SCAN: i64 = 1000;

impl From<EgressError> for ApiError {
    fn from(e: EgressError) -> Self {
        match e {
            EgressError::InvalidArgument(m) => ApiError::invalid(m),
            EgressError::NotFound(m) => ApiError::conflict(m),
            EgressError::Conflict(m) | EgressError::ResourceExhausted(m) | EgressError::Unimplemented(m) => ApiError::conflict(m),
            EgressError::Unavailable(m) => ApiError::conflict(format!("recording is not available: {m}")),
            EgressError::Internal => ApiError::internal(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RecordBody {
    /// Who acts: `operator_id` with `operator_id_type` 1, or `userid`: a host, co-host or admin.
    #[serde(flatten)]
    operator: Operator,
    /// `start`, `pause`, `resume` or `stop`.
    action: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecordAnswer {
    /// The recording acted on.
    pub meeting_record_id: String,
}

#[utoipa::path(put, path = "/v1/real-control/meetings/{meeting_id}/record", tag = "real-control", params(("meeting_id" = String, Path)), request_body = RecordBody,
    responses((status = 200, body = RecordAnswer), (status = "4XX", body = ErrorBody)))]
/// Starts, pauses, resumes or stops the meeting's cloud recording (a Huiyi extension, in
/// Tencent's style). Start needs the meeting in progress; one recording at a time.
pub async fn control(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<RecordAnswer>, ApiError> {
    let b: RecordBody = parse_body(&body)?;
    if !matches!(b.action.as_str(), "start" | "pause" | "resume" | "stop") {
        return Err(ApiError::invalid("action must be start, pause, resume or stop"));
    }
    let user = b.operator.user(&state, &caller).await?;
    let m = controlled_meeting(&state, &caller, &b.operator, &id).await?;
    let running = state.egress.meeting_job(&m.meeting_id);
    let id = match (b.action.as_str(), running) {
        ("start", _) => {
            let operator = crate::webhook::Operator::from(&user);
            state.egress.start_meeting_recording(&m, operator).await?.egress_id
        }
        (_, None) => return Err(ApiError::conflict("the meeting is not being recorded")),
        ("pause", Some((job, _))) => state.egress.set_paused(&job, true).await?.egress_id,
        ("resume", Some((job, _))) => state.egress.set_paused(&job, false).await?.egress_id,
        (_, Some((job, _))) => state.egress.stop(&job).await?.egress_id,
    };
    Ok(Json(RecordAnswer { meeting_record_id: id }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordsQuery {
    userid: Option<String>,
    /// The acting user, as Tencent names them (wins over `userid`); with `operator_id_type` 1.
    operator_id: Option<String>,
    operator_id_type: Option<IdType>,
    /// Unix seconds; the window is at most 31 days.
    #[param(value_type = String, pattern = "^[0-9]{1,12}$")]
    start_time: Option<String>,
    #[param(value_type = String, pattern = "^[0-9]{1,12}$")]
    end_time: Option<String>,
    meeting_id: Option<String>,
    meeting_code: Option<String>,
    #[param(minimum = 1)]
    page: Option<i64>,
    /// 1 to 20.
    #[param(minimum = 1, maximum = 20)]
    page_size: Option<i64>,
    media_set_type: Option<String>,
    query_record_type: Option<String>,
}

/// One file of a recording.
#[derive(Serialize, ToSchema)]
pub struct RecordFile {
    pub record_file_id: String,
    /// Unix milliseconds.
    pub record_start_time: i64,
    pub record_end_time: i64,
    /// Bytes.
    pub record_size: i64,
    /// Milliseconds of media.
    pub record_duration: i64,
    pub sharing_state: i64,
    pub sharing_url: String,
    pub required_same_corp: bool,
    pub required_participant: bool,
    pub password: String,
    pub sharing_expire: i64,
    pub allow_download: bool,
}

/// One recording of a meeting.
#[derive(Serialize, ToSchema)]
pub struct RecordMeeting {
    pub meeting_record_id: String,
    pub meeting_id: String,
    pub meeting_code: String,
    pub host_user_id: String,
    /// Unix milliseconds.
    pub media_start_time: i64,
    pub subject: String,
    /// 3: the file is ready (Tencent's "transcoded"); 4: the recording failed and its file
    /// holds what was recorded up to the failure.
    pub state: i64,
    pub record_type: i64,
    pub record_files: Vec<RecordFile>,
}

#[derive(Serialize, ToSchema)]
pub struct RecordList {
    pub total_count: i64,
    pub current_page: i64,
    pub current_size: i64,
    pub total_page: i64,
    pub record_meetings: Vec<RecordMeeting>,
}

fn parse_info(json: &str) -> lk::EgressInfo {
    serde_json::from_str(json).unwrap_or_default()
}

fn record_file(id: &str, info: &lk::EgressInfo) -> RecordFile {
    let f = info.file_results.first().cloned().unwrap_or_default();
    RecordFile {
        record_file_id: id.to_owned(),
        record_start_time: f.started_at / 1_000_000,
        record_end_time: f.ended_at / 1_000_000,
        record_size: f.size,
        record_duration: f.duration / 1_000_000,
        sharing_state: 0,
        sharing_url: String::new(),
        required_same_corp: false,
        required_participant: false,
        password: String::new(),
        sharing_expire: 0,
        allow_download: true,
    }
}

#[utoipa::path(get, path = "/v1/records", tag = "meetings", params(RecordsQuery),
    responses((status = 200, body = RecordList), (status = "4XX", body = ErrorBody)))]
/// Cloud recordings of the enterprise's meetings that started in a time window, newest first.
/// A member sees the recordings of meetings they host; an admin, all.
pub async fn list(State(state): State<AppState>, Extension(caller): Extension<Caller>, Q(q): Q<RecordsQuery>) -> Result<Json<RecordList>, ApiError> {
    let _ = (&q.media_set_type, &q.query_record_type);
    let user = caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let seconds = |v: &Option<String>, name: &str| -> Result<i64, ApiError> {
        v.as_deref().and_then(|t| t.parse::<i64>().ok()).filter(|t| (0..=99_999_999_999).contains(t)).ok_or_else(|| ApiError::invalid(format!("{name} (unix seconds) is required")))
    };
    let (start, end) = (seconds(&q.start_time, "start_time")?, seconds(&q.end_time, "end_time")?);
    if end < start || end - start > MAX_WINDOW_SECS {
        return Err(ApiError::invalid("end_time must be after start_time, at most 31 days later"));
    }
    let (page, size) = paging(q.page, q.page_size, 10, 20)?;
    // A meeting named by id or code narrows the list; one the caller may not see lists nothing.
    let meeting_id = match (q.meeting_id.as_deref().filter(|s| !s.is_empty()), q.meeting_code.as_deref().filter(|s| !s.is_empty())) {
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(code)) => match state.store.meeting_by_code(&caller.enterprise_id, code).await {
            Ok(m) => Some(m.meeting_id),
            Err(huiyi_store::StoreError::NotFound) => Some(String::from("\u{0}none")),
            Err(e) => return Err(e.into()),
        },
        (None, None) => None,
    };
    let (from_ms, to_ms) = (start * 1000, end * 1000 + 999);
    let admin = caller.is_admin();
    let (total, rows) = if admin {
        state.store.meeting_records(&caller.enterprise_id, meeting_id.as_deref(), from_ms, to_ms, (page - 1) * size, size).await?
    } else {
        let (_, all) = state.store.meeting_records(&caller.enterprise_id, meeting_id.as_deref(), from_ms, to_ms, 0, MEMBER_SCAN).await?;
        let mut mine = Vec::new();
        for row in all {
            if let Ok(m) = state.store.meeting(&caller.enterprise_id, &row.meeting_id).await {
                if is_host(&m, &user.userid) {
                    mine.push(row);
                }
            }
        }
        let total = mine.len() as i64;
        (total, mine.into_iter().skip(((page - 1) * size) as usize).take(size as usize).collect())
    };
    let mut record_meetings = Vec::with_capacity(rows.len());
    for row in rows {
        let info = parse_info(&row.info);
        let (code, subject, host) = match state.store.meeting(&caller.enterprise_id, &row.meeting_id).await {
            Ok(m) => (m.meeting_code, m.data.subject, m.data.creator_userid),
            Err(_) => (String::new(), String::new(), String::new()),
        };
        record_meetings.push(RecordMeeting {
            meeting_record_id: row.egress_id.clone(),
            meeting_id: row.meeting_id.clone(),
            meeting_code: code,
            host_user_id: host,
            media_start_time: row.started_at_ms,
            subject,
            state: if info.status == lk::EgressStatus::EgressFailed as i32 { 4 } else { 3 },
            record_type: 0,
            record_files: vec![record_file(&row.egress_id, &info)],
        });
    }
    let current_size = record_meetings.len() as i64;
    Ok(Json(RecordList { total_count: total, current_page: page, current_size, total_page: (total + size - 1) / size, record_meetings }))
}

/// The recording, if the caller may see it: an admin, or a host of its meeting.
async fn visible(state: &AppState, caller: &Caller, user: &huiyi_store::User, id: &str) -> Result<(huiyi_store::EgressRow, huiyi_store::Meeting), ApiError> {
    let row = match state.store.egress(id).await {
        Ok(r) if r.enterprise_id == caller.enterprise_id && !r.meeting_id.is_empty() && r.status >= huiyi_store::EGRESS_DONE => r,
        Ok(_) | Err(huiyi_store::StoreError::NotFound) => return Err(ApiError::not_found("record file")),
        Err(e) => return Err(e.into()),
    };
    let meeting = state.store.meeting(&caller.enterprise_id, &row.meeting_id).await?;
    if !caller.is_admin() && !is_host(&meeting, &user.userid) {
        return Err(ApiError::not_found("record file"));
    }
    Ok((row, meeting))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AddressQuery {
    userid: Option<String>,
    operator_id: Option<String>,
    operator_id_type: Option<IdType>,
    /// `GET /v1/addresses` only: the recording whose files to list.
    meeting_record_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Address {
    pub record_file_id: String,
    pub meeting_id: String,
    pub meeting_code: String,
    /// Plays in a browser; signed, expires with `download_address`.
    pub view_address: String,
    /// A signed link that expires (6 hours by default).
    pub download_address: String,
    pub download_address_file_type: String,
    pub audio_address: String,
    pub audio_address_file_type: String,
}

#[derive(Serialize, ToSchema)]
pub struct AddressList {
    pub meeting_record_id: String,
    pub meeting_id: String,
    pub meeting_code: String,
    pub subject: String,
    pub record_files: Vec<Address>,
}

fn address(state: &AppState, row: &huiyi_store::EgressRow, meeting: &huiyi_store::Meeting) -> Address {
    let link = state.egress.download_link(&state.public_url, &row.egress_id);
    Address {
        record_file_id: row.egress_id.clone(),
        meeting_id: meeting.meeting_id.clone(),
        meeting_code: meeting.meeting_code.clone(),
        // The same signed link; the download one is sent as an attachment (saved, not played).
        download_address: format!("{link}&download=1"),
        view_address: link,
        download_address_file_type: "MP4".into(),
        audio_address: String::new(),
        audio_address_file_type: String::new(),
    }
}

#[utoipa::path(get, path = "/v1/addresses/{record_file_id}", tag = "meetings", params(("record_file_id" = String, Path), AddressQuery),
    responses((status = 200, body = Address), (status = "4XX", body = ErrorBody)))]
/// A recording file's view and download links: signed, valid for a limited time.
pub async fn address_of_file(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<AddressQuery>) -> Result<Json<Address>, ApiError> {
    let user = caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let (row, meeting) = visible(&state, &caller, &user, &id).await?;
    Ok(Json(address(&state, &row, &meeting)))
}

#[utoipa::path(get, path = "/v1/addresses", tag = "meetings", params(AddressQuery),
    responses((status = 200, body = AddressList), (status = "4XX", body = ErrorBody)))]
/// The files of one recording (`meeting_record_id`), with their links.
pub async fn addresses(State(state): State<AppState>, Extension(caller): Extension<Caller>, Q(q): Q<AddressQuery>) -> Result<Json<AddressList>, ApiError> {
    let user = caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let Some(id) = q.meeting_record_id.as_deref().filter(|s| !s.is_empty()) else {
        return Err(ApiError::invalid("meeting_record_id is required"));
    };
    let (row, meeting) = visible(&state, &caller, &user, id).await?;
    Ok(Json(AddressList {
        meeting_record_id: row.egress_id.clone(),
        meeting_id: meeting.meeting_id.clone(),
        meeting_code: meeting.meeting_code.clone(),
        subject: meeting.data.subject.clone(),
        record_files: vec![address(&state, &row, &meeting)],
    }))
}

#[utoipa::path(delete, path = "/v1/records/{record_file_id}", tag = "meetings", params(("record_file_id" = String, Path), AddressQuery),
    responses((status = 200, body = Empty), (status = "4XX", body = ErrorBody)))]
/// Deletes a recording file (a host of its meeting or an admin); `recording.deleted` follows.
pub async fn delete(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<AddressQuery>) -> Result<Json<Empty>, ApiError> {
    let user = caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let (row, meeting) = visible(&state, &caller, &user, &id).await?;
    state.egress.delete_recording(&row, &meeting, crate::webhook::Operator::from(&user)).await?;
    Ok(Json(Empty {}))
}

#[derive(Deserialize, ToSchema)]
pub struct LiveBody {
    /// Who acts: a host, co-host or admin (`operator_id` with `operator_id_type` 1, or `userid`).
    #[serde(flatten)]
    operator: Operator,
    /// `start` or `stop`.
    action: String,
    /// `start`: RTMP URLs (stream key included) to push to as well, at most 4.
    #[serde(default)]
    rtmp_urls: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LiveAnswer {
    pub live_id: String,
    /// The public viewer page: anyone with the link watches, without joining.
    pub view_url: String,
    /// The HLS playlist behind it, for any HLS player.
    pub hls_url: String,
}

#[utoipa::path(put, path = "/v1/real-control/meetings/{meeting_id}/live", tag = "real-control", params(("meeting_id" = String, Path)), request_body = LiveBody,
    responses((status = 200, body = LiveAnswer), (status = "4XX", body = ErrorBody)))]
/// Starts or stops the meeting's live stream (a Huiyi extension): HLS at the meeting's public
/// viewer page, and RTMP to the URLs given.
pub async fn live(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<LiveAnswer>, ApiError> {
    let b: LiveBody = parse_body(&body)?;
    if !matches!(b.action.as_str(), "start" | "stop") {
        return Err(ApiError::invalid("action must be start or stop"));
    }
    if b.rtmp_urls.len() > 4 {
        return Err(ApiError::invalid("at most 4 rtmp_urls"));
    }
    let user = b.operator.user(&state, &caller).await?;
    let m = controlled_meeting(&state, &caller, &b.operator, &id).await?;
    let live_id = match (b.action.as_str(), state.egress.meeting_live(&m.meeting_id)) {
        ("start", _) => state.egress.start_meeting_live(&m, crate::webhook::Operator::from(&user), b.rtmp_urls).await?.egress_id,
        (_, None) => return Err(ApiError::conflict("the meeting is not live")),
        (_, Some((job, _))) => state.egress.stop(&job).await?.egress_id,
    };
    let view_url = format!("{}/live/{}", state.public_url, m.meeting_code);
    Ok(Json(LiveAnswer { live_id, hls_url: format!("{view_url}/index.m3u8"), view_url }))
}
