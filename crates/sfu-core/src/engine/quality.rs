//! Connection quality, as LiveKit clients show it: each participant's worst loss across its
//! peer connections becomes Excellent, Good or Poor, announced to the room. Everyone hears the
//! whole list once, then only changes, so that a large room stays cheap.

use std::collections::HashSet;

use huiyi_proto::lk;

use super::{Engine, Output, Response};
use crate::ids::SessionKey;

impl Engine {
    /// Tells each room how well each participant's connections are doing, from their loss.
    /// A participant hears the whole list once (and again when admitted from the waiting
    /// room), then only the entries whose quality changed: in a steady room of hundreds this
    /// sends nothing, where a full list to everyone would cost the square of its size.
    pub(super) fn update_connection_quality(&mut self) {
        for room in self.rooms.values_mut() {
            // The waiting room hears only of itself, and nobody else hears of it.
            let mut present: Vec<(SessionKey, bool)> = Vec::with_capacity(room.participants.len());
            let mut changed: Vec<lk::ConnectionQualityInfo> = Vec::new();
            let mut changed_waiting: HashSet<SessionKey> = HashSet::new();
            for k in &room.participants {
                let Some(p) = self.sessions.get(k) else { continue };
                let loss = [p.publisher, p.subscriber].into_iter().flatten().filter_map(|id| self.peers.get(&id)).map(|peer| peer.loss).fold(0.0f32, f32::max);
                let quality = if loss < 0.02 {
                    lk::ConnectionQuality::Excellent
                } else if loss < 0.10 {
                    lk::ConnectionQuality::Good
                } else {
                    lk::ConnectionQuality::Poor
                };
                let waiting = p.waiting();
                present.push((*k, waiting));
                if room.quality.get(k).is_some_and(|old| old.quality == quality as i32) {
                    // Unchanged, but just admitted: the room has not heard of it yet.
                    if !waiting && room.quality_synced.get(k) == Some(&false) {
                        changed.extend(room.quality.get(k).cloned());
                    }
                    continue;
                }
                let info = lk::ConnectionQualityInfo { participant_sid: p.sid.to_string(), quality: quality as i32, score: 5.0 * (1.0 - loss.min(1.0)) };
                if waiting {
                    changed_waiting.insert(*k);
                } else {
                    changed.push(info.clone());
                }
                room.quality.insert(*k, info);
            }
            let keys: HashSet<SessionKey> = present.iter().map(|(k, _)| *k).collect();
            room.quality.retain(|k, _| keys.contains(k));
            room.quality_synced.retain(|k, _| keys.contains(k));
            let mut whole: Option<Vec<lk::ConnectionQualityInfo>> = None;
            for (k, waiting) in &present {
                let synced = room.quality_synced.insert(*k, !*waiting);
                let updates = if *waiting {
                    let own = synced.is_none() || changed_waiting.contains(k);
                    own.then(|| room.quality.get(k).cloned()).flatten().into_iter().collect()
                } else if synced != Some(true) {
                    whole.get_or_insert_with(|| present.iter().filter(|(_, w)| !w).filter_map(|(o, _)| room.quality.get(o).cloned()).collect()).clone()
                } else {
                    changed.clone()
                };
                if !updates.is_empty() {
                    self.outputs.push_back(Output::Signal(*k, Response::ConnectionQuality(lk::ConnectionQualityUpdate { updates })));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Instant;

    use super::*;
    use crate::engine::{EngineConfig, JoinParams};
    use crate::ids::{ParticipantIdentity, RoomName};

    fn params(identity: &str, waiting: bool) -> JoinParams {
        JoinParams {
            room: RoomName::parse("meeting").unwrap(),
            identity: ParticipantIdentity::parse(identity).unwrap(),
            name: identity.to_owned(),
            metadata: String::new(),
            attributes: HashMap::new(),
            permission: lk::ParticipantPermission { can_subscribe: true, ..Default::default() },
            auto_subscribe: true,
            now_ms: 1_000,
            client_addr: None,
            mute_on_entry: Default::default(),
            chat: Default::default(),
            waiting,
            may_rename: false,
        }
    }

    /// One quality pass: how many entries each session was sent, by participant sid.
    fn pass(e: &mut Engine) -> HashMap<SessionKey, Vec<String>> {
        while !matches!(e.poll_output(), Output::Timeout(_)) {}
        e.update_connection_quality();
        let mut got: HashMap<SessionKey, Vec<String>> = HashMap::new();
        loop {
            match e.poll_output() {
                Output::Timeout(_) => return got,
                Output::Signal(k, Response::ConnectionQuality(q)) => got.entry(k).or_default().extend(q.updates.into_iter().map(|u| u.participant_sid)),
                _ => {}
            }
        }
    }

    fn sid(e: &Engine, identity: &str) -> String {
        e.get_participant("meeting", identity).unwrap().sid
    }

    #[test]
    fn everyone_hears_the_whole_list_once_then_only_newcomers() {
        let now = Instant::now();
        let mut e = Engine::new(EngineConfig::default(), now);
        let keys: Vec<SessionKey> = (0..5).map(|i| e.join(now, params(&format!("p{i}"), false)).unwrap().0).collect();
        let (guest, _) = e.join(now, params("guest", true)).unwrap();
        let first = pass(&mut e);
        for k in &keys {
            assert_eq!(first[k].len(), 5, "the whole list of those admitted, not the waiting guest");
            assert!(!first[k].contains(&sid(&e, "guest")));
        }
        assert_eq!(first[&guest], vec![sid(&e, "guest")], "the waiting room hears only of itself");

        assert!(pass(&mut e).is_empty(), "nothing changed, nothing is sent");

        // A newcomer gets the whole list; the others only the newcomer.
        let (late, _) = e.join(now, params("late", false)).unwrap();
        let third = pass(&mut e);
        assert_eq!(third[&late].len(), 6);
        for k in &keys {
            assert_eq!(third[k], vec![sid(&e, "late")]);
        }
        assert!(!third.contains_key(&guest), "the waiting guest hears of nobody else");

        // Admitted, the guest gets the whole list, and everyone hears of it.
        assert_eq!(e.admit("meeting", "guest"), Ok(true));
        let fourth = pass(&mut e);
        assert_eq!(fourth[&guest].len(), 7);
        assert_eq!(fourth[&late], vec![sid(&e, "guest")]);

        // A departure leaves nothing behind to announce.
        e.remove_participant(now, "meeting", "p0").unwrap();
        assert!(pass(&mut e).is_empty());
        assert_eq!(e.rooms.values().next().unwrap().quality.len(), 6);
    }
}
