//! The rules of polls ("1-minute surveys"), as pure functions over the store's rows: what a
//! valid draft and a valid ballot are, how ballots are counted, and what each viewer sees
//! (hosts always see results, and names unless the poll is anonymous; participants see
//! results only when the poll shows them). `crate::polls` serves them over HTTP.

use std::collections::HashSet;

use huiyi_store::{Ballot, Poll, PollState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
pub fn answers_of(b: &Ballot) -> Option<Vec<Vec<usize>>> {
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
