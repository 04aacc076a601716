-- Recording and streaming jobs (LiveKit's egress): one row per job, kept after it ends so
-- ListEgress and the meeting's recordings survive a restart. `info` is the job's LiveKit
-- EgressInfo as protobuf JSON (the api crate owns its meaning); `status` mirrors its status
-- so active jobs can be found without parsing it.
CREATE TABLE egress_jobs (
    egress_id      TEXT PRIMARY KEY,
    room           TEXT NOT NULL,
    -- The meeting a cloud recording belongs to ('' for plain LiveKit rooms), and its enterprise.
    meeting_id     TEXT NOT NULL DEFAULT '',
    enterprise_id  TEXT NOT NULL DEFAULT '',
    status         INTEGER NOT NULL,
    info           TEXT NOT NULL,
    started_at_ms  BIGINT NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);
CREATE INDEX egress_jobs_room ON egress_jobs (room, started_at_ms);
CREATE INDEX egress_jobs_status ON egress_jobs (status);
CREATE INDEX egress_jobs_meeting ON egress_jobs (enterprise_id, meeting_id, started_at_ms);
