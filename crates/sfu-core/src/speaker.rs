//! Active-speaker detection from RFC 6464 audio levels.
//!
//! Each audio packet may carry the sender's level in -dBov (0 loudest, 127 silence). The
//! detector keeps a smoothed linear level per participant; [`SpeakerDetector::speakers`]
//! returns those above the threshold, loudest first. Levels decay when packets stop (DTX
//! sends none during silence), so a speaker who stops talking drops out.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Levels quieter than this (-dBov) count as silence.
const SILENCE_DBOV: u8 = 60;
/// A speaker whose last loud packet is older than this is no longer speaking.
const HOLD: Duration = Duration::from_millis(500);
/// Exponential smoothing factor per observed packet.
const ALPHA: f32 = 0.3;
/// The smoothed level must exceed this to count as active.
const ACTIVE_LEVEL: f32 = 0.01;

#[derive(Debug, Clone, Copy)]
struct Level {
    smoothed: f32,
    last_loud: Instant,
}

/// Tracks who is speaking. `K` is the caller's participant key.
#[derive(Debug)]
pub struct SpeakerDetector<K> {
    levels: HashMap<K, Level>,
}

impl<K: Hash + Eq + Clone> Default for SpeakerDetector<K> {
    fn default() -> Self {
        Self { levels: HashMap::new() }
    }
}

impl<K: Hash + Eq + Clone> SpeakerDetector<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the level (-dBov, 0..=127) of one audio packet from `who`.
    pub fn handle_level(&mut self, now: Instant, who: &K, dbov: u8) {
        let linear = if dbov >= SILENCE_DBOV { 0.0 } else { 10f32.powf(-(dbov as f32) / 20.0) };
        let entry = self.levels.entry(who.clone()).or_insert(Level { smoothed: 0.0, last_loud: now - HOLD * 2 });
        entry.smoothed = entry.smoothed * (1.0 - ALPHA) + linear * ALPHA;
        if linear > 0.0 {
            entry.last_loud = now;
        }
    }

    /// Forgets a participant (left, or unpublished their microphone).
    pub fn remove(&mut self, who: &K) {
        self.levels.remove(who);
    }

    /// The active speakers, loudest first, with their level in 0..=1.
    pub fn speakers(&self, now: Instant) -> Vec<(K, f32)> {
        let mut out: Vec<(K, f32)> = self
            .levels
            .iter()
            .filter(|(_, l)| l.smoothed > ACTIVE_LEVEL && now.duration_since(l.last_loud) < HOLD)
            .map(|(k, l)| (k.clone(), l.smoothed.min(1.0)))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loud_participant_becomes_active_and_silence_ends_it() {
        let t0 = Instant::now();
        let mut d = SpeakerDetector::new();
        for i in 0..20 {
            d.handle_level(t0 + Duration::from_millis(20 * i), &"alice", 20);
            d.handle_level(t0 + Duration::from_millis(20 * i), &"bob", 127);
        }
        let now = t0 + Duration::from_millis(400);
        let s = d.speakers(now);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].0, "alice");
        assert!(s[0].1 > 0.05 && s[0].1 <= 1.0);
        // DTX: no packets for a second.
        assert!(d.speakers(now + Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn louder_speaker_first() {
        let t0 = Instant::now();
        let mut d = SpeakerDetector::new();
        for i in 0..20 {
            let t = t0 + Duration::from_millis(20 * i);
            d.handle_level(t, &1, 30);
            d.handle_level(t, &2, 10);
        }
        let s = d.speakers(t0 + Duration::from_millis(400));
        assert_eq!(s.iter().map(|x| x.0).collect::<Vec<_>>(), vec![2, 1]);
        d.remove(&2);
        assert_eq!(d.speakers(t0 + Duration::from_millis(400)).len(), 1);
    }
}
