//! What a hostile or careless caller can do to a running server, each tried for real over
//! loopback: credentials that must not outlive dev mode, password guessing (concurrent, and
//! from behind a proxy), login CSRF, sign-up probing, meeting-code enumeration, tokens that
//! outlive their meeting or a removal, ICE-TCP slot exhaustion, and clients that vanish.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{error_code, start, Api};
use futures_util::StreamExt;
use huiyi_server::config::{Config, ServeArgs};
use huiyi_server::Application;
use serde_json::{json, Value};

fn signup(email: &str) -> Value {
    json!({ "email": email, "password": "correct horse", "username": "U", "enterprise_name": "E" })
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

/// A server started without dev mode, on `dir`, with a real secret.
async fn start_production(dir: std::path::PathBuf, database: Option<String>) -> (Api, tokio::sync::oneshot::Sender<()>) {
    let args = ServeArgs {
        port: Some(0),
        rtc_tcp_port: Some(0),
        rtc_udp_port: Some(0),
        data_dir: Some(dir),
        database,
        keys: Some("prod: 0123456789abcdef0123456789abcdef".into()),
        ..Default::default()
    };
    let app = Application::build(Config::resolve(&args).unwrap()).await.unwrap();
    let (addr, store) = (app.http_addr, app.store.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    (Api { addr, store, app_id: "dev-app".into(), sdk_id: "dev-sdk".into(), key: "devkey".into(), secret: "secret".into() }, stop)
}

#[tokio::test]
async fn the_dev_credential_does_not_outlive_dev_mode() {
    let dir = std::env::temp_dir().join(format!("huiyi-devcred-{}", rand::random::<u64>()));
    let database = common::fresh_database_url().await;
    let (dev, stop, task) = common::start_in(dir.clone(), database.clone()).await;
    assert_eq!(dev.call("GET", "/v1/users/list?page=1&page_size=10", Value::Null).await.status, 200);
    drop(stop);
    let _ = task.await;
    // The same data folder, now in production: the documented devkey/secret is refused.
    let (prod, _stop) = start_production(dir, database).await;
    let r = prod.call("GET", "/v1/users/list?page=1&page_size=10", Value::Null).await;
    assert_eq!((r.status, error_code(&r)), (401, 10002), "{:?}", r.body);
}

#[tokio::test]
async fn concurrent_wrong_passwords_cannot_outrun_the_limit() {
    let api = start().await;
    api.session("/api/auth/signup", signup("race@example.com")).await;
    let tries = (0..40).map(|_| api.open_call("POST", "/api/auth/signin", json!({ "email": "race@example.com", "password": "wrong horse" })));
    let statuses: Vec<u16> = futures_util::future::join_all(tries).await.into_iter().map(|r| r.status).collect();
    let tried = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(tried, 10, "only 10 guesses may reach the password check: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
}

#[tokio::test]
async fn an_account_is_limited_across_addresses() {
    let api = start().await;
    api.session("/api/auth/signup", signup("acct@example.com")).await;
    let wrong = json!({ "email": "acct@example.com", "password": "wrong horse" }).to_string();
    for from in ["127.0.0.2", "127.0.0.3"] {
        for _ in 0..10 {
            assert_eq!(api.raw_from(ip(from), "POST", "/api/auth/signin", &[], wrong.as_bytes()).await.status, 401);
        }
    }
    // Twenty failures on the account: a fresh address is refused before any check.
    let right = json!({ "email": "acct@example.com", "password": "correct horse" }).to_string();
    let r = api.raw_from(ip("127.0.0.4"), "POST", "/api/auth/signin", &[], right.as_bytes()).await;
    assert_eq!((r.status, error_code(&r)), (429, 10010));
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_limit() {
    let dir = std::env::temp_dir().join(format!("huiyi-proxy-{}", rand::random::<u64>()));
    let args = ServeArgs { data_dir: Some(dir), trusted_proxies: Some(vec!["127.0.0.1".parse().unwrap()]), ..Default::default() };
    let (api, _stop, _task) = common::start_with(args).await;
    api.session("/api/auth/signup", signup("proxied@example.com")).await;
    let body = json!({ "email": "nobody@example.com", "password": "wrong horse" }).to_string();
    let via = |client: &str| vec![("X-Forwarded-For", client.to_owned())];
    for _ in 0..10 {
        assert_eq!(api.raw("POST", "/api/auth/signin", &via("203.0.113.7"), body.as_bytes()).await.status, 401);
    }
    assert_eq!(api.raw("POST", "/api/auth/signin", &via("203.0.113.7"), body.as_bytes()).await.status, 429);
    // Another client behind the same proxy is not blocked by the first.
    assert_eq!(api.raw("POST", "/api/auth/signin", &via("203.0.113.8"), body.as_bytes()).await.status, 401);
    // A client that is not the proxy cannot pick its own address with the header.
    for _ in 0..10 {
        api.raw_from(ip("127.0.0.9"), "POST", "/api/auth/signin", &via("198.51.100.1"), body.as_bytes()).await;
    }
    let r = api.raw_from(ip("127.0.0.9"), "POST", "/api/auth/signin", &via("198.51.100.2"), body.as_bytes()).await;
    assert_eq!(r.status, 429, "the header of an untrusted peer is ignored");
}

#[tokio::test]
async fn sign_in_and_sign_up_refuse_cross_site_forms() {
    let api = start().await;
    api.session("/api/auth/signup", signup("csrf@example.com")).await;
    let body = json!({ "email": "csrf@example.com", "password": "correct horse" }).to_string();
    // A form or a no-CORS fetch from another site can only send text/plain.
    let r = api.raw("POST", "/api/auth/signin", &[("Content-Type", "text/plain".into())], body.as_bytes()).await;
    assert_eq!(r.status, 415, "{:?}", r.body);
    assert!(common::set_cookie(&r).is_none());
    let r = api.raw("POST", "/api/auth/signin", &[("Origin", "https://evil.example".into())], body.as_bytes()).await;
    assert_eq!((r.status, error_code(&r)), (403, 10005));
    assert!(common::set_cookie(&r).is_none());
    let r = api.raw("POST", "/api/auth/signup", &[("Origin", "https://evil.example".into())], signup("other@example.com").to_string().as_bytes()).await;
    assert_eq!(r.status, 403);
    // The server's own page (same host) signs in.
    let r = api.raw("POST", "/api/auth/signin", &[("Origin", "http://huiyi".into())], body.as_bytes()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(common::set_cookie(&r).is_some());
}

#[tokio::test]
async fn sign_up_refuses_weak_passwords_and_is_rate_limited() {
    let api = start().await;
    for weak in ["password", "        ", "12345678", "qwertyui"] {
        let r = api.open_call("POST", "/api/auth/signup", json!({ "email": "w@example.com", "password": weak, "username": "W", "enterprise_name": "E" })).await;
        assert_eq!((r.status, error_code(&r)), (400, 10001), "{weak:?}: {:?}", r.body);
    }
    // A taken email is refused without saying more, and costs a failed sign-in.
    api.session("/api/auth/signup", signup("taken@example.com")).await;
    let r = api.raw_from(ip("127.0.0.5"), "POST", "/api/auth/signup", &[], signup("taken@example.com").to_string().as_bytes()).await;
    assert_eq!(r.status, 409);
    assert!(!r.body.to_string().contains("exists"), "{:?}", r.body);
    // Ten sign-ups an hour from one address.
    let mut statuses = Vec::new();
    for i in 0..11 {
        statuses.push(api.raw_from(ip("127.0.0.6"), "POST", "/api/auth/signup", &[], signup(&format!("n{i}@example.com")).to_string().as_bytes()).await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429));
}

/// A meeting of the dev enterprise that runs from now for an hour; returns (id, code).
async fn meeting(api: &Api, settings: Value) -> (String, String) {
    let now = common::unix_now();
    let body = json!({
        "userid": "dev-user", "instanceid": 1, "subject": "hardening", "type": 0,
        "start_time": (now - 60).to_string(), "end_time": (now + 3600).to_string(), "settings": settings,
    });
    let r = api.call("POST", "/v1/meetings", body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let m = &r.body["meeting_info_list"][0];
    (m["meeting_id"].as_str().unwrap().to_owned(), m["meeting_code"].as_str().unwrap().to_owned())
}

async fn join_token(api: &Api, code: &str, client_id: &str) -> common::Reply {
    api.open_call("POST", "/v1/meetings/join", json!({ "meeting_code": code, "display_name": "Guest", "client_id": client_id })).await
}

async fn connect(api: &Api, token: &str) -> Result<common::Ws, u16> {
    let url = format!("ws://{}/rtc?access_token={token}", api.addr);
    match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

async fn validate_body(api: &Api, token: &str) -> (u16, String) {
    let r = api.raw("GET", &format!("/rtc/validate?access_token={token}"), &[], b"").await;
    (r.status, r.text)
}

#[tokio::test]
async fn join_tokens_do_not_outlive_the_meeting() {
    let api = start().await;
    let (id, code) = meeting(&api, json!({})).await;
    let r = join_token(&api, &code, "browser-1").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.body["token"].as_str().unwrap().to_owned();
    // Short-lived: ten minutes to enter the room (a connected client gets fresh tokens).
    let claims: Value = {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    let ttl = claims["exp"].as_i64().unwrap() - common::unix_now();
    assert!((590..=600).contains(&ttl), "exp is {ttl} s away");
    assert_eq!(api.call("POST", &format!("/v1/meetings/{id}/dismiss"), json!({ "userid": "dev-user", "instanceid": 1 })).await.status, 200);
    // The token is still valid as a JWT, but the meeting is over.
    assert_eq!(connect(&api, &token).await.err(), Some(403));
    let (status, body) = validate_body(&api, &token).await;
    assert_eq!(status, 403);
    assert!(body.contains("ended"), "{body}");
    // Nothing was recorded on the ended meeting.
    let sessions = api.store.all_sessions(&id).await.unwrap();
    assert!(sessions.is_empty(), "{sessions:?}");
}

#[tokio::test]
async fn a_removed_participant_stays_out_until_let_back() {
    let api = start().await;
    let (id, code) = meeting(&api, json!({})).await;
    let r = join_token(&api, &code, "browser-2").await;
    let (token, identity) = (r.body["token"].as_str().unwrap().to_owned(), r.body["identity"].as_str().unwrap().to_owned());
    let mut ws = connect(&api, &token).await.expect("joins");
    let _join = ws.next().await;
    // The host removes them through the RoomService, as LiveKit's server SDKs do.
    let admin = huiyi_api::KeyRing::new([("devkey".to_owned(), "secret".to_owned())].into())
        .mint(&huiyi_api::Claims {
            sub: "host-tool".into(),
            exp: (common::unix_now() + 600) as u64,
            video: huiyi_api::VideoGrant { room_admin: true, room: id.clone(), ..Default::default() },
            ..Default::default()
        })
        .unwrap();
    let body = json!({ "room": id, "identity": identity }).to_string();
    let r = api.raw("POST", "/twirp/livekit.RoomService/RemoveParticipant", &[("Authorization", format!("Bearer {admin}"))], body.as_bytes()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // The same token, and a new one for the same browser, are both refused.
    assert_eq!(connect(&api, &token).await.err(), Some(403));
    let r = join_token(&api, &code, "browser-2").await;
    assert_eq!((r.status, error_code(&r)), (403, 10015), "{:?}", r.body);
    // The host sees who was removed, and lets them back.
    let r = api.call("GET", &format!("/v1/meetings/{id}/removed?userid=dev-user"), Value::Null).await;
    let person = r.body["removed"][0]["person"].as_str().unwrap().to_owned();
    assert!(person.starts_with("guest-"), "{:?}", r.body);
    let r = api.call("DELETE", &format!("/v1/meetings/{id}/removed/{person}?userid=dev-user"), Value::Null).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(join_token(&api, &code, "browser-2").await.status, 200);
    assert!(connect(&api, &token).await.is_ok());
}

#[tokio::test]
async fn meeting_codes_cannot_be_enumerated() {
    let api = start().await;
    let (_, code) = meeting(&api, json!({})).await;
    let guess = |n: u32| json!({ "meeting_code": format!("{:09}", 100_000_000 + n), "display_name": "G" }).to_string();
    let mut statuses = Vec::new();
    for n in 0..25 {
        // Codes are live-unique and random: these are almost surely unknown.
        statuses.push(api.raw_from(ip("127.0.0.7"), "POST", "/v1/meetings/join", &[], guess(n).as_bytes()).await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 404).count(), 20, "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    // Concurrent guesses are held to the same count.
    let bodies: Vec<String> = (0..30).map(|n| guess(100 + n)).collect();
    let burst = bodies.iter().map(|b| api.raw_from(ip("127.0.0.8"), "POST", "/v1/meetings/join", &[], b.as_bytes()));
    let burst: Vec<u16> = futures_util::future::join_all(burst).await.into_iter().map(|r| r.status).collect();
    assert_eq!(burst.iter().filter(|s| **s == 404).count(), 20, "{burst:?}");
    // Someone else with a real code still joins.
    let r = api.raw_from(ip("127.0.0.9"), "POST", "/v1/meetings/join", &[], json!({ "meeting_code": code, "display_name": "Real" }).to_string().as_bytes()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn meeting_people_are_bounded_and_belong_to_the_enterprise() {
    let api = start().await;
    let now = common::unix_now();
    let base = |extra: Value| {
        let mut b = json!({ "userid": "dev-user", "instanceid": 1, "subject": "p", "type": 0, "start_time": (now + 60).to_string(), "end_time": (now + 3600).to_string() });
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    let many: Vec<Value> = (0..301).map(|i| json!({ "userid": format!("u{i}") })).collect();
    let r = api.call("POST", "/v1/meetings", base(json!({ "invitees": many }))).await;
    assert_eq!((r.status, error_code(&r)), (400, 10001), "{:?}", r.body);
    let r = api.call("POST", "/v1/meetings", base(json!({ "hosts": [{ "userid": "someone-elsewhere" }] }))).await;
    assert_eq!((r.status, error_code(&r)), (400, 10001), "{:?}", r.body);
    let r = api.call("POST", "/v1/meetings", base(json!({ "hosts": [{ "userid": "dev-user" }, { "userid": "dev-user" }] }))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

/// How many of `conns` the server closes within `ms` (each read at the same time).
async fn closed_within(conns: &mut [tokio::net::TcpStream], ms: u64) -> usize {
    use tokio::io::AsyncReadExt;
    let reads = conns.iter_mut().map(|c| async move {
        let mut b = [0u8; 1];
        matches!(tokio::time::timeout(Duration::from_millis(ms), c.read(&mut b)).await, Ok(Ok(0) | Err(_)))
    });
    futures_util::future::join_all(reads).await.into_iter().filter(|closed| *closed).count()
}

#[tokio::test]
async fn ice_tcp_slots_are_capped_per_address() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = std::env::temp_dir().join(format!("huiyi-icetcp-{}", rand::random::<u64>()));
    let args = ServeArgs { dev: true, port: Some(0), rtc_tcp_port: Some(0), rtc_udp_port: Some(0), data_dir: Some(dir), ..Default::default() };
    let app = Application::build(Config::resolve(&args).unwrap()).await.unwrap();
    let tcp = app.tcp_addr.unwrap();
    tokio::spawn(app.run(std::future::pending()));
    // A framed STUN header (magic cookie, no attributes): what an attacker sends to hold a slot.
    let mut stun = vec![0u8, 20, 0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42];
    stun.extend([7u8; 12]);
    let open_from = |from: &'static str| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::new(from.parse().unwrap(), 0)).unwrap();
        socket.connect(tcp).await
    };
    let mut held = Vec::new();
    for _ in 0..100 {
        let mut c = open_from("127.0.0.10").await.unwrap();
        let _ = c.write_all(&stun).await;
        held.push(c);
    }
    // The server closes what is over the per-address cap at once.
    // Every connection is read at once, for 300 ms: those over the cap are closed at once.
    assert_eq!(closed_within(&mut held, 300).await, 100 - 64, "64 connections per address are kept, the rest closed");
    // The ones kept sent a STUN header that no peer's ICE password signs: the engine never
    // answers it, so they are closed too, within 2 s of it, and hold nothing.
    assert_eq!(closed_within(&mut held, 3000).await, 100, "connections with an unanswered STUN request were kept");
    // Another address still gets a slot.
    let mut other = open_from("127.0.0.11").await.unwrap();
    let mut b = [0u8; 1];
    assert!(tokio::time::timeout(Duration::from_millis(300), other.read(&mut b)).await.is_err(), "admitted and waiting for STUN");
    // And a connection that never sends STUN is dropped after the short handshake deadline.
    let r = tokio::time::timeout(Duration::from_secs(4), other.read(&mut b)).await;
    assert!(matches!(r, Ok(Ok(0) | Err(_))), "{r:?}");
}

#[tokio::test]
async fn a_client_that_stops_pinging_is_disconnected() {
    let dir = std::env::temp_dir().join(format!("huiyi-ping-{}", rand::random::<u64>()));
    let args = ServeArgs { data_dir: Some(dir), ping_interval_secs: Some(1), ping_timeout_secs: Some(2), ..Default::default() };
    let (api, _stop, _task) = common::start_with(args).await;
    let (_, code) = meeting(&api, json!({})).await;
    let mut silent = common::join_room(&api, &code, "Silent").await;
    // The socket stays open at the TCP level, but the client says nothing, as a laptop that
    // went to sleep would. The server closes it with the ping-timeout code.
    let started = std::time::Instant::now();
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), silent.next()).await.expect("closed within 10 s") {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(code, Some(4000));
    assert!(started.elapsed() >= Duration::from_millis(1900), "not before the timeout");
}

#[tokio::test]
async fn a_client_that_pings_stays() {
    use futures_util::SinkExt;
    let dir = std::env::temp_dir().join(format!("huiyi-pinging-{}", rand::random::<u64>()));
    let args = ServeArgs { data_dir: Some(dir), ping_interval_secs: Some(1), ping_timeout_secs: Some(2), ..Default::default() };
    let (api, _stop, _task) = common::start_with(args).await;
    let (_, code) = meeting(&api, json!({})).await;
    let mut ws = common::join_room(&api, &code, "Pinger").await;
    // Pings every 500 ms for 5 s, well past the 2 s timeout; the socket must stay open.
    let until = std::time::Instant::now() + Duration::from_secs(5);
    let mut ts = 0i64;
    while std::time::Instant::now() < until {
        ts += 1;
        let ping = huiyi_proto::encode_request(huiyi_proto::lk::signal_request::Message::Ping(ts));
        ws.send(tokio_tungstenite::tungstenite::Message::Binary(ping.into())).await.expect("still open");
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(msg) = tokio::time::timeout_at(deadline, ws.next()).await {
            match msg {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(f))) => panic!("closed while pinging: {f:?}"),
                Some(Ok(_)) => continue,
                other => panic!("{other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn guessers_spending_the_server_wide_code_budget_do_not_lock_out_real_joiners() {
    let api = start().await;
    let (_, code) = meeting(&api, json!({})).await;
    // A distributed guesser: 100 addresses, 20 unknown codes each, spend the server's 2,000.
    for a in 0..100u32 {
        let from: IpAddr = format!("127.0.{}.{}", 20 + a / 200, 1 + a % 200).parse().unwrap();
        for n in 0..20u32 {
            let body = json!({ "meeting_code": format!("{:09}", 200_000_000 + a * 100 + n), "display_name": "G" }).to_string();
            let r = api.raw_from(Some(from), "POST", "/v1/meetings/join", &[], body.as_bytes()).await;
            assert_eq!(r.status, 404, "{:?}", r.body);
        }
    }
    // A guesser who missed before is now refused, even with a real code: a hit would tell.
    let missed: IpAddr = "127.0.30.1".parse().unwrap();
    let wrong = json!({ "meeting_code": "299999999", "display_name": "G" }).to_string();
    assert_eq!(api.raw_from(Some(missed), "POST", "/v1/meetings/join", &[], wrong.as_bytes()).await.status, 404);
    let right = json!({ "meeting_code": code, "display_name": "G" }).to_string();
    assert_eq!(api.raw_from(Some(missed), "POST", "/v1/meetings/join", &[], right.as_bytes()).await.status, 429);
    // Someone who only ever typed a real code still joins.
    let r = api.raw_from(ip("127.0.31.1"), "POST", "/v1/meetings/join", &[], right.as_bytes()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

/// The web app's own routes answer with its page, but a missing file is a 404: a deployment
/// that lost a script or a model must not hand a loader the page with 200.
#[tokio::test]
async fn a_missing_static_file_is_404_and_app_routes_are_the_page() {
    let root = std::env::temp_dir().join(format!("huiyi-web-{}", std::process::id()));
    let web = root.join("dist");
    std::fs::create_dir_all(web.join("assets")).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>Huiyi page</title>").unwrap();
    std::fs::write(web.join("assets/app.js"), "console.log('app')").unwrap();
    let args = ServeArgs { data_dir: Some(root.join("data")), web_dir: Some(web), ..Default::default() };
    let (api, stop, _task) = common::start_with(args).await;

    let file = api.raw("GET", "/assets/app.js", &[], b"").await;
    assert_eq!((file.status, file.text.as_str()), (200, "console.log('app')"));
    for route in ["/", "/j/123456789", "/live/123456789", "/meetings"] {
        let page = api.raw("GET", route, &[], b"").await;
        assert_eq!(page.status, 200, "{route}");
        assert!(page.text.contains("Huiyi page"), "{route}: {}", page.text);
    }
    for missing in ["/assets/gone.js", "/effects/mediapipe/nope.wasm", "/backgrounds/x.svg", "/favicon.ico"] {
        let r = api.raw("GET", missing, &[], b"").await;
        assert_eq!(r.status, 404, "{missing}: {}", r.head);
        assert!(!r.text.contains("Huiyi page"), "{missing}");
    }
    drop(stop);
    let _ = std::fs::remove_dir_all(root);
}
