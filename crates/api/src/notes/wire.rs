//! The notes socket's wire format: y-websocket's messages (a varint type, then the body, one
//! message per binary frame), parsed once at the edge into [`Incoming`], and the frames the
//! server sends. The encoding itself is yrs's (`yrs::sync::Message`); this module adds the
//! checks a server needs on untrusted input: one message per frame, awareness states that are
//! JSON, and no panic whatever the bytes (yrs asserts on some malformed ids in debug builds).

use std::collections::HashMap;
use std::sync::Arc;

use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::sync::{AwarenessUpdate, Message, SyncMessage};
use yrs::updates::decoder::{Decode, DecoderV1};
use yrs::updates::encoder::Encode;
use yrs::{ClientID, StateVector};

/// Close codes of the notes socket (RFC 6455 §7.4.1), mirrored in docs/protocol.md.
pub mod close_code {
    /// The server is shutting down; reconnect.
    pub const GOING_AWAY: u16 = 1001;
    /// A text frame: the protocol is binary.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A frame that is not one valid y-websocket message.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Refused by a rule: not in the meeting, the document has all the editors it takes, too
    /// many messages, too slow to keep up.
    pub const POLICY: u16 = 1008;
    /// A frame or an awareness state larger than the limit.
    pub const TOO_BIG: u16 = 1009;
    /// The server failed (the store could not save an edit); reconnect.
    pub const INTERNAL: u16 = 1011;
    /// The server holds as many documents as it may; try again later.
    pub const TRY_AGAIN: u16 = 1013;
}

/// Why the server closes a socket: a close code and a reason for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub reason: String,
}

impl Refusal {
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Self { code, reason: reason.into() }
    }
}

/// One message from a client, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// Sync step 1: the client's state vector; answered with step 2.
    SyncStep1(StateVector),
    /// Sync step 2 or an update: content for the server document.
    Update(Vec<u8>),
    /// Awareness states by client id, each `None` (gone) or a JSON text.
    Awareness(Vec<AwarenessEntry>),
    /// A request for everyone's awareness.
    QueryAwareness,
    /// An auth message: servers send these, clients have no reason to; ignored.
    Auth,
}

/// One client's awareness entry on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwarenessEntry {
    pub client: u64,
    pub clock: u32,
    /// The state as JSON text, or `None` for `null` (the client left).
    pub state: Option<Arc<str>>,
}

/// Client ids are 53-bit in Yjs (a JS number); yrs asserts on larger ones.
const MAX_CLIENT_ID: u64 = (1 << 53) - 1;

/// Parses one frame. Anything but exactly one well-formed message is refused with 1007.
pub fn parse(frame: &[u8]) -> Result<Incoming, Refusal> {
    let invalid = |why: &str| Refusal::new(close_code::INVALID_PAYLOAD, format!("not a y-websocket message: {why}"));
    // yrs may assert (debug builds) or, on a bug, panic on hostile bytes; a panic here must
    // not take the room down, so it is caught and becomes a refusal like any other bad frame.
    let decoded = std::panic::catch_unwind(|| {
        let mut decoder = DecoderV1::new(yrs::encoding::read::Cursor::new(frame));
        let message = Message::decode(&mut decoder);
        (message, decoder_has_more(decoder))
    });
    let (message, trailing) = decoded.map_err(|_| invalid("undecodable"))?;
    let message = message.map_err(|e| invalid(&e.to_string()))?;
    if trailing {
        return Err(invalid("trailing bytes after the message"));
    }
    match message {
        Message::Sync(SyncMessage::SyncStep1(sv)) => Ok(Incoming::SyncStep1(sv)),
        Message::Sync(SyncMessage::SyncStep2(u) | SyncMessage::Update(u)) => Ok(Incoming::Update(u)),
        Message::AwarenessQuery => Ok(Incoming::QueryAwareness),
        Message::Auth(_) => Ok(Incoming::Auth),
        Message::Custom(tag, _) => Err(invalid(&format!("unknown message type {tag}"))),
        Message::Awareness(update) => {
            let mut entries = Vec::with_capacity(update.clients.len());
            for (client, e) in update.clients {
                let client = client.get();
                let state = if &*e.json == "null" {
                    None
                } else {
                    // Other editors' y-protocols parse every state with JSON.parse.
                    serde_json::from_str::<serde::de::IgnoredAny>(&e.json).map_err(|_| invalid("an awareness state that is not JSON"))?;
                    Some(e.json)
                };
                entries.push(AwarenessEntry { client, clock: e.clock, state });
            }
            entries.sort_by_key(|e| e.client);
            Ok(Incoming::Awareness(entries))
        }
    }
}

fn decoder_has_more(decoder: DecoderV1<'_>) -> bool {
    use yrs::updates::decoder::Decoder as _;
    let mut decoder = decoder;
    decoder.read_to_end().map(|rest| !rest.is_empty()).unwrap_or(false)
}

/// Sync step 1 with the server's state vector.
pub fn sync_step1(sv: &StateVector) -> Vec<u8> {
    Message::Sync(SyncMessage::SyncStep1(sv.clone())).encode_v1()
}

/// Sync step 2: what the asker lacks.
pub fn sync_step2(update: Vec<u8>) -> Vec<u8> {
    Message::Sync(SyncMessage::SyncStep2(update)).encode_v1()
}

/// A sync update, as broadcast to the other editors.
pub fn sync_update(update: Vec<u8>) -> Vec<u8> {
    Message::Sync(SyncMessage::Update(update)).encode_v1()
}

/// y-protocols' auth message "permission denied", with a reason.
pub fn permission_denied(reason: &str) -> Vec<u8> {
    Message::Auth(Some(reason.to_owned())).encode_v1()
}

/// An awareness message with these entries (`None` is sent as `null`).
pub fn awareness(entries: &[AwarenessEntry]) -> Vec<u8> {
    let mut clients = HashMap::with_capacity(entries.len());
    for e in entries {
        // Entries come from parse (53-bit ids) or from the server's own id.
        let json = e.state.clone().unwrap_or_else(|| Arc::from("null"));
        clients.insert(ClientID::new(e.client & MAX_CLIENT_ID), AwarenessUpdateEntry { clock: e.clock, json });
    }
    Message::Awareness(AwarenessUpdate { clients }).encode_v1()
}

/// Whether an awareness entry's client id is one Yjs can hold.
pub fn valid_client_id(client: u64) -> bool {
    client <= MAX_CLIENT_ID
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_in_y_websocket_bytes() {
        // Bytes as y-protocols writes them: [type, subtype, varuint length, payload].
        assert_eq!(parse(&[0, 0, 1, 0]).unwrap(), Incoming::SyncStep1(StateVector::default()));
        assert_eq!(parse(&[0, 1, 2, 0, 0]).unwrap(), Incoming::Update(vec![0, 0]));
        assert_eq!(parse(&[0, 2, 2, 0, 0]).unwrap(), Incoming::Update(vec![0, 0]));
        assert_eq!(parse(&[3]).unwrap(), Incoming::QueryAwareness);
        assert_eq!(sync_step1(&StateVector::default()), [0, 0, 1, 0]);
        assert_eq!(sync_update(vec![0, 0]), [0, 2, 2, 0, 0]);
        assert_eq!(sync_step2(vec![0, 0]), [0, 1, 2, 0, 0]);
        let denied = permission_denied("read-only");
        assert_eq!(&denied[..2], [2, 0], "auth, permission denied");
        assert_eq!(&denied[3..], b"read-only");

        let state: Arc<str> = Arc::from(r#"{"huiyi":{"readOnly":true}}"#);
        let frame = awareness(&[AwarenessEntry { client: 7, clock: 3, state: Some(state.clone()) }, AwarenessEntry { client: 9, clock: 1, state: None }]);
        assert_eq!(frame[0], 1);
        let Incoming::Awareness(entries) = parse(&frame).unwrap() else { panic!("an awareness message") };
        assert_eq!(entries, [AwarenessEntry { client: 7, clock: 3, state: Some(state) }, AwarenessEntry { client: 9, clock: 1, state: None }]);
    }

    #[test]
    fn garbage_is_refused_with_1007_and_never_panics() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 7, 0],
            vec![0, 0, 5, 1, 2],
            vec![9, 1, 2],
            vec![0, 1, 2, 0, 0, 99],
            // An awareness state that is not JSON.
            vec![1, 5, 1, 1, 1, 1, b'{'],
            // A client id beyond 53 bits, in a state vector and in awareness.
            vec![0, 0, 12, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1],
            vec![1, 14, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1, 2, b'{', b'}'],
            vec![0xff; 64],
        ];
        for bytes in cases {
            let r = parse(&bytes);
            assert!(matches!(&r, Err(Refusal { code: close_code::INVALID_PAYLOAD, .. })), "{bytes:?} gave {r:?}");
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..5_000 {
            let n = rng.random_range(0..40);
            let mut bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            if let Some(first) = bytes.first_mut() {
                *first %= 4;
            }
            let _ = parse(&bytes);
        }
    }
}
