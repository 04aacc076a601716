//! Property tests against a running server: signed requests mutated in one place are never
//! accepted, and random JSON bodies on the `/v1` endpoints and the portal's forms get a 4xx,
//! never a 5xx, and never take the server down. Case counts are bounded for CI.

mod common;

use common::{tencent_signature, Api};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

/// A tokio runtime with one server on it, for proptest's synchronous runner.
fn server() -> (tokio::runtime::Runtime, Api) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let api = rt.block_on(common::start());
    (rt, api)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

/// Which part of a signed request a mutation changes.
#[derive(Debug, Clone)]
enum Part {
    Key,
    Timestamp,
    Nonce,
    Signature,
    AppId,
    Uri,
    Body,
}

fn part() -> impl Strategy<Value = Part> {
    prop_oneof![Just(Part::Key), Just(Part::Timestamp), Just(Part::Nonce), Just(Part::Signature), Just(Part::AppId), Just(Part::Uri), Just(Part::Body)]
}

/// `s` with one character replaced, inserted or removed (never the same string).
fn mutate(s: &str, at: prop::sample::Index, c: char, how: u8) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = if chars.is_empty() { 0 } else { at.index(chars.len()) };
    match how % 3 {
        0 if !chars.is_empty() && chars[i] != c => chars[i] = c,
        1 if !chars.is_empty() => {
            chars.remove(i);
        }
        _ => chars.insert(i, c),
    }
    chars.into_iter().collect()
}

#[test]
fn a_signed_request_changed_anywhere_is_refused() {
    let (rt, api) = server();
    let strategy = (part(), any::<prop::sample::Index>(), proptest::char::range('!', '~'), any::<u8>());
    runner(96)
        .run(&strategy, |(part, at, c, how)| {
            let body = json!({ "userid": "dev-user", "instanceid": 1, "subject": "signed", "type": 1 }).to_string();
            let ts = common::unix_now().to_string();
            let nonce = rand::random::<u64>().to_string();
            let sig = tencent_signature(&api.secret, "POST", &api.key, &nonce, &ts, "/v1/meetings", &body);
            let (mut key, mut ts_sent, mut nonce_sent, mut sig_sent, mut app) = (api.key.clone(), ts.clone(), nonce.clone(), sig, api.app_id.clone());
            let (mut uri_sent, mut body_sent) = ("/v1/meetings".to_owned(), body.clone());
            match part {
                Part::Key => key = mutate(&key, at, c, how),
                Part::Timestamp => ts_sent = mutate(&ts_sent, at, c, how),
                Part::Nonce => nonce_sent = mutate(&nonce_sent, at, c, how),
                Part::Signature => sig_sent = mutate(&sig_sent, at, c, how),
                Part::AppId => app = mutate(&app, at, c, how),
                Part::Uri => uri_sent = format!("/v1/meetings?{}", mutate("instanceid=1", at, c, how)),
                Part::Body => body_sent = mutate(&body_sent, at, c, how),
            }
            // The signature covers everything but AppId and SdkId, which must belong to the
            // key: any one change is refused (401 or 403), never served, never a 5xx.
            let headers = vec![
                ("X-TC-Key", key),
                ("X-TC-Timestamp", ts_sent),
                ("X-TC-Nonce", nonce_sent),
                ("X-TC-Signature", sig_sent),
                ("AppId", app),
                ("SdkId", api.sdk_id.clone()),
            ];
            let r = rt.block_on(api.raw("POST", &uri_sent, &headers, body_sent.as_bytes()));
            let code = common::error_code(&r);
            // A character that is not allowed in a URI never reaches Huiyi: the HTTP layer
            // refuses the request line (400, no JSON). Everything else is refused by the check.
            let bad_request_line = matches!(part, Part::Uri) && r.status == 400 && r.body.is_null();
            prop_assert!(bad_request_line || matches!((r.status, code), (401, 10002..=10004) | (403, 10005)), "{part:?}: {} {:?}", r.status, r.body);
            Ok(())
        })
        .unwrap();
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,12}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A meeting body with some fields replaced by random values (names Tencent's API uses).
fn meeting_body() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        Just("subject"), Just("type"), Just("start_time"), Just("end_time"), Just("password"), Just("hosts"),
        Just("invitees"), Just("settings"), Just("time_zone"), Just("location"), Just("meeting_type"),
        Just("recurring_rule"), Just("operator_id"), Just("operator_id_type"), Just("userid"),
    ];
    proptest::collection::vec((field, json_value()), 0..5).prop_map(|changes| {
        let now = common::unix_now();
        let mut body = json!({ "userid": "dev-user", "instanceid": 1, "subject": "s", "type": 0,
            "start_time": (now + 600).to_string(), "end_time": (now + 4200).to_string() });
        for (k, v) in changes {
            body[k] = v;
        }
        body
    })
}

#[test]
fn random_json_bodies_get_a_clear_error_never_a_5xx() {
    let (rt, api) = server();
    let meeting = rt.block_on(api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "instanceid": 1, "subject": "target", "type": 1 })));
    let id = meeting.body["meeting_info_list"][0]["meeting_id"].as_str().unwrap().to_owned();
    let endpoint = prop_oneof![
        Just(("POST", "/v1/meetings".to_owned())),
        Just(("PUT", format!("/v1/meetings/{id}"))),
        Just(("PUT", format!("/v1/meetings/{id}/invitees"))),
        Just(("POST", format!("/v1/meetings/{id}/cancel"))),
        Just(("POST", "/v1/users".to_owned())),
    ];
    runner(160)
        .run(&(endpoint, prop_oneof![meeting_body(), json_value()]), |((method, uri), body)| {
            let r = rt.block_on(api.call(method, &uri, body.clone()));
            prop_assert!(r.status < 500, "{method} {uri} {body}: {} {:?}", r.status, r.body);
            if r.status >= 400 {
                prop_assert!(r.body["error_info"]["message"].as_str().is_some_and(|m| !m.is_empty()), "no error message: {:?}", r.body);
            }
            Ok(())
        })
        .unwrap();
    // Unsigned forms: sign-in, sign-up and join take any JSON too.
    let open = prop_oneof![Just("/api/auth/signin"), Just("/api/auth/signup"), Just("/v1/meetings/join")];
    runner(96)
        .run(&(open, json_value()), |(uri, body)| {
            let r = rt.block_on(api.open_call("POST", uri, body.clone()));
            prop_assert!(r.status < 500, "{uri} {body}: {} {:?}", r.status, r.body);
            Ok(())
        })
        .unwrap();
    // Still serving.
    assert_eq!(rt.block_on(api.call("GET", &format!("/v1/meetings/{id}?userid=dev-user"), Value::Null)).status, 200);
}
