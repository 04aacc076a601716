//! Who may publish what, and whether client-supplied participant state fits the engine's
//! limits: pure functions over plain values, called wherever that input enters the engine
//! (AddTrack, a bound media line, a permission change, metadata updates, joins).

use std::collections::HashMap;

use huiyi_proto::lk;

/// Whether `permission` allows publishing a track from `source` (a `lk::TrackSource` value).
/// `Err` names the grant that is missing.
pub fn may_publish(permission: &lk::ParticipantPermission, source: i32) -> Result<(), &'static str> {
    if !permission.can_publish {
        return Err("canPublish");
    }
    let sources = &permission.can_publish_sources;
    if !sources.is_empty() && !sources.contains(&source) {
        return Err("canPublishSources");
    }
    Ok(())
}

/// Whether a track's declared source fits its kind (`lk::TrackType`): a microphone or screen
/// audio is audio, a camera or screen share is video. `Unknown` fits either. A client cannot
/// slip video past a microphone-only grant by calling it a microphone.
pub fn source_fits_kind(source: i32, kind: i32) -> bool {
    use lk::TrackSource as S;
    let audio = lk::TrackType::Audio as i32;
    let video = lk::TrackType::Video as i32;
    match S::try_from(source) {
        Ok(S::Microphone | S::ScreenShareAudio) => kind == audio,
        Ok(S::Camera | S::ScreenShare) => kind == video,
        _ => kind == audio || kind == video,
    }
}

/// Bounds on the participant state a client (or its token) can make the engine hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateLimits {
    pub max_name_bytes: usize,
    pub max_metadata_bytes: usize,
    pub max_attributes: usize,
    /// Keys and values of all attributes together.
    pub max_attribute_bytes: usize,
}

impl Default for StateLimits {
    fn default() -> Self {
        Self { max_name_bytes: 256, max_metadata_bytes: 64 * 1024, max_attributes: 64, max_attribute_bytes: 16 * 1024 }
    }
}

/// Why participant state was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("name is longer than {0} bytes")]
    Name(usize),
    #[error("metadata is longer than {0} bytes")]
    Metadata(usize),
    #[error("more than {0} attributes")]
    AttributeCount(usize),
    #[error("attributes are longer than {0} bytes in all")]
    AttributeBytes(usize),
}

impl StateLimits {
    pub fn check_name(&self, name: &str) -> Result<(), StateError> {
        if name.len() > self.max_name_bytes {
            return Err(StateError::Name(self.max_name_bytes));
        }
        Ok(())
    }

    pub fn check_metadata(&self, metadata: &str) -> Result<(), StateError> {
        if metadata.len() > self.max_metadata_bytes {
            return Err(StateError::Metadata(self.max_metadata_bytes));
        }
        Ok(())
    }

    /// Checks `current` after `changes` are applied (an empty value deletes its key), without
    /// applying them.
    pub fn check_attributes(&self, current: &HashMap<String, String>, changes: &HashMap<String, String>) -> Result<(), StateError> {
        let mut count = current.len();
        let mut bytes: usize = current.iter().map(|(k, v)| k.len() + v.len()).sum();
        for (k, v) in changes {
            if let Some(old) = current.get(k) {
                count -= 1;
                bytes -= k.len() + old.len();
            }
            if !v.is_empty() {
                count += 1;
                bytes += k.len() + v.len();
            }
        }
        if count > self.max_attributes {
            return Err(StateError::AttributeCount(self.max_attributes));
        }
        if bytes > self.max_attribute_bytes {
            return Err(StateError::AttributeBytes(self.max_attribute_bytes));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(can_publish: bool, sources: &[lk::TrackSource]) -> lk::ParticipantPermission {
        lk::ParticipantPermission { can_publish, can_publish_sources: sources.iter().map(|s| *s as i32).collect(), ..Default::default() }
    }

    #[test]
    fn publishing_needs_the_grant_and_an_allowed_source() {
        let mic = lk::TrackSource::Microphone as i32;
        assert_eq!(may_publish(&perm(true, &[]), mic), Ok(()));
        assert_eq!(may_publish(&perm(false, &[]), mic), Err("canPublish"));
        assert_eq!(may_publish(&perm(true, &[lk::TrackSource::Camera]), mic), Err("canPublishSources"));
        assert_eq!(may_publish(&perm(true, &[lk::TrackSource::Microphone]), mic), Ok(()));
    }

    #[test]
    fn a_source_must_fit_its_kind() {
        let (audio, video) = (lk::TrackType::Audio as i32, lk::TrackType::Video as i32);
        assert!(source_fits_kind(lk::TrackSource::Microphone as i32, audio));
        assert!(!source_fits_kind(lk::TrackSource::Microphone as i32, video));
        assert!(!source_fits_kind(lk::TrackSource::Camera as i32, audio));
        assert!(source_fits_kind(lk::TrackSource::Unknown as i32, video));
        assert!(!source_fits_kind(lk::TrackSource::Unknown as i32, lk::TrackType::Data as i32));
    }

    #[test]
    fn attribute_limits_count_the_state_after_the_change() {
        let l = StateLimits { max_attributes: 2, max_attribute_bytes: 10, ..Default::default() };
        let cur: HashMap<String, String> = [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        // Replacing and deleting keys is fine at the limit.
        assert!(l.check_attributes(&cur, &[("a".into(), "9".into())].into()).is_ok());
        assert!(l.check_attributes(&cur, &[("a".into(), String::new()), ("c".into(), "3".into())].into()).is_ok());
        assert_eq!(l.check_attributes(&cur, &[("c".into(), "3".into())].into()), Err(StateError::AttributeCount(2)));
        assert_eq!(l.check_attributes(&cur, &[("a".into(), "123456789".into())].into()), Err(StateError::AttributeBytes(10)));
        assert!(l.check_metadata(&"x".repeat(64 * 1024 + 1)).is_err());
        assert!(l.check_name(&"x".repeat(256)).is_ok());
    }
}
