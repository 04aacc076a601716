//! `GET /v1/meetings/{id}/polls` and `/polls.csv`: a meeting's polls with their results, for
//! its hosts and the enterprise's admins, during and after the meeting. Huiyi's addition
//! (Tencent publishes no survey API). Who chose what is included unless the poll is anonymous.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::access::{acting_id, Caller};
use super::attendance::PageQuery;
use super::error::{ApiError, ErrorBody};
use super::meetings::load;
use super::Q;
use crate::meeting::polls::{view, PollView, Viewer};
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct MeetingPolls {
    pub meeting_id: String,
    pub polls: Vec<PollView>,
}

async fn polls_of(state: &AppState, caller: &Caller, q: &PageQuery, id: &str) -> Result<(huiyi_store::Meeting, Vec<PollView>), ApiError> {
    let user = caller.acting_user(state, acting_id(q.userid.as_deref(), q.operator_id.as_deref(), q.operator_id_type.as_ref())?).await?;
    let m = load(state, caller, &user, id, true).await?;
    let mut out = Vec::new();
    for p in state.store.polls_of_meeting(&m.meeting_id).await? {
        let ballots = state.store.ballots(&p.poll_id).await?;
        out.push(view(&p, &ballots, Viewer::Host));
    }
    Ok((m, out))
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/polls", tag = "polls", params(("meeting_id" = String, Path), PageQuery),
    responses((status = 200, body = MeetingPolls), (status = "4XX", body = ErrorBody)))]
/// The meeting's polls, drafts included, with results (hosts and admins).
pub async fn list(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<PageQuery>) -> Result<Json<MeetingPolls>, ApiError> {
    let (m, polls) = polls_of(&state, &caller, &q, &id).await?;
    Ok(Json(MeetingPolls { meeting_id: m.meeting_id, polls }))
}

#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/polls.csv", tag = "polls", params(("meeting_id" = String, Path), PageQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = "4XX", body = ErrorBody)))]
/// Every launched poll's results as CSV: one row per option with its votes and, unless the
/// poll is anonymous, who chose it.
pub async fn csv(State(state): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<String>, Q(q): Q<PageQuery>) -> Result<Response, ApiError> {
    let (m, polls) = polls_of(&state, &caller, &q, &id).await?;
    let text = csv_text(&polls)?;
    let disposition = format!("attachment; filename=\"polls-{}.csv\"", m.meeting_code);
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)], text).into_response())
}

pub fn csv_text(polls: &[PollView]) -> Result<String, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |_| ApiError::internal();
    w.write_record(["poll", "state", "voters", "question", "option", "votes", "chosen_by"]).map_err(fail)?;
    for p in polls {
        let Some(r) = &p.results else { continue };
        for (qi, question) in p.questions.iter().enumerate() {
            for (oi, option) in question.options.iter().enumerate() {
                let chosen_by = r
                    .ballots
                    .iter()
                    .flatten()
                    .filter(|b| b.answers.get(qi).is_some_and(|a| a.contains(&oi)))
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                let votes = r.counts.get(qi).and_then(|c| c.get(oi)).copied().unwrap_or(0);
                let state = serde_json::to_value(p.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                w.write_record([super::chat::cell(&p.title), state, r.voters.to_string(), super::chat::cell(&question.text), super::chat::cell(option), votes.to_string(), super::chat::cell(&chosen_by)])
                    .map_err(fail)?;
            }
        }
    }
    String::from_utf8(w.into_inner().map_err(|_| ApiError::internal())?).map_err(|_| ApiError::internal())
}
