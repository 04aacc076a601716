//! Password hashing under a flood, in a test process of its own so that the process's peak
//! memory is this one server's: forty sign-ins at once cost time, not forty argon2 buffers.

mod common;

use serde_json::json;

/// The process's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn concurrent_password_hashes_are_bounded() {
    let api = common::start().await;
    // Warm up: the first sign-in builds the dummy hash used for unknown accounts.
    let _ = api.open_call("POST", "/api/auth/signin", json!({ "email": "warm@example.com", "password": "wrong horse" })).await;
    let before = peak_rss_kib();
    // Forty clients at once, each from its own address and for its own account, so no rate
    // limit stops any of them: every one needs an argon2 hash (19 MiB each).
    let bodies: Vec<(std::net::IpAddr, String)> =
        (0..40).map(|i| (format!("127.0.1.{}", i + 1).parse().unwrap(), json!({ "email": format!("n{i}@example.com"), "password": "wrong horse" }).to_string())).collect();
    let tries = bodies.iter().map(|(from, body)| api.raw_from(Some(*from), "POST", "/api/auth/signin", &[], body.as_bytes()));
    let statuses: Vec<u16> = futures_util::future::join_all(tries).await.into_iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    // At most four run at once: without that bound the peak grows by about 40 × 19 MiB.
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    eprintln!("peak memory grew by {grown_mib} MiB for 40 concurrent sign-ins");
    assert!(grown_mib < 200, "peak memory grew by {grown_mib} MiB");
}
