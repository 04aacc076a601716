//! `GET /metrics`: the server's metrics in Prometheus' text exposition format 0.0.4, for a
//! scraper (see docs/metrics.md).
//!
//! Who may read them is a [`MetricsAccess`], decided once from the configuration: open in dev
//! mode; otherwise only with `Authorization: Bearer <metrics_token>`; and without a configured
//! token the endpoint answers 404, as if it did not exist. The numbers are
//! [`SfuHandle::metrics`](huiyi_sfu::SfuHandle::metrics), which the engine task publishes once
//! a second, so a scrape never waits on the engine task.

use std::fmt::{self, Write as _};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use huiyi_sfu::SfuMetrics;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::debug;

use crate::AppState;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Who may read `/metrics`.
#[derive(Debug, Clone)]
pub enum MetricsAccess {
    /// Anyone (dev mode).
    Open,
    /// A scraper that presents this token.
    Token(MetricsToken),
    /// Nobody: the endpoint answers 404.
    Closed,
}

/// The token a scraper presents. Only its SHA-256 is kept. A presented token is hashed too and
/// the digests compared in constant time, so timing reveals neither its bytes nor its length.
#[derive(Clone)]
pub struct MetricsToken([u8; 32]);

impl MetricsToken {
    pub fn new(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    pub fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        presented.ct_eq(&self.0).into()
    }
}

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken(…)")
    }
}

/// `GET /metrics`.
pub async fn serve(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match &state.metrics {
        MetricsAccess::Open => {}
        MetricsAccess::Closed => return (StatusCode::NOT_FOUND, "not found: /metrics needs a metrics_token outside dev mode\n").into_response(),
        MetricsAccess::Token(token) => {
            let presented = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer);
            if !presented.is_some_and(|t| token.matches(t)) {
                debug!(presented = presented.is_some(), "metrics scrape refused: missing or wrong token");
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer realm=\"huiyi metrics\"")],
                    "unauthorized: /metrics needs the header `Authorization: Bearer <metrics_token>` with the configured token\n",
                )
                    .into_response();
            }
        }
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], encode(&state.sfu.metrics())).into_response()
}

/// The token of an `Authorization: Bearer <token>` value (the scheme is case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The metrics in the text exposition format, each with its HELP and TYPE lines.
pub fn encode(m: &SfuMetrics) -> String {
    let e = &m.engine;
    let mut out = String::with_capacity(4096);
    let gauges = [
        ("huiyi_rooms", "Rooms held, including empty rooms waiting for their timeout.", e.rooms),
        ("huiyi_participants", "Participant sessions, including those waiting to be admitted and those held for a resume.", e.participants),
        ("huiyi_published_tracks", "Tracks published with media bound.", e.published_tracks),
        ("huiyi_subscriptions", "Down tracks: one per subscriber of a published track.", e.subscriptions),
    ];
    for (name, help, value) in gauges {
        family(&mut out, name, help, "gauge");
        sample(&mut out, name, "", value);
    }
    let counters = [
        ("huiyi_rtp_packets_received_total", "RTP packets received from publishers.", e.rtp_packets_received),
        ("huiyi_rtp_bytes_received_total", "RTP payload bytes received from publishers.", e.rtp_bytes_received),
        ("huiyi_rtp_packets_sent_total", "RTP packets forwarded to subscribers, one per packet and subscriber (retransmissions not counted).", e.rtp_packets_sent),
        ("huiyi_rtp_bytes_sent_total", "RTP payload bytes forwarded to subscribers (retransmissions not counted).", e.rtp_bytes_sent),
        ("huiyi_nacks_received_total", "RTCP NACKs received from subscribers (counted from stream statistics, every 2 s).", e.nacks_received),
        ("huiyi_plis_sent_total", "Keyframe requests (PLI) sent to publishers.", e.plis_sent),
        ("huiyi_layer_switches_total", "Simulcast layer switches of down tracks.", e.layer_switches),
    ];
    for (name, help, value) in counters {
        family(&mut out, name, help, "counter");
        sample(&mut out, name, "", value);
    }
    let name = "huiyi_forwarding_seconds";
    family(&mut out, name, "Time to handle one incoming media packet: routing, decryption and the writes to every subscriber.", "histogram");
    for (le, count) in m.forwarding.buckets() {
        sample(&mut out, "huiyi_forwarding_seconds_bucket", &format!("le=\"{le}\""), count);
    }
    sample(&mut out, "huiyi_forwarding_seconds_bucket", "le=\"+Inf\"", m.forwarding.count());
    // Writing to a String cannot fail.
    let _ = writeln!(out, "huiyi_forwarding_seconds_sum {}", m.forwarding.sum_seconds());
    sample(&mut out, "huiyi_forwarding_seconds_count", "", m.forwarding.count());
    family(&mut out, "huiyi_build_info", "The running build; the value is always 1.", "gauge");
    sample(&mut out, "huiyi_build_info", concat!("version=\"", env!("CARGO_PKG_VERSION"), "\""), 1);
    out
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: u64) {
    let _ = match labels {
        "" => writeln!(out, "{name} {value}"),
        _ => writeln!(out, "{name}{{{labels}}} {value}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// `name value` or `name{labels} value`, with a number for the value.
    fn is_sample(line: &str) -> bool {
        let Some((series, value)) = line.rsplit_once(' ') else { return false };
        let name = series.split('{').next().unwrap_or("");
        let labels_ok = match series.find('{') {
            None => true,
            Some(i) => series.ends_with('}') && series[i + 1..series.len() - 1].split(',').all(|l| l.split_once('=').is_some_and(|(_, v)| v.starts_with('"') && v.ends_with('"'))),
        };
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && labels_ok && value.parse::<f64>().is_ok()
    }

    #[test]
    fn every_line_is_a_comment_or_a_sample_and_every_metric_is_there() {
        let mut m = SfuMetrics::default();
        m.engine.rooms = 2;
        m.engine.rtp_packets_sent = 7;
        m.forwarding.record(Duration::from_micros(30));
        m.forwarding.record(Duration::from_millis(20));
        let text = encode(&m);
        for line in text.lines() {
            assert!(line.starts_with("# HELP ") || line.starts_with("# TYPE ") || is_sample(line), "not a valid line: {line:?}");
        }
        for name in [
            "huiyi_rooms 2",
            "huiyi_participants 0",
            "huiyi_published_tracks 0",
            "huiyi_subscriptions 0",
            "huiyi_rtp_packets_received_total 0",
            "huiyi_rtp_bytes_received_total 0",
            "huiyi_rtp_packets_sent_total 7",
            "huiyi_rtp_bytes_sent_total 0",
            "huiyi_nacks_received_total 0",
            "huiyi_plis_sent_total 0",
            "huiyi_layer_switches_total 0",
            "huiyi_forwarding_seconds_bucket{le=\"0.000025\"} 0",
            "huiyi_forwarding_seconds_bucket{le=\"0.00005\"} 1",
            "huiyi_forwarding_seconds_bucket{le=\"0.01\"} 1",
            "huiyi_forwarding_seconds_bucket{le=\"+Inf\"} 2",
            "huiyi_forwarding_seconds_sum 0.0200",
            "huiyi_forwarding_seconds_count 2",
            "huiyi_build_info{version=\"",
        ] {
            assert!(text.lines().any(|l| l.starts_with(name)), "missing {name:?} in\n{text}");
        }
        assert!(text.contains("# TYPE huiyi_forwarding_seconds histogram\n"));
        assert!(text.contains("# TYPE huiyi_layer_switches_total counter\n"));
    }

    #[test]
    fn only_the_configured_token_matches() {
        let token = MetricsToken::new("a-long-scrape-token");
        assert!(token.matches("a-long-scrape-token"));
        assert!(!token.matches("a-long-scrape-tokeN"));
        assert!(!token.matches(""));
        assert_eq!(format!("{token:?}"), "MetricsToken(…)", "the digest stays out of logs");
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
    }
}
