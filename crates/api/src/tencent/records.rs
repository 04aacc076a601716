//! `GET /v1/records`: the enterprise's cloud recordings in a time window, in Tencent's shape.
//! Huiyi records nothing yet (issue 9), so the list is empty; the query is still checked as
//! Tencent checks it (a window of at most 31 days), so a sync job written against Huiyi today
//! keeps working when recordings arrive.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{acting_id, Caller, IdType};
use super::error::{ApiError, ErrorBody};
use super::{paging, Q};
use crate::AppState;

/// The longest window one query may cover, as in Tencent's API.
const MAX_WINDOW_SECS: i64 = 31 * 24 * 3600;

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

/// One recorded meeting (never listed yet; the shape is Tencent's).
#[derive(Serialize, ToSchema)]
pub struct RecordMeeting {
    pub meeting_record_id: String,
    pub meeting_id: String,
    pub meeting_code: String,
    pub subject: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecordList {
    pub total_count: i64,
    pub current_page: i64,
    pub current_size: i64,
    pub total_page: i64,
    pub record_meetings: Vec<RecordMeeting>,
}

#[utoipa::path(get, path = "/v1/records", tag = "meetings", params(RecordsQuery),
    responses((status = 200, body = RecordList), (status = "4XX", body = ErrorBody)))]
/// Cloud recordings of the enterprise in a time window: none yet.
pub async fn list(State(state): State<AppState>, Extension(caller): Extension<Caller>, Q(q): Q<RecordsQuery>) -> Result<Json<RecordList>, ApiError> {
    let _ = (&q.meeting_id, &q.meeting_code, &q.media_set_type, &q.query_record_type);
    // The acting user must exist (members may list only their own; there are none anyway).
    caller.acting_user(&state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let seconds = |v: &Option<String>, name: &str| -> Result<i64, ApiError> {
        v.as_deref().and_then(|t| t.parse::<i64>().ok()).filter(|t| (0..=99_999_999_999).contains(t)).ok_or_else(|| ApiError::invalid(format!("{name} (unix seconds) is required")))
    };
    let (start, end) = (seconds(&q.start_time, "start_time")?, seconds(&q.end_time, "end_time")?);
    if end < start || end - start > MAX_WINDOW_SECS {
        return Err(ApiError::invalid("end_time must be after start_time, at most 31 days later"));
    }
    let (page, _) = paging(q.page, q.page_size, 10, 20)?;
    Ok(Json(RecordList { total_count: 0, current_page: page, current_size: 0, total_page: 0, record_meetings: Vec::new() }))
}
