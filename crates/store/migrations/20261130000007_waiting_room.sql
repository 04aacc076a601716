-- A meeting's waiting room, one row per person (a userid, or a guest's browser id, as in
-- participant_sessions.person): whether they wait now, were admitted (and so never wait again
-- in this meeting unless a host sends them back), were turned away, or left while waiting.
-- `identity` and `display_name` are those of their latest entry; times are Unix milliseconds.
CREATE TABLE waiting_room (
    meeting_id    TEXT NOT NULL REFERENCES meetings(meeting_id),
    person        TEXT NOT NULL,
    identity      TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    state         TEXT NOT NULL,
    entered_at    BIGINT NOT NULL,
    decided_at    BIGINT,
    PRIMARY KEY (meeting_id, person)
);
