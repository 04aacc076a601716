//! What the engine counts for the server's metrics: plain counters bumped on the packet path,
//! and gauges computed from the engine's state when a snapshot is asked for.
//!
//! The engine only counts. It reads no clock and shares nothing with other threads: the shell
//! takes a [`MetricsSnapshot`] (a copy) now and then and publishes it, and times the packet
//! path itself (`huiyi_sfu::metrics`).

use str0m::stats::MediaEgressStats;

use super::Engine;
use crate::ids::SessionKey;

/// Counters that only ever grow, bumped where the event happens. Adding to one is the only cost
/// on the packet path: no allocation, no lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub rtp_packets_received: u64,
    pub rtp_bytes_received: u64,
    pub rtp_packets_sent: u64,
    pub rtp_bytes_sent: u64,
    pub nacks_received: u64,
    pub plis_sent: u64,
    pub layer_switches: u64,
}

impl Counters {
    /// An RTP packet arrived from a publisher, with `payload` bytes of payload.
    pub fn received(&mut self, payload: usize) {
        self.rtp_packets_received += 1;
        self.rtp_bytes_received += payload as u64;
    }

    /// An RTP packet was written to a subscriber's stream, with `payload` bytes of payload.
    pub fn sent(&mut self, payload: usize) {
        self.rtp_packets_sent += 1;
        self.rtp_bytes_sent += payload as u64;
    }
}

/// The engine's metrics at one moment: gauges of its state and totals since it started.
///
/// Bytes are RTP payload bytes: the RTP header, padding, SRTP and retransmissions are not
/// counted, so `rtp_bytes_sent / rtp_bytes_received` is the fan-out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Rooms held, including empty rooms waiting for their timeout.
    pub rooms: u64,
    /// Participant sessions, including those in a waiting room and those held for a resume.
    pub participants: u64,
    /// Tracks bound to media and published.
    pub published_tracks: u64,
    /// Down tracks: one per subscriber of a published track.
    pub subscriptions: u64,
    /// RTP packets that arrived from publishers (each once, repaired ones included).
    pub rtp_packets_received: u64,
    pub rtp_bytes_received: u64,
    /// RTP packets written to subscribers: one per forwarded packet and subscriber.
    pub rtp_packets_sent: u64,
    pub rtp_bytes_sent: u64,
    /// RTCP NACKs that subscribers sent (str0m answers them from its RTX cache). Learnt from
    /// str0m's egress statistics, which arrive every 2 s per stream.
    pub nacks_received: u64,
    /// Keyframe requests (PLIs) the engine sent to publishers, after rate limiting. A request
    /// for a stream that has not sent a packet yet goes nowhere and is not counted.
    pub plis_sent: u64,
    /// Times a down track moved from forwarding one simulcast layer to another. Starting to
    /// forward (the first layer, or after a pause) is not a switch.
    pub layer_switches: u64,
}

impl Engine {
    /// The engine's metrics now. Gauges are counted over rooms and sessions, so this costs
    /// O(rooms + sessions): call it now and then (the shell does once a second), not per
    /// packet.
    pub fn metrics(&self) -> MetricsSnapshot {
        let c = self.counters;
        MetricsSnapshot {
            rooms: self.rooms.len() as u64,
            participants: self.sessions.len() as u64,
            published_tracks: self.rooms.values().map(|r| r.tracks.len() as u64).sum(),
            subscriptions: self.sessions.values().map(|p| p.downtracks.len() as u64).sum(),
            rtp_packets_received: c.rtp_packets_received,
            rtp_bytes_received: c.rtp_bytes_received,
            rtp_packets_sent: c.rtp_packets_sent,
            rtp_bytes_sent: c.rtp_bytes_sent,
            nacks_received: c.nacks_received,
            plis_sent: c.plis_sent,
            layer_switches: c.layer_switches,
        }
    }

    /// Egress statistics of one stream of `owner`'s subscriber connection. str0m reports the
    /// NACKs it received as a running total per stream; the new ones are counted.
    pub(crate) fn count_nacks(&mut self, owner: SessionKey, stats: &MediaEgressStats) {
        let Some(p) = self.sessions.get_mut(&owner) else { return };
        let Some(dt) = p.downtracks.values_mut().find(|d| d.mid == Some(stats.mid)) else { return };
        // A lower total than the last one is a new stream on the line, counting from zero.
        let new = stats.nacks.checked_sub(dt.nacks_seen).unwrap_or(stats.nacks);
        dt.nacks_seen = stats.nacks;
        self.counters.nacks_received += new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_packets_and_payload_bytes() {
        let mut c = Counters::default();
        c.received(100);
        c.received(20);
        c.sent(100);
        assert_eq!((c.rtp_packets_received, c.rtp_bytes_received), (2, 120));
        assert_eq!((c.rtp_packets_sent, c.rtp_bytes_sent), (1, 100));
    }
}
