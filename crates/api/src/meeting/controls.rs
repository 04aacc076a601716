//! A meeting's live controls (mute all, self-unmute, lock, screen sharing) and what they mean
//! for each participant's LiveKit permission: pure functions, applied by the real-control
//! handlers to everyone in the room and by `/rtc` to each joiner, so the media server enforces
//! them and a hand-written client cannot bypass them.

use huiyi_proto::lk;
use serde::{Deserialize, Serialize};

/// The controls a host set during the meeting. Absent fields keep their value on a change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Controls {
    /// Everyone but the hosts is muted, and so is each newcomer.
    pub mute_all: bool,
    /// While muted by the host, participants may unmute themselves (default true).
    pub allow_unmute_self: Option<bool>,
    /// Nobody new may join, hosts excepted.
    pub locked: bool,
    /// Participants may share their screen (default true).
    pub share_screen: Option<bool>,
    /// Co-hosts, by person (a userid or a guest id): they run the controls with the hosts, and
    /// the controls do not apply to them.
    pub cohosts: Vec<String>,
    /// Who may chat (`ChatRule::code`); absent is free chat.
    pub allow_chat: Option<i64>,
    /// The person a host put in the spotlight for everyone (the `huiyi.spotlight` attribute).
    pub spotlight: Option<String>,
    /// The waiting room, turned on or off during the meeting (`status`'s
    /// `auto_waiting_room`); absent follows the meeting's `auto_in_waiting_room` setting.
    pub waiting_room: Option<bool>,
    /// The shared notes are read-only for everyone but the hosts and co-hosts.
    pub notes_read_only: bool,
    /// The person a host handed the host role to (`PUT …/host`): they host the meeting's room,
    /// and the scheduled hosts take part as participants until one of them takes it back.
    pub host: Option<String>,
}

/// Someone's role in a meeting's room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Host,
    Cohost,
    Participant,
}

impl Role {
    /// Runs the controls and is exempt from them.
    pub fn runs_meeting(self) -> bool {
        self != Role::Participant
    }

    /// The `huiyi.role` attribute's value; none for a participant.
    pub fn attribute(self) -> Option<&'static str> {
        match self {
            Role::Host => Some("host"),
            Role::Cohost => Some("cohost"),
            Role::Participant => None,
        }
    }
}

impl Controls {
    pub fn from_json(v: Option<serde_json::Value>) -> Controls {
        v.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
    }

    /// Whether a muted participant may not unmute: their microphone is then not theirs to
    /// publish until the host lifts the mute.
    pub fn mic_locked(&self) -> bool {
        self.mute_all && self.allow_unmute_self == Some(false)
    }

    pub fn screen_allowed(&self) -> bool {
        self.share_screen != Some(false)
    }

    pub fn chat_rule(&self) -> huiyi_sfu_core::ChatRule {
        self.allow_chat.and_then(huiyi_sfu_core::ChatRule::from_code).unwrap_or_default()
    }

    pub fn is_cohost(&self, person: &str) -> bool {
        self.cohosts.iter().any(|c| c == person)
    }

    /// `person`'s role in the room, given whether their token names them a scheduled host: the
    /// one the host role was handed to hosts, and then no scheduled host does; co-hosts stay.
    pub fn role(&self, person: &str, scheduled_host: bool) -> Role {
        let host = match &self.host {
            Some(h) => h == person,
            None => scheduled_host,
        };
        if host {
            Role::Host
        } else if self.is_cohost(person) {
            Role::Cohost
        } else {
            Role::Participant
        }
    }

    /// Whether newcomers who are not hosts or co-hosts wait to be admitted.
    pub fn waiting_room(&self, settings: &crate::tencent::meetings::Settings) -> bool {
        self.waiting_room.unwrap_or(settings.auto_in_waiting_room == Some(true))
    }
}

/// Whether a participant (not a host) joining now is muted on entry: always while the host has
/// muted everyone; otherwise as the meeting's settings say (`mute_enable_type_join`: 0 off,
/// 1 on, 2 above six people; without it, `mute_enable_join`).
pub fn mute_on_entry(settings: &crate::tencent::meetings::Settings, controls: &Controls) -> huiyi_sfu_core::MuteOnEntry {
    use huiyi_sfu_core::MuteOnEntry;
    if controls.mute_all {
        return MuteOnEntry::Always;
    }
    match settings.mute_enable_type_join {
        Some(1) => MuteOnEntry::Always,
        Some(2) => MuteOnEntry::Above(6),
        Some(_) => MuteOnEntry::Never,
        None if settings.mute_enable_join == Some(true) => MuteOnEntry::Always,
        None => MuteOnEntry::Never,
    }
}

/// Every source a participant can publish.
const ALL_SOURCES: [lk::TrackSource; 4] = [lk::TrackSource::Camera, lk::TrackSource::Microphone, lk::TrackSource::ScreenShare, lk::TrackSource::ScreenShareAudio];

/// `base` narrowed by the controls, for a participant who is not a host. An empty
/// `can_publish_sources` means every source, as in LiveKit.
pub fn permission(base: &lk::ParticipantPermission, controls: &Controls, host: bool) -> lk::ParticipantPermission {
    let mut p = base.clone();
    if host {
        return p;
    }
    let allowed = |s: lk::TrackSource| -> bool {
        let granted = base.can_publish_sources.is_empty() || base.can_publish_sources.contains(&(s as i32));
        let forbidden = match s {
            lk::TrackSource::Microphone => controls.mic_locked(),
            lk::TrackSource::ScreenShare | lk::TrackSource::ScreenShareAudio => !controls.screen_allowed(),
            _ => false,
        };
        granted && !forbidden
    };
    if ALL_SOURCES.iter().all(|s| allowed(*s)) {
        return p;
    }
    p.can_publish_sources = ALL_SOURCES.iter().copied().filter(|s| allowed(*s)).map(|s| s as i32).collect();
    // An empty list would mean "everything": with nothing left, publishing itself is off.
    if p.can_publish_sources.is_empty() {
        p.can_publish = false;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handed_over_host_role_leaves_the_scheduled_hosts_as_participants_and_co_hosts_as_they_were() {
        let mut c = Controls { cohosts: vec!["ann".into()], ..Controls::default() };
        assert_eq!(c.role("owner", true), Role::Host);
        assert_eq!(c.role("ann", false), Role::Cohost);
        assert_eq!(c.role("bob", false), Role::Participant);
        c.host = Some("bob".into());
        assert_eq!(c.role("bob", false), Role::Host);
        assert_eq!(c.role("owner", true), Role::Participant);
        assert_eq!(c.role("ann", false), Role::Cohost);
        c.host = Some("ann".into());
        assert_eq!(c.role("ann", false), Role::Host, "a co-host handed the role hosts");
        assert!(Role::Cohost.runs_meeting() && !Role::Participant.runs_meeting());
        assert_eq!((Role::Host.attribute(), Role::Participant.attribute()), (Some("host"), None));
    }

    fn open() -> lk::ParticipantPermission {
        lk::ParticipantPermission { can_publish: true, can_subscribe: true, can_publish_data: true, ..Default::default() }
    }

    fn sources(p: &lk::ParticipantPermission) -> Vec<lk::TrackSource> {
        p.can_publish_sources.iter().filter_map(|s| lk::TrackSource::try_from(*s).ok()).collect()
    }

    #[test]
    fn mute_all_without_self_unmute_takes_the_microphone_from_participants_only() {
        let c = Controls { mute_all: true, allow_unmute_self: Some(false), ..Default::default() };
        let p = permission(&open(), &c, false);
        assert!(p.can_publish);
        assert_eq!(sources(&p), vec![lk::TrackSource::Camera, lk::TrackSource::ScreenShare, lk::TrackSource::ScreenShareAudio]);
        assert_eq!(permission(&open(), &c, true), open(), "hosts keep everything");
        // With self-unmute allowed, the mute is a request the participant may undo.
        let soft = Controls { mute_all: true, allow_unmute_self: Some(true), ..Default::default() };
        assert_eq!(permission(&open(), &soft, false), open());
    }

    #[test]
    fn screen_sharing_can_be_kept_to_hosts_and_grants_only_narrow() {
        let c = Controls { share_screen: Some(false), ..Default::default() };
        assert_eq!(sources(&permission(&open(), &c, false)), vec![lk::TrackSource::Camera, lk::TrackSource::Microphone]);
        // A token that already allowed only the microphone, under mute all: nothing is left.
        let mic_only = lk::ParticipantPermission { can_publish_sources: vec![lk::TrackSource::Microphone as i32], ..open() };
        let locked = Controls { mute_all: true, allow_unmute_self: Some(false), ..Default::default() };
        assert!(!permission(&mic_only, &locked, false).can_publish);
        assert_eq!(Controls::from_json(None), Controls::default());
        use crate::tencent::meetings::Settings;
        use huiyi_sfu_core::MuteOnEntry;
        let quiet = Settings { mute_enable_join: Some(true), ..Default::default() };
        assert_eq!(mute_on_entry(&quiet, &Controls::default()), MuteOnEntry::Always);
        let big = Settings { mute_enable_join: Some(true), mute_enable_type_join: Some(2), ..Default::default() };
        assert_eq!(mute_on_entry(&big, &Controls::default()), MuteOnEntry::Above(6), "the type wins");
        assert_eq!(mute_on_entry(&Settings::default(), &Controls::default()), MuteOnEntry::Never);
        assert_eq!(mute_on_entry(&Settings::default(), &Controls { mute_all: true, ..Default::default() }), MuteOnEntry::Always);
        assert_eq!(permission(&open(), &Controls::default(), false), open());
    }

    #[test]
    fn the_live_waiting_room_control_wins_over_the_setting() {
        use crate::tencent::meetings::Settings;
        let on = Settings { auto_in_waiting_room: Some(true), ..Default::default() };
        assert!(Controls::default().waiting_room(&on));
        assert!(!Controls::default().waiting_room(&Settings::default()));
        assert!(!Controls { waiting_room: Some(false), ..Default::default() }.waiting_room(&on));
        assert!(Controls { waiting_room: Some(true), ..Default::default() }.waiting_room(&Settings::default()));
    }
}
