//! `huiyi-bench`: Huiyi's load generator. It starts the SFU under test (or takes a running one
//! and its pid), connects simulated participants over real sockets with the LiveKit client
//! protocol (or, with `--target janus`, starts Janus and speaks its VideoRoom API), publishes the stored Opus and VP8 simulcast media, and reports throughput, loss,
//! jitter, server-added latency, join times, and the CPU and memory of the server and of
//! itself. With `--target ceiling` it measures a bare SRTP relay instead (`relay.rs`), the
//! machine's ceiling. See BENCHMARKS.md for the commands behind every published figure.

mod ceiling;
mod client;
mod janus;
mod media;
mod relay;
mod server;
mod srtp;
mod stats;
mod token;

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use serde::Serialize;
use tokio::sync::watch;

use client::{Publish, Shared, Spec, Target};
use stats::{proc_sample, ProcSample};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Sfu {
    /// Huiyi, over LiveKit's client protocol.
    Huiyi,
    /// Janus 1.1's VideoRoom, started by the generator on loopback with its own config.
    Janus,
    /// The ceiling: a bare SRTP relay (this binary's `relay` command) that decrypts each packet
    /// once and encrypts it for each receiver, with batched system calls and nothing else.
    Ceiling,
}

#[derive(Parser)]
#[command(about = "Load generator for Huiyi (and Janus): clients over real sockets")]
struct Cli {
    /// The SFU under test.
    #[arg(long, value_enum, default_value = "huiyi")]
    target: Sfu,
    /// The janus binary, for --target janus.
    #[arg(long, default_value = "janus")]
    janus_bin: PathBuf,
    /// The huiyi binary to start for the run, on free loopback ports with a temporary data
    /// folder. Without it, --url and --pid name a server that is already running.
    #[arg(long, env = "HUIYI_BIN")]
    server: Option<PathBuf>,
    /// A running server's base URL (ws://host:port), with --pid.
    #[arg(long)]
    url: Option<String>,
    /// The running server's process id, for its CPU and memory.
    #[arg(long)]
    pid: Option<u32>,
    #[arg(long, default_value = "devkey")]
    key: String,
    #[arg(long, default_value = "secret")]
    secret: String,
    /// The folder of test media (made by scripts/bench-media).
    #[arg(long)]
    media: Option<PathBuf>,
    /// Worker threads of the generator itself.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds between the last join and the measured window.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Fail (exit 1) unless every participant joined and media flowed with little loss: the
    /// harness's own smoke test, not a speed check.
    #[arg(long)]
    check: bool,
    /// Also append the report as one JSON line to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Clone, Copy, Debug, Serialize)]
#[serde(tag = "scenario", rename_all = "snake_case")]
enum Scenario {
    /// P participants publish Opus and S more only listen; everyone hears every publisher.
    Audio {
        #[arg(long, default_value_t = 4)]
        publishers: usize,
        #[arg(long, default_value_t = 8)]
        subscribers: usize,
    },
    /// N participants each publish audio and 720p simulcast video, and receive everyone else.
    Video {
        #[arg(long, default_value_t = 4)]
        publishers: usize,
    },
    /// One publisher (audio and simulcast video) to S viewers.
    Livestream {
        #[arg(long, default_value_t = 24)]
        subscribers: usize,
        /// Video layers the publisher sends: 1 (180p only) or 3 (simulcast).
        #[arg(long, default_value_t = 3)]
        layers: usize,
    },
    /// A large meeting: P participants, of whom the first C publish cameras (720p simulcast)
    /// and the first S of those also speak. Everyone shows only the last N speakers' cameras,
    /// as small tiles (the lowest layer), as the web app's paged grid and adaptive stream do.
    /// Huiyi only.
    Meeting {
        #[arg(long, default_value_t = 300)]
        participants: usize,
        #[arg(long, default_value_t = 4)]
        cameras: usize,
        #[arg(long, default_value_t = 1)]
        speakers: usize,
        #[arg(long, default_value_t = 2)]
        last_n: usize,
    },
    /// S viewers join one audio publisher within T seconds.
    Storm {
        #[arg(long, default_value_t = 200)]
        joins: usize,
        #[arg(long, default_value_t = 2.0)]
        within: f64,
    },
}

impl Scenario {
    /// Each participant's publishing, in join order (publishers first).
    fn participants(self) -> Vec<Publish> {
        let audio = Publish { audio: true, video_layers: 0 };
        let av = |layers| Publish { audio: true, video_layers: layers };
        match self {
            Scenario::Audio { publishers, subscribers } => [vec![audio; publishers], vec![Publish::NOTHING; subscribers]].concat(),
            Scenario::Video { publishers } => vec![av(3); publishers],
            Scenario::Livestream { subscribers, layers } => [vec![av(layers.clamp(1, 3))], vec![Publish::NOTHING; subscribers]].concat(),
            Scenario::Storm { joins, .. } => [vec![audio], vec![Publish::NOTHING; joins]].concat(),
            Scenario::Meeting { participants, cameras, speakers, .. } => {
                let cameras = cameras.min(participants);
                let speakers = speakers.min(cameras);
                [vec![av(3); speakers], vec![Publish { audio: false, video_layers: 3 }; cameras - speakers], vec![Publish::NOTHING; participants - cameras]].concat()
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scenario::Audio { .. } => "audio",
            Scenario::Video { .. } => "video",
            Scenario::Livestream { .. } => "livestream",
            Scenario::Storm { .. } => "storm",
            Scenario::Meeting { .. } => "meeting",
        }
    }
}

/// Percentiles in milliseconds.
#[derive(Serialize, Default)]
struct Latency {
    samples: u64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
}

impl Latency {
    fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self { samples: h.len(), p50_ms: ms(h.value_at_quantile(0.5)), p99_ms: ms(h.value_at_quantile(0.99)), p999_ms: ms(h.value_at_quantile(0.999)), max_ms: ms(h.max()) }
    }
}

#[derive(Serialize)]
struct Report {
    target: String,
    #[serde(flatten)]
    scenario: Scenario,
    participants: usize,
    window_s: f64,
    packets_out_per_s: f64,
    packets_in_per_s: f64,
    bytes_out_per_s: f64,
    bytes_in_per_s: f64,
    /// Media packets received per second of server CPU time: the egress per core.
    packets_in_per_server_cpu_s: f64,
    server_cpu_cores: f64,
    generator_cpu_cores: f64,
    server_rss_mib: f64,
    server_peak_rss_mib: f64,
    loss_percent: f64,
    jitter_ms: f64,
    unmatched: u64,
    generator_send_errors: u64,
    audio_latency: Latency,
    video_latency: Latency,
    joined: u64,
    failed_joins: u64,
    join_ms: Latency,
    first_packet_ms: Latency,
    /// Storm only: completed joins per second from the first attempt to the last join.
    joins_per_s: Option<f64>,
    /// The most video streams one participant received (the meeting's last-N at work).
    max_video_streams: usize,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into())).with_writer(std::io::stderr).init();
    // `huiyi-bench relay ...`: the ceiling relay, started by `--target ceiling`.
    if std::env::args().nth(1).as_deref() == Some("relay") {
        let args = <relay::Args as clap::Parser>::parse_from(std::env::args().skip(1));
        return relay::serve(&args);
    }
    let cli = Cli::parse();
    let media = media::Media::load(&cli.media.clone().unwrap_or_else(media::default_dir))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(cli.threads.max(1)).enable_all().build()?;
    let report = runtime.block_on(run(&cli, media))?;
    runtime.shutdown_timeout(Duration::from_secs(2));
    print(&report);
    if let Some(path) = &cli.json {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening {}", path.display()))?;
        writeln!(f, "{}", serde_json::to_string(&report)?)?;
    }
    if cli.check {
        check(&report)?;
    }
    Ok(())
}

async fn run(cli: &Cli, media: media::Media) -> Result<Report> {
    let relay_seed = janus::noise();
    let (_server, url, pid, target) = match (cli.target, &cli.server, &cli.url) {
        (Sfu::Janus | Sfu::Ceiling, _, _) if matches!(cli.scenario, Scenario::Meeting { .. }) => {
            bail!("the meeting scenario runs against huiyi only: it needs LiveKit's per-track settings")
        }
        (Sfu::Janus, _, _) => {
            let j = janus::Janus::start(&cli.janus_bin).await?;
            let (url, pid) = (j.url.clone(), j.pid);
            (Some(j), url, Some(pid), "janus".to_string())
        }
        (Sfu::Ceiling, _, _) => {
            if matches!(cli.scenario, Scenario::Storm { .. }) {
                bail!("the ceiling relay has no joins to storm: run the storm against huiyi or janus");
            }
            let r = server::start_relay(relay_seed)?;
            let (url, pid) = (r.url.clone(), r.pid);
            (Some(r), url, Some(pid), "ceiling".to_string())
        }
        (Sfu::Huiyi, Some(bin), _) => {
            let s = server::start_huiyi(bin).await?;
            let (url, pid) = (s.url.clone(), s.pid);
            (Some(s), url, Some(pid), "huiyi".to_string())
        }
        (Sfu::Huiyi, None, Some(url)) => (None, url.clone(), cli.pid, format!("external {url}")),
        (Sfu::Huiyi, None, None) => bail!("give --server <huiyi binary>, or --url (and --pid) of a running server, or --target janus"),
    };
    let shared = Arc::new(Shared {
        media,
        log: stats::SendLog::new(Instant::now()),
        counters: Default::default(),
        collector: Default::default(),
        epoch: Instant::now(),
        feeds: Default::default(),
    });
    let room = format!("bench-{}", std::process::id());
    let people = cli.scenario.participants();
    let feeds = people.iter().filter(|p| p.any()).count();
    // Janus: the driver creates the room over its own session, kept alive for the run.
    let janus_room = 1 + janus::noise() % 1_000_000_000;
    if cli.target == Sfu::Janus {
        let c = janus::create_room(&url, janus_room, feeds).await?;
        tokio::spawn(janus::keep_alive(c));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let publishers = people.iter().filter(|p| p.any()).count().max(1);
    let spread = match cli.scenario {
        Scenario::Storm { within, joins } => Duration::from_secs_f64(within / joins.max(1) as f64),
        _ => Duration::from_millis(20),
    };
    let mut storm_start = Instant::now();
    for (i, publish) in people.iter().enumerate() {
        if i > 0 && !publish.any() && people[i - 1].any() {
            storm_start = Instant::now();
        }
        let target = match cli.target {
            Sfu::Huiyi => Target::LiveKit { token: token::mint(&cli.key, &cli.secret, &room, &format!("bench-{i}"), publish.any()) },
            Sfu::Janus => Target::Janus { room: janus_room, name: format!("bench-{i}"), feeds },
            Sfu::Ceiling => Target::Ceiling { relay: url.trim_start_matches("udp://").parse()?, seed: relay_seed, index: i as u32 },
        };
        // Publishers start a loop's share apart (see Spec::offset).
        let offset = i * shared.media.audio.frames.len() / publishers;
        let view = match cli.scenario {
            Scenario::Meeting { last_n, .. } => Some(client::View { last_n }),
            _ => None,
        };
        let spec = Spec { url: url.clone(), target, publish: *publish, view, offset };
        tasks.push(tokio::spawn(client::run(shared.clone(), spec, stop_rx.clone())));
        // Publishers first and settled, so that subscribers find their tracks.
        let pause = if publish.any() && !people.get(i + 1).is_some_and(|p| p.any()) { Duration::from_millis(500) } else { spread };
        tokio::time::sleep(pause).await;
    }
    // Wait for the joins (bounded), then the warm-up.
    let all = people.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(30 + all / 20);
    while shared.counters.joined.load(Relaxed) < all && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let joins_done = storm_start.elapsed();
    tokio::time::sleep(Duration::from_secs_f64(cli.warmup)).await;

    let sample = |pid: Option<u32>| -> Result<ProcSample> { Ok(match pid { Some(p) => proc_sample(Some(p))?, None => ProcSample::default() }) };
    let (s0, g0, c0) = (sample(pid)?, proc_sample(None)?, shared.counters.snapshot());
    let t0 = Instant::now();
    shared.counters.measuring.store(true, Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(cli.duration)).await;
    shared.counters.measuring.store(false, Relaxed);
    let window = t0.elapsed().as_secs_f64();
    let (s1, g1, c1) = (sample(pid)?, proc_sample(None)?, shared.counters.snapshot());

    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let totals = shared.collector.take();
    let per_s = |i: usize| (c1[i] - c0[i]) as f64 / window;
    let server_cpu = (s1.cpu.saturating_sub(s0.cpu)).as_secs_f64();
    let joined = shared.counters.joined.load(Relaxed);
    Ok(Report {
        target,
        scenario: cli.scenario,
        participants: people.len(),
        window_s: window,
        packets_out_per_s: per_s(0),
        bytes_out_per_s: per_s(1),
        packets_in_per_s: per_s(2),
        bytes_in_per_s: per_s(3),
        packets_in_per_server_cpu_s: if server_cpu > 0.0 { (c1[2] - c0[2]) as f64 / server_cpu } else { 0.0 },
        server_cpu_cores: server_cpu / window,
        generator_cpu_cores: g1.cpu.saturating_sub(g0.cpu).as_secs_f64() / window,
        server_rss_mib: s1.rss_kib as f64 / 1024.0,
        server_peak_rss_mib: s1.peak_rss_kib as f64 / 1024.0,
        loss_percent: if totals.expected > 0 { 100.0 * totals.expected.saturating_sub(totals.received) as f64 / totals.expected as f64 } else { 0.0 },
        jitter_ms: if totals.jitter_streams > 0 { 1000.0 * totals.jitter_sum / totals.jitter_streams as f64 } else { 0.0 },
        unmatched: c1[4] - c0[4],
        generator_send_errors: shared.counters.send_errors.load(Relaxed),
        audio_latency: Latency::of(&totals.audio),
        video_latency: Latency::of(&totals.video),
        joined,
        failed_joins: totals.failed_joins,
        join_ms: Latency::of(&totals.joined),
        first_packet_ms: Latency::of(&totals.first_packet),
        joins_per_s: matches!(cli.scenario, Scenario::Storm { .. }).then(|| joined.saturating_sub(publishers as u64) as f64 / joins_done.as_secs_f64()),
        max_video_streams: totals.max_video_streams,
    })
}

/// What `--check` demands of a run.
fn check(r: &Report) -> Result<()> {
    let mut problems = Vec::new();
    if r.joined != r.participants as u64 || r.failed_joins > 0 {
        problems.push(format!("{} of {} participants joined", r.joined, r.participants));
    }
    if r.packets_in_per_s <= 0.0 || r.audio_latency.samples == 0 {
        problems.push("no audio was measured at the receivers".to_string());
    }
    let video = matches!(r.scenario, Scenario::Video { .. } | Scenario::Livestream { .. } | Scenario::Meeting { .. });
    if video && r.video_latency.samples == 0 {
        problems.push("no video was measured at the receivers".to_string());
    }
    if r.loss_percent > 5.0 {
        problems.push(format!("{:.1}% of packets were lost", r.loss_percent));
    }
    if let Scenario::Meeting { last_n, .. } = r.scenario {
        // Only the last N cameras, and small: far below one 720p layer (1.2 Mbit/s) each.
        if r.max_video_streams > last_n {
            problems.push(format!("a participant received {} cameras, more than the last {last_n}", r.max_video_streams));
        }
        let per_person = r.bytes_in_per_s * 8.0 / r.participants as f64;
        if per_person > last_n as f64 * 400_000.0 + 100_000.0 {
            problems.push(format!("participants received {:.0} kbit/s each: not the small layer", per_person / 1000.0));
        }
    }
    let matched = r.audio_latency.samples + r.video_latency.samples;
    if r.unmatched > matched / 20 {
        problems.push(format!("{} received packets matched no send ({} did)", r.unmatched, matched));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("the run is not sound: {}", problems.join("; "))
    }
}

fn print(r: &Report) {
    println!("{} on {}: {} participants, {:.1} s measured", r.scenario.name(), r.target, r.participants, r.window_s);
    println!("  packets/s out {:.0} in {:.0}   Mbit/s out {:.2} in {:.2}", r.packets_out_per_s, r.packets_in_per_s, r.bytes_out_per_s * 8e-6, r.bytes_in_per_s * 8e-6);
    println!("  server CPU {:.3} cores, {:.0} packets in per server CPU second; generator CPU {:.3} cores", r.server_cpu_cores, r.packets_in_per_server_cpu_s, r.generator_cpu_cores);
    println!("  server RSS {:.1} MiB (peak {:.1} MiB)", r.server_rss_mib, r.server_peak_rss_mib);
    println!("  loss {:.3}%  jitter {:.2} ms  unmatched {}  generator send errors {}", r.loss_percent, r.jitter_ms, r.unmatched, r.generator_send_errors);
    for (name, l) in [("audio", &r.audio_latency), ("video", &r.video_latency)] {
        if l.samples > 0 {
            println!("  {name} latency ms: p50 {:.3} p99 {:.3} p99.9 {:.3} max {:.3} ({} packets)", l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms, l.samples);
        }
    }
    println!("  joined {} (failed {}), join ms p50 {:.0} p99 {:.0}; first packet ms p50 {:.0} p99 {:.0}", r.joined, r.failed_joins, r.join_ms.p50_ms, r.join_ms.p99_ms, r.first_packet_ms.p50_ms, r.first_packet_ms.p99_ms);
    if let Some(j) = r.joins_per_s {
        println!("  {j:.0} joins per second");
    }
}
