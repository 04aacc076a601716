-- People a host removed from a meeting: they cannot join that meeting again until a host lets
-- them back. `person` is the userid of a signed-in user, or the guest's browser id, as in
-- participant_sessions.person.
CREATE TABLE meeting_removals (
    meeting_id   TEXT NOT NULL REFERENCES meetings(meeting_id),
    person       TEXT NOT NULL,
    removed_at   BIGINT NOT NULL,
    PRIMARY KEY (meeting_id, person)
);
