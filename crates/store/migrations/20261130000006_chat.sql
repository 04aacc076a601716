-- In-meeting chat, as delivered: one row per message. `recipients` is a JSON array of
-- identities, empty for a message to everyone. Kept per room name (a meeting's room is its
-- meeting id), with the room instance, so a plain LiveKit room's history ends with it.
CREATE TABLE chat_messages (
    room         TEXT NOT NULL,
    room_sid     TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    sender       TEXT NOT NULL,
    sender_name  TEXT NOT NULL,
    recipients   TEXT NOT NULL,
    body         TEXT NOT NULL,
    sent_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (room, sender, message_id)
);
CREATE INDEX chat_messages_by_room ON chat_messages (room, sent_at_ms);
