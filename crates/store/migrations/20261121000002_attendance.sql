-- One row per participant session in a meeting's room: who, from where, and for how long.
CREATE TABLE participant_sessions (
    participant_sid  TEXT PRIMARY KEY,
    meeting_id       TEXT NOT NULL REFERENCES meetings(meeting_id),
    identity         TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    role             TEXT NOT NULL,
    client_addr      TEXT NOT NULL DEFAULT '',
    joined_at        BIGINT NOT NULL,
    left_at          BIGINT
);
CREATE INDEX participant_sessions_by_meeting ON participant_sessions (meeting_id, joined_at);
