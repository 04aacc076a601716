-- The live controls a host set during a meeting (mute all, self-unmute, lock, screen sharing),
-- as JSON. They outlive a restart of the server, and end with the meeting.
CREATE TABLE meeting_controls (
    meeting_id   TEXT PRIMARY KEY REFERENCES meetings(meeting_id),
    controls     TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
