//! What the server's integration tests share: a server started on port 0 (on SQLite, or on
//! PostgreSQL when HUIYI_TEST_POSTGRES_URL names a server), and an HTTP client that signs
//! requests exactly as Tencent Meeting's published algorithm says (written here from the
//! spec, not shared with the server's code) or carries a portal session cookie.
#![allow(dead_code)]

use std::net::SocketAddr;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use huiyi_server::config::{Config, ServeArgs};
use huiyi_server::Application;
use huiyi_store::Store;
use rand::Rng;
use serde_json::Value;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Api {
    pub addr: SocketAddr,
    pub store: Store,
    pub app_id: String,
    pub sdk_id: String,
    pub key: String,
    pub secret: String,
}

pub async fn fresh_database_url() -> Option<String> {
    let base = std::env::var("HUIYI_TEST_POSTGRES_URL").ok()?;
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base).await.expect("postgres reachable");
    let db = format!("api_{}", rand::rng().random_range(0..u64::MAX));
    sqlx::query(&format!("CREATE DATABASE {db}")).execute(&admin).await.unwrap();
    let (head, _) = base.rsplit_once('/').unwrap();
    Some(format!("{head}/{db}"))
}

pub async fn start() -> Api {
    let dir = std::env::temp_dir().join(format!("huiyi-v1-{}", rand::rng().random_range(0..u64::MAX)));
    let (api, stop, _task) = start_in(dir, fresh_database_url().await).await;
    // Dropping the sender would stop the server; it lives as long as the test process.
    std::mem::forget(stop);
    api
}

/// Starts a server on `dir` (and `database`, if given); the sender stops it.
pub async fn start_in(dir: std::path::PathBuf, database: Option<String>) -> (Api, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    start_with(ServeArgs { data_dir: Some(dir), database, ..Default::default() }).await
}

/// Starts a server with `args` (dev mode and port 0 are added); the sender stops it.
pub async fn start_with(args: ServeArgs) -> (Api, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let args = ServeArgs {
        dev: true,
        port: Some(0),
        rtc_tcp_port: Some(0),
        rtc_udp_port: Some(0),
        ..args
    };
    let app = Application::build(Config::resolve(&args).unwrap()).await.unwrap();
    let (addr, store) = (app.http_addr, app.store.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let api = Api { addr, store, app_id: "dev-app".into(), sdk_id: "dev-sdk".into(), key: "devkey".into(), secret: "secret".into() };
    (api, stop, task)
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// base64 of the lowercase hex of HMAC-SHA256(SecretKey, METHOD\nX-TC-Key=…&X-TC-Nonce=…&X-TC-Timestamp=…\nURI\nBODY).
pub fn tencent_signature(secret: &str, method: &str, key: &str, nonce: &str, ts: &str, uri: &str, body: &str) -> String {
    let string_to_sign = format!("{method}\nX-TC-Key={key}&X-TC-Nonce={nonce}&X-TC-Timestamp={ts}\n{uri}\n{body}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hex::encode(mac.finalize().into_bytes()))
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// The status line and headers, as received.
    pub head: String,
    /// The body as text.
    pub text: String,
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Api {
    pub async fn raw(&self, method: &str, uri: &str, headers: &[(&str, String)], body: &[u8]) -> Reply {
        self.raw_from(None, method, uri, headers, body).await
    }

    /// Like [`Api::raw`], from the source address `from` (any 127.x.y.z works on loopback), so
    /// a test can be several clients. A `Content-Type` in `headers` replaces the JSON default.
    pub async fn raw_from(&self, from: Option<std::net::IpAddr>, method: &str, uri: &str, headers: &[(&str, String)], body: &[u8]) -> Reply {
        let mut c = match from {
            None => tokio::net::TcpStream::connect(self.addr).await.unwrap(),
            Some(ip) => {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind(std::net::SocketAddr::new(ip, 0)).unwrap();
                socket.connect(self.addr).await.unwrap()
            }
        };
        let content_type = if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) { "" } else { "Content-Type: application/json\r\n" };
        let mut req = format!("{method} {uri} HTTP/1.1\r\nHost: huiyi\r\nConnection: close\r\n{content_type}Content-Length: {}\r\n", body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        c.write_all(req.as_bytes()).await.unwrap();
        let _ = c.write_all(body).await;
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out).await;
        let text = String::from_utf8_lossy(&out);
        let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (head, raw_body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        // Bodies may be chunked; take the JSON object between the first '{' and the last '}'.
        let json_text = match (raw_body.find('{'), raw_body.rfind('}')) {
            (Some(a), Some(b)) => &raw_body[a..=b],
            _ => "null",
        };
        Reply { status, body: serde_json::from_str(json_text).unwrap_or(Value::Null), head: head.to_owned(), text: raw_body.to_owned() }
    }

    pub fn signed_headers(&self, method: &str, uri: &str, body: &str, ts: i64, nonce: &str) -> Vec<(&'static str, String)> {
        let ts = ts.to_string();
        vec![
            ("X-TC-Key", self.key.clone()),
            ("X-TC-Timestamp", ts.clone()),
            ("X-TC-Nonce", nonce.to_string()),
            ("X-TC-Signature", tencent_signature(&self.secret, method, &self.key, nonce, &ts, uri, body)),
            ("AppId", self.app_id.clone()),
            ("SdkId", self.sdk_id.clone()),
        ]
    }

    pub async fn call(&self, method: &str, uri: &str, body: Value) -> Reply {
        let body = if body.is_null() { String::new() } else { body.to_string() };
        let nonce = rand::rng().random_range(1..u64::MAX).to_string();
        let h = self.signed_headers(method, uri, &body, unix_now(), &nonce);
        self.raw(method, uri, &h, body.as_bytes()).await
    }
}

pub fn error_code(r: &Reply) -> u64 {
    r.body["error_info"]["error_code"].as_u64().unwrap_or(0)
}


/// A browser signed in to the portal: its session cookie.
pub struct Session<'a> {
    pub api: &'a Api,
    pub cookie: String,
}

impl Api {
    /// Calls an unauthenticated JSON endpoint (sign-up, sign-in, join).
    pub async fn open_call(&self, method: &str, uri: &str, body: Value) -> Reply {
        let body = if body.is_null() { String::new() } else { body.to_string() };
        self.raw(method, uri, &[], body.as_bytes()).await
    }

    /// Signs in (or up, when `signup` is given) and keeps the cookie.
    pub async fn session(&self, uri: &str, body: Value) -> Session<'_> {
        let r = self.open_call("POST", uri, body).await;
        assert_eq!(r.status, 200, "{uri}: {:?}", r.body);
        let cookie = set_cookie(&r).expect("a session cookie");
        Session { api: self, cookie }
    }
}

/// The `huiyi_session=…` pair of a Set-Cookie header.
pub fn set_cookie(r: &Reply) -> Option<String> {
    r.head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.trim().split(';').next().unwrap_or("").to_owned())
        .filter(|c| c.starts_with("huiyi_session=") && c.len() > "huiyi_session=".len())
}

impl Session<'_> {
    /// A cookie-authenticated call, with the CSRF header the portal sends.
    pub async fn call(&self, method: &str, uri: &str, body: Value) -> Reply {
        let body = if body.is_null() { String::new() } else { body.to_string() };
        self.api.raw(method, uri, &[("Cookie", self.cookie.clone()), ("X-Huiyi-Csrf", "1".into())], body.as_bytes()).await
    }
}

/// Joins a meeting by code as a guest and waits for the JoinResponse.
pub async fn join_room(api: &Api, code: &str, name: &str) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use futures_util::StreamExt;
    let r = api.raw("POST", "/v1/meetings/join", &[], serde_json::json!({ "meeting_code": code, "display_name": name }).to_string().as_bytes()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let url = format!("ws://{}/rtc?access_token={}", api.addr, r.body["token"].as_str().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let first = ws.next().await.unwrap().unwrap();
    assert!(matches!(huiyi_proto::decode_response(&first.into_data()), Ok(huiyi_proto::lk::signal_response::Message::Join(_))));
    ws
}

/// Polls (bounded) until `f` holds: events reach the store asynchronously.
pub async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    for _ in 0..100 {
        if f().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

