//! A meeting's polls and their ballots. The store keeps the questions as the JSON the API
//! validated and answers each state change with one conditional statement, so the rules that
//! must hold under concurrent requests (one live poll per meeting, one ballot per person, no
//! ballot outside a live poll, edits to drafts only) hold in the database, not in a check
//! before it.

use sqlx::any::AnyRow;

use crate::{get, Result, Store, StoreError};

/// The most polls one meeting keeps, drafts included.
pub const MAX_MEETING_POLLS: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PollState {
    Draft,
    Live,
    Closed,
}

impl PollState {
    pub fn as_str(self) -> &'static str {
        match self {
            PollState::Draft => "draft",
            PollState::Live => "live",
            PollState::Closed => "closed",
        }
    }

    fn parse(s: &str) -> Result<PollState> {
        Ok(match s {
            "draft" => PollState::Draft,
            "live" => PollState::Live,
            "closed" => PollState::Closed,
            other => return Err(StoreError::Corrupt(format!("poll state {other:?}"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    pub poll_id: String,
    pub meeting_id: String,
    /// The person who drafted it.
    pub creator: String,
    pub creator_name: String,
    pub title: String,
    /// JSON, as the API validated it.
    pub questions: String,
    /// Ballots are counted but nobody, hosts included, sees who chose what.
    pub anonymous: bool,
    /// Participants see the results (hosts always do).
    pub show_results: bool,
    pub state: PollState,
    pub created_at: i64,
    pub launched_at: Option<i64>,
    pub closed_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ballot {
    pub poll_id: String,
    pub voter: String,
    pub voter_name: String,
    /// JSON: for each question, the chosen option indexes.
    pub answers: String,
    pub voted_at: i64,
}

/// Why a state change did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollRefusal {
    NotFound,
    /// The poll is not in the state the change needs (e.g. editing a launched poll).
    WrongState(PollState),
    /// Another poll of the meeting is live.
    AnotherLive,
    /// This person has voted already.
    AlreadyVoted,
    /// The meeting has [`MAX_MEETING_POLLS`] polls.
    TooMany,
}

const COLUMNS: &str = "poll_id, meeting_id, creator, creator_name, title, questions, anonymous, show_results, state, created_at, launched_at, closed_at";

fn poll_from_row(row: &AnyRow) -> Result<Poll> {
    let state: String = get(row, "state")?;
    Ok(Poll {
        poll_id: get(row, "poll_id")?,
        meeting_id: get(row, "meeting_id")?,
        creator: get(row, "creator")?,
        creator_name: get(row, "creator_name")?,
        title: get(row, "title")?,
        questions: get(row, "questions")?,
        anonymous: get::<i64>(row, "anonymous")? != 0,
        show_results: get::<i64>(row, "show_results")? != 0,
        state: PollState::parse(&state)?,
        created_at: get(row, "created_at")?,
        launched_at: get(row, "launched_at")?,
        closed_at: get(row, "closed_at")?,
    })
}

impl Store {
    /// Stores a new draft, unless the meeting has [`MAX_MEETING_POLLS`] polls. The count and the
    /// insert are one statement, so concurrent drafts cannot pass the limit together.
    pub async fn create_poll(&self, p: &Poll) -> Result<std::result::Result<(), PollRefusal>> {
        let done = sqlx::query(
            "INSERT INTO polls (poll_id, meeting_id, creator, creator_name, title, questions, anonymous, show_results, state, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, 'draft', $9 WHERE (SELECT COUNT(*) FROM polls WHERE meeting_id = $2) < $10",
        )
        .bind(&p.poll_id)
        .bind(&p.meeting_id)
        .bind(&p.creator)
        .bind(&p.creator_name)
        .bind(&p.title)
        .bind(&p.questions)
        .bind(p.anonymous as i64)
        .bind(p.show_results as i64)
        .bind(p.created_at)
        .bind(MAX_MEETING_POLLS)
        .execute(&self.pool)
        .await?;
        Ok(if done.rows_affected() == 1 { Ok(()) } else { Err(PollRefusal::TooMany) })
    }

    pub async fn poll(&self, meeting_id: &str, poll_id: &str) -> Result<Poll> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM polls WHERE meeting_id = $1 AND poll_id = $2"))
            .bind(meeting_id)
            .bind(poll_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        poll_from_row(&row)
    }

    /// A meeting's polls, oldest first.
    pub async fn polls_of_meeting(&self, meeting_id: &str) -> Result<Vec<Poll>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM polls WHERE meeting_id = $1 ORDER BY created_at, poll_id"))
            .bind(meeting_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(poll_from_row).collect()
    }

    /// Why a conditional change to a poll did not apply.
    async fn refusal(&self, meeting_id: &str, poll_id: &str) -> Result<PollRefusal> {
        match self.poll(meeting_id, poll_id).await {
            Ok(p) => Ok(PollRefusal::WrongState(p.state)),
            Err(StoreError::NotFound) => Ok(PollRefusal::NotFound),
            Err(e) => Err(e),
        }
    }

    /// Replaces a draft's content; a launched or closed poll stays as it was.
    pub async fn edit_poll(&self, p: &Poll) -> Result<std::result::Result<(), PollRefusal>> {
        let done = sqlx::query(
            "UPDATE polls SET title = $3, questions = $4, anonymous = $5, show_results = $6 \
             WHERE meeting_id = $1 AND poll_id = $2 AND state = 'draft'",
        )
        .bind(&p.meeting_id)
        .bind(&p.poll_id)
        .bind(&p.title)
        .bind(&p.questions)
        .bind(p.anonymous as i64)
        .bind(p.show_results as i64)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 { Ok(Ok(())) } else { Ok(Err(self.refusal(&p.meeting_id, &p.poll_id).await?)) }
    }

    /// Deletes a draft (launched polls are the meeting's record and stay).
    pub async fn delete_poll(&self, meeting_id: &str, poll_id: &str) -> Result<std::result::Result<(), PollRefusal>> {
        let done = sqlx::query("DELETE FROM polls WHERE meeting_id = $1 AND poll_id = $2 AND state = 'draft'")
            .bind(meeting_id)
            .bind(poll_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 1 { Ok(Ok(())) } else { Ok(Err(self.refusal(meeting_id, poll_id).await?)) }
    }

    /// Launches a draft, unless another poll of the meeting is live: the unique index on live
    /// polls refuses the second of two concurrent launches.
    pub async fn launch_poll(&self, meeting_id: &str, poll_id: &str, now_ms: i64) -> Result<std::result::Result<(), PollRefusal>> {
        let done = sqlx::query(
            "UPDATE polls SET state = 'live', launched_at = $3 WHERE meeting_id = $1 AND poll_id = $2 AND state = 'draft' \
             AND NOT EXISTS (SELECT 1 FROM polls WHERE meeting_id = $1 AND state = 'live')",
        )
        .bind(meeting_id)
        .bind(poll_id)
        .bind(now_ms)
        .execute(&self.pool)
        .await;
        match done {
            Ok(d) if d.rows_affected() == 1 => Ok(Ok(())),
            Ok(_) => match self.refusal(meeting_id, poll_id).await? {
                PollRefusal::WrongState(PollState::Draft) => Ok(Err(PollRefusal::AnotherLive)),
                other => Ok(Err(other)),
            },
            // The index's refusal: someone else launched in between.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(Err(PollRefusal::AnotherLive)),
            Err(e) => Err(e.into()),
        }
    }

    /// Closes a live poll: no more ballots.
    pub async fn close_poll(&self, meeting_id: &str, poll_id: &str, now_ms: i64) -> Result<std::result::Result<(), PollRefusal>> {
        let done = sqlx::query("UPDATE polls SET state = 'closed', closed_at = $3 WHERE meeting_id = $1 AND poll_id = $2 AND state = 'live'")
            .bind(meeting_id)
            .bind(poll_id)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 1 { Ok(Ok(())) } else { Ok(Err(self.refusal(meeting_id, poll_id).await?)) }
    }

    /// Closes whatever poll of the meeting is live (when the meeting ends).
    pub async fn close_live_polls(&self, meeting_id: &str, now_ms: i64) -> Result<u64> {
        let done = sqlx::query("UPDATE polls SET state = 'closed', closed_at = $2 WHERE meeting_id = $1 AND state = 'live'")
            .bind(meeting_id)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Records a ballot if the poll is live and this person has not voted: one statement, so
    /// neither a closing poll nor a second concurrent ballot gets through.
    pub async fn vote(&self, meeting_id: &str, b: &Ballot) -> Result<std::result::Result<(), PollRefusal>> {
        let done = sqlx::query(
            "INSERT INTO poll_votes (poll_id, voter, voter_name, answers, voted_at) \
             SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM polls WHERE poll_id = $1 AND meeting_id = $6 AND state = 'live') \
             ON CONFLICT DO NOTHING",
        )
        .bind(&b.poll_id)
        .bind(&b.voter)
        .bind(&b.voter_name)
        .bind(&b.answers)
        .bind(b.voted_at)
        .bind(meeting_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(Ok(()));
        }
        Ok(Err(match self.refusal(meeting_id, &b.poll_id).await? {
            PollRefusal::WrongState(PollState::Live) => PollRefusal::AlreadyVoted,
            other => other,
        }))
    }

    /// A poll's ballots, in the order they were cast.
    pub async fn ballots(&self, poll_id: &str) -> Result<Vec<Ballot>> {
        let rows = sqlx::query("SELECT poll_id, voter, voter_name, answers, voted_at FROM poll_votes WHERE poll_id = $1 ORDER BY voted_at, voter")
            .bind(poll_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Ballot {
                    poll_id: get(row, "poll_id")?,
                    voter: get(row, "voter")?,
                    voter_name: get(row, "voter_name")?,
                    answers: get(row, "answers")?,
                    voted_at: get(row, "voted_at")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(id: &str, meeting: &str) -> Poll {
        Poll {
            poll_id: id.into(),
            meeting_id: meeting.into(),
            creator: "host".into(),
            creator_name: "主持人".into(),
            title: format!("poll {id}"),
            questions: r#"[{"text":"q","multiple":false,"options":["a","b"]}]"#.into(),
            anonymous: false,
            show_results: true,
            state: PollState::Draft,
            created_at: 1,
            launched_at: None,
            closed_at: None,
        }
    }

    fn ballot(poll: &str, voter: &str) -> Ballot {
        Ballot { poll_id: poll.into(), voter: voter.into(), voter_name: voter.to_uppercase(), answers: "[[0]]".into(), voted_at: 5 }
    }

    #[tokio::test]
    async fn a_poll_goes_draft_live_closed_and_takes_one_ballot_per_person_only_while_live() {
        let store = crate::testing::store().await;
        let m = crate::testing::meeting(&store).await;
        store.create_poll(&poll("p1", &m)).await.unwrap().unwrap();
        store.create_poll(&poll("p2", &m)).await.unwrap().unwrap();
        assert_eq!(store.vote(&m, &ballot("p1", "bob")).await.unwrap(), Err(PollRefusal::WrongState(PollState::Draft)));
        store.edit_poll(&Poll { title: "edited".into(), anonymous: true, ..poll("p1", &m) }).await.unwrap().unwrap();
        store.launch_poll(&m, "p1", 10).await.unwrap().unwrap();
        assert_eq!(store.launch_poll(&m, "p2", 11).await.unwrap(), Err(PollRefusal::AnotherLive), "one live poll at a time");
        assert_eq!(store.edit_poll(&poll("p1", &m)).await.unwrap(), Err(PollRefusal::WrongState(PollState::Live)));
        assert_eq!(store.delete_poll(&m, "p1").await.unwrap(), Err(PollRefusal::WrongState(PollState::Live)));
        store.vote(&m, &ballot("p1", "bob")).await.unwrap().unwrap();
        assert_eq!(store.vote(&m, &ballot("p1", "bob")).await.unwrap(), Err(PollRefusal::AlreadyVoted));
        assert_eq!(store.vote("another-meeting", &ballot("p1", "carol")).await.unwrap(), Err(PollRefusal::NotFound), "a ballot names its meeting");
        store.close_poll(&m, "p1", 20).await.unwrap().unwrap();
        assert_eq!(store.vote(&m, &ballot("p1", "carol")).await.unwrap(), Err(PollRefusal::WrongState(PollState::Closed)));
        store.launch_poll(&m, "p2", 30).await.unwrap().unwrap();
        store.delete_poll(&m, "nope").await.unwrap().unwrap_err();
        let polls = store.polls_of_meeting(&m).await.unwrap();
        assert_eq!(polls.iter().map(|p| (p.poll_id.as_str(), p.state)).collect::<Vec<_>>(), [("p1", PollState::Closed), ("p2", PollState::Live)]);
        assert_eq!((polls[0].title.as_str(), polls[0].anonymous, polls[0].launched_at, polls[0].closed_at), ("edited", true, Some(10), Some(20)));
        assert_eq!(store.ballots("p1").await.unwrap(), [ballot("p1", "bob")]);
        assert_eq!(store.close_live_polls(&m, 40).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn concurrent_ballots_and_launches_keep_the_rules() {
        let store = crate::testing::store().await;
        let m = crate::testing::meeting(&store).await;
        for i in 0..4 {
            store.create_poll(&poll(&format!("p{i}"), &m)).await.unwrap().unwrap();
        }
        let launches = futures_util::future::join_all((0..4).map(|i| {
            let (store, m) = (store.clone(), m.clone());
            async move { store.launch_poll(&m, &format!("p{i}"), 1).await.unwrap() }
        }))
        .await;
        assert_eq!(launches.iter().filter(|r| r.is_ok()).count(), 1, "{launches:?}");
        let live = store.polls_of_meeting(&m).await.unwrap().into_iter().find(|p| p.state == PollState::Live).unwrap();
        let votes = futures_util::future::join_all((0..8).map(|_| {
            let (store, m, id) = (store.clone(), m.clone(), live.poll_id.clone());
            async move { store.vote(&m, &ballot(&id, "same-person")).await.unwrap() }
        }))
        .await;
        assert_eq!(votes.iter().filter(|r| r.is_ok()).count(), 1, "{votes:?}");
        assert_eq!(store.ballots(&live.poll_id).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_meeting_holds_a_bounded_number_of_polls() {
        let store = crate::testing::store().await;
        let m = crate::testing::meeting(&store).await;
        for i in 0..MAX_MEETING_POLLS {
            store.create_poll(&poll(&format!("p{i}"), &m)).await.unwrap().unwrap();
        }
        assert_eq!(store.create_poll(&poll("one-more", &m)).await.unwrap(), Err(PollRefusal::TooMany));
    }
}
