//! Micro-benchmark of the per-packet path: what the engine costs for one incoming SRTP packet
//! from a publisher with N subscribers (N = 1, 10, 100), in time and in allocations.
//!
//! The fixture (`tests/support/fanout.rs`, shared with the allocation test) connects real str0m
//! clients to an `Engine` in virtual time. Each measured turn feeds one captured datagram with
//! `handle_datagram` and drains `poll_output` until `Timeout`, as the server's engine loop does,
//! and drops the N copies as its send batch does; capturing the publisher's packets and the
//! subscribers' receiving happen outside the timed sections.
//!
//! Criterion reports time per incoming packet, and copies per second as its throughput. A
//! summary at the end gives ns and allocations per packet for each N, and per fan-out copy
//! (the slope between the smallest and the largest N). `HUIYI_ALLOC_TRACE=1` adds where the
//! allocations come from to the summary (and makes its times meaningless).
//! `HUIYI_PACKET_SPACING_US` sets the virtual time between packets (4,000 µs, 250 packets/s, by
//! default): str0m's per-timeout work grows with the packet rate.
//!
//! Run: `cargo bench -p huiyi-sfu-core --bench packet_path`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use support::counting::{self, CountingAlloc};
use support::fanout::{Fanout, Media};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const SUBSCRIBERS: [usize; 3] = [1, 10, 100];
/// Packets captured, forwarded, then delivered, per turn of a measurement.
const CHUNK: usize = 64;
/// Packets per (media, N) in the summary, after as many to warm up.
const SUMMARY_PACKETS: usize = 2048;

fn main() {
    let mut criterion = Criterion::default().sample_size(50).warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(4)).configure_from_args();
    let setup = Instant::now();
    let mut fixtures: Vec<Fanout> = SUBSCRIBERS.iter().map(|&n| Fanout::new(n)).collect();
    if let Some(us) = std::env::var("HUIYI_PACKET_SPACING_US").ok().and_then(|v| v.parse().ok()) {
        fixtures.iter_mut().for_each(|fx| fx.spacing = Duration::from_micros(us));
    }
    println!("packets {:?} apart in virtual time", fixtures[0].spacing);
    println!("fixtures for {SUBSCRIBERS:?} subscribers connected in {:.1?}", setup.elapsed());
    for media in [Media::Video, Media::Audio] {
        let mut group = criterion.benchmark_group(format!("packet_path/{media:?}").to_lowercase());
        for fx in &mut fixtures {
            let n = fx.subscribers();
            // Throughput in elements: criterion prints fan-out copies per second.
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(BenchmarkId::new("subscribers", n), |b| b.iter_custom(|iters| timed(fx, media, iters as usize)));
        }
        group.finish();
    }
    criterion.final_summary();
    summary(&mut fixtures);
}

/// Time spent by the engine on `packets` packets of `media`, with the N copies of each freed.
fn timed(fx: &mut Fanout, media: Media, packets: usize) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = packets;
    while left > 0 {
        let k = left.min(CHUNK);
        fx.capture(media, k);
        let start = Instant::now();
        fx.forward();
        total += start.elapsed();
        fx.deliver();
        let start = Instant::now();
        fx.free_copies();
        total += start.elapsed();
        left -= k;
    }
    total
}

/// Per packet, over `SUMMARY_PACKETS`: nanoseconds, allocations and bytes allocated.
fn per_packet(fx: &mut Fanout, media: Media) -> (f64, f64, f64) {
    timed(fx, media, SUMMARY_PACKETS);
    let (mut time, mut allocations, mut bytes) = (Duration::ZERO, 0, 0);
    let mut left = SUMMARY_PACKETS;
    while left > 0 {
        let k = left.min(CHUNK);
        fx.capture(media, k);
        let start = Instant::now();
        let ((), counts) = counting::measure(|| fx.forward());
        time += start.elapsed();
        allocations += counts.allocations;
        bytes += counts.bytes;
        fx.deliver();
        let start = Instant::now();
        fx.free_copies();
        time += start.elapsed();
        left -= k;
    }
    let n = SUMMARY_PACKETS as f64;
    (time.as_nanos() as f64 / n, allocations as f64 / n, bytes as f64 / n)
}

fn summary(fixtures: &mut [Fanout]) {
    println!("\nPer incoming packet (mean of {SUMMARY_PACKETS} in steady state; copies freed as the shell does):");
    println!("{:<6} {:>11} {:>12} {:>14} {:>12}", "media", "subscribers", "ns/packet", "allocs/packet", "bytes/packet");
    for media in [Media::Video, Media::Audio] {
        let mut rows = Vec::new();
        for fx in fixtures.iter_mut() {
            let (ns, allocs, bytes) = per_packet(fx, media);
            let n = fx.subscribers();
            println!("{:<6} {n:>11} {ns:>12.0} {allocs:>14.2} {bytes:>12.0}", format!("{media:?}").to_lowercase());
            for (source, count) in counting::top_sources(8) {
                println!("      {:>5.2}/packet  {source}", count as f64 / SUMMARY_PACKETS as f64);
            }
            rows.push((n as f64, ns, allocs));
        }
        let ((n0, ns0, a0), (n1, ns1, a1)) = (rows[0], rows[rows.len() - 1]);
        let copies = n1 - n0;
        println!("{:<6} per fan-out copy (from {n0} to {n1} subscribers): {:.0} ns, {:.2} allocations", "", (ns1 - ns0) / copies, (a1 - a0) / copies);
    }
}
