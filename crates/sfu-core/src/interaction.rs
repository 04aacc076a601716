//! What participants send each other besides media, and the room's rules on it: chat,
//! raised hands and reactions. Pure functions over plain values; `Engine::handle_data` calls
//! them for every data packet, so the rules hold for any client, hand-written ones included.
//!
//! On the wire (see docs/protocol.md, "In-meeting messages"):
//! - **chat** is LiveKit's own: a `DataPacket` whose value is a `ChatMessage` (what
//!   livekit-client's `sendChatMessage` sends), or a user packet on the `lk-chat-topic` topic
//!   with a JSON body `{id, timestamp, message}` (the Python SDK's `ChatManager`). Both are
//!   checked against the room's [`ChatRule`], stamped with the server's time, delivered, and
//!   persisted. A private message names its recipients in `destination_identities`.
//!   Text-stream chat (`lk.chat` streams) is held to the same rule but not persisted;
//! - **hands**: a user packet on `huiyi.hand` with `{"raised": true|false}`. The server keeps
//!   the hand as the participant attribute `huiyi.hand` (the raise time in Unix milliseconds,
//!   so the order of hands is the order of those numbers). A host may lower someone else's
//!   (`{"raised": false, "identity": "…"}`) or everyone's (`{"raised": false, "all": true}`);
//! - **reactions**: a user packet on `huiyi.reaction` whose payload is one short emoji, relayed
//!   to the room.
//!
//! Attributes under `huiyi.` are the server's: a client cannot set them on itself. Nor can it
//! send on any other `huiyi.` topic (`huiyi.poll`, `huiyi.control`): those come from the server.

use std::time::{Duration, Instant};

use huiyi_proto::lk;

/// The topic on which the Python SDK's `ChatManager` (and older LiveKit components) chat.
pub const CHAT_TOPIC: &str = "lk-chat-topic";
/// The topic of LiveKit's text-stream chat.
pub const CHAT_STREAM_TOPIC: &str = "lk.chat";
pub const HAND_TOPIC: &str = "huiyi.hand";
pub const REACTION_TOPIC: &str = "huiyi.reaction";
/// The attribute naming a participant's role: `host` or `cohost` (absent for participants).
pub const ROLE_ATTRIBUTE: &str = "huiyi.role";
/// The attribute holding a raised hand: the Unix milliseconds at which it was raised.
pub const HAND_ATTRIBUTE: &str = "huiyi.hand";
/// Attributes under this prefix are set by the server only.
pub const RESERVED_PREFIX: &str = "huiyi.";
/// The longest chat message, in bytes of UTF-8; longer ones are refused, not cut.
pub const MAX_CHAT_BYTES: usize = 4096;
/// The longest reaction payload, in bytes (one emoji, with its modifiers).
pub const MAX_REACTION_BYTES: usize = 32;

/// Who may chat with whom, for participants who are not hosts (hosts always chat freely).
/// Tencent's `allow_chat` values 0 to 2, and 3 for "nobody" (a Huiyi extension).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ChatRule {
    /// Public and private messages to anyone.
    #[default]
    Free,
    /// Public messages, and private ones to hosts only.
    PublicOnly,
    /// Private messages to the hosts only; a public message goes to the hosts alone.
    HostsOnly,
    /// No chat at all.
    Off,
}

impl ChatRule {
    pub fn from_code(code: i64) -> Option<ChatRule> {
        Some(match code {
            0 => ChatRule::Free,
            1 => ChatRule::PublicOnly,
            2 => ChatRule::HostsOnly,
            3 => ChatRule::Off,
            _ => return None,
        })
    }

    pub fn code(self) -> i64 {
        match self {
            ChatRule::Free => 0,
            ChatRule::PublicOnly => 1,
            ChatRule::HostsOnly => 2,
            ChatRule::Off => 3,
        }
    }
}

/// Whether the attributes name a host or a co-host.
pub fn is_host(attributes: &std::collections::HashMap<String, String>) -> bool {
    matches!(attributes.get(ROLE_ATTRIBUTE).map(String::as_str), Some("host" | "cohost"))
}

/// One chat message as a client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatText {
    pub id: String,
    pub text: String,
}

/// What a hand packet asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandRequest {
    Raise,
    Lower,
    /// A host lowers someone else's hand.
    LowerOther(String),
    /// A host lowers every hand.
    LowerAll,
}

/// What a data packet is, as far as the room's rules go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Chat(ChatText),
    /// A malformed or oversized chat message: dropped.
    BadChat(&'static str),
    /// The header of a text-stream chat message (its chunks follow under the stream id).
    ChatStream,
    Hand(HandRequest),
    Reaction,
    BadReaction,
    /// A user packet on another `huiyi.` topic: those are the server's (polls, host
    /// requests), so a participant's is dropped rather than passed off as the server's.
    ServerTopic,
    /// Anything else: relayed as LiveKit relays it.
    Other,
}

#[derive(serde::Deserialize)]
struct LegacyChat {
    #[serde(default)]
    id: String,
    message: String,
}

#[derive(serde::Deserialize)]
struct HandBody {
    raised: bool,
    #[serde(default)]
    identity: Option<String>,
    #[serde(default)]
    all: bool,
}

/// Sorts a data packet by the rules that apply to it.
pub fn classify(packet: &lk::DataPacket) -> Kind {
    use lk::data_packet::Value;
    match &packet.value {
        Some(Value::ChatMessage(m)) => chat(&m.id, &m.message),
        Some(Value::StreamHeader(h)) if h.topic == CHAT_STREAM_TOPIC => Kind::ChatStream,
        Some(Value::User(u)) => match u.topic.as_deref() {
            Some(CHAT_TOPIC) => match serde_json::from_slice::<LegacyChat>(&u.payload) {
                Ok(m) => chat(&m.id, &m.message),
                Err(_) => Kind::BadChat("not a chat message: expected JSON {id, timestamp, message}"),
            },
            Some(HAND_TOPIC) => match serde_json::from_slice::<HandBody>(&u.payload) {
                Ok(HandBody { raised: true, .. }) => Kind::Hand(HandRequest::Raise),
                Ok(HandBody { raised: false, all: true, .. }) => Kind::Hand(HandRequest::LowerAll),
                Ok(HandBody { raised: false, identity: Some(who), .. }) => Kind::Hand(HandRequest::LowerOther(who)),
                Ok(HandBody { raised: false, .. }) => Kind::Hand(HandRequest::Lower),
                Err(_) => Kind::Other,
            },
            Some(REACTION_TOPIC) => {
                let ok = !u.payload.is_empty() && u.payload.len() <= MAX_REACTION_BYTES && std::str::from_utf8(&u.payload).is_ok_and(|s| !s.chars().any(char::is_control));
                if ok { Kind::Reaction } else { Kind::BadReaction }
            }
            Some(t) if t.starts_with(RESERVED_PREFIX) => Kind::ServerTopic,
            _ => Kind::Other,
        },
        _ => Kind::Other,
    }
}

fn chat(id: &str, text: &str) -> Kind {
    if text.trim().is_empty() {
        return Kind::BadChat("empty chat message");
    }
    if text.len() > MAX_CHAT_BYTES || id.len() > 128 {
        return Kind::BadChat("chat message too long");
    }
    Kind::Chat(ChatText { id: id.to_owned(), text: text.to_owned() })
}

/// Where a chat message may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Everyone in the room (a public message).
    Everyone,
    /// Only these identities (a private message, or one narrowed to the hosts).
    To(Vec<String>),
    Refused(&'static str),
}

/// Applies the room's chat rule to a message from a sender to `requested` (empty: everyone),
/// given the identities of the hosts in the room.
pub fn chat_delivery(rule: ChatRule, sender_is_host: bool, requested: &[String], hosts: &[String]) -> Delivery {
    let public = requested.is_empty();
    if sender_is_host || rule == ChatRule::Free {
        return if public { Delivery::Everyone } else { Delivery::To(requested.to_vec()) };
    }
    let to_hosts = |list: &[String]| -> Delivery {
        let kept: Vec<String> = list.iter().filter(|d| hosts.contains(d)).cloned().collect();
        if kept.is_empty() { Delivery::Refused("participants may chat privately with the hosts only") } else { Delivery::To(kept) }
    };
    match rule {
        ChatRule::Free => unreachable!("handled above"),
        ChatRule::PublicOnly if public => Delivery::Everyone,
        ChatRule::PublicOnly => to_hosts(requested),
        ChatRule::HostsOnly if public => {
            if hosts.is_empty() { Delivery::Refused("participants may chat with the hosts only, and no host is here") } else { Delivery::To(hosts.to_vec()) }
        }
        ChatRule::HostsOnly => to_hosts(requested),
        ChatRule::Off => Delivery::Refused("the host has turned chat off"),
    }
}

/// A token bucket on what one participant may send through the rules above (chat, hands,
/// reactions): `BURST` at once, then `PER_SECOND`.
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub const BURST: f64 = 20.0;
    pub const PER_SECOND: f64 = 5.0;

    pub fn new(now: Instant) -> Self {
        Self { tokens: Self::BURST, at: now }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).min(Duration::from_secs(60));
        self.tokens = (self.tokens + elapsed.as_secs_f64() * Self::PER_SECOND).min(Self::BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(topic: &str, payload: &[u8]) -> lk::DataPacket {
        lk::DataPacket {
            value: Some(lk::data_packet::Value::User(lk::UserPacket { topic: Some(topic.into()), payload: payload.to_vec(), ..Default::default() })),
            ..Default::default()
        }
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn both_chat_forms_are_recognised_and_bad_ones_named() {
        let native = lk::DataPacket {
            value: Some(lk::data_packet::Value::ChatMessage(lk::ChatMessage { id: "m1".into(), message: "你好".into(), ..Default::default() })),
            ..Default::default()
        };
        assert_eq!(classify(&native), Kind::Chat(ChatText { id: "m1".into(), text: "你好".into() }));
        let legacy = user(CHAT_TOPIC, br#"{"id":"m2","timestamp":1,"message":"hi"}"#);
        assert_eq!(classify(&legacy), Kind::Chat(ChatText { id: "m2".into(), text: "hi".into() }));
        assert!(matches!(classify(&user(CHAT_TOPIC, b"not json")), Kind::BadChat(_)));
        assert!(matches!(classify(&user(CHAT_TOPIC, br#"{"message":"   "}"#)), Kind::BadChat(_)));
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(MAX_CHAT_BYTES + 1));
        assert!(matches!(classify(&user(CHAT_TOPIC, long.as_bytes())), Kind::BadChat(_)));
        assert_eq!(classify(&user("game", b"{}")), Kind::Other);
    }

    #[test]
    fn hands_and_reactions() {
        assert_eq!(classify(&user(HAND_TOPIC, br#"{"raised":true}"#)), Kind::Hand(HandRequest::Raise));
        assert_eq!(classify(&user(HAND_TOPIC, br#"{"raised":false}"#)), Kind::Hand(HandRequest::Lower));
        assert_eq!(classify(&user(HAND_TOPIC, br#"{"raised":false,"identity":"bob"}"#)), Kind::Hand(HandRequest::LowerOther("bob".into())));
        assert_eq!(classify(&user(HAND_TOPIC, br#"{"raised":false,"all":true}"#)), Kind::Hand(HandRequest::LowerAll));
        assert_eq!(classify(&user(REACTION_TOPIC, "👍🏽".as_bytes())), Kind::Reaction);
        assert_eq!(classify(&user(REACTION_TOPIC, &[b'x'; 33])), Kind::BadReaction);
        assert_eq!(classify(&user(REACTION_TOPIC, b"")), Kind::BadReaction);
        assert_eq!(classify(&user(REACTION_TOPIC, b"\x1b[2J")), Kind::BadReaction);
    }

    #[test]
    fn other_huiyi_topics_are_the_servers() {
        assert_eq!(classify(&user("huiyi.poll", br#"{"type":"poll"}"#)), Kind::ServerTopic);
        assert_eq!(classify(&user("huiyi.control", b"{}")), Kind::ServerTopic);
        assert_eq!(classify(&user("huiyish", b"{}")), Kind::Other);
    }

    #[test]
    fn chat_rules_narrow_what_participants_send_but_never_hosts() {
        let hosts = ids(&["host"]);
        assert_eq!(chat_delivery(ChatRule::Free, false, &[], &hosts), Delivery::Everyone);
        assert_eq!(chat_delivery(ChatRule::Free, false, &ids(&["bob"]), &hosts), Delivery::To(ids(&["bob"])));
        assert_eq!(chat_delivery(ChatRule::PublicOnly, false, &[], &hosts), Delivery::Everyone);
        assert!(matches!(chat_delivery(ChatRule::PublicOnly, false, &ids(&["bob"]), &hosts), Delivery::Refused(_)));
        assert_eq!(chat_delivery(ChatRule::PublicOnly, false, &ids(&["bob", "host"]), &hosts), Delivery::To(ids(&["host"])));
        assert_eq!(chat_delivery(ChatRule::HostsOnly, false, &[], &hosts), Delivery::To(ids(&["host"])));
        assert!(matches!(chat_delivery(ChatRule::HostsOnly, false, &[], &[]), Delivery::Refused(_)));
        assert!(matches!(chat_delivery(ChatRule::Off, false, &[], &hosts), Delivery::Refused(_)));
        assert_eq!(chat_delivery(ChatRule::Off, true, &[], &hosts), Delivery::Everyone, "hosts chat whatever the rule");
        for code in 0..4 {
            assert_eq!(ChatRule::from_code(code).unwrap().code(), code);
        }
        assert_eq!(ChatRule::from_code(4), None);
    }

    #[test]
    fn the_bucket_allows_a_burst_then_a_steady_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(t0);
        let burst = (0..100).filter(|_| b.take(t0)).count();
        assert_eq!(burst, Bucket::BURST as usize);
        let later = t0 + Duration::from_secs(2);
        let refilled = (0..100).filter(|_| b.take(later)).count();
        assert_eq!(refilled, (2.0 * Bucket::PER_SECOND) as usize);
    }
}
