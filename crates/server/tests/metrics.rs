//! `GET /metrics` on a real server over loopback: Prometheus' text format, gauges that follow a
//! participant who joins and leaves (the engine task publishes once a second), and who may
//! read it in dev mode and outside.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Api, Reply};
use futures_util::SinkExt;
use huiyi_api::{Claims, KeyRing, VideoGrant};
use huiyi_proto::lk::{signal_request::Message as Req, signal_response::Message as Resp};
use huiyi_server::config::{Config, ServeArgs};
use huiyi_server::Application;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "scrape-0123456789abcdef";

/// A server on port 0 with `args`, and its UDP media address; it runs until the test
/// process ends.
async fn start(args: ServeArgs) -> (Api, std::net::SocketAddr) {
    let dir = std::env::temp_dir().join(format!("huiyi-metrics-{}", rand::random::<u64>()));
    let args = ServeArgs { port: Some(0), rtc_tcp_port: Some(0), rtc_udp_port: Some(0), data_dir: Some(dir), ..args };
    let app = Application::build(Config::resolve(&args).unwrap()).await.unwrap();
    let (addr, udp, store) = (app.http_addr, app.udp_addr, app.store.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    std::mem::forget(stop);
    (Api { addr, store, app_id: "dev-app".into(), sdk_id: "dev-sdk".into(), key: "devkey".into(), secret: "secret".into() }, udp)
}

/// Not in dev mode, with a real API secret, and `metrics_token` if given.
async fn start_production(metrics_token: Option<&str>) -> Api {
    start(ServeArgs { keys: Some("prod: 0123456789abcdef0123456789abcdef".into()), metrics_token: metrics_token.map(Into::into), ..Default::default() }).await.0
}

async fn scrape(api: &Api, authorization: Option<&str>) -> Reply {
    let headers: Vec<(&str, String)> = authorization.map(|a| ("Authorization", a.to_owned())).into_iter().collect();
    api.raw("GET", "/metrics", &headers, b"").await
}

fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
    r.head.lines().filter_map(|l| l.split_once(':')).find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
}

/// The value of the sample `series` (a name, with its labels if any).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Each line is a `# HELP`/`# TYPE` comment or `name value` / `name{label="…",…} value`.
fn assert_exposition_format(text: &str) {
    assert!(!text.is_empty());
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, number) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line:?}"));
        assert!(number.parse::<f64>().is_ok(), "not a number: {line:?}");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, Some(rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line:?}")))),
            None => (series, None),
        };
        assert!(name.starts_with("huiyi_") && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad name: {line:?}");
        for label in labels.into_iter().flat_map(|l| l.split(',')) {
            let (key, quoted) = label.split_once('=').unwrap_or_else(|| panic!("bad label: {line:?}"));
            assert!(!key.is_empty() && quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'), "bad label: {line:?}");
        }
    }
}

/// Scrapes until `series` reads `want`, for at most 3 s (the snapshot is refreshed every second).
async fn wait_for_value(api: &Api, series: &str, want: f64) {
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let text = scrape(api, None).await.text;
        if value(&text, series) == Some(want) {
            return;
        }
        assert!(Instant::now() < end, "{series} never became {want}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn dev_mode_serves_the_text_format_the_gauges_follow_a_participant_and_packets_are_timed() {
    let (api, udp) = start(ServeArgs { dev: true, ..Default::default() }).await;
    let r = scrape(&api, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(header(&r, "content-type").is_some_and(|c| c.starts_with("text/plain; version=0.0.4")), "{}", r.head);
    assert_exposition_format(&r.text);
    for name in [
        "huiyi_rooms",
        "huiyi_participants",
        "huiyi_published_tracks",
        "huiyi_subscriptions",
        "huiyi_rtp_packets_received_total",
        "huiyi_rtp_bytes_received_total",
        "huiyi_rtp_packets_sent_total",
        "huiyi_rtp_bytes_sent_total",
        "huiyi_nacks_received_total",
        "huiyi_plis_sent_total",
        "huiyi_layer_switches_total",
        "huiyi_forwarding_seconds_count",
        "huiyi_forwarding_seconds_sum",
        "huiyi_forwarding_seconds_bucket{le=\"+Inf\"}",
    ] {
        assert!(value(&r.text, name).is_some(), "{name} missing:\n{}", r.text);
    }
    assert!(r.text.contains("# TYPE huiyi_forwarding_seconds histogram"));
    assert!(r.text.contains("huiyi_build_info{version=\""));
    assert_eq!(value(&r.text, "huiyi_participants"), Some(0.0));

    // A participant joins over real signalling.
    let keys = KeyRing::new(HashMap::from([("devkey".to_string(), "secret".to_string())]));
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let claims = Claims { sub: "ada".into(), exp, video: VideoGrant { room_join: true, room: "metrics-room".into(), ..Default::default() }, ..Default::default() };
    let url = format!("ws://{}/rtc?access_token={}", api.addr, keys.mint(&claims).unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let first = futures_util::StreamExt::next(&mut ws).await.unwrap().unwrap();
    assert!(matches!(huiyi_proto::decode_response(&first.into_data()), Ok(Resp::Join(_))));
    wait_for_value(&api, "huiyi_participants", 1.0).await;
    wait_for_value(&api, "huiyi_rooms", 1.0).await;

    // It leaves: the session ends at once, and the room stays until its empty timeout.
    ws.send(Message::Binary(huiyi_proto::encode_request(Req::Leave(Default::default())).into())).await.unwrap();
    wait_for_value(&api, "huiyi_participants", 0.0).await;
    assert_eq!(value(&scrape(&api, None).await.text, "huiyi_rooms"), Some(1.0));

    // Every datagram on the media port is timed, even one the engine drops (no peer sent it).
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for _ in 0..3 {
        socket.send_to(b"not a peer's packet", udp).await.unwrap();
    }
    wait_for_value(&api, "huiyi_forwarding_seconds_count", 3.0).await;
    let text = scrape(&api, None).await.text;
    assert_eq!(value(&text, "huiyi_forwarding_seconds_bucket{le=\"+Inf\"}"), Some(3.0));
    assert_eq!(value(&text, "huiyi_rtp_packets_received_total"), Some(0.0), "a dropped datagram is no RTP packet");
}

#[tokio::test]
async fn outside_dev_mode_metrics_need_the_configured_token() {
    // No token configured: there is nothing to scrape.
    let closed = start_production(None).await;
    let r = scrape(&closed, None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(scrape(&closed, Some(&format!("Bearer {TOKEN}"))).await.status, 404);

    let api = start_production(Some(TOKEN)).await;
    for authorization in [None, Some("Bearer wrong-token-0123456789"), Some(&format!("Basic {TOKEN}")[..]), Some("Bearer ")] {
        let r = scrape(&api, authorization).await;
        assert_eq!(r.status, 401, "{authorization:?}: {}", r.text);
        assert!(r.text.contains("Authorization: Bearer"), "the refusal says what is needed: {}", r.text);
        assert!(header(&r, "www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{}", r.head);
    }
    let r = scrape(&api, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(header(&r, "content-type").is_some_and(|c| c.starts_with("text/plain; version=0.0.4")));
    assert_exposition_format(&r.text);
    assert_eq!(value(&r.text, "huiyi_rooms"), Some(0.0));
}
