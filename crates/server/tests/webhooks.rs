//! Webhooks end to end: a receiver on loopback, written here from Tencent Meeting's spec
//! (the signature is checked, `data` decoded and, with an AES key, decrypted), the URL check
//! handshake, deliveries that fail twice and then succeed, participant events from a real
//! join, and an outbox that survives a restart.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use common::{join_room, start_with, Api};
use huiyi_server::config::ServeArgs;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

const TOKEN: &str = "hook-token";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// What the receiver saw, and how it should answer.
#[derive(Default)]
struct Seen {
    /// Deliveries to answer with 500 before succeeding.
    fail_next: usize,
    /// POSTs received (including the failed ones), and the events accepted.
    posts: usize,
    events: Vec<Value>,
    /// Requests whose signature did not verify.
    bad_signatures: usize,
    /// Answer URL checks wrongly.
    wrong_echo: bool,
}

type Shared = Arc<Mutex<Seen>>;

fn sha1_signature(parts: [&str; 4]) -> String {
    let mut parts = parts;
    parts.sort();
    hex::encode(Sha1::digest(parts.concat().as_bytes()))
}

fn decrypt(data: &str, aes: bool) -> Vec<u8> {
    let raw = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
    if !aes {
        return raw;
    }
    let key = base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true))
        .decode(format!("{AES_KEY}="))
        .unwrap();
    cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, &key[..16]).unwrap().decrypt_padded_vec_mut::<Pkcs7>(&raw).unwrap()
}

fn header<'a>(h: &'a HeaderMap, k: &str) -> &'a str {
    h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// A receiver at `http://addr/plain` and `/aes` (expects encrypted data).
async fn receiver(seen: Shared) -> SocketAddr {
    async fn check(State(seen): State<Shared>, Query(q): Query<std::collections::HashMap<String, String>>, h: HeaderMap, aes: bool) -> (StatusCode, String) {
        let check_str = q.get("check_str").cloned().unwrap_or_default();
        let sig = sha1_signature([TOKEN, header(&h, "timestamp"), header(&h, "nonce"), &check_str]);
        let mut s = seen.lock().unwrap();
        if sig != header(&h, "signature") {
            s.bad_signatures += 1;
            return (StatusCode::FORBIDDEN, "bad signature".into());
        }
        let plain = String::from_utf8(decrypt(&check_str, aes)).unwrap();
        (StatusCode::OK, if s.wrong_echo { "nope".into() } else { plain })
    }
    async fn deliver(State(seen): State<Shared>, h: HeaderMap, body: axum::body::Bytes, aes: bool) -> StatusCode {
        let v: Value = serde_json::from_slice(&body).unwrap();
        let data = v["data"].as_str().unwrap();
        let mut s = seen.lock().unwrap();
        s.posts += 1;
        if sha1_signature([TOKEN, header(&h, "timestamp"), header(&h, "nonce"), data]) != header(&h, "signature") {
            s.bad_signatures += 1;
            return StatusCode::FORBIDDEN;
        }
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        s.events.push(serde_json::from_slice(&decrypt(data, aes)).unwrap());
        StatusCode::OK
    }
    let app = axum::Router::new()
        .route("/plain", axum::routing::get(|s, q, h| check(s, q, h, false)).post(|s, h, b| deliver(s, h, b, false)))
        .route("/aes", axum::routing::get(|s, q, h| check(s, q, h, true)).post(|s, h, b| deliver(s, h, b, true)))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn fast_retries(dir: std::path::PathBuf, database: Option<String>) -> ServeArgs {
    ServeArgs { data_dir: Some(dir), database, webhook_retry_ms: Some(300), webhook_max_attempts: Some(5), ..Default::default() }
}

fn temp_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("huiyi-hooks-{}", rand::random::<u64>()))
}

/// The events' names, sorted: deliveries run concurrently, so they may arrive in any order
/// (receivers order by `operate_time`; docs/webhooks.md).
fn names(events: &[Value]) -> Vec<&str> {
    let mut n: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    n.sort();
    n
}

/// Waits (bounded, 20 s) until the receiver holds `n` events.
async fn events(seen: &Shared, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let s = seen.lock().unwrap();
        if s.events.len() >= n {
            return s.events.clone();
        }
        drop(s);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("only {} of {n} events arrived: {:?}", seen.lock().unwrap().events.len(), seen.lock().unwrap().events);
}

async fn subscribe(api: &Api, url: &str, events: &[&str], aes: Option<&str>) -> common::Reply {
    api.call("POST", "/v1/webhooks", json!({ "url": url, "token": TOKEN, "events": events, "aes_key": aes })).await
}

#[tokio::test]
async fn the_url_check_handshake_decides_the_subscription() {
    let seen = Shared::default();
    let addr = receiver(seen.clone()).await;
    let (api, _stop, _task) = start_with(fast_retries(temp_dir(), common::fresh_database_url().await)).await;
    let ok = subscribe(&api, &format!("http://{addr}/plain"), &["meeting.created"], None).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    // Encrypted check_str, decrypted by the receiver.
    let aes = subscribe(&api, &format!("http://{addr}/aes"), &["meeting.created"], Some(AES_KEY)).await;
    assert_eq!((aes.status, aes.body["has_aes_key"].as_bool()), (200, Some(true)), "{:?}", aes.body);
    // A receiver that does not echo the decoded value, or is not there, is not subscribed.
    seen.lock().unwrap().wrong_echo = true;
    let wrong = subscribe(&api, &format!("http://{addr}/plain"), &["meeting.created"], None).await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.body["error_info"]["message"].as_str().unwrap().contains("decoded check_str"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    assert_eq!(subscribe(&api, &format!("http://{closed}/"), &["meeting.created"], None).await.status, 400);
    // Bad input.
    assert_eq!(subscribe(&api, "ftp://example.com/", &["meeting.created"], None).await.status, 400);
    assert_eq!(subscribe(&api, &format!("http://{addr}/plain"), &["meeting.exploded"], None).await.status, 400);
    assert_eq!(subscribe(&api, &format!("http://{addr}/aes"), &["meeting.created"], Some("short")).await.status, 400);
    let listed = api.call("GET", "/v1/webhooks", Value::Null).await;
    assert_eq!(listed.body["webhooks"].as_array().unwrap().len(), 2);
    assert_eq!(seen.lock().unwrap().bad_signatures, 0);
}

#[tokio::test]
async fn a_delivery_that_fails_twice_is_retried_until_it_succeeds() {
    let seen = Shared::default();
    let addr = receiver(seen.clone()).await;
    let (api, _stop, _task) = start_with(fast_retries(temp_dir(), common::fresh_database_url().await)).await;
    let hook = subscribe(&api, &format!("http://{addr}/aes"), &["meeting.created", "meeting.updated", "meeting.canceled"], Some(AES_KEY)).await;
    let hook_id = hook.body["webhook_id"].as_str().unwrap().to_owned();
    seen.lock().unwrap().fail_next = 2;
    let start = common::unix_now() + 86_400;
    let created = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "subject": "Hooked", "type": 0, "start_time": start.to_string(), "end_time": (start + 600).to_string() })).await;
    let id = created.body["meeting_info_list"][0]["meeting_id"].as_str().unwrap().to_owned();
    let got = events(&seen, 1).await;
    let e = &got[0];
    assert_eq!(e["event"], "meeting.created");
    assert!(e["trace_id"].as_str().is_some_and(|t| !t.is_empty()));
    let p = &e["payload"][0];
    assert_eq!((p["meeting_info"]["meeting_id"].as_str(), p["meeting_info"]["subject"].as_str()), (Some(id.as_str()), Some("Hooked")));
    assert_eq!(p["operator"]["userid"], "dev-user");
    assert!(p["operate_time"].as_i64().unwrap() > 1_700_000_000_000, "milliseconds");
    assert_eq!(seen.lock().unwrap().posts, 3, "two failures, then the success");

    // The delivery log shows the three attempts.
    let log = api.call("GET", &format!("/v1/webhooks/{hook_id}/deliveries"), Value::Null).await;
    let d = &log.body["deliveries"][0];
    assert_eq!((d["status"].as_str(), d["attempts"].as_i64(), d["last_status_code"].as_i64()), (Some("delivered"), Some(3), Some(200)), "{:?}", log.body);

    // Later events follow, in order.
    api.call("PUT", &format!("/v1/meetings/{id}"), json!({ "userid": "dev-user", "subject": "Hooked again" })).await;
    api.call("POST", &format!("/v1/meetings/{id}/cancel"), json!({ "userid": "dev-user" })).await;
    let got = events(&seen, 3).await;
    assert_eq!(names(&got), ["meeting.canceled", "meeting.created", "meeting.updated"]);
    assert_eq!(seen.lock().unwrap().bad_signatures, 0);
}

#[tokio::test]
async fn a_receiver_that_never_answers_is_given_up_on() {
    let seen = Shared::default();
    let addr = receiver(seen.clone()).await;
    let args = ServeArgs { webhook_max_attempts: Some(2), ..fast_retries(temp_dir(), common::fresh_database_url().await) };
    let (api, _stop, _task) = start_with(args).await;
    let hook = subscribe(&api, &format!("http://{addr}/plain"), &["meeting.created"], None).await;
    let hook_id = hook.body["webhook_id"].as_str().unwrap().to_owned();
    seen.lock().unwrap().fail_next = 100;
    api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "subject": "Doomed", "type": 1 })).await;
    let mut status = String::new();
    for _ in 0..100 {
        let log = api.call("GET", &format!("/v1/webhooks/{hook_id}/deliveries"), Value::Null).await;
        status = log.body["deliveries"][0]["status"].as_str().unwrap_or("").to_owned();
        if status == "failed" {
            assert_eq!(log.body["deliveries"][0]["attempts"], 2);
            assert_eq!(log.body["deliveries"][0]["last_error"], "HTTP 500 Internal Server Error");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "failed");
    assert_eq!(seen.lock().unwrap().posts, 2);
}

#[tokio::test]
async fn participant_events_come_from_real_joins_and_the_outbox_survives_a_restart() {
    let seen = Shared::default();
    let addr = receiver(seen.clone()).await;
    let (dir, database) = (temp_dir(), common::fresh_database_url().await);
    let (api, stop, task) = start_with(fast_retries(dir.clone(), database.clone())).await;
    let all = ["meeting.created", "meeting.started", "meeting.participant-joined", "meeting.participant-left", "meeting.end"];
    assert_eq!(subscribe(&api, &format!("http://{addr}/plain"), &all, None).await.status, 200);
    let created = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "subject": "Live", "type": 1 })).await;
    let info = &created.body["meeting_info_list"][0];
    let (id, code) = (info["meeting_id"].as_str().unwrap().to_owned(), info["meeting_code"].as_str().unwrap().to_owned());
    let _ann = join_room(&api, &code, "Ann").await;
    let got = events(&seen, 3).await;
    assert_eq!(names(&got), ["meeting.created", "meeting.participant-joined", "meeting.started"]);
    let joined = got.iter().find(|e| e["event"] == "meeting.participant-joined").unwrap();
    assert_eq!(joined["payload"][0]["operator"]["user_name"], "Ann");

    // The receiver goes down; the dismiss produces a leave and an end that cannot be delivered.
    seen.lock().unwrap().fail_next = usize::MAX;
    assert_eq!(api.call("POST", &format!("/v1/meetings/{id}/dismiss"), json!({ "userid": "dev-user" })).await.status, 200);
    for _ in 0..100 {
        if seen.lock().unwrap().posts >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen.lock().unwrap().posts >= 5, "the leave and end were attempted");
    stop.send(()).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;

    // Back up, and a new server on the same data delivers what the old one could not.
    seen.lock().unwrap().fail_next = 0;
    let (_api, _stop, _task) = start_with(fast_retries(dir, database)).await;
    let got = events(&seen, 5).await;
    let mut late: Vec<&str> = got[3..].iter().map(|e| e["event"].as_str().unwrap()).collect();
    late.sort();
    assert_eq!(late, ["meeting.end", "meeting.participant-left"]);
    let left = got[3..].iter().find(|e| e["event"] == "meeting.participant-left").unwrap();
    assert_eq!(left["payload"][0]["operator"]["user_name"], "Ann");
}

#[tokio::test]
async fn a_session_dropped_by_a_restart_is_still_announced() {
    let seen = Shared::default();
    let addr = receiver(seen.clone()).await;
    let (dir, database) = (temp_dir(), common::fresh_database_url().await);
    let (api, stop, task) = start_with(fast_retries(dir.clone(), database.clone())).await;
    assert_eq!(subscribe(&api, &format!("http://{addr}/plain"), &["meeting.participant-left"], None).await.status, 200);
    let created = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "subject": "Crash", "type": 1 })).await;
    let code = created.body["meeting_info_list"][0]["meeting_code"].as_str().unwrap().to_owned();
    let _bob = join_room(&api, &code, "Bob").await;
    // Wait until the join is recorded, then stop the server with Bob still in.
    let id = created.body["meeting_info_list"][0]["meeting_id"].as_str().unwrap().to_owned();
    common::eventually("Bob's session to be recorded", || async {
        api.call("GET", &format!("/v1/meetings/{id}/participants?userid=dev-user"), Value::Null).await.body["total_count"] == 1
    })
    .await;
    stop.send(()).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    // The shutdown closes Bob's socket; whether or not his leave was recorded before the
    // server stopped, exactly one participant-left names him after the restart.
    let (_api, _stop, _task) = start_with(fast_retries(dir, database)).await;
    let got = events(&seen, 1).await;
    assert_eq!(got[0]["payload"][0]["operator"]["user_name"], "Bob");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(seen.lock().unwrap().events.len(), 1, "one leave, not two");
}

#[tokio::test]
async fn a_huge_url_check_answer_is_cut_short() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A "receiver" that answers the URL check with 200 MiB, as fast as it is read.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        let (mut c, _) = listener.accept().await.unwrap();
        let mut req = [0u8; 4096];
        let _ = c.read(&mut req).await;
        let total = 200 * 1024 * 1024;
        let _ = c.write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {total}\r\n\r\n").as_bytes()).await;
        let chunk = vec![b'x'; 64 * 1024];
        while counter.load(std::sync::atomic::Ordering::Relaxed) < total {
            if c.write_all(&chunk).await.is_err() {
                return;
            }
            counter.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
        }
    });
    let (api, _stop, _task) = start_with(fast_retries(temp_dir(), common::fresh_database_url().await)).await;
    let r = subscribe(&api, &format!("http://{addr}/"), &["meeting.created"], None).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.body["error_info"]["message"].as_str().unwrap().contains("longer than"), "{:?}", r.body);
    // The server stopped reading after a few KiB; only socket buffers' worth was ever sent.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = written.load(std::sync::atomic::Ordering::Relaxed);
    assert!(sent < 16 * 1024 * 1024, "the receiver got {sent} bytes out");
}

#[tokio::test]
async fn the_waiting_room_sends_tencents_four_events() {
    let seen = Shared::default();
    let addr = receiver(seen.clone()).await;
    let (api, _stop, _task) = start_with(fast_retries(temp_dir(), common::fresh_database_url().await)).await;
    let all = [
        "meeting.participant-joined-waiting-room",
        "meeting.participant-admitted",
        "meeting.participant-joined",
        "meeting.participant-put-in-waiting-room",
        "meeting.participant-left-waiting-room",
    ];
    assert_eq!(subscribe(&api, &format!("http://{addr}/plain"), &all, None).await.status, 200);
    let created = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "subject": "Viva", "type": 1, "settings": { "auto_in_waiting_room": true } })).await;
    let info = &created.body["meeting_info_list"][0];
    let (id, code) = (info["meeting_id"].as_str().unwrap().to_owned(), info["meeting_code"].as_str().unwrap().to_owned());
    let _ann = join_room(&api, &code, "Ann").await;
    let got = events(&seen, 1).await;
    assert_eq!(names(&got), ["meeting.participant-joined-waiting-room"], "waiting is not joining");
    assert_eq!(got[0]["payload"][0]["operator"]["user_name"], "Ann");
    let ann = got[0]["payload"][0]["operator"]["userid"].as_str().unwrap().to_owned();
    let control = |operate_type: i64| {
        let (api, id, ann) = (&api, id.clone(), ann.clone());
        async move {
            let body = json!({ "operator_id": "dev-user", "operator_id_type": 1, "instanceid": 1, "operate_type": operate_type, "users": [{ "to_operator_id": ann }] });
            let r = api.call("PUT", &format!("/v1/real-control/meetings/{id}/waiting-room"), body).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
    };
    control(1).await;
    let got = events(&seen, 3).await;
    let admitted = got.iter().find(|e| e["event"] == "meeting.participant-admitted").expect("an admission event");
    assert_eq!(admitted["payload"][0]["operator"]["userid"], "dev-user");
    assert_eq!(admitted["payload"][0]["to_operator"]["userid"], ann.as_str());
    assert!(got.iter().any(|e| e["event"] == "meeting.participant-joined"), "admitted, Ann joins the meeting");
    control(2).await;
    control(3).await;
    let got = events(&seen, 5).await;
    let mut late: Vec<&str> = got[3..].iter().map(|e| e["event"].as_str().unwrap()).collect();
    late.sort();
    assert_eq!(late, ["meeting.participant-left-waiting-room", "meeting.participant-put-in-waiting-room"]);
    let put = got.iter().find(|e| e["event"] == "meeting.participant-put-in-waiting-room").unwrap();
    assert_eq!(put["payload"][0]["to_operator"]["user_name"], "Ann");
}

#[tokio::test]
async fn making_and_revoking_a_co_host_sends_role_changed() {
    let seen = Shared::default();
    let addr = receiver(seen.clone()).await;
    let (api, _stop, _task) = start_with(fast_retries(temp_dir(), common::fresh_database_url().await)).await;
    assert_eq!(subscribe(&api, &format!("http://{addr}/plain"), &["meeting.participant-role-changed"], None).await.status, 200);
    let created = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "subject": "Viva", "type": 1 })).await;
    let info = &created.body["meeting_info_list"][0];
    let (id, code) = (info["meeting_id"].as_str().unwrap().to_owned(), info["meeting_code"].as_str().unwrap().to_owned());
    let _ann = join_room(&api, &code, "Ann").await;
    let ann = eventually_person(&api, &id).await;
    let cohost = |action: bool| {
        let (api, id, ann) = (&api, id.clone(), ann.clone());
        async move {
            let body = json!({ "operator_id": "dev-user", "operator_id_type": 1, "instanceid": 1, "action": action, "user": { "to_operator_id": ann } });
            let r = api.call("PUT", &format!("/v1/real-control/meetings/{id}/cohosts"), body).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
    };
    cohost(true).await;
    cohost(true).await; // no change: no event
    cohost(false).await;
    let got = events(&seen, 2).await;
    assert_eq!(names(&got), ["meeting.participant-role-changed", "meeting.participant-role-changed"]);
    let mut roles: Vec<i64> = got.iter().map(|e| e["payload"][0]["to_operator"]["user_role"].as_i64().unwrap()).collect();
    roles.sort();
    assert_eq!(roles, [4, 6], "co-host, then back to a guest");
    for e in &got {
        assert_eq!(e["payload"][0]["to_operator"]["userid"], ann.as_str());
        assert_eq!(e["payload"][0]["to_operator"]["user_name"], "Ann");
        assert_eq!(e["payload"][0]["operator"]["userid"], "dev-user");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(seen.lock().unwrap().events.len(), 2, "the repeated appointment sent nothing");
}

/// The guest id of the only participant in a meeting's room, once it is there.
async fn eventually_person(api: &Api, id: &str) -> String {
    for _ in 0..100 {
        let r = api.call("GET", &format!("/v1/meetings/{id}/real-time-participants?userid=dev-user"), Value::Null).await;
        if let Some(p) = r.body["participants"].as_array().and_then(|a| a.first()) {
            return p["userid"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nobody appeared in the meeting");
}
