//! Typed identifiers. Each one is parsed or generated once and then carried by type, so a
//! participant sid can never be passed where a track sid is expected. They are shared strings
//! (`Arc<str>`): the packet path clones a room name and a track sid per packet, and a clone
//! must not allocate.

use std::fmt;
use std::sync::Arc;

use rand::distr::Alphanumeric;
use rand::Rng;

/// Random alphanumeric suffix, as LiveKit uses for its sids (`PA_…`, `TR_…`, `RM_…`).
fn random_suffix() -> String {
    rand::rng().sample_iter(&Alphanumeric).take(12).map(char::from).collect()
}

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// A fresh random id with the LiveKit prefix.
            pub fn generate() -> Self {
                Self(format!(concat!($prefix, "{}"), random_suffix()).into())
            }

            /// Wraps an id received from a client; it is only ever used as a lookup key.
            pub fn from_wire(s: &str) -> Self {
                Self(s.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

sid_type!(
    /// A participant's session id (`PA_…`), new for every join.
    ParticipantSid,
    "PA_"
);
sid_type!(
    /// A published track's id (`TR_…`).
    TrackSid,
    "TR_"
);
sid_type!(
    /// A room's id (`RM_…`), new each time a room with that name is created.
    RoomSid,
    "RM_"
);

/// A room name as given in the access token's grant. Non-empty, at most 256 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(Arc<str>);

/// A participant identity as given in the access token (`sub`). Non-empty, at most 256 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantIdentity(Arc<str>);

/// Why a name or identity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 256 bytes")]
    TooLong,
    #[error("must not contain control characters")]
    Control,
}

fn parse_name(s: &str) -> Result<String, NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if s.len() > 256 {
        return Err(NameError::TooLong);
    }
    if s.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    Ok(s.to_owned())
}

impl RoomName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        parse_name(s).map(|s| Self(s.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ParticipantIdentity {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        parse_name(s).map(|s| Self(s.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ParticipantIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The engine's handle for one participant session. The shell maps it to that session's
/// signalling socket. Unlike [`ParticipantSid`] it is cheap to copy and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(pub u64);

/// The engine's handle for one peer connection (a str0m `Rtc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_carry_their_prefix() {
        assert!(ParticipantSid::generate().as_str().starts_with("PA_"));
        assert!(TrackSid::generate().as_str().starts_with("TR_"));
        assert_ne!(TrackSid::generate(), TrackSid::generate());
    }

    #[test]
    fn names_are_parsed() {
        assert_eq!(RoomName::parse(""), Err(NameError::Empty));
        assert_eq!(RoomName::parse(&"x".repeat(257)), Err(NameError::TooLong));
        assert_eq!(ParticipantIdentity::parse("a\u{0}b"), Err(NameError::Control));
        assert_eq!(RoomName::parse("会议室").unwrap().as_str(), "会议室");
    }
}
