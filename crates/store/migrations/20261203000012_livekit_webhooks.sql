-- LiveKit-style webhooks (egress_started, egress_updated, egress_ended, ingress_started,
-- ingress_ended) to the URLs in the server's configuration: one row per (event, URL), written
-- when the event happens and delivered at least once, as the Tencent outbox is.
CREATE TABLE livekit_webhook_deliveries (
    delivery_id      TEXT PRIMARY KEY,
    url              TEXT NOT NULL,
    event            TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX livekit_webhook_due ON livekit_webhook_deliveries (status, next_attempt_at);
