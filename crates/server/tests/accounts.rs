//! The portal's accounts over real HTTP: sign-up and sign-in with session cookies, the CSRF
//! header, admin and member roles, `/v1/users`, credentials created and revoked through the
//! API, a user's history, and the settings enforced when joining.

mod common;

use common::{error_code, start, unix_now, Api};
use serde_json::{json, Value};

fn signup(email: &str, enterprise: &str) -> Value {
    json!({ "email": email, "password": "correct horse", "username": "Ann", "enterprise_name": enterprise })
}

#[tokio::test]
async fn sign_up_sign_in_and_sign_out() {
    let api = start().await;
    let ann = api.session("/api/auth/signup", signup("Ann@Example.com", "Acme")).await;
    let me = ann.call("GET", "/api/auth/me", Value::Null).await;
    assert_eq!((me.body["user"]["email"].as_str(), me.body["user"]["role"].as_str()), (Some("ann@example.com"), Some("admin")));
    assert_eq!(me.body["user"]["enterprise_name"], "Acme");
    // The cookie is HttpOnly and SameSite.
    let r = api.open_call("POST", "/api/auth/signin", json!({ "email": "ann@example.com", "password": "correct horse" })).await;
    let set = r.head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie")).unwrap().to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
    // The same email cannot sign up twice; a wrong password is refused.
    assert_eq!(api.open_call("POST", "/api/auth/signup", signup("ann@example.com", "Other")).await.status, 409);
    let wrong = api.open_call("POST", "/api/auth/signin", json!({ "email": "ann@example.com", "password": "wrong horse" })).await;
    assert_eq!((wrong.status, error_code(&wrong)), (401, 10002));
    assert_eq!(api.open_call("POST", "/api/auth/signin", json!({ "email": "nobody@example.com", "password": "x" })).await.status, 401);
    // Short passwords and bad emails are a 400.
    assert_eq!(api.open_call("POST", "/api/auth/signup", json!({ "email": "b@example.com", "password": "short", "username": "B", "enterprise_name": "B" })).await.status, 400);
    assert_eq!(api.open_call("POST", "/api/auth/signup", signup("not-an-email", "B")).await.status, 400);
    // Signing out ends the session on the server, not only in the browser.
    assert_eq!(ann.call("POST", "/api/auth/signout", Value::Null).await.status, 200);
    assert_eq!(ann.call("GET", "/api/auth/me", Value::Null).await.status, 401);
    assert_eq!(ann.call("GET", "/v1/users/list", Value::Null).await.status, 401);
}

#[tokio::test]
async fn sign_up_can_be_closed() {
    let dir = std::env::temp_dir().join(format!("huiyi-closed-{}", rand::random::<u64>()));
    let args = huiyi_server::config::ServeArgs { data_dir: Some(dir), database: common::fresh_database_url().await, signup: Some(false), ..Default::default() };
    let (api, _stop, _task) = common::start_with(args).await;
    let r = api.open_call("POST", "/api/auth/signup", signup("closed@example.com", "Closed")).await;
    assert_eq!((r.status, error_code(&r)), (403, 10005), "{:?}", r.body);
    // Admins still create accounts, which can sign in.
    api.call("POST", "/v1/users", json!({ "userid": "m", "username": "M", "email": "m@example.com", "password": "m quartz lantern" })).await;
    api.session("/api/auth/signin", json!({ "email": "m@example.com", "password": "m quartz lantern" })).await;
}

#[tokio::test]
async fn too_many_failed_sign_ins_are_throttled() {
    let api = start().await;
    api.session("/api/auth/signup", signup("t@example.com", "T")).await;
    let mut last = 0;
    for _ in 0..11 {
        last = api.open_call("POST", "/api/auth/signin", json!({ "email": "t@example.com", "password": "wrong horse" })).await.status;
    }
    assert_eq!(last, 429);
    // Even the right password waits now.
    assert_eq!(api.open_call("POST", "/api/auth/signin", json!({ "email": "t@example.com", "password": "correct horse" })).await.status, 429);
}

#[tokio::test]
async fn cookie_requests_need_the_csrf_header_and_the_cookie() {
    let api = start().await;
    let ann = api.session("/api/auth/signup", signup("c@example.com", "C")).await;
    let body = json!({ "subject": "Standup", "type": 1 }).to_string();
    let without = api.raw("POST", "/v1/meetings", &[("Cookie", ann.cookie.clone())], body.as_bytes()).await;
    assert_eq!((without.status, error_code(&without)), (403, 10005));
    let with = ann.call("POST", "/v1/meetings", json!({ "subject": "Standup", "type": 1 })).await;
    assert_eq!(with.status, 200, "{:?}", with.body);
    // Neither a signature nor a cookie: 401. A forged cookie: 401.
    assert_eq!(api.raw("GET", "/v1/meetings", &[], b"").await.status, 401);
    assert_eq!(api.raw("GET", "/v1/meetings", &[("Cookie", "huiyi_session=forged".into())], b"").await.status, 401);
}

#[tokio::test]
async fn admins_manage_members_and_members_stay_in_their_lane() {
    let api = start().await;
    let admin = api.session("/api/auth/signup", signup("boss@example.com", "Acme")).await;
    let r = admin.call("POST", "/v1/users", json!({ "userid": "li", "username": "Li Lei", "email": "li@example.com", "password": "li quartz lantern", "role": "member" })).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(admin.call("POST", "/v1/users", json!({ "userid": "li", "username": "Again" })).await.status, 409);
    assert_eq!(admin.call("POST", "/v1/users", json!({ "userid": "bad id!", "username": "X" })).await.status, 400);
    for i in 0..3 {
        admin.call("POST", "/v1/users", json!({ "userid": format!("u{i}"), "username": format!("User {i}") })).await;
    }
    let page = admin.call("GET", "/v1/users/list?page=2&page_size=2", Value::Null).await;
    assert_eq!((page.body["total_count"].as_i64(), page.body["current_size"].as_i64()), (Some(5), Some(2)));

    let li = api.session("/api/auth/signin", json!({ "email": "li@example.com", "password": "li quartz lantern" })).await;
    // A member cannot list or create users, manage credentials or webhooks, or read stats.
    for (method, uri) in [("GET", "/v1/users/list"), ("POST", "/v1/users"), ("GET", "/v1/credentials"), ("POST", "/v1/credentials"), ("GET", "/v1/webhooks"), ("GET", "/v1/enterprise/statistics?start_date=2026-01-01&end_date=2026-01-02")] {
        let r = li.call(method, uri, json!({ "userid": "x", "username": "x" })).await;
        assert_eq!(r.status, 403, "{method} {uri}: {:?}", r.body);
    }
    // ...may read and rename themselves, but not change their role, or act as someone else.
    assert_eq!(li.call("GET", "/v1/users/li", Value::Null).await.body["username"], "Li Lei");
    assert_eq!(li.call("PUT", "/v1/users/li", json!({ "username": "Li L." })).await.status, 200);
    assert_eq!(li.call("PUT", "/v1/users/li", json!({ "role": "admin" })).await.status, 403);
    assert_eq!(li.call("GET", "/v1/users/u0", Value::Null).await.status, 403);
    assert_eq!(li.call("POST", "/v1/meetings", json!({ "userid": "u0", "subject": "x", "type": 1 })).await.status, 403);

    // A member's meeting is theirs; another member does not see it; the admin does.
    let m = li.call("POST", "/v1/meetings", json!({ "subject": "Li's", "type": 1 })).await;
    let id = m.body["meeting_info_list"][0]["meeting_id"].as_str().unwrap().to_owned();
    admin.call("PUT", "/v1/users/u0", json!({ "password": "u0 quartz lantern", "email": "u0@example.com" })).await;
    let u0 = api.session("/api/auth/signin", json!({ "email": "u0@example.com", "password": "u0 quartz lantern" })).await;
    assert_eq!(u0.call("GET", &format!("/v1/meetings/{id}"), Value::Null).await.status, 404);
    assert_eq!(u0.call("POST", &format!("/v1/meetings/{id}/cancel"), json!({})).await.status, 404);
    assert_eq!(admin.call("GET", &format!("/v1/meetings/{id}?userid=li"), Value::Null).await.status, 200);
    // Invited, u0 can read it but not cancel it.
    li.call("PUT", &format!("/v1/meetings/{id}"), json!({ "invitees": [{ "userid": "u0" }] })).await;
    assert_eq!(u0.call("GET", &format!("/v1/meetings/{id}"), Value::Null).await.status, 200);
    assert_eq!(u0.call("POST", &format!("/v1/meetings/{id}/cancel"), json!({})).await.status, 403);

    // The last admin can be neither demoted nor deleted, and nobody deletes themselves.
    assert_eq!(admin.call("PUT", "/v1/users/boss@example.com", json!({ "role": "member" })).await.status, 409);
    assert_eq!(admin.call("DELETE", "/v1/users/boss@example.com", Value::Null).await.status, 409);
    // Deleting a member signs them out.
    assert_eq!(admin.call("DELETE", "/v1/users/li", Value::Null).await.status, 200);
    assert_eq!(li.call("GET", "/api/auth/me", Value::Null).await.status, 401);
    assert_eq!(admin.call("GET", "/v1/users/li", Value::Null).await.status, 404);
}

#[tokio::test]
async fn credentials_are_created_and_revoked_through_the_api() {
    let api = start().await;
    let admin = api.session("/api/auth/signup", signup("k@example.com", "Keys Inc")).await;
    let created = admin.call("POST", "/v1/credentials", json!({ "sdk_id": "crm" })).await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let c = &created.body;
    let me = admin.call("GET", "/api/auth/me", Value::Null).await;
    assert_eq!(c["app_id"], me.body["user"]["enterprise_id"]);
    // The new credential signs requests for this enterprise.
    let integrator = Api {
        addr: api.addr,
        store: api.store.clone(),
        app_id: c["app_id"].as_str().unwrap().into(),
        sdk_id: "crm".into(),
        key: c["secret_id"].as_str().unwrap().into(),
        secret: c["secret_key"].as_str().unwrap().into(),
    };
    let listed = integrator.call("GET", "/v1/users/list", Value::Null).await;
    assert_eq!((listed.status, listed.body["total_count"].as_i64()), (200, Some(1)));
    // The list does not show secrets.
    let list = admin.call("GET", "/v1/credentials", Value::Null).await;
    assert!(list.body["credentials"][0].get("secret_key").is_none());
    let secret_id = c["secret_id"].as_str().unwrap();
    assert_eq!(admin.call("DELETE", &format!("/v1/credentials/{secret_id}"), Value::Null).await.status, 200);
    let refused = integrator.call("GET", "/v1/users/list", Value::Null).await;
    assert_eq!((refused.status, error_code(&refused)), (401, 10002));
    assert_eq!(admin.call("DELETE", &format!("/v1/credentials/{secret_id}"), Value::Null).await.status, 404);
    // The dev enterprise's key cannot touch this enterprise's users.
    assert_eq!(api.call("GET", "/v1/users/k@example.com", Value::Null).await.status, 404);
}

#[tokio::test]
async fn users_crud_with_signed_requests() {
    let api = start().await;
    let r = api.call("POST", "/v1/users", json!({ "userid": "wang", "username": "Wang", "email": "wang@example.com", "phone": "+86 138" })).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(api.call("GET", "/v1/users/wang", Value::Null).await.body["email"], "wang@example.com");
    assert_eq!(api.call("PUT", "/v1/users/wang", json!({ "username": "Wang Fang", "role": "admin" })).await.body["role"], "admin");
    assert_eq!(api.call("GET", "/v1/users/list", Value::Null).await.body["total_count"], 2);
    assert_eq!(api.call("DELETE", "/v1/users/wang", Value::Null).await.status, 200);
    assert_eq!(api.call("GET", "/v1/users/wang", Value::Null).await.status, 404);
    assert_eq!(api.call("PUT", "/v1/users/wang", json!({ "phone": "not a phone" })).await.status, 404);
    assert_eq!(api.call("POST", "/v1/users", json!({ "userid": "x", "username": "X", "phone": "call me" })).await.status, 400);
}

#[tokio::test]
async fn join_settings_are_enforced() {
    let api = start().await;
    let admin = api.session("/api/auth/signup", signup("host@example.com", "Hosts")).await;
    admin.call("POST", "/v1/users", json!({ "userid": "inv", "username": "Invited", "email": "inv@example.com", "password": "inv password" })).await;
    admin.call("POST", "/v1/users", json!({ "userid": "other", "username": "Other", "email": "other@example.com", "password": "other password" })).await;
    let create = |settings: Value| {
        let admin = &admin;
        async move {
            let r = admin.call("POST", "/v1/meetings", json!({ "subject": "S", "type": 1, "password": "1234", "invitees": [{ "userid": "inv" }], "settings": settings })).await;
            r.body["meeting_info_list"][0]["meeting_code"].as_str().unwrap().to_owned()
        }
    };
    let join = |s: Option<&common::Session>, code: &str, password: Option<&str>| {
        let body = json!({ "meeting_code": code, "display_name": "Someone", "password": password, "client_id": "browser-1" });
        let cookie = s.map(|s| s.cookie.clone());
        let api = &api;
        async move {
            let headers: Vec<(&str, String)> = cookie.into_iter().map(|c| ("Cookie", c)).collect();
            api.raw("POST", "/v1/meetings/join", &headers, body.to_string().as_bytes()).await
        }
    };
    let inv = api.session("/api/auth/signin", json!({ "email": "inv@example.com", "password": "inv password" })).await;
    let other = api.session("/api/auth/signin", json!({ "email": "other@example.com", "password": "other password" })).await;

    // Only invitees: a guest and an uninvited member are refused; the invitee and host join.
    let code = create(json!({ "only_user_join_type": 2 })).await;
    assert_eq!(error_code(&join(None, &code, Some("1234")).await), 10012);
    assert_eq!(error_code(&join(Some(&other), &code, Some("1234")).await), 10012);
    let r = join(Some(&inv), &code, Some("1234")).await;
    assert_eq!((r.status, r.body["identity"].as_str(), r.body["role"].as_str()), (200, Some("inv"), Some("user")));
    // The host needs no password.
    let r = join(Some(&admin), &code, None).await;
    assert_eq!((r.status, r.body["role"].as_str()), (200, Some("host")), "{:?}", r.body);

    // Only the enterprise: members yes, guests no.
    let code = create(json!({ "only_user_join_type": 3 })).await;
    assert_eq!(error_code(&join(None, &code, Some("1234")).await), 10012);
    assert_eq!(join(Some(&other), &code, Some("1234")).await.status, 200);

    // Not before the host: refused until a host has been in the meeting.
    let code = create(json!({ "allow_in_before_host": false })).await;
    let early = join(None, &code, Some("1234")).await;
    assert_eq!((early.status, error_code(&early)), (403, 10011));
    let meeting = api.store.live_meeting_by_code(&code).await.unwrap();
    assert_eq!(early.body["error_info"]["start_time"].as_i64(), Some(meeting.data.start_time), "the refusal says when it starts: {:?}", early.body);
    api.store
        .record_join(&huiyi_store::ParticipantSession {
            participant_sid: "PA_host".into(),
            meeting_id: meeting.meeting_id.clone(),
            identity: "host@example.com".into(),
            display_name: "Host".into(),
            role: "host".into(),
            client_addr: String::new(),
            person: "host@example.com".into(),
            device: "web".into(),
            joined_at: unix_now(),
            left_at: None,
        })
        .await
        .unwrap();
    assert_eq!(join(None, &code, Some("1234")).await.status, 200);

    // One device per person by default: the same browser gets the same identity (a second
    // connection replaces the first); with multiple devices allowed, identities differ.
    let code = create(json!({})).await;
    let (a, b) = (join(None, &code, Some("1234")).await, join(None, &code, Some("1234")).await);
    assert_eq!(a.body["identity"], b.body["identity"]);
    let code = create(json!({ "allow_multi_device": true })).await;
    let (a, b) = (join(Some(&inv), &code, Some("1234")).await, join(Some(&inv), &code, Some("1234")).await);
    assert_ne!(a.body["identity"], b.body["identity"]);
    assert!(a.body["identity"].as_str().unwrap().starts_with("inv#"));
    assert_eq!(a.body["mute_on_join"], false);

    // Mute on join is passed to the client, which starts with the microphone off.
    let code = create(json!({ "mute_enable_join": true })).await;
    assert_eq!(join(None, &code, Some("1234")).await.body["mute_on_join"], true);
}

#[tokio::test]
async fn history_lists_ended_meetings_the_user_created() {
    let api = start().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "subject": format!("M{i}"), "type": 1 })).await;
        ids.push(r.body["meeting_info_list"][0]["meeting_id"].as_str().unwrap().to_owned());
    }
    for id in &ids[..2] {
        assert_eq!(api.call("POST", &format!("/v1/meetings/{id}/dismiss"), json!({ "userid": "dev-user" })).await.status, 200);
    }
    let h = api.call("GET", "/v1/history/meetings/dev-user?page=1&page_size=1", Value::Null).await;
    assert_eq!(h.status, 200, "{:?}", h.body);
    assert_eq!((h.body["total_count"].as_i64(), h.body["meeting_number"].as_i64()), (Some(2), Some(1)));
    assert_eq!(h.body["meeting_info_list"][0]["status"], "MEETING_STATE_ENDED");
    assert_eq!(api.call("GET", "/v1/history/meetings/ghost", Value::Null).await.status, 404);
}
