//! In-meeting chat: every message the media engine delivered, written by the recorder and
//! read back for late joiners, reconnects, and the API after the meeting.

use sqlx::any::AnyRow;

use crate::{get, Result, Store};

/// The most messages one room keeps; later ones are delivered live but not stored.
pub const MAX_ROOM_MESSAGES: i64 = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChatMessage {
    pub room: String,
    pub room_sid: String,
    pub message_id: String,
    /// The sender's identity.
    pub sender: String,
    pub sender_name: String,
    /// Identities of the recipients; empty for a message to everyone.
    pub recipients: Vec<String>,
    pub body: String,
    pub sent_at_ms: i64,
}

impl ChatMessage {
    /// Whether `identity` sent or received it.
    pub fn visible_to(&self, identity: &str) -> bool {
        self.recipients.is_empty() || self.sender == identity || self.recipients.iter().any(|r| r == identity)
    }
}

fn from_row(row: &AnyRow) -> Result<ChatMessage> {
    let recipients: String = get(row, "recipients")?;
    Ok(ChatMessage {
        room: get(row, "room")?,
        room_sid: get(row, "room_sid")?,
        message_id: get(row, "message_id")?,
        sender: get(row, "sender")?,
        sender_name: get(row, "sender_name")?,
        recipients: serde_json::from_str(&recipients).map_err(|e| crate::StoreError::Corrupt(format!("chat recipients: {e}")))?,
        body: get(row, "body")?,
        sent_at_ms: get(row, "sent_at_ms")?,
    })
}

impl Store {
    /// Stores a delivered message. A repeat of the same sender's message id is ignored, and a
    /// room that holds [`MAX_ROOM_MESSAGES`] stores no more (returns `false`).
    pub async fn record_chat(&self, m: &ChatMessage) -> Result<bool> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chat_messages WHERE room = $1").bind(&m.room).fetch_one(&self.pool).await?;
        if count >= MAX_ROOM_MESSAGES {
            return Ok(false);
        }
        let recipients = serde_json::to_string(&m.recipients).expect("a list of strings serialises");
        sqlx::query(
            "INSERT INTO chat_messages (room, room_sid, message_id, sender, sender_name, recipients, body, sent_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&m.room)
        .bind(&m.room_sid)
        .bind(&m.message_id)
        .bind(&m.sender)
        .bind(&m.sender_name)
        .bind(recipients)
        .bind(&m.body)
        .bind(m.sent_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(true)
    }

    /// A room's messages in the order they were sent, from `offset`, at most `limit`. With
    /// `room_sid`, only that instance of the room.
    pub async fn chat_of_room(&self, room: &str, room_sid: Option<&str>, offset: i64, limit: i64) -> Result<Vec<ChatMessage>> {
        let rows = sqlx::query(
            "SELECT room, room_sid, message_id, sender, sender_name, recipients, body, sent_at_ms FROM chat_messages \
             WHERE room = $1 AND ($2 = '' OR room_sid = $2) ORDER BY sent_at_ms, sender, message_id LIMIT $3 OFFSET $4",
        )
        .bind(room)
        .bind(room_sid.unwrap_or(""))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The newest `limit` messages of a room, oldest first (see [`Store::chat_of_room`]).
    pub async fn chat_tail(&self, room: &str, room_sid: Option<&str>, limit: i64) -> Result<Vec<ChatMessage>> {
        let rows = sqlx::query(
            "SELECT room, room_sid, message_id, sender, sender_name, recipients, body, sent_at_ms FROM chat_messages \
             WHERE room = $1 AND ($2 = '' OR room_sid = $2) ORDER BY sent_at_ms DESC, sender DESC, message_id DESC LIMIT $3",
        )
        .bind(room)
        .bind(room_sid.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, from: &str, to: &[&str], at: i64) -> ChatMessage {
        ChatMessage {
            room: "r".into(),
            room_sid: "RM_1".into(),
            message_id: id.into(),
            sender: from.into(),
            sender_name: format!("{from} 名"),
            recipients: to.iter().map(|s| s.to_string()).collect(),
            body: format!("text {id}"),
            sent_at_ms: at,
        }
    }

    #[tokio::test]
    async fn messages_come_back_in_order_once_each_and_private_ones_only_to_their_people() {
        let store = crate::testing::store().await;
        store.record_chat(&msg("2", "bob", &[], 20)).await.unwrap();
        store.record_chat(&msg("1", "alice", &["bob"], 10)).await.unwrap();
        store.record_chat(&msg("1", "alice", &["bob"], 10)).await.unwrap();
        let other_instance = ChatMessage { room_sid: "RM_2".into(), ..msg("3", "carol", &[], 30) };
        store.record_chat(&other_instance).await.unwrap();
        let all = store.chat_of_room("r", None, 0, 100).await.unwrap();
        assert_eq!(all.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(), ["1", "2", "3"]);
        assert_eq!(all[0].recipients, ["bob"]);
        assert_eq!(all[0].sender_name, "alice 名");
        assert_eq!(store.chat_of_room("r", Some("RM_1"), 0, 100).await.unwrap().len(), 2);
        assert_eq!(store.chat_of_room("r", None, 1, 1).await.unwrap()[0].message_id, "2");
        assert!(all[0].visible_to("alice") && all[0].visible_to("bob") && !all[0].visible_to("carol"));
        assert!(all[1].visible_to("carol"));
        let tail = store.chat_tail("r", None, 2).await.unwrap();
        assert_eq!(tail.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(), ["2", "3"], "the newest, oldest first");
    }
}
