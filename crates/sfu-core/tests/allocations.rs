//! Allocations per forwarded packet in steady state, counted by a counting allocator: a
//! regression guard for "no allocation per packet" on the packet path. Its own test binary,
//! so the counting allocator is registered only here (and in the packet-path benchmark, which
//! shares the same fixture, `support/fanout.rs`).
//!
//! The target is zero; today's count is not zero, and most of it is str0m's (see
//! BENCHMARKS.md, "Micro-benchmark of the packet path"). The bounds below are what was measured
//! when this test was written: a change that adds an allocation per packet or per copy fails
//! here, and one that removes some should lower the bounds. `HUIYI_ALLOC_TRACE=1` with
//! `--nocapture` prints where the allocations come from.

mod support;

use support::counting::{self, CountingAlloc};
use support::fanout::{Fanout, Media};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Packets forwarded before counting (buffers and maps reach their steady size), and counted.
const WARM_UP: usize = 100;
const COUNTED: usize = 100;

/// Upper bounds on allocations per incoming packet, per (media, subscribers), packets 4 ms
/// apart. Measured when this was written (the count is deterministic in virtual time): 3.62
/// (video) and 3.52 (audio) with one subscriber, 5.74 and 5.64 with three, all but the engine's
/// once-per-tick speaker update str0m's: per packet in, the payload's `Arc<[u8]>` and the MID
/// header extension parsed into a `String`; per copy out, its SRTP buffer; and, a fraction per
/// packet, periodic RTCP (TWCC feedback, reports). Huiyi's per-packet code allocates nothing.
/// The bounds leave about 0.3 of room: one more allocation per packet or per copy fails.
const BOUNDS: [(Media, usize, f64); 4] = [(Media::Video, 1, 3.9), (Media::Audio, 1, 3.9), (Media::Video, 3, 6.0), (Media::Audio, 3, 6.0)];

/// Allocations per packet in steady state, for one media on a fixture.
fn allocations_per_packet(fx: &mut Fanout, media: Media) -> f64 {
    fx.round(media, WARM_UP);
    fx.capture(media, COUNTED);
    let ((), counts) = counting::measure(|| fx.forward());
    fx.deliver();
    fx.free_copies();
    counts.allocations as f64 / COUNTED as f64
}

#[test]
fn forwarding_allocates_no_more_per_packet_than_measured() {
    let mut measured = Vec::new();
    for subscribers in [1, 3] {
        let mut fx = Fanout::new(subscribers);
        for media in [Media::Video, Media::Audio] {
            measured.push((media, subscribers, allocations_per_packet(&mut fx, media)));
        }
    }
    for (media, subscribers, per_packet) in &measured {
        println!("{media:?} to {subscribers} subscriber(s): {per_packet:.2} allocations per packet");
    }
    for (source, n) in counting::top_sources(12) {
        println!("{n:>6}  {source}");
    }
    for ((media, subscribers, per_packet), (_, _, bound)) in measured.iter().zip(BOUNDS) {
        assert!(*per_packet <= bound, "{media:?} to {subscribers} subscriber(s): {per_packet:.2} allocations per packet, above the bound of {bound} (see BOUNDS)");
    }
}
