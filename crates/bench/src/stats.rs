//! What a run measures: packet counters shared by every client, the send log that turns a
//! received packet into a latency, per-stream loss and jitter, and CPU and memory of processes
//! read from /proc.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Slots in the send log; a power of two. At 100k packets/s it holds about 0.6 s of sends, far
/// more than any latency measured, so a slot is only reused long after its packet arrived.
const LOG_SLOTS: usize = 1 << 16;

/// When each packet was sent, by fingerprint: a lock-free table every publisher writes and
/// every receiver reads. A receiver whose fingerprint is not (or no longer) in its slot counts
/// the packet as unmatched instead of guessing.
pub struct SendLog {
    epoch: Instant,
    slots: Box<[(AtomicU64, AtomicU64)]>,
}

impl SendLog {
    pub fn new(epoch: Instant) -> Self {
        Self { epoch, slots: (0..LOG_SLOTS).map(|_| (AtomicU64::new(0), AtomicU64::new(0))).collect() }
    }

    fn slot(&self, fingerprint: u64) -> &(AtomicU64, AtomicU64) {
        &self.slots[(fingerprint as usize ^ (fingerprint >> 32) as usize) & (LOG_SLOTS - 1)]
    }

    pub fn sent(&self, fingerprint: u64, at: Instant) {
        let (fp, time) = self.slot(fingerprint);
        // Invalidate, write the time, then publish the fingerprint.
        fp.store(0, Relaxed);
        time.store(at.duration_since(self.epoch).as_nanos() as u64, Relaxed);
        fp.store(fingerprint, std::sync::atomic::Ordering::Release);
    }

    /// How long ago, at `at`, the packet with this fingerprint was sent.
    pub fn latency(&self, fingerprint: u64, at: Instant) -> Option<Duration> {
        let (fp, time) = self.slot(fingerprint);
        if fp.load(std::sync::atomic::Ordering::Acquire) != fingerprint {
            return None;
        }
        let sent = time.load(Relaxed);
        if fp.load(Relaxed) != fingerprint {
            return None;
        }
        let now = at.duration_since(self.epoch).as_nanos() as u64;
        // A packet "received before it was sent" matched a newer send of the same bytes.
        now.checked_sub(sent).map(Duration::from_nanos).filter(|d| *d < Duration::from_secs(2))
    }
}

/// Counters every client adds to; read at the start and end of the measured window.
#[derive(Default)]
pub struct Counters {
    pub packets_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub packets_received: AtomicU64,
    pub bytes_received: AtomicU64,
    pub unmatched: AtomicU64,
    /// Datagrams the generator's sockets refused (a full send buffer).
    pub send_errors: AtomicU64,
    /// Participants whose media connection is up.
    pub joined: AtomicU64,
    /// Set while the measured window is open: latencies are recorded only then.
    pub measuring: AtomicBool,
}

impl Counters {
    pub fn snapshot(&self) -> [u64; 5] {
        [&self.packets_sent, &self.bytes_sent, &self.packets_received, &self.bytes_received, &self.unmatched].map(|c| c.load(Relaxed))
    }
}

/// One received stream's sequence and timing, for loss (RFC 3550 §6.4.1 style: expected from
/// the extended sequence range) and interarrival jitter (§6.4.1, A.8).
struct Stream {
    clock: f64,
    first: u64,
    last: u64,
    received: u64,
    transit: Option<f64>,
    jitter: f64,
}

/// What one client saw: latency histograms per kind, streams, its first packet.
pub struct Receiver {
    pub audio: Histogram<u64>,
    pub video: Histogram<u64>,
    streams: HashMap<u32, Stream>,
    /// Any media packet has arrived.
    pub media_seen: bool,
}

impl Default for Receiver {
    fn default() -> Self {
        Self { audio: histogram(), video: histogram(), streams: HashMap::new(), media_seen: false }
    }
}

/// Microseconds, up to 10 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000, 3).expect("valid histogram bounds")
}

impl Receiver {
    pub fn got_media(&self) -> bool {
        self.media_seen
    }

    /// Records one RTP packet: `seq` extended, `rtp_time` in the codec's clock at `clock` Hz.
    pub fn packet(&mut self, ssrc: u32, seq: u64, rtp_time: u64, clock: u32, arrival: Instant, epoch: Instant) {
        let at = arrival.duration_since(epoch).as_secs_f64();
        let s = self.streams.entry(ssrc).or_insert(Stream { clock: clock as f64, first: seq, last: seq, received: 0, transit: None, jitter: 0.0 });
        s.first = s.first.min(seq);
        s.last = s.last.max(seq);
        s.received += 1;
        let transit = at - rtp_time as f64 / s.clock;
        if let Some(prev) = s.transit {
            s.jitter += ((transit - prev).abs() - s.jitter) / 16.0;
        }
        s.transit = Some(transit);
    }

    /// How many video streams (90 kHz clock) arrived.
    pub fn video_streams(&self) -> usize {
        self.streams.values().filter(|s| s.clock == 90_000.0).count()
    }

    /// One line per stream, for `HUIYI_BENCH_STREAMS=1`.
    pub fn describe(&self) -> String {
        self.streams.iter().map(|(ssrc, s)| format!("ssrc {ssrc} clock {} seq {}..{} received {}", s.clock, s.first, s.last, s.received)).collect::<Vec<_>>().join("; ")
    }

    /// (expected, received, the mean of the streams' jitter in seconds).
    pub fn loss_and_jitter(&self) -> (u64, u64, f64) {
        let expected = self.streams.values().map(|s| s.last - s.first + 1).sum();
        let received = self.streams.values().map(|s| s.received).sum();
        let jitter = if self.streams.is_empty() { 0.0 } else { self.streams.values().map(|s| s.jitter).sum::<f64>() / self.streams.len() as f64 };
        (expected, received, jitter)
    }
}

/// Everything the clients report when they stop, merged.
pub struct Totals {
    pub audio: Histogram<u64>,
    pub video: Histogram<u64>,
    pub expected: u64,
    pub received: u64,
    pub jitter_sum: f64,
    pub jitter_streams: u64,
    /// Connect to first media packet, per client that got one.
    pub first_packet: Histogram<u64>,
    /// Connect to a connected subscriber peer, per client.
    pub joined: Histogram<u64>,
    pub failed_joins: u64,
    /// The most video streams any one participant received.
    pub max_video_streams: usize,
}

impl Default for Totals {
    fn default() -> Self {
        Self { audio: histogram(), video: histogram(), expected: 0, received: 0, jitter_sum: 0.0, jitter_streams: 0, first_packet: histogram(), joined: histogram(), failed_joins: 0, max_video_streams: 0 }
    }
}

/// Collects each client's [`Receiver`] and join timings as it ends.
#[derive(Default)]
pub struct Collector(Mutex<Totals>);

impl Collector {
    pub fn add(&self, r: &Receiver, joined: Option<Duration>, first_packet: Option<Duration>) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = t.audio.add(&r.audio);
        let _ = t.video.add(&r.video);
        let (e, got, jitter) = r.loss_and_jitter();
        t.expected += e;
        t.received += got;
        t.jitter_sum += jitter * r.streams.len() as f64;
        t.jitter_streams += r.streams.len() as u64;
        t.max_video_streams = t.max_video_streams.max(r.video_streams());
        match joined {
            Some(d) => {
                let _ = t.joined.record(d.as_micros().max(1) as u64);
            }
            None => t.failed_joins += 1,
        }
        if let Some(d) = first_packet {
            let _ = t.first_packet.record(d.as_micros().max(1) as u64);
        }
    }

    pub fn take(&self) -> Totals {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A process's CPU time so far and its memory, from /proc.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcSample {
    pub cpu: Duration,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

/// Reads /proc/<pid>/stat (utime + stime) and /proc/<pid>/status (VmRSS, VmHWM); `None` for self.
pub fn proc_sample(pid: Option<u32>) -> std::io::Result<ProcSample> {
    let dir = pid.map_or_else(|| "/proc/self".to_string(), |p| format!("/proc/{p}"));
    let stat = std::fs::read_to_string(format!("{dir}/stat"))?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0) + fields.get(12).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // USER_HZ is 100 on every Linux this runs on.
    let cpu = Duration::from_millis(ticks * 10);
    let status = std::fs::read_to_string(format!("{dir}/status"))?;
    let kib = |key: &str| {
        status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    Ok(ProcSample { cpu, rss_kib: kib("VmRSS:"), peak_rss_kib: kib("VmHWM:") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_log_matches_only_the_packet_it_holds() {
        let epoch = Instant::now();
        let log = SendLog::new(epoch);
        let sent = epoch + Duration::from_millis(5);
        log.sent(42, sent);
        assert_eq!(log.latency(42, sent + Duration::from_micros(700)), Some(Duration::from_micros(700)));
        assert_eq!(log.latency(43, sent), None, "an unknown fingerprint");
        // The same slot, another packet: the first is gone, not misattributed.
        log.sent(42 + LOG_SLOTS as u64, sent);
        assert_eq!(log.latency(42, sent + Duration::from_millis(1)), None);
        assert_eq!(log.latency(42 + LOG_SLOTS as u64, sent - Duration::from_millis(1)), None, "received before it was sent");
    }

    #[test]
    fn loss_counts_gaps_and_jitter_grows_with_uneven_arrival() {
        let epoch = Instant::now();
        let mut r = Receiver::default();
        for (i, seq) in [10u64, 11, 13, 14].into_iter().enumerate() {
            // 20 ms of audio apart in RTP time; the third arrives 8 ms late.
            let late = if i == 2 { 8 } else { 0 };
            r.packet(1, seq, seq * 960, 48_000, epoch + Duration::from_millis(seq * 20 + late), epoch);
        }
        let (expected, received, jitter) = r.loss_and_jitter();
        assert_eq!((expected, received), (5, 4));
        assert!(jitter > 0.0005 && jitter < 0.002, "jitter {jitter}");
    }

    #[test]
    fn this_process_has_cpu_and_memory() {
        let s = proc_sample(None).unwrap();
        assert!(s.rss_kib > 0 && s.peak_rss_kib >= s.rss_kib);
    }
}
