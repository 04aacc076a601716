-- A meeting's polls ("1-minute surveys"). `questions` is the JSON the API validated (a list of
-- {text, multiple, options}); `state` is draft, live or closed, and at most one poll of a
-- meeting is live at a time (the partial unique index holds that under concurrent launches).
-- Times are Unix milliseconds.
CREATE TABLE polls (
    poll_id       TEXT PRIMARY KEY,
    meeting_id    TEXT NOT NULL REFERENCES meetings(meeting_id),
    creator       TEXT NOT NULL,
    creator_name  TEXT NOT NULL,
    title         TEXT NOT NULL,
    questions     TEXT NOT NULL,
    anonymous     BIGINT NOT NULL,
    show_results  BIGINT NOT NULL,
    state         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    launched_at   BIGINT,
    closed_at     BIGINT
);
CREATE INDEX polls_by_meeting ON polls (meeting_id, created_at);
CREATE UNIQUE INDEX polls_one_live ON polls (meeting_id) WHERE state = 'live';

-- One ballot per person and poll (a userid, or a guest's browser id). `answers` is JSON: for
-- each question, the chosen option indexes.
CREATE TABLE poll_votes (
    poll_id     TEXT NOT NULL REFERENCES polls(poll_id),
    voter       TEXT NOT NULL,
    voter_name  TEXT NOT NULL,
    answers     TEXT NOT NULL,
    voted_at    BIGINT NOT NULL,
    PRIMARY KEY (poll_id, voter)
);
