//! Polls ("1-minute surveys") in a meeting: the participant-facing endpoints under
//! `/api/polls`, authenticated by the LiveKit access token of someone admitted to the meeting
//! now ([`crate::presence`]). The rules are `crate::meeting::polls`.
//!
//! Hosts and co-hosts draft, edit, launch and close polls; everyone admitted votes once per
//! person. The store is the authority (one live poll per meeting, one ballot per person, no
//! ballot outside a live poll). Each change is announced on the data topic `huiyi.poll` (see
//! docs/protocol.md): hosts get the results always, participants only when the poll shows
//! them, and nobody sees who chose what in an anonymous poll. Ballots are announced at most
//! every [`PUSH_INTERVAL`] per poll, so a thousand voters cost a few dozen broadcasts.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use huiyi_proto::lk;
use huiyi_store::{Ballot, Poll, PollRefusal, PollState};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::presence::Member;
use crate::AppState;

use crate::meeting::polls::{answers_of, check_ballot, questions_of, validate, view, Draft, PollView, Viewer};

/// The data topic on which the server announces polls.
pub const POLL_TOPIC: &str = "huiyi.poll";
/// The least time between two result announcements of one poll.
pub const PUSH_INTERVAL: Duration = Duration::from_millis(500);
/// What `/api/polls` answers with on a refusal: a stable code for apps to translate, and a
/// message in English.
#[derive(Debug, Serialize)]
struct Refusal {
    code: &'static str,
    message: String,
}

fn refuse(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    (status, Json(Refusal { code, message: message.into() })).into_response()
}

fn store_failed(e: huiyi_store::StoreError) -> Response {
    warn!(%e, "poll storage failed");
    refuse(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "cannot reach the meeting's polls right now; try again")
}

fn refused(r: PollRefusal) -> Response {
    match r {
        PollRefusal::NotFound => refuse(StatusCode::NOT_FOUND, "not_found", "no such poll in this meeting"),
        PollRefusal::WrongState(PollState::Draft) => refuse(StatusCode::CONFLICT, "not_launched", "the poll has not been launched"),
        PollRefusal::WrongState(PollState::Live) => refuse(StatusCode::CONFLICT, "live", "the poll is running; close it first"),
        PollRefusal::WrongState(PollState::Closed) => refuse(StatusCode::CONFLICT, "closed", "the poll is closed"),
        PollRefusal::AnotherLive => refuse(StatusCode::CONFLICT, "another_live", "another poll is running; close it first"),
        PollRefusal::AlreadyVoted => refuse(StatusCode::CONFLICT, "already_voted", "you have voted in this poll"),
        PollRefusal::TooMany => refuse(StatusCode::CONFLICT, "too_many", format!("a meeting holds at most {} polls", huiyi_store::MAX_MEETING_POLLS)),
    }
}

/// The caller, admitted to a meeting's room now (polls belong to meetings, not plain rooms).
async fn caller(state: &AppState, query: &HashMap<String, String>, headers: &HeaderMap) -> Result<Member, Response> {
    let member = crate::presence::member(state, query, headers).await?;
    match state.store.meeting_for_room(&member.room).await {
        Ok(_) => Ok(member),
        Err(huiyi_store::StoreError::NotFound) => Err(refuse(StatusCode::NOT_FOUND, "not_a_meeting", "polls belong to meetings; this room is not one")),
        Err(e) => Err(store_failed(e)),
    }
}

fn host_only(m: &Member) -> Result<(), Response> {
    if m.host { Ok(()) } else { Err(refuse(StatusCode::FORBIDDEN, "not_host", "only the hosts and co-hosts run polls")) }
}

#[derive(Serialize)]
pub struct PollList {
    pub polls: Vec<PollView>,
}

/// `GET /api/polls`: the meeting's polls as the caller sees them (drafts for hosts only), each
/// with the caller's own ballot.
pub async fn list(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let m = match caller(&state, &query, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let polls = match state.store.polls_of_meeting(&m.room).await {
        Ok(p) => p,
        Err(e) => return store_failed(e),
    };
    let viewer = if m.host { Viewer::Host } else { Viewer::Participant };
    let mut out = Vec::new();
    for p in polls.iter().filter(|p| m.host || p.state != PollState::Draft) {
        let ballots = match state.store.ballots(&p.poll_id).await {
            Ok(b) => b,
            Err(e) => return store_failed(e),
        };
        let mut v = view(p, &ballots, viewer);
        v.my_answers = ballots.iter().find(|b| b.voter == m.person).and_then(answers_of);
        out.push(v);
    }
    Json(PollList { polls: out }).into_response()
}

/// `POST /api/polls`: a host drafts a poll.
pub async fn create(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap, body: Result<Json<Draft>, axum::extract::rejection::JsonRejection>) -> Response {
    let m = match caller(&state, &query, &headers).await.and_then(|m| host_only(&m).map(|()| m)) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let draft = match body.map_err(|e| e.body_text()).and_then(|Json(d)| validate(&d)) {
        Ok(d) => d,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, "invalid", why),
    };
    let poll = Poll {
        poll_id: format!("PL_{}", huiyi_store::random_id(12)),
        meeting_id: m.room.clone(),
        creator: m.person.clone(),
        creator_name: m.name.clone(),
        title: draft.title,
        questions: serde_json::to_string(&draft.questions).expect("questions serialise"),
        anonymous: draft.anonymous,
        show_results: draft.show_results,
        state: PollState::Draft,
        created_at: crate::rtc::unix_millis(),
        launched_at: None,
        closed_at: None,
    };
    match state.store.create_poll(&poll).await {
        Ok(Ok(())) => (StatusCode::CREATED, Json(view(&poll, &[], Viewer::Host))).into_response(),
        Ok(Err(r)) => refused(r),
        Err(e) => store_failed(e),
    }
}

/// `PUT /api/polls/{poll_id}`: a host rewrites a draft.
pub async fn update(
    State(state): State<AppState>,
    Path(poll_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Result<Json<Draft>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let m = match caller(&state, &query, &headers).await.and_then(|m| host_only(&m).map(|()| m)) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let draft = match body.map_err(|e| e.body_text()).and_then(|Json(d)| validate(&d)) {
        Ok(d) => d,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, "invalid", why),
    };
    let mut poll = match state.store.poll(&m.room, &poll_id).await {
        Ok(p) => p,
        Err(huiyi_store::StoreError::NotFound) => return refused(PollRefusal::NotFound),
        Err(e) => return store_failed(e),
    };
    poll.title = draft.title;
    poll.questions = serde_json::to_string(&draft.questions).expect("questions serialise");
    poll.anonymous = draft.anonymous;
    poll.show_results = draft.show_results;
    match state.store.edit_poll(&poll).await {
        Ok(Ok(())) => Json(view(&poll, &[], Viewer::Host)).into_response(),
        Ok(Err(r)) => refused(r),
        Err(e) => store_failed(e),
    }
}

/// `DELETE /api/polls/{poll_id}`: a host discards a draft.
pub async fn delete(State(state): State<AppState>, Path(poll_id): Path<String>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let m = match caller(&state, &query, &headers).await.and_then(|m| host_only(&m).map(|()| m)) {
        Ok(m) => m,
        Err(r) => return r,
    };
    match state.store.delete_poll(&m.room, &poll_id).await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(r)) => refused(r),
        Err(e) => store_failed(e),
    }
}

/// `POST /api/polls/{poll_id}/launch` and `/close`: a host starts or ends a poll.
pub async fn transition(
    State(state): State<AppState>,
    Path((poll_id, action)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let m = match caller(&state, &query, &headers).await.and_then(|m| host_only(&m).map(|()| m)) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let now = crate::rtc::unix_millis();
    let done = match action.as_str() {
        "launch" => state.store.launch_poll(&m.room, &poll_id, now).await,
        "close" => state.store.close_poll(&m.room, &poll_id, now).await,
        _ => return refuse(StatusCode::NOT_FOUND, "not_found", "no such action: use launch or close"),
    };
    match done {
        Ok(Ok(())) => {}
        Ok(Err(r)) => return refused(r),
        Err(e) => return store_failed(e),
    }
    announce(&state, &m.room, &poll_id).await;
    match state.store.poll(&m.room, &poll_id).await {
        Ok(p) => {
            let ballots = state.store.ballots(&poll_id).await.unwrap_or_default();
            Json(view(&p, &ballots, Viewer::Host)).into_response()
        }
        Err(e) => store_failed(e),
    }
}

#[derive(Deserialize)]
pub struct Vote {
    pub answers: Vec<Vec<usize>>,
}

/// `POST /api/polls/{poll_id}/votes`: the caller's one ballot.
pub async fn vote(
    State(state): State<AppState>,
    Path(poll_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Result<Json<Vote>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let m = match caller(&state, &query, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let Ok(Json(vote)) = body else {
        return refuse(StatusCode::BAD_REQUEST, "invalid", "expected JSON {\"answers\": [[option index, ...], ...]}");
    };
    let poll = match state.store.poll(&m.room, &poll_id).await {
        Ok(p) => p,
        Err(huiyi_store::StoreError::NotFound) => return refused(PollRefusal::NotFound),
        Err(e) => return store_failed(e),
    };
    let answers = match check_ballot(&questions_of(&poll), &vote.answers) {
        Ok(a) => a,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, "invalid", why),
    };
    let ballot = Ballot {
        poll_id: poll_id.clone(),
        voter: m.person.clone(),
        voter_name: m.name.clone(),
        answers: serde_json::to_string(&answers).expect("answers serialise"),
        voted_at: crate::rtc::unix_millis(),
    };
    match state.store.vote(&m.room, &ballot).await {
        Ok(Ok(())) => {}
        Ok(Err(r)) => return refused(r),
        Err(e) => return store_failed(e),
    }
    schedule_announce(&state, &m.room, &poll_id);
    let ballots = state.store.ballots(&poll_id).await.unwrap_or_default();
    let mut v = view(&poll, &ballots, if m.host { Viewer::Host } else { Viewer::Participant });
    v.my_answers = Some(answers);
    Json(v).into_response()
}

/// Polls whose results announcement is already scheduled.
#[derive(Clone, Default)]
pub struct Pushes(Arc<Mutex<HashSet<String>>>);

/// Announces a poll's results after [`PUSH_INTERVAL`], once for all the ballots cast meanwhile.
fn schedule_announce(state: &AppState, room: &str, poll_id: &str) {
    {
        let mut pending = state.poll_pushes.0.lock().unwrap_or_else(|e| e.into_inner());
        if !pending.insert(poll_id.to_owned()) {
            return;
        }
    }
    let (state, room, poll_id) = (state.clone(), room.to_owned(), poll_id.to_owned());
    tokio::spawn(async move {
        tokio::time::sleep(PUSH_INTERVAL).await;
        state.poll_pushes.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&poll_id);
        announce(&state, &room, &poll_id).await;
    });
}

/// What goes out on [`POLL_TOPIC`].
#[derive(Serialize)]
struct Announcement<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    poll: &'a PollView,
}

/// Sends the poll's current view to everyone admitted to the room: the host view to hosts,
/// the participant view to the others. A draft is never announced.
pub async fn announce(state: &AppState, room: &str, poll_id: &str) {
    let (poll, ballots) = match state.store.poll(room, poll_id).await {
        Ok(p) => {
            let b = state.store.ballots(poll_id).await.unwrap_or_default();
            (p, b)
        }
        Err(e) => {
            warn!(%e, poll_id, "cannot announce a poll");
            return;
        }
    };
    if poll.state == PollState::Draft {
        return;
    }
    let encode = |viewer| serde_json::to_vec(&Announcement { kind: "poll", poll: &view(&poll, &ballots, viewer) }).expect("a poll view serialises");
    let (for_hosts, for_others) = (encode(Viewer::Host), encode(Viewer::Participant));
    let room = room.to_owned();
    let sent = state
        .sfu
        .with_engine(move |e, now| {
            let Ok(people) = e.list_participants(&room) else { return };
            let admitted = people.iter().filter(|p| !p.attributes.contains_key(huiyi_sfu_core::WAITING_ATTRIBUTE));
            let (hosts, others): (Vec<_>, Vec<_>) = admitted.partition(|p| huiyi_sfu_core::interaction::is_host(&p.attributes));
            for (to, data) in [(hosts, for_hosts), (others, for_others)] {
                if to.is_empty() {
                    continue;
                }
                let req = lk::SendDataRequest {
                    room: room.clone(),
                    data,
                    kind: lk::data_packet::Kind::Reliable as i32,
                    destination_identities: to.iter().map(|p| p.identity.clone()).collect(),
                    topic: Some(POLL_TOPIC.to_owned()),
                    ..Default::default()
                };
                let _ = e.send_data_from_server(now, &req);
            }
        })
        .await;
    if sent.is_err() {
        warn!("the media server is gone; a poll was not announced");
    }
}

