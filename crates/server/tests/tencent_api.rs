//! The Tencent-Meeting-compatible `/v1` API over real HTTP, driven by a client that signs
//! requests exactly as the published algorithm says (written here from the spec, not shared
//! with the server's code). Runs on SQLite, and on PostgreSQL when HUIYI_TEST_POSTGRES_URL
//! names a server (scripts/with-postgres).

mod common;

use common::{error_code, eventually, fresh_database_url, join_room, start, start_in, unix_now, Api};
use huiyi_store::MeetingStatus;
use rand::Rng;
use serde_json::{json, Value};

#[tokio::test]
async fn schedule_query_modify_and_cancel() {
    let api = start().await;
    let start_time = unix_now() + 3600;
    let created = api
        .call("POST", "/v1/meetings", json!({
            "userid": "dev-user", "instanceid": 1, "subject": "Thesis defence", "type": 0,
            "start_time": start_time.to_string(), "end_time": (start_time + 5400).to_string(),
            "password": "2468", "time_zone": "Asia/Shanghai",
            "settings": { "mute_enable_join": true, "allow_in_before_host": false }
        }))
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["meeting_number"], 1);
    let info = &created.body["meeting_info_list"][0];
    let id = info["meeting_id"].as_str().unwrap().to_string();
    let code = info["meeting_code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 9);
    assert!(info["join_url"].as_str().unwrap().ends_with(&format!("/j/{code}")));
    assert_eq!(info["start_time"], start_time.to_string());

    let got = api.call("GET", &format!("/v1/meetings/{id}?userid=dev-user&instanceid=1"), Value::Null).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["meeting_info_list"][0]["status"], "MEETING_STATE_INIT");
    assert_eq!(got.body["meeting_info_list"][0]["settings"]["mute_enable_join"], true);

    let by_code = api.call("GET", &format!("/v1/meetings?meeting_code={code}&userid=dev-user&instanceid=1"), Value::Null).await;
    assert_eq!(by_code.body["meeting_info_list"][0]["meeting_id"], id.as_str());

    let put = api.call("PUT", &format!("/v1/meetings/{id}"), json!({ "userid": "dev-user", "instanceid": 1, "subject": "Defence (moved)", "settings": { "allow_unmute_self": false } })).await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    let got = api.call("GET", &format!("/v1/meetings/{id}?userid=dev-user"), Value::Null).await;
    assert_eq!(got.body["meeting_info_list"][0]["subject"], "Defence (moved)");
    assert_eq!(got.body["meeting_info_list"][0]["settings"]["mute_enable_join"], true, "settings merge");
    assert_eq!(got.body["meeting_info_list"][0]["settings"]["allow_unmute_self"], false);

    let cancel = api.call("POST", &format!("/v1/meetings/{id}/cancel"), json!({ "userid": "dev-user", "instanceid": 1, "reason_code": 1 })).await;
    assert_eq!(cancel.status, 200, "{:?}", cancel.body);
    let got = api.call("GET", &format!("/v1/meetings/{id}?userid=dev-user"), Value::Null).await;
    assert_eq!(got.body["meeting_info_list"][0]["status"], "MEETING_STATE_CANCELLED");
    // The code no longer finds it, and a cancelled meeting cannot be modified.
    let by_code = api.call("GET", &format!("/v1/meetings?meeting_code={code}&userid=dev-user"), Value::Null).await;
    assert_eq!(by_code.status, 404);
    let put = api.call("PUT", &format!("/v1/meetings/{id}"), json!({ "userid": "dev-user", "subject": "x" })).await;
    assert_eq!(put.status, 409);
}

#[tokio::test]
async fn a_started_meeting_cannot_be_cancelled() {
    let api = start().await;
    let created = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "instanceid": 1, "subject": "Standup", "type": 1 })).await;
    let id = created.body["meeting_info_list"][0]["meeting_id"].as_str().unwrap().to_string();
    api.store.transition("dev-app", &id, &[MeetingStatus::Init], MeetingStatus::Started, unix_now()).await.unwrap();
    let cancel = api.call("POST", &format!("/v1/meetings/{id}/cancel"), json!({ "userid": "dev-user", "instanceid": 1 })).await;
    assert_eq!(cancel.status, 409);
    assert_eq!(error_code(&cancel), 10007);
}

#[tokio::test]
async fn signatures_expired_replayed_forged_and_foreign_are_refused() {
    let api = start().await;
    let uri = "/v1/meetings?userid=dev-user&instanceid=1";
    // Outside the ±300 s window.
    let h = api.signed_headers("GET", uri, "", unix_now() - 301, "1");
    let r = api.raw("GET", uri, &h, b"").await;
    assert_eq!((r.status, error_code(&r)), (401, 10003), "{:?}", r.body);
    // Accepted once, refused when replayed.
    let h = api.signed_headers("GET", uri, "", unix_now(), "77");
    assert_eq!(api.raw("GET", uri, &h, b"").await.status, 200);
    let r = api.raw("GET", uri, &h, b"").await;
    assert_eq!((r.status, error_code(&r)), (401, 10004));
    // A body that is not the one signed.
    let h = api.signed_headers("POST", "/v1/meetings", "{}", unix_now(), "78");
    let r = api.raw("POST", "/v1/meetings", &h, br#"{"userid":"dev-user","subject":"x","type":1}"#).await;
    assert_eq!((r.status, error_code(&r)), (401, 10002));
    // A wrong secret, and missing headers.
    let forged = Api { secret: "not-the-secret".into(), ..start().await };
    let r = forged.call("GET", uri, Value::Null).await;
    assert_eq!(r.status, 401);
    let r = api.raw("GET", uri, &[], b"").await;
    assert_eq!(r.status, 401);
    assert!(r.body["error_info"]["message"].as_str().unwrap().contains("X-TC-Key"));
    // The key's own enterprise only: another AppId is refused, and another enterprise's
    // meeting is not found.
    let other_app = Api { app_id: "someone-else".into(), sdk_id: api.sdk_id.clone(), addr: api.addr, store: api.store.clone(), key: api.key.clone(), secret: api.secret.clone() };
    assert_eq!(other_app.call("GET", uri, Value::Null).await.status, 403);
    api.store.create_enterprise("acme", "Acme", 0).await.unwrap();
    let acme = api.store.create_credential("acme", "acme-app", "acme-sdk", 0).await.unwrap();
    api.store
        .create_user(&huiyi_store::User { enterprise_id: "acme".into(), userid: "boss".into(), username: "Boss".into(), email: String::new(), phone: String::new(), role: huiyi_store::Role::Admin, created_at: 0 }, None)
        .await
        .unwrap();
    let acme_api = Api { addr: api.addr, store: api.store.clone(), app_id: acme.app_id, sdk_id: acme.sdk_id, key: acme.secret_id, secret: acme.secret_key };
    let created = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "subject": "Private", "type": 1 })).await;
    let id = created.body["meeting_info_list"][0]["meeting_id"].as_str().unwrap().to_string();
    assert_eq!(acme_api.call("GET", &format!("/v1/meetings/{id}?userid=boss"), Value::Null).await.status, 404);
    // A userid of another enterprise does not exist for this one.
    assert_eq!(acme_api.call("GET", &format!("/v1/meetings/{id}?userid=dev-user"), Value::Null).await.status, 404);
}

#[tokio::test]
async fn bad_bodies_get_a_clear_4xx() {
    let api = start().await;
    for (body, what) in [
        ("{not json".to_string(), "invalid JSON"),
        (json!({ "userid": "dev-user", "subject": 5, "type": 0 }).to_string(), "invalid JSON"),
        (json!({ "userid": "dev-user", "subject": "x", "type": 0, "start_time": "10", "end_time": "5" }).to_string(), "end_time"),
        (json!({ "userid": "dev-user", "subject": "x", "type": 1, "password": "12ab" }).to_string(), "password"),
        (json!({ "userid": "dev-user", "subject": "x", "type": 1, "settings": { "mute_al": true } }).to_string(), "unknown field `mute_al`"),
        (json!({ "userid": "dev-user", "subject": "x", "type": 7 }).to_string(), "type"),
        (json!({ "userid": "dev-user", "subject": "x", "type": 1, "settings": { "only_user_join_type": 9 } }).to_string(), "only_user_join_type"),
        (json!({ "userid": "dev-user", "subject": "x", "type": 1, "time_zone": "Mars/Olympus" }).to_string(), "IANA"),
    ] {
        let nonce = rand::rng().random_range(1..u64::MAX).to_string();
        let h = api.signed_headers("POST", "/v1/meetings", &body, unix_now(), &nonce);
        let r = api.raw("POST", "/v1/meetings", &h, body.as_bytes()).await;
        assert_eq!(r.status, 400, "{body} → {:?}", r.body);
        assert!(r.body["error_info"]["message"].as_str().unwrap().contains(what), "{body} → {:?}", r.body);
    }
    // Unknown user.
    let r = api.call("POST", "/v1/meetings", json!({ "userid": "ghost", "subject": "x", "type": 1 })).await;
    assert_eq!(r.status, 404);
    // A body over 1 MiB.
    let huge = format!("{{\"userid\":\"dev-user\",\"subject\":\"{}\"}}", "x".repeat(1_100_000));
    let h = api.signed_headers("POST", "/v1/meetings", &huge, unix_now(), "999");
    let r = api.raw("POST", "/v1/meetings", &h, huge.as_bytes()).await;
    assert_eq!(r.status, 413);
}

#[tokio::test]
async fn upcoming_meetings_page_and_recurring_meetings_expand() {
    let api = start().await;
    let base = unix_now() + 86_400;
    for i in 0..5 {
        let s = base + i * 3600;
        let r = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "subject": format!("m{i}"), "type": 0, "start_time": s.to_string(), "end_time": (s + 1800).to_string() })).await;
        assert_eq!(r.status, 200);
    }
    let p1 = api.call("GET", "/v1/meetings?userid=dev-user&page=1&page_size=2", Value::Null).await;
    assert_eq!((p1.body["total_count"].as_i64(), p1.body["total_page"].as_i64(), p1.body["meeting_number"].as_i64()), (Some(5), Some(3), Some(2)));
    assert_eq!(p1.body["meeting_info_list"][0]["subject"], "m0");
    let p3 = api.call("GET", "/v1/meetings?userid=dev-user&page=3&page_size=2", Value::Null).await;
    assert_eq!(p3.body["meeting_info_list"][0]["subject"], "m4");
    assert_eq!(api.call("GET", "/v1/meetings?userid=dev-user&page_size=500", Value::Null).await.status, 400);

    let weekly = api
        .call("POST", "/v1/meetings", json!({
            "userid": "dev-user", "subject": "Weekly sync", "type": 0, "meeting_type": 1,
            "start_time": base.to_string(), "end_time": (base + 3600).to_string(),
            "recurring_rule": { "recurring_type": 2, "until_type": 1, "until_count": 4 }
        }))
        .await;
    assert_eq!(weekly.status, 200, "{:?}", weekly.body);
    let subs = weekly.body["meeting_info_list"][0]["sub_meetings"].as_array().unwrap().clone();
    assert_eq!(subs.len(), 4);
    assert_eq!(subs[3]["start_time"], (base + 3 * 7 * 86_400).to_string());
    assert_eq!(subs[3]["end_time"], (base + 3 * 7 * 86_400 + 3600).to_string());
    assert_eq!(weekly.body["meeting_info_list"][0]["current_sub_meeting_id"], subs[0]["sub_meeting_id"]);

    // A daily series that began two days ago: the current occurrence is the first not ended.
    let began = unix_now() - 2 * 86_400 - 600;
    let daily = api
        .call("POST", "/v1/meetings", json!({
            "userid": "dev-user", "subject": "Daily", "type": 0, "meeting_type": 1,
            "start_time": began.to_string(), "end_time": (began + 3600).to_string(),
            "recurring_rule": { "recurring_type": 0, "until_type": 1, "until_count": 5 }
        }))
        .await;
    let info = &daily.body["meeting_info_list"][0];
    assert_eq!(info["current_sub_meeting_id"], info["sub_meetings"][2]["sub_meeting_id"], "{info:?}");
}

#[tokio::test]
async fn joining_by_code_checks_the_password_with_rate_limits() {
    let api = start().await;
    let created = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "subject": "Interview", "type": 1, "password": "1357" })).await;
    let info = &created.body["meeting_info_list"][0];
    let (id, code) = (info["meeting_id"].as_str().unwrap().to_string(), info["meeting_code"].as_str().unwrap().to_string());
    let join = |body: Value| {
        let api = &api;
        async move { api.raw("POST", "/v1/meetings/join", &[], body.to_string().as_bytes()).await }
    };

    let ok = join(json!({ "meeting_code": code, "display_name": "Candidate", "password": "1357" })).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let keys = huiyi_api::KeyRing::new([("devkey".to_string(), "secret".to_string())].into());
    let claims = keys.verify(ok.body["token"].as_str().unwrap()).expect("a valid LiveKit token");
    assert_eq!(claims.video.room, id, "scoped to the meeting's room");
    assert!(claims.video.room_join);
    assert_eq!(claims.name, "Candidate");

    assert_eq!(join(json!({ "meeting_code": "123", "display_name": "x" })).await.status, 400);
    assert_eq!(join(json!({ "meeting_code": code, "display_name": "" })).await.status, 400);
    let other_code = if code == "999999999" { "999999998" } else { "999999999" };
    assert_eq!(join(json!({ "meeting_code": other_code, "display_name": "x" })).await.status, 404);
    let wrong = join(json!({ "meeting_code": code, "display_name": "x", "password": "0000" })).await;
    assert_eq!((wrong.status, error_code(&wrong)), (403, 10009));
    assert_eq!(join(json!({ "meeting_code": code, "display_name": "x" })).await.status, 403, "a missing password is wrong too");
    for _ in 0..3 {
        join(json!({ "meeting_code": code, "display_name": "x", "password": "1111" })).await;
    }
    // Five wrong attempts from this address: now even the right password waits.
    let limited = join(json!({ "meeting_code": code, "display_name": "x", "password": "1357" })).await;
    assert_eq!((limited.status, error_code(&limited)), (429, 10010));
}

/// Joins the meeting's room over LiveKit signalling with a token from /v1/meetings/join.
async fn attendance(api: &Api, id: &str) -> Value {
    let r = api.call("GET", &format!("/v1/meetings/{id}/participants?userid=dev-user"), Value::Null).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

async fn status(api: &Api, id: &str) -> String {
    api.call("GET", &format!("/v1/meetings/{id}?userid=dev-user"), Value::Null).await.body["meeting_info_list"][0]["status"].as_str().unwrap().to_string()
}

/// A participant's display name: Tencent sends `user_name` as base64 of its UTF-8.
fn name_of(p: &Value) -> String {
    use base64::Engine as _;
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(p["user_name"].as_str().unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn joins_start_the_meeting_attendance_is_durable_and_dismiss_ends_it() {
    use futures_util::SinkExt;
    let dir = std::env::temp_dir().join(format!("huiyi-v1-life-{}", rand::rng().random_range(0..u64::MAX)));
    let database = fresh_database_url().await;
    let (api, stop, task) = start_in(dir.clone(), database.clone()).await;
    let created = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "subject": "Lifecycle", "type": 1 })).await;
    let info = &created.body["meeting_info_list"][0];
    let (id, code) = (info["meeting_id"].as_str().unwrap().to_string(), info["meeting_code"].as_str().unwrap().to_string());
    assert_eq!(status(&api, &id).await, "MEETING_STATE_INIT");

    let mut ann = join_room(&api, &code, "Ann").await;
    eventually("the first join to start the meeting", || async { status(&api, &id).await == "MEETING_STATE_STARTED" }).await;
    let _bob = join_room(&api, &code, "Bob").await;
    let rt = api.call("GET", &format!("/v1/meetings/{id}/real-time-participants?userid=dev-user"), Value::Null).await;
    assert_eq!(rt.body["total_count"], 2, "{:?}", rt.body);

    // Ann leaves properly; her session gets a leave time.
    let leave = huiyi_proto::encode_request(huiyi_proto::lk::signal_request::Message::Leave(Default::default()));
    ann.send(tokio_tungstenite::tungstenite::Message::Binary(leave.into())).await.unwrap();
    eventually("Ann's leave to be recorded", || async {
        let a = attendance(&api, &id).await;
        a["participants"].as_array().unwrap().iter().any(|p| name_of(p) == "Ann" && p["left_time"] != "")
    })
    .await;

    // The server stops while Bob is still in (a crash, as far as Bob's session knows).
    stop.send(()).unwrap();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
    let (api, _stop, _task) = start_in(dir, database).await;
    let a = attendance(&api, &id).await;
    assert_eq!(a["total_count"], 2, "both sessions survived the restart: {a:?}");
    for p in a["participants"].as_array().unwrap() {
        assert_ne!(p["left_time"], "", "no session is left open after a restart: {p:?}");
        assert_eq!(p["ip"], "127.0.0.1");
    }
    // The report: two people, two sessions, and a CSV with a row for each.
    // Tencent's cursor paging: from position 1, one at a time.
    let tail = api.call("GET", &format!("/v1/meetings/{id}/participants?userid=dev-user&pos=1&size=1"), Value::Null).await;
    assert_eq!((tail.body["participants"].as_array().unwrap().len(), tail.body["has_remaining"].as_bool(), tail.body["next_pos"].as_i64()), (1, Some(false), Some(2)));
    let head = api.call("GET", &format!("/v1/meetings/{id}/participants?userid=dev-user&pos=0&size=1"), Value::Null).await;
    assert_eq!((head.body["has_remaining"].as_bool(), head.body["next_pos"].as_i64()), (Some(true), Some(1)));
    // A position beyond any meeting is a clear 400, not an overflow (schemathesis found it).
    let far = api.call("GET", &format!("/v1/meetings/{id}/participants?userid=dev-user&pos={}&size=100", i64::MAX), Value::Null).await;
    assert_eq!(far.status, 400, "{:?}", far.body);
    let st = api.call("GET", &format!("/v1/meetings/{id}/statistics?userid=dev-user"), Value::Null).await;
    assert_eq!((st.body["unique_attendees"].as_i64(), st.body["sessions"].as_i64(), st.body["peak_concurrency"].as_i64()), (Some(2), Some(2), Some(2)), "{:?}", st.body);
    let csv = api.call("GET", &format!("/v1/meetings/{id}/attendance.csv?userid=dev-user"), Value::Null).await;
    assert_eq!(csv.status, 200);
    assert!(csv.head.to_ascii_lowercase().contains("content-type: text/csv"), "{}", csv.head);
    let mut names: Vec<String> = a["participants"].as_array().unwrap().iter().map(name_of).collect();
    names.sort();
    assert_eq!(names, vec!["Ann", "Bob"]);

    // Carol joins the restarted server; dismiss removes her and ends the meeting.
    let mut carol = join_room(&api, &code, "Carol").await;
    let d = api.call("POST", &format!("/v1/meetings/{id}/dismiss"), json!({ "userid": "dev-user" })).await;
    assert_eq!(d.status, 200, "{:?}", d.body);
    assert_eq!(status(&api, &id).await, "MEETING_STATE_ENDED");
    use futures_util::StreamExt;
    let mut told_to_leave = false;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(std::time::Duration::from_secs(5), carol.next()).await {
        if let Ok(huiyi_proto::lk::signal_response::Message::Leave(l)) = huiyi_proto::decode_response(&m.clone().into_data()) {
            told_to_leave = l.reason == huiyi_proto::lk::DisconnectReason::RoomDeleted as i32;
            break;
        }
    }
    assert!(told_to_leave, "the dismissed participant is told the room closed");
    assert_eq!(api.call("POST", &format!("/v1/meetings/{id}/dismiss"), json!({ "userid": "dev-user" })).await.status, 409);
}

#[tokio::test]
async fn a_started_meeting_nobody_is_in_ends_once_its_end_time_passes() {
    let dir = std::env::temp_dir().join(format!("huiyi-v1-sweep-{}", rand::rng().random_range(0..u64::MAX)));
    let database = fresh_database_url().await;
    let (api, stop, task) = start_in(dir.clone(), database.clone()).await;
    let past = unix_now() - 7200;
    let body = json!({ "userid": "dev-user", "subject": "Left early", "type": 1 });
    let created = api.call("POST", "/v1/meetings", body).await;
    let id = created.body["meeting_info_list"][0]["meeting_id"].as_str().unwrap().to_string();
    // The API refuses a start in the past; the store takes the meeting back two hours.
    let mut data = api.store.meeting("dev-app", &id).await.unwrap().data;
    (data.start_time, data.end_time) = (past, past + 3600);
    api.store.update_meeting(&id, &data, past).await.unwrap();
    // It started, and then the server went down with nobody reconnecting.
    api.store.transition("dev-app", &id, &[MeetingStatus::Init], MeetingStatus::Started, past + 60).await.unwrap();
    stop.send(()).unwrap();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
    let (api, _stop, _task) = start_in(dir, database).await;
    eventually("the sweep to end the empty meeting", || async { status(&api, &id).await == "MEETING_STATE_ENDED" }).await;
}

#[tokio::test]
async fn a_meetings_chat_is_readable_and_exportable_by_its_hosts_only() {
    let api = start().await;
    let created = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "instanceid": 1, "subject": "Review", "type": 1 })).await;
    let id = created.body["meeting_info_list"][0]["meeting_id"].as_str().unwrap().to_string();
    // What the recorder writes for each delivered message (the live path is tested with the
    // Python SDK in tests/python/test_meeting_interaction.py).
    for (i, (from, to, text)) in [("ann", vec![], "hello, all"), ("ann", vec!["bob"], "psst"), ("bob", vec![], "=1+1")].into_iter().enumerate() {
        let m = huiyi_store::ChatMessage {
            room: id.clone(),
            room_sid: "RM_x".into(),
            message_id: format!("m{i}"),
            sender: from.into(),
            sender_name: from.to_uppercase(),
            recipients: to.into_iter().map(String::from).collect(),
            body: text.into(),
            sent_at_ms: 1_700_000_000_000 + i as i64,
        };
        assert!(api.store.record_chat(&m).await.unwrap());
    }
    let page = api.call("GET", &format!("/v1/meetings/{id}/chat?userid=dev-user&page=1&page_size=2"), Value::Null).await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    let texts: Vec<&str> = page.body["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hello, all", "psst"], "private messages included, in order, paged");
    assert_eq!(page.body["messages"][1]["to"], json!(["bob"]));
    let next = api.call("GET", &format!("/v1/meetings/{id}/chat?userid=dev-user&page=2&page_size=2"), Value::Null).await;
    assert_eq!(next.body["messages"][0]["from_name"], "BOB");
    let csv = api.call("GET", &format!("/v1/meetings/{id}/chat.csv?userid=dev-user"), Value::Null).await;
    assert_eq!(csv.status, 200);
    assert!(csv.head.to_ascii_lowercase().contains("content-type: text/csv"), "{}", csv.head);
    assert!(csv.text.contains("'=1+1"), "formulas are defused: {}", csv.text);
    assert_eq!(csv.text.lines().count(), 4);
    // A signed-in member of the enterprise who does not host it reads nothing.
    api.call("POST", "/v1/users", json!({ "userid": "member1", "username": "Member", "email": "member1@example.com", "password": "m quartz lantern", "role": "member" })).await;
    let member = api.session("/api/auth/signin", json!({ "email": "member1@example.com", "password": "m quartz lantern" })).await;
    let other = member.call("GET", &format!("/v1/meetings/{id}/chat"), Value::Null).await;
    assert!(matches!(other.status, 403 | 404), "{} {:?}", other.status, other.body);
    assert_eq!(member.call("GET", &format!("/v1/meetings/{id}/chat.csv"), Value::Null).await.status, other.status);
}

#[tokio::test]
async fn a_meetings_polls_and_their_results_are_readable_and_exportable_by_its_hosts_only() {
    let api = start().await;
    let created = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "instanceid": 1, "subject": "Review", "type": 1 })).await;
    let id = created.body["meeting_info_list"][0]["meeting_id"].as_str().unwrap().to_string();
    // What `/api/polls` stores (the live path is tested with the Python SDK in tests/python/test_polls.py).
    let questions = json!([{ "text": "Where?", "multiple": false, "options": ["Noodles", "=cmd"] }, { "text": "Drinks?", "multiple": true, "options": ["Tea", "Coffee"] }]);
    for (created_at, pid, anonymous) in [(1, "PL_named", false), (2, "PL_anon", true), (3, "PL_draft", false)] {
        let poll = huiyi_store::Poll {
            poll_id: pid.into(),
            meeting_id: id.clone(),
            creator: "dev-user".into(),
            creator_name: "Dev".into(),
            title: format!("poll {pid}"),
            questions: questions.to_string(),
            anonymous,
            show_results: true,
            state: huiyi_store::PollState::Draft,
            created_at,
            launched_at: None,
            closed_at: None,
        };
        api.store.create_poll(&poll).await.unwrap().unwrap();
        if pid == "PL_draft" {
            continue;
        }
        api.store.launch_poll(&id, pid, 2).await.unwrap().unwrap();
        for (voter, answers) in [("ann", "[[0],[0,1]]"), ("bob", "[[1],[1]]")] {
            let b = huiyi_store::Ballot { poll_id: pid.into(), voter: voter.into(), voter_name: voter.to_uppercase(), answers: answers.into(), voted_at: 3 };
            api.store.vote(&id, &b).await.unwrap().unwrap();
        }
        api.store.close_poll(&id, pid, 4).await.unwrap().unwrap();
    }
    let r = api.call("GET", &format!("/v1/meetings/{id}/polls?userid=dev-user"), Value::Null).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let polls = r.body["polls"].as_array().unwrap();
    assert_eq!(polls.iter().map(|p| p["state"].as_str().unwrap()).collect::<Vec<_>>(), ["closed", "closed", "draft"]);
    assert_eq!(polls[0]["results"]["counts"], json!([[1, 1], [1, 2]]));
    assert_eq!(polls[0]["results"]["ballots"][0]["name"], "ANN");
    assert!(polls[1]["results"]["ballots"].is_null(), "an anonymous poll has counts only: {:?}", polls[1]);
    let csv = api.call("GET", &format!("/v1/meetings/{id}/polls.csv?userid=dev-user"), Value::Null).await;
    assert_eq!(csv.status, 200);
    assert!(csv.head.to_ascii_lowercase().contains("content-type: text/csv"), "{}", csv.head);
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines.len(), 1 + 2 * 4, "a row per option of each launched poll: {}", csv.text);
    assert!(lines[2].contains("'=cmd") && lines[2].ends_with(",1,BOB"), "{}", lines[2]);
    assert!(lines[6].ends_with(",1,"), "no names for the anonymous poll: {}", lines[6]);
    api.call("POST", "/v1/users", json!({ "userid": "member1", "username": "Member", "email": "member1@example.com", "password": "m quartz lantern", "role": "member" })).await;
    let member = api.session("/api/auth/signin", json!({ "email": "member1@example.com", "password": "m quartz lantern" })).await;
    let other = member.call("GET", &format!("/v1/meetings/{id}/polls"), Value::Null).await;
    assert!(matches!(other.status, 403 | 404), "{} {:?}", other.status, other.body);
    assert_eq!(member.call("GET", &format!("/v1/meetings/{id}/polls.csv"), Value::Null).await.status, other.status);
}

#[tokio::test]
async fn a_code_of_an_ended_or_cancelled_meeting_says_so_rather_than_unknown() {
    let api = start().await;
    let made = |subject: &'static str| {
        let api = &api;
        async move {
            let r = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "instanceid": 1, "subject": subject, "type": 1 })).await;
            let info = &r.body["meeting_info_list"][0];
            (info["meeting_id"].as_str().unwrap().to_string(), info["meeting_code"].as_str().unwrap().to_string())
        }
    };
    let join = |code: String| {
        let api = &api;
        async move { api.open_call("POST", "/v1/meetings/join", json!({ "meeting_code": code, "display_name": "Late" })).await }
    };
    let (ended_id, ended_code) = made("Ended").await;
    api.store.transition("dev-app", &ended_id, &[MeetingStatus::Init], MeetingStatus::Started, unix_now()).await.unwrap();
    assert_eq!(api.call("POST", &format!("/v1/meetings/{ended_id}/dismiss"), json!({ "userid": "dev-user" })).await.status, 200);
    let r = join(ended_code).await;
    assert_eq!((r.status, error_code(&r)), (409, 10014), "{:?}", r.body);
    assert!(r.body["error_info"]["message"].as_str().unwrap().contains("ended"));
    let (cancelled_id, cancelled_code) = made("Cancelled").await;
    assert_eq!(api.call("POST", &format!("/v1/meetings/{cancelled_id}/cancel"), json!({ "userid": "dev-user", "instanceid": 1 })).await.status, 200);
    let r = join(cancelled_code).await;
    assert_eq!((r.status, error_code(&r)), (409, 10014));
    assert!(r.body["error_info"]["message"].as_str().unwrap().contains("cancelled"));
    // A code nobody ever had is still unknown.
    let r = join("999999999".into()).await;
    assert_eq!((r.status, error_code(&r)), (404, 10006));
}

#[tokio::test]
async fn a_single_meeting_cannot_start_in_the_past_nor_end_before_it_starts() {
    let api = start().await;
    let now = unix_now();
    let at = |start: i64, end: i64| json!({ "userid": "dev-user", "instanceid": 1, "subject": "Past", "type": 0, "start_time": start.to_string(), "end_time": end.to_string() });
    let past = api.call("POST", "/v1/meetings", at(now - 3600, now + 3600)).await;
    assert_eq!((past.status, error_code(&past)), (400, 10001));
    assert!(past.body["error_info"]["message"].as_str().unwrap().contains("past"), "{:?}", past.body);
    let backwards = api.call("POST", "/v1/meetings", at(now + 3600, now + 1800)).await;
    assert_eq!(backwards.status, 400);
    // "Now", as a form sends it a little late, is fine.
    let made = api.call("POST", "/v1/meetings", at(now - 60, now + 3600)).await;
    assert_eq!(made.status, 200, "{:?}", made.body);
    let id = made.body["meeting_info_list"][0]["meeting_id"].as_str().unwrap().to_string();
    // Moving it into the past is refused too; other changes keep the start it has.
    let moved = api.call("PUT", &format!("/v1/meetings/{id}"), json!({ "userid": "dev-user", "instanceid": 1, "start_time": (now - 7200).to_string(), "end_time": (now - 3600).to_string() })).await;
    assert_eq!(moved.status, 400, "{:?}", moved.body);
    let renamed = api.call("PUT", &format!("/v1/meetings/{id}"), json!({ "userid": "dev-user", "instanceid": 1, "subject": "Renamed" })).await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
}
