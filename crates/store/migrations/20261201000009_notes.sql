-- Shared meeting notes: the Yjs updates of one collaborative document per room (a meeting's
-- room is its meeting id), in the order the server applied them. `data` is a Yjs v1 update,
-- base64 in TEXT so the same column works on SQLite and PostgreSQL. Compaction replaces the
-- rows up to some `seq` with one row at that `seq` holding the merged state (a snapshot).
CREATE TABLE notes_updates (
    room           TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    data           TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (room, seq)
);
