//! The signalling edge against a real server on loopback: bad input of every kind gets a
//! clear error or close code, never a panic, and the server keeps serving others.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use huiyi_api::{Claims, KeyRing, VideoGrant};
use huiyi_proto::lk::{self, signal_request::Message as Req, signal_response::Message as Resp};
use huiyi_server::config::{Config, ServeArgs};
use huiyi_server::Application;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Server {
    http: SocketAddr,
    udp: SocketAddr,
    tcp: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(token_refresh_secs: Option<u64>) -> Server {
    let dir = std::env::temp_dir().join(format!("huiyi-sig-{}-{}", std::process::id(), rand_suffix()));
    let args = ServeArgs {
        dev: true,
        port: Some(0),
        rtc_tcp_port: Some(0),
        rtc_udp_port: Some(0),
        data_dir: Some(dir),
        token_refresh_secs,
        ..Default::default()
    };
    let app = Application::build(Config::resolve(&args).unwrap()).await.unwrap();
    let (http, udp, tcp) = (app.http_addr, app.udp_addr, app.tcp_addr.unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    Server { http, udp, tcp, stop: Some(stop), task }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64
}

fn keys(secret: &str) -> KeyRing {
    KeyRing::new(HashMap::from([("devkey".to_string(), secret.to_string())]))
}

fn token(identity: &str, room: &str, exp_offset: i64, secret: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = Claims {
        sub: identity.into(),
        exp: (now + exp_offset) as u64,
        video: VideoGrant { room_join: true, room: room.into(), ..Default::default() },
        ..Default::default()
    };
    keys(secret).mint(&claims).unwrap()
}

async fn connect(s: &Server, query: &str) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let url = format!("ws://{}/rtc?{query}", s.http);
    tokio_tungstenite::connect_async(url.into_client_request().unwrap()).await.map(|(ws, _)| ws)
}

/// Joins and returns the socket and the JoinResponse.
async fn join(s: &Server, identity: &str, room: &str) -> (Ws, lk::JoinResponse) {
    let mut ws = connect(s, &format!("access_token={}", token(identity, room, 600, "secret"))).await.expect("join accepted");
    match next_signal(&mut ws).await {
        Some(Resp::Join(j)) => (ws, j),
        other => panic!("expected JoinResponse first, got {other:?}"),
    }
}

async fn next_signal(ws: &mut Ws) -> Option<Resp> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.ok()??.ok()?;
        if let Message::Binary(b) = msg {
            return huiyi_proto::decode_response(&b).ok();
        }
        if let Message::Close(_) = msg {
            return None;
        }
    }
}

/// Waits for a message matching `pick`, skipping others (updates, offers), bounded.
async fn wait_for<T>(ws: &mut Ws, mut pick: impl FnMut(Resp) -> Option<T>) -> T {
    for _ in 0..100 {
        let m = next_signal(ws).await.expect("socket stayed open");
        if let Some(t) = pick(m) {
            return t;
        }
    }
    panic!("message never arrived");
}

async fn ping(ws: &mut Ws, ts: i64) {
    ws.send(Message::Binary(huiyi_proto::encode_request(Req::Ping(ts)).into())).await.unwrap();
    let got = wait_for(ws, |m| if let Resp::Pong(t) = m { Some(t) } else { None }).await;
    assert_eq!(got, ts);
}

async fn close_code(ws: &mut Ws) -> Option<CloseCode> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.ok()? {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(_)) => continue,
            _ => return None,
        }
    }
}

async fn validate(s: &Server, token: &str) -> (u16, String) {
    // A minimal HTTP/1.1 GET, to keep the test free of an HTTP client dependency.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = TcpStream::connect(s.http).await.unwrap();
    let req = format!("GET /rtc/validate?access_token={token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    c.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test]
async fn bad_tokens_are_refused_with_a_reason() {
    let s = start(None).await;
    for (tok, reason) in [
        (token("a", "r", 600, "wrong-secret"), "signature"),
        (token("a", "r", -3600, "secret"), "expired"),
        ("garbage".to_string(), "malformed"),
    ] {
        let err = connect(&s, &format!("access_token={tok}")).await.expect_err("upgrade refused");
        assert!(err.to_string().contains("401"), "got {err}");
        let (status, body) = validate(&s, &tok).await;
        assert_eq!(status, 401);
        assert!(body.contains(reason), "validate body {body:?} should mention {reason}");
    }
    let (status, _) = validate(&s, &token("a", "r", 600, "secret")).await;
    assert_eq!(status, 200);
    // A token without roomJoin cannot join.
    let no_join = keys("secret").mint(&Claims { sub: "a".into(), exp: u64::MAX / 2, ..Default::default() }).unwrap();
    assert!(connect(&s, &format!("access_token={no_join}")).await.is_err());
}

#[tokio::test]
async fn malformed_frames_close_only_that_socket() {
    let s = start(None).await;
    let (mut bystander, _) = join(&s, "bystander", "room").await;

    let (mut ws, _) = join(&s, "garbage", "room").await;
    ws.send(Message::Binary(vec![0xff, 0xff, 0xff, 0xff, 0x0f].into())).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Invalid), "malformed protobuf → 1007");

    let (mut ws, _) = join(&s, "texter", "room").await;
    ws.send(Message::Text("{\"offer\": 1}".into())).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Unsupported), "text frame → 1003");

    let (mut ws, _) = join(&s, "huge", "room").await;
    ws.send(Message::Binary(vec![0u8; 300 * 1024].into())).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Size), "oversized frame → 1009");

    // Out-of-order and nonsensical requests are ignored; the session carries on.
    let (mut ws, _) = join(&s, "confused", "room").await;
    let bad_answer = lk::SessionDescription { r#type: "answer".into(), sdp: "v=0 nonsense".into(), ..Default::default() };
    ws.send(Message::Binary(huiyi_proto::encode_request(Req::Answer(bad_answer)).into())).await.unwrap();
    let bad_offer = lk::SessionDescription { r#type: "offer".into(), sdp: "not sdp at all".into(), ..Default::default() };
    ws.send(Message::Binary(huiyi_proto::encode_request(Req::Offer(bad_offer)).into())).await.unwrap();
    let trickle = lk::TrickleRequest { candidate_init: "{not json".into(), target: 0, ..Default::default() };
    ws.send(Message::Binary(huiyi_proto::encode_request(Req::Trickle(trickle)).into())).await.unwrap();
    let mute_unknown = lk::MuteTrackRequest { sid: "TR_nope".into(), muted: true };
    ws.send(Message::Binary(huiyi_proto::encode_request(Req::Mute(mute_unknown)).into())).await.unwrap();
    // A valid message far larger than the socket's 8 KiB initial read buffer (an SDP of a
    // big simulcast offer can be): read whole, refused as SDP, and the session carries on.
    let big_offer = lk::SessionDescription { r#type: "offer".into(), sdp: "a=x\r\n".repeat(40_000), ..Default::default() };
    ws.send(Message::Binary(huiyi_proto::encode_request(Req::Offer(big_offer)).into())).await.unwrap();
    ping(&mut ws, 7).await;

    // Garbage on the media ports disturbs nobody.
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..200u32 {
        let mut junk = i.to_be_bytes().repeat(40);
        junk[0] = (i % 256) as u8;
        udp.send_to(&junk, s.udp).await.unwrap();
    }
    // A fake STUN header with a broken body.
    udp.send_to(&[0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 6, 0, 99], s.udp).await.unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut t = TcpStream::connect(s.tcp).await.unwrap();
        let _ = t.write_all(&[0x00, 0x05, 1, 2, 3, 4, 5, 0xff, 0xff]).await;
        let _ = t.write_all(&vec![0xab; 70_000]).await;
    }
    ping(&mut bystander, 42).await;
    let (mut late, joined) = join(&s, "late", "room").await;
    ping(&mut late, 1).await;
    // The sockets closed for bad input were removed or are held for resume; the bystander is listed.
    assert!(joined.other_participants.iter().any(|p| p.identity == "bystander"));
    s.stop.map(|x| x.send(()));
}

#[tokio::test]
async fn a_dropped_socket_resumes_the_same_session() {
    let s = start(None).await;
    let (mut other, _) = join(&s, "other", "resume-room").await;
    let (ws, j) = join(&s, "alice", "resume-room").await;
    let sid = j.participant.unwrap().sid;
    drop(ws); // network drop: no LeaveRequest
    // The other participant does not see alice leave.
    let tok = token("alice", "resume-room", 600, "secret");
    let mut ws = connect(&s, &format!("access_token={tok}&reconnect=1&sid={sid}")).await.unwrap();
    assert!(matches!(next_signal(&mut ws).await, Some(Resp::Reconnect(_))), "ReconnectResponse first");
    // The state that may have been missed is resent, with alice's own sid unchanged.
    let update = wait_for(&mut ws, |m| if let Resp::Update(u) = m { Some(u) } else { None }).await;
    assert!(update.participants.iter().any(|p| p.sid == sid));
    ping(&mut ws, 5).await;
    ping(&mut other, 6).await;

    // An unknown session is told to rejoin from scratch.
    let mut ws2 = connect(&s, &format!("access_token={tok}&reconnect=1&sid=PA_gone")).await.unwrap();
    let leave = wait_for(&mut ws2, |m| if let Resp::Leave(l) = m { Some(l) } else { None }).await;
    assert_eq!(leave.action, lk::leave_request::Action::Reconnect as i32);
    s.stop.map(|x| x.send(()));
}

#[tokio::test]
async fn clients_get_refreshed_tokens_that_verify() {
    let s = start(Some(1)).await;
    let (mut ws, _) = join(&s, "refresher", "tok-room").await;
    let fresh = wait_for(&mut ws, |m| if let Resp::RefreshToken(t) = m { Some(t) } else { None }).await;
    let claims = keys("secret").verify(&fresh).expect("refreshed token verifies");
    assert_eq!(claims.sub, "refresher");
    assert_eq!(claims.video.room, "tok-room");
    s.stop.map(|x| x.send(()));
}

#[tokio::test]
async fn shutdown_tells_clients_to_go_away() {
    let mut s = start(None).await;
    let (mut ws, _) = join(&s, "bob", "bye").await;
    s.stop.take().unwrap().send(()).unwrap();
    let leave = wait_for(&mut ws, |m| if let Resp::Leave(l) = m { Some(l) } else { None }).await;
    assert_eq!(leave.reason, lk::DisconnectReason::ServerShutdown as i32);
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Away));
    let done = tokio::time::timeout(Duration::from_secs(10), s.task).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "server stopped cleanly");
}
