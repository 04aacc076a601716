-- WHIP ingress endpoints (LiveKit's Ingress API): a stream key that publishes into a room as a
-- fixed participant. `info` is the LiveKit IngressInfo as protobuf JSON (the api crate owns it).
CREATE TABLE ingresses (
    ingress_id     TEXT PRIMARY KEY,
    stream_key     TEXT NOT NULL UNIQUE,
    room           TEXT NOT NULL,
    info           TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL
);
CREATE INDEX ingresses_room ON ingresses (room);
