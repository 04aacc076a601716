//! Polls ("1-minute surveys") in a meeting: the rules (what a valid draft and a valid ballot
//! are, how ballots are counted, who sees what) as pure functions, and the participant-facing
//! endpoints under `/api/polls`, authenticated by the LiveKit access token of someone admitted
//! to the meeting now ([`crate::presence`]).
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
use utoipa::ToSchema;

use crate::presence::Member;
use crate::AppState;

/// The data topic on which the server announces polls.
pub const POLL_TOPIC: &str = "huiyi.poll";
/// The least time between two result announcements of one poll.
pub const PUSH_INTERVAL: Duration = Duration::from_millis(500);
pub const MAX_QUESTIONS: usize = 10;
pub const MAX_OPTIONS: usize = 10;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_QUESTION_CHARS: usize = 300;
pub const MAX_OPTION_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Question {
    pub text: String,
    /// Several options may be chosen (otherwise exactly one).
    #[serde(default)]
    pub multiple: bool,
    pub options: Vec<String>,
}

/// What a host writes: a new poll, or a draft's new content.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Draft {
    pub title: String,
    pub questions: Vec<Question>,
    /// Count ballots without recording who chose what for anyone to see.
    #[serde(default)]
    pub anonymous: bool,
    /// Participants see the results (hosts always do). Default true.
    #[serde(default = "yes")]
    pub show_results: bool,
}

fn yes() -> bool {
    true
}

fn trimmed(s: &str) -> String {
    s.trim().to_owned()
}

/// Checks a draft and returns it tidied (text trimmed). The message says what is wrong.
pub fn validate(d: &Draft) -> Result<Draft, String> {
    let title = trimmed(&d.title);
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(format!("the title must have 1 to {MAX_TITLE_CHARS} characters"));
    }
    if d.questions.is_empty() || d.questions.len() > MAX_QUESTIONS {
        return Err(format!("a poll has 1 to {MAX_QUESTIONS} questions"));
    }
    let mut questions = Vec::with_capacity(d.questions.len());
    for (i, q) in d.questions.iter().enumerate() {
        let n = i + 1;
        let text = trimmed(&q.text);
        if text.is_empty() || text.chars().count() > MAX_QUESTION_CHARS {
            return Err(format!("question {n} must have 1 to {MAX_QUESTION_CHARS} characters"));
        }
        if q.options.len() < 2 || q.options.len() > MAX_OPTIONS {
            return Err(format!("question {n} needs 2 to {MAX_OPTIONS} options"));
        }
        let options: Vec<String> = q.options.iter().map(|o| trimmed(o)).collect();
        if options.iter().any(|o| o.is_empty() || o.chars().count() > MAX_OPTION_CHARS) {
            return Err(format!("each option of question {n} must have 1 to {MAX_OPTION_CHARS} characters"));
        }
        if options.iter().collect::<HashSet<_>>().len() != options.len() {
            return Err(format!("question {n} has the same option twice"));
        }
        questions.push(Question { text, multiple: q.multiple, options });
    }
    Ok(Draft { title, questions, anonymous: d.anonymous, show_results: d.show_results })
}

/// Checks a ballot against the questions: one answer per question, each a set of valid
/// option indexes, exactly one for a single-choice question and at least one otherwise.
/// Returns it with each answer sorted.
pub fn check_ballot(questions: &[Question], answers: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
    if answers.len() != questions.len() {
        return Err(format!("answer each of the {} questions", questions.len()));
    }
    let mut out = Vec::with_capacity(answers.len());
    for (i, (q, a)) in questions.iter().zip(answers).enumerate() {
        let n = i + 1;
        let mut chosen = a.clone();
        chosen.sort_unstable();
        chosen.dedup();
        if chosen.len() != a.len() {
            return Err(format!("question {n}: an option is chosen twice"));
        }
        if chosen.iter().any(|&o| o >= q.options.len()) {
            return Err(format!("question {n} has no such option"));
        }
        match (q.multiple, chosen.len()) {
            (_, 0) => return Err(format!("question {n} has no answer")),
            (false, 1) | (true, _) => {}
            (false, _) => return Err(format!("question {n} takes one answer")),
        }
        out.push(chosen);
    }
    Ok(out)
}

/// How one poll was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Results {
    /// How many people voted.
    pub voters: usize,
    /// For each question, the votes of each option.
    pub counts: Vec<Vec<u32>>,
    /// Who chose what, in voting order: for hosts, and only when the poll is not anonymous.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ballots: Option<Vec<BallotView>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BallotView {
    pub name: String,
    pub answers: Vec<Vec<usize>>,
    /// Unix milliseconds.
    pub voted_at: i64,
}

/// A ballot as stored, read back (a ballot the store cannot read is skipped, not fatal).
fn answers_of(b: &Ballot) -> Option<Vec<Vec<usize>>> {
    serde_json::from_str(&b.answers).ok()
}

/// Counts the ballots. Ballots that do not fit the questions (none should) are left out.
pub fn tally(questions: &[Question], ballots: &[Ballot], with_names: bool) -> Results {
    let mut counts: Vec<Vec<u32>> = questions.iter().map(|q| vec![0; q.options.len()]).collect();
    let mut voters = 0;
    let mut named = Vec::new();
    for b in ballots {
        let Some(answers) = answers_of(b).filter(|a| check_ballot(questions, a).is_ok()) else { continue };
        voters += 1;
        for (q, chosen) in answers.iter().enumerate() {
            for &o in chosen {
                counts[q][o] += 1;
            }
        }
        if with_names {
            named.push(BallotView { name: b.voter_name.clone(), answers, voted_at: b.voted_at });
        }
    }
    Results { voters, counts, ballots: with_names.then_some(named) }
}

/// One poll as someone sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PollView {
    pub id: String,
    pub title: String,
    pub questions: Vec<Question>,
    pub anonymous: bool,
    pub show_results: bool,
    #[schema(value_type = String)]
    pub state: PollState,
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub launched_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// The results, where the viewer may see them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Results>,
    /// The viewer's own ballot (participant views only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_answers: Option<Vec<Vec<usize>>>,
}

/// Who is looking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// A host or co-host, or the API: results always; names unless anonymous.
    Host,
    Participant,
}

pub fn questions_of(p: &Poll) -> Vec<Question> {
    serde_json::from_str(&p.questions).unwrap_or_default()
}

/// The view of a poll for `viewer`, given its ballots.
pub fn view(p: &Poll, ballots: &[Ballot], viewer: Viewer) -> PollView {
    let questions = questions_of(p);
    let sees = match viewer {
        Viewer::Host => p.state != PollState::Draft,
        Viewer::Participant => p.show_results && p.state != PollState::Draft,
    };
    let results = sees.then(|| tally(&questions, ballots, viewer == Viewer::Host && !p.anonymous));
    PollView {
        id: p.poll_id.clone(),
        title: p.title.clone(),
        questions,
        anonymous: p.anonymous,
        show_results: p.show_results,
        state: p.state,
        created_by: p.creator_name.clone(),
        created_at: p.created_at,
        launched_at: p.launched_at,
        closed_at: p.closed_at,
        results,
        my_answers: None,
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn q(multiple: bool, n: usize) -> Question {
        Question { text: "Which?".into(), multiple, options: (0..n).map(|i| format!("option {i}")).collect() }
    }

    fn draft(questions: Vec<Question>) -> Draft {
        Draft { title: " Lunch ".into(), questions, anonymous: false, show_results: true }
    }

    #[test]
    fn a_draft_is_checked_and_tidied() {
        let ok = validate(&draft(vec![q(false, 2), q(true, MAX_OPTIONS)])).unwrap();
        assert_eq!(ok.title, "Lunch");
        assert!(validate(&draft(vec![])).unwrap_err().contains("questions"));
        assert!(validate(&draft(vec![q(false, 1)])).unwrap_err().contains("2 to"));
        assert!(validate(&draft(vec![q(false, MAX_OPTIONS + 1)])).is_err());
        assert!(validate(&draft(vec![q(false, 2); MAX_QUESTIONS + 1])).is_err());
        assert!(validate(&Draft { title: "  ".into(), ..draft(vec![q(false, 2)]) }).unwrap_err().contains("title"));
        assert!(validate(&Draft { title: "长".repeat(MAX_TITLE_CHARS), ..draft(vec![q(false, 2)]) }).is_ok(), "characters, not bytes");
        let twice = Question { text: "x".into(), multiple: false, options: vec!["a".into(), " a".into()] };
        assert!(validate(&draft(vec![twice])).unwrap_err().contains("twice"));
        let blank = Question { text: "x".into(), multiple: false, options: vec!["a".into(), " ".into()] };
        assert!(validate(&draft(vec![blank])).is_err());
    }

    #[test]
    fn a_ballot_answers_every_question_within_its_options() {
        let qs = [q(false, 3), q(true, 3)];
        assert_eq!(check_ballot(&qs, &[vec![2], vec![2, 0]]).unwrap(), [vec![2], vec![0, 2]]);
        assert!(check_ballot(&qs, &[vec![0]]).unwrap_err().contains("each"));
        assert!(check_ballot(&qs, &[vec![0, 1], vec![0]]).unwrap_err().contains("one answer"));
        assert!(check_ballot(&qs, &[vec![3], vec![0]]).unwrap_err().contains("no such"));
        assert!(check_ballot(&qs, &[vec![0], vec![]]).unwrap_err().contains("no answer"));
        assert!(check_ballot(&qs, &[vec![0], vec![1, 1]]).unwrap_err().contains("twice"));
    }

    fn poll(anonymous: bool, show_results: bool, state: PollState) -> Poll {
        Poll {
            poll_id: "PL_1".into(),
            meeting_id: "m".into(),
            creator: "h".into(),
            creator_name: "Host".into(),
            title: "t".into(),
            questions: serde_json::to_string(&[q(false, 2), q(true, 3)]).unwrap(),
            anonymous,
            show_results,
            state,
            created_at: 1,
            launched_at: Some(2),
            closed_at: None,
        }
    }

    fn ballot(who: &str, answers: &str) -> Ballot {
        Ballot { poll_id: "PL_1".into(), voter: who.into(), voter_name: who.to_uppercase(), answers: answers.into(), voted_at: 3 }
    }

    #[test]
    fn results_count_each_option_and_show_names_to_hosts_of_named_polls_only() {
        let ballots = [ballot("a", "[[0],[0,2]]"), ballot("b", "[[1],[2]]"), ballot("junk", "[[5],[0]]"), ballot("garbled", "nope")];
        let host = view(&poll(false, true, PollState::Live), &ballots, Viewer::Host).results.unwrap();
        assert_eq!(host.voters, 2, "ballots that do not fit are not counted");
        assert_eq!(host.counts, [vec![1, 1], vec![1, 0, 2]]);
        assert_eq!(host.ballots.unwrap().iter().map(|b| b.name.as_str()).collect::<Vec<_>>(), ["A", "B"]);
        let participant = view(&poll(false, true, PollState::Live), &ballots, Viewer::Participant).results.unwrap();
        assert_eq!((participant.counts.clone(), participant.ballots), (host.counts.clone(), None));
        assert!(view(&poll(true, true, PollState::Closed), &ballots, Viewer::Host).results.unwrap().ballots.is_none(), "anonymous");
        assert!(view(&poll(false, false, PollState::Live), &ballots, Viewer::Participant).results.is_none(), "results hidden");
        assert!(view(&poll(false, false, PollState::Live), &ballots, Viewer::Host).results.is_some(), "hosts always see them");
        assert!(view(&poll(false, true, PollState::Draft), &[], Viewer::Host).results.is_none());
    }
}
