-- Portal sign-in, attendance per person and device, and webhook subscriptions with their
-- durable outbox. Portable SQL, like every migration here.

-- An email signs in to one account; accounts without an email (created by the API) need none.
CREATE UNIQUE INDEX users_email ON users (email) WHERE email <> '';

-- A signed-in browser. The cookie holds a random value; only its SHA-256 is stored.
CREATE TABLE web_sessions (
    token_hash     TEXT PRIMARY KEY,
    enterprise_id  TEXT NOT NULL,
    userid         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX web_sessions_by_user ON web_sessions (enterprise_id, userid);

-- Who a session belongs to beyond the media identity: the person (userid, or the guest's
-- browser id) and the device (instance id) they joined from.
ALTER TABLE participant_sessions ADD COLUMN person TEXT NOT NULL DEFAULT '';
ALTER TABLE participant_sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';

CREATE TABLE webhooks (
    webhook_id     TEXT PRIMARY KEY,
    enterprise_id  TEXT NOT NULL REFERENCES enterprises(id),
    url            TEXT NOT NULL,
    token          TEXT NOT NULL,
    aes_key        TEXT,
    -- The subscribed events, comma-separated with a leading and trailing comma (",a,b,").
    events         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    deleted_at     BIGINT
);

-- The outbox: one row per (event, subscription), written when the event happens and
-- delivered at least once by the webhook worker.
CREATE TABLE webhook_deliveries (
    delivery_id       TEXT PRIMARY KEY,
    webhook_id        TEXT NOT NULL REFERENCES webhooks(webhook_id),
    event             TEXT NOT NULL,
    body              TEXT NOT NULL,
    status            TEXT NOT NULL,
    attempts          BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT NOT NULL,
    last_status_code  BIGINT,
    last_error        TEXT NOT NULL DEFAULT '',
    created_at        BIGINT NOT NULL,
    delivered_at      BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, created_at);

-- Every delivery attempt, for the delivery log.
CREATE TABLE webhook_attempts (
    delivery_id  TEXT NOT NULL REFERENCES webhook_deliveries(delivery_id),
    attempt      BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    status_code  BIGINT,
    error        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (delivery_id, attempt)
);
