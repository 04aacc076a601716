//! Who may enter a meeting's room right now: one rule, checked when a join token is issued
//! (`POST /v1/meetings/join`) and again when any token enters the room (`/rtc`, and
//! `/rtc/validate`, which tells a refused client why). A token alone therefore never
//! outlives the meeting, or a host's removal of its holder. Pure: `tencent::admission`
//! gathers the inputs from the store.

use huiyi_store::{Meeting, MeetingStatus};

/// Why a room refuses someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this meeting was cancelled")]
    Cancelled,
    #[error("this meeting has ended")]
    Ended,
    #[error("this meeting's scheduled time is over")]
    Over,
    #[error("the host removed you from this meeting")]
    Removed,
    #[error("the host has locked this meeting; nobody new may join")]
    Locked,
}

/// Who is entering, as far as the rule cares.
#[derive(Debug, Clone, Copy, Default)]
pub struct Entry {
    /// A host removed this person from the meeting.
    pub removed: bool,
    /// The meeting is locked, and this is a newcomer who is not a host (someone already in
    /// who resumes after a network drop is not new).
    pub locked_out: bool,
}

/// Whether a meeting in this state admits someone at `now` (unix seconds).
pub fn admit(meeting: &Meeting, now: i64, entry: Entry) -> Result<(), Refusal> {
    match meeting.status {
        MeetingStatus::Cancelled => return Err(Refusal::Cancelled),
        MeetingStatus::Ended => return Err(Refusal::Ended),
        // Never started, and its time is over.
        MeetingStatus::Init if meeting.data.end_time < now => return Err(Refusal::Over),
        _ => {}
    }
    if entry.removed {
        return Err(Refusal::Removed);
    }
    if entry.locked_out {
        return Err(Refusal::Locked);
    }
    Ok(())
}

/// Who the meeting is open to, Tencent's `only_user_join_type`: 1 (or unset) anyone with the
/// code, 2 invited users (and the hosts), 3 members of the organiser's enterprise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Anyone,
    Invited,
    Members,
}

impl Audience {
    pub fn from_join_type(join_type: i64) -> Audience {
        match join_type {
            2 => Audience::Invited,
            3 => Audience::Members,
            _ => Audience::Anyone,
        }
    }

    /// Whether someone may join: `member` is signed in as a member of the enterprise,
    /// `invited` is among the invitees. Hosts always may. The error says what to do.
    pub fn admits(self, host: bool, member: bool, invited: bool) -> Result<(), &'static str> {
        match self {
            _ if host => Ok(()),
            Audience::Invited if !(member && invited) => Err("only invited users may join this meeting; sign in with an invited account"),
            Audience::Members if !member => Err("only members of the organiser's enterprise may join this meeting; sign in"),
            _ => Ok(()),
        }
    }
}

/// The person a join token names: `person` in its metadata (set by `/v1/meetings/join`), or
/// the identity itself for tokens minted elsewhere.
pub fn person_of(metadata: &str, identity: &str) -> String {
    serde_json::from_str::<serde_json::Value>(metadata)
        .ok()
        .and_then(|v| v["person"].as_str().map(str::to_owned))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| identity.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tencent::testing::meeting;

    #[test]
    fn only_live_meetings_admit_and_never_a_removed_person() {
        let mut m = meeting("u");
        m.data.end_time = 100;
        let anyone = Entry::default();
        assert_eq!(admit(&m, 50, anyone), Ok(()));
        assert_eq!(admit(&m, 101, anyone), Err(Refusal::Over), "scheduled, never started, over");
        assert_eq!(admit(&m, 50, Entry { removed: true, ..anyone }), Err(Refusal::Removed));
        assert_eq!(admit(&m, 50, Entry { locked_out: true, ..anyone }), Err(Refusal::Locked));
        m.status = MeetingStatus::Started;
        assert_eq!(admit(&m, 101, anyone), Ok(()), "a started meeting may run over its time");
        m.status = MeetingStatus::Ended;
        assert_eq!(admit(&m, 50, anyone), Err(Refusal::Ended));
        m.status = MeetingStatus::Cancelled;
        assert_eq!(admit(&m, 50, anyone), Err(Refusal::Cancelled));
    }

    #[test]
    fn the_audience_setting_decides_who_joins_and_hosts_always_do() {
        assert_eq!(Audience::from_join_type(1).admits(false, false, false), Ok(()));
        let invited = Audience::from_join_type(2);
        assert!(invited.admits(false, true, false).is_err(), "a member who was not invited");
        assert!(invited.admits(false, false, true).is_err(), "an invitee must sign in");
        assert_eq!(invited.admits(false, true, true), Ok(()));
        assert_eq!(invited.admits(true, true, false), Ok(()));
        let members = Audience::from_join_type(3);
        assert!(members.admits(false, false, false).is_err());
        assert_eq!(members.admits(false, true, false), Ok(()));
        assert_eq!(Audience::from_join_type(0), Audience::Anyone);
    }

    #[test]
    fn the_person_comes_from_the_metadata_or_the_identity() {
        assert_eq!(person_of(r#"{"person":"guest-ab","device":"web"}"#, "guest-ab#1"), "guest-ab");
        assert_eq!(person_of("not json", "alice"), "alice");
        assert_eq!(person_of(r#"{"person":""}"#, "alice"), "alice");
    }
}
