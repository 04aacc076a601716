//! The server's metrics as the shell keeps them: the engine's snapshot, and a histogram of
//! forwarding time that only the shell can measure (the engine has no clock).
//!
//! The engine task times every [`Engine::handle_datagram`](huiyi_sfu_core::Engine) call into
//! a [`Histogram`] (an integer add, no lock) and, once a second, publishes an [`SfuMetrics`]
//! copy on a `watch` channel. [`SfuHandle::metrics`](crate::SfuHandle::metrics) reads the
//! latest, so the HTTP side never waits on the engine task and never slows it.

use std::time::Duration;

use huiyi_sfu_core::MetricsSnapshot;

/// How often the engine task publishes a snapshot.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Upper bounds of the forwarding-time buckets, in nanoseconds: 5 µs to 10 ms.
const BOUNDS_NANOS: [u64; 11] = [5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000];

/// A fixed-bucket histogram of durations, as Prometheus models one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last one is above every bound.
    counts: [u64; BOUNDS_NANOS.len() + 1],
    sum_nanos: u64,
}

impl Histogram {
    /// Adds one observation.
    pub fn record(&mut self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // The first bucket whose bound is at least `nanos` (Prometheus' `le`).
        let i = BOUNDS_NANOS.partition_point(|&b| b < nanos);
        self.counts[i] += 1;
        self.sum_nanos = self.sum_nanos.saturating_add(nanos);
    }

    /// Each bucket's upper bound in seconds with the count of observations at or below it
    /// (cumulative), in increasing order; the `+Inf` bucket is [`Histogram::count`].
    pub fn buckets(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        BOUNDS_NANOS.iter().zip(self.counts.iter()).scan(0u64, |total, (&bound, &n)| {
            *total += n;
            Some((bound as f64 / 1e9, *total))
        })
    }

    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The sum of every observation, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_nanos as f64 / 1e9
    }
}

/// What `/metrics` shows: the engine's snapshot and the forwarding time, as of the last
/// publication (at most [`PUBLISH_EVERY`] old while the engine runs).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SfuMetrics {
    pub engine: MetricsSnapshot,
    /// Time of each `handle_datagram` call: one incoming packet routed, decrypted and written
    /// to every subscriber (sending the batch to the socket afterwards is not included).
    pub forwarding: Histogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_in_the_first_bucket_that_holds_them() {
        let mut h = Histogram::default();
        h.record(Duration::from_micros(5)); // on a bound: that bucket (le is "at most")
        h.record(Duration::from_micros(7));
        h.record(Duration::from_millis(3));
        h.record(Duration::from_secs(1)); // above every bound: only +Inf
        let buckets: Vec<(f64, u64)> = h.buckets().collect();
        assert_eq!(buckets.len(), 11);
        assert_eq!(buckets[0], (0.000005, 1));
        assert_eq!(buckets[1], (0.00001, 2));
        assert_eq!(buckets[8], (0.0025, 2));
        assert_eq!(buckets[9], (0.005, 3));
        assert_eq!(buckets[10], (0.01, 3));
        assert_eq!(h.count(), 4);
        assert!((h.sum_seconds() - 1.003012).abs() < 1e-9, "{}", h.sum_seconds());
    }
}
