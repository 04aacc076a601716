//! Wire types shared by every Huiyi crate. No I/O lives here.
//!
//! The media plane speaks LiveKit's client protocol, so its messages are the prost types of the
//! `livekit-protocol` crate, re-exported as [`lk`]. This crate adds the small helpers Huiyi needs
//! around them: framing signal messages, and the protocol version Huiyi implements.

pub use livekit_protocol as lk;
pub use prost::Message;

use lk::{signal_request, signal_response, SignalRequest, SignalResponse};

/// The LiveKit signalling protocol version Huiyi answers with in `ServerInfo.protocol`.
pub const PROTOCOL_VERSION: i32 = 16;

/// The largest signal message Huiyi accepts from a client, in bytes. An SDP offer with many
/// tracks stays well below this; anything larger is garbage or abuse.
pub const MAX_SIGNAL_MESSAGE: usize = 256 * 1024;

/// Why a client signal message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("signal message of {0} bytes exceeds the limit of {MAX_SIGNAL_MESSAGE}")]
    TooLarge(usize),
    #[error("signal message is not a valid SignalRequest protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("signal message carries no request")]
    Empty,
}

/// Parses one binary WebSocket frame from a client into its request.
pub fn decode_request(frame: &[u8]) -> Result<signal_request::Message, DecodeError> {
    if frame.len() > MAX_SIGNAL_MESSAGE {
        return Err(DecodeError::TooLarge(frame.len()));
    }
    SignalRequest::decode(frame)?.message.ok_or(DecodeError::Empty)
}

/// Frames one server message for the WebSocket.
pub fn encode_response(message: signal_response::Message) -> Vec<u8> {
    SignalResponse { message: Some(message) }.encode_to_vec()
}

/// Frames one client message (used by Huiyi's own test client).
pub fn encode_request(message: signal_request::Message) -> Vec<u8> {
    SignalRequest { message: Some(message) }.encode_to_vec()
}

/// Parses one server message (used by Huiyi's own test client).
pub fn decode_response(frame: &[u8]) -> Result<signal_response::Message, DecodeError> {
    SignalResponse::decode(frame)?.message.ok_or(DecodeError::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_request(&[0xff, 0xff, 0xff, 0x01]).is_err());
        assert!(matches!(decode_request(&[]), Err(DecodeError::Empty)));
        let huge = vec![0u8; MAX_SIGNAL_MESSAGE + 1];
        assert!(matches!(decode_request(&huge), Err(DecodeError::TooLarge(_))));
    }

    #[test]
    fn round_trip() {
        let frame = encode_request(signal_request::Message::Ping(42));
        assert!(matches!(decode_request(&frame), Ok(signal_request::Message::Ping(42))));
    }
}
