//! The waiting room over real HTTP and real signalling sockets: `/rtc` puts a guest in it,
//! Tencent's `PUT /v1/real-control/meetings/{id}/waiting-room` admits, sends back and turns
//! away, the decisions are remembered, and nobody but a host, co-host or admin runs it.

mod common;

use common::{error_code, eventually, start, Api};
use futures_util::StreamExt;
use huiyi_proto::lk::{self, signal_response::Message as Resp};
use serde_json::{json, Value};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAITING: &str = "huiyi.waiting";

async fn waiting_meeting(api: &Api) -> (String, String) {
    let r = api
        .call("POST", "/v1/meetings", json!({ "userid": "dev-user", "instanceid": 1, "subject": "Viva", "type": 1, "settings": { "auto_in_waiting_room": true } }))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let info = &r.body["meeting_info_list"][0];
    (info["meeting_id"].as_str().unwrap().to_owned(), info["meeting_code"].as_str().unwrap().to_owned())
}

/// Joins by code as the guest of browser `client`, and returns the socket, the JoinResponse
/// and the guest's person id.
async fn join(api: &Api, code: &str, name: &str, client: &str) -> (Ws, lk::JoinResponse, String) {
    let r = api.raw("POST", "/v1/meetings/join", &[], json!({ "meeting_code": code, "display_name": name, "client_id": client }).to_string().as_bytes()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let url = format!("ws://{}/rtc?access_token={}", api.addr, r.body["token"].as_str().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let first = ws.next().await.unwrap().unwrap();
    let Ok(Resp::Join(j)) = huiyi_proto::decode_response(&first.into_data()) else { panic!("expected a JoinResponse") };
    let person = r.body["identity"].as_str().unwrap().to_owned();
    (ws, j, person)
}

/// Reads the socket until a message satisfies `pick` (bounded).
async fn until<T>(ws: &mut Ws, what: &str, mut pick: impl FnMut(&Resp) -> Option<T>) -> T {
    loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await;
        let Ok(Some(Ok(m))) = next else { panic!("no {what}") };
        if let Ok(r) = huiyi_proto::decode_response(&m.into_data()) {
            if let Some(t) = pick(&r) {
                return t;
            }
        }
    }
}

/// My own state, from a ParticipantUpdate about `identity`.
fn me_in(r: &Resp, identity: &str) -> Option<lk::ParticipantInfo> {
    match r {
        Resp::Update(u) => u.participants.iter().find(|p| p.identity == identity).cloned(),
        _ => None,
    }
}

async fn control(api: &Api, id: &str, body: Value) -> common::Reply {
    let mut b = json!({ "operator_id": "dev-user", "operator_id_type": 1, "instanceid": 1 });
    b.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
    api.call("PUT", &format!("/v1/real-control/meetings/{id}/waiting-room"), b).await
}

async fn waiting_now(api: &Api, id: &str) -> Value {
    api.call("GET", &format!("/v1/meetings/{id}/waiting-room-participants?operator_id=dev-user&operator_id_type=1"), Value::Null).await.body
}

#[tokio::test]
async fn a_guest_waits_until_admitted_and_an_admission_outlives_a_rejoin() {
    let api = start().await;
    let (id, code) = waiting_meeting(&api).await;
    let (mut ann, j, ann_id) = join(&api, &code, "Ann", "ann-browser").await;
    let me = j.participant.unwrap();
    let perm = me.permission.clone().unwrap();
    assert!(me.attributes.contains_key(WAITING), "{:?}", me.attributes);
    assert!(!perm.can_publish && !perm.can_subscribe && !perm.can_publish_data, "{perm:?}");
    assert!(j.other_participants.is_empty());
    // A hand-written client that announces a track anyway is refused by the server.
    use futures_util::SinkExt;
    let add = lk::AddTrackRequest { cid: "mic".into(), name: "mic".into(), r#type: lk::TrackType::Audio as i32, source: lk::TrackSource::Microphone as i32, ..Default::default() };
    let frame = huiyi_proto::encode_request(lk::signal_request::Message::AddTrack(add));
    ann.send(tokio_tungstenite::tungstenite::Message::Binary(frame.into())).await.unwrap();
    let refusal = until(&mut ann, "the refusal of the track", |r| match r {
        Resp::RequestResponse(rr) => Some(rr.reason),
        Resp::TrackPublished(_) => panic!("a waiting participant's track was accepted"),
        _ => None,
    })
    .await;
    assert_eq!(refusal, lk::request_response::Reason::NotAllowed as i32);

    let now = waiting_now(&api, &id).await;
    assert_eq!(now["total_count"], 1, "{now:?}");
    assert_eq!(now["participants"][0]["userid"], ann_id.as_str());
    let live = api.call("GET", &format!("/v1/meetings/{id}/real-time-participants?userid=dev-user"), Value::Null).await;
    assert_eq!(live.body["total_count"], 0, "the waiting room is not in the meeting: {:?}", live.body);

    // Mistakes are 400s, and naming someone who is not waiting is a 404.
    assert_eq!(control(&api, &id, json!({ "operate_type": 4, "users": [{ "to_operator_id": ann_id }] })).await.status, 400);
    assert_eq!(control(&api, &id, json!({ "operate_type": 1, "users": [] })).await.status, 400);
    assert_eq!(control(&api, &id, json!({ "operate_type": 1, "allow_rejoin": false, "users": [{ "to_operator_id": ann_id }] })).await.status, 400);
    assert_eq!(control(&api, &id, json!({ "operate_type": 1, "users": [{ "to_operator_id": "guest-nobody" }] })).await.status, 404);

    let r = control(&api, &id, json!({ "operate_type": 1, "users": [{ "to_operator_id": ann_id, "to_operator_id_type": 1, "instanceid": 5 }] })).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let admitted = until(&mut ann, "Ann's admission", |r| me_in(r, &ann_id).filter(|p| !p.attributes.contains_key(WAITING))).await;
    assert!(admitted.permission.unwrap().can_subscribe);
    assert_eq!(waiting_now(&api, &id).await["total_count"], 0);
    let history = api.call("GET", &format!("/v1/meeting/{id}/waiting-room?operator_id=dev-user&operator_id_type=1"), Value::Null).await;
    assert_eq!((history.body["participants"][0]["userid"].as_str(), history.body["participants"][0]["state"].as_str()), (Some(ann_id.as_str()), Some("admitted")), "{:?}", history.body);
    eventually("Ann's attendance to start at her admission", || async {
        let a = api.call("GET", &format!("/v1/meetings/{id}/participants?userid=dev-user"), Value::Null).await;
        a.body["total_count"] == 1
    })
    .await;

    // Ann's browser joins again: no waiting this time.
    drop(ann);
    let (mut ann, j, _) = join(&api, &code, "Ann", "ann-browser").await;
    assert!(!j.participant.unwrap().attributes.contains_key(WAITING));

    // Sent back, she waits again (and her rejoin would too); closing the room lets her in.
    let r = control(&api, &id, json!({ "operate_type": 2, "users": [{ "to_operator_id": ann_id }] })).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    until(&mut ann, "Ann sent back", |r| me_in(r, &ann_id).filter(|p| p.attributes.contains_key(WAITING))).await;
    assert_eq!(control(&api, &id, json!({ "operate_type": 2, "users": [{ "to_operator_id": ann_id }] })).await.status, 404, "she is no longer in the meeting");
    let off = api.call("PUT", &format!("/v1/real-control/meetings/{id}/status"), json!({ "operator_id": "dev-user", "operator_id_type": 1, "instanceid": 1, "auto_waiting_room": false })).await;
    assert_eq!(off.status, 200, "{:?}", off.body);
    until(&mut ann, "Ann admitted as the room closed", |r| me_in(r, &ann_id).filter(|p| !p.attributes.contains_key(WAITING))).await;
    // With the waiting room off, nobody can be sent to it.
    let r = control(&api, &id, json!({ "operate_type": 2, "users": [{ "to_operator_id": ann_id }] })).await;
    assert_eq!((r.status, error_code(&r)), (409, 10007), "{:?}", r.body);
    let (_, j, _) = join(&api, &code, "Newcomer", "new-browser").await;
    assert!(!j.participant.unwrap().attributes.contains_key(WAITING), "the room is open now");
}

#[tokio::test]
async fn a_denied_guest_is_told_and_may_knock_again_unless_kept_out() {
    let api = start().await;
    let (id, code) = waiting_meeting(&api).await;
    let (mut bob, _, bob_id) = join(&api, &code, "Bob", "bob-browser").await;
    let r = control(&api, &id, json!({ "operate_type": 3, "users": [{ "to_operator_id": bob_id }] })).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let reason = until(&mut bob, "Bob's leave", |r| match r {
        Resp::Leave(l) => Some(l.reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, lk::DisconnectReason::UserRejected as i32);
    let history = api.call("GET", &format!("/v1/meeting/{id}/waiting-room?operator_id=dev-user&operator_id_type=1"), Value::Null).await;
    assert_eq!(history.body["participants"][0]["state"], "denied", "{:?}", history.body);

    // He knocks again, and waits again; turned away for good, he cannot come back.
    let (mut bob, j, _) = join(&api, &code, "Bob", "bob-browser").await;
    assert!(j.participant.unwrap().attributes.contains_key(WAITING));
    let r = control(&api, &id, json!({ "operate_type": 3, "allow_rejoin": false, "users": [{ "to_operator_id": bob_id }] })).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    until(&mut bob, "Bob's second leave", |r| matches!(r, Resp::Leave(_)).then_some(())).await;
    let again = api.raw("POST", "/v1/meetings/join", &[], json!({ "meeting_code": code, "display_name": "Bob", "client_id": "bob-browser" }).to_string().as_bytes()).await;
    assert_eq!((again.status, error_code(&again)), (403, 10015), "{:?}", again.body);
}

#[tokio::test]
async fn nobody_but_hosts_co_hosts_and_admins_runs_the_waiting_room() {
    let api = start().await;
    let (id, code) = waiting_meeting(&api).await;
    let (_ann, _, ann_id) = join(&api, &code, "Ann", "ann-browser").await;
    api.call("POST", "/v1/users", json!({ "userid": "member1", "username": "Member", "email": "member1@example.com", "password": "m quartz lantern", "role": "member" })).await;
    // The meeting names the member as an invitee, so the refusal is a 403 rather than a 404.
    let r = api.call("PUT", &format!("/v1/meetings/{id}/invitees"), json!({ "operator_id": "dev-user", "operator_id_type": 1, "instanceid": 1, "invitees": [{ "userid": "member1" }] })).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let member = api.session("/api/auth/signin", json!({ "email": "member1@example.com", "password": "m quartz lantern" })).await;
    let controls = [
        json!({ "operate_type": 1, "users": [{ "to_operator_id": ann_id }] }),
        json!({ "operate_type": 1, "admit_all": true }),
        json!({ "operate_type": 2, "users": [{ "to_operator_id": "dev-user" }] }),
        json!({ "operate_type": 3, "users": [{ "to_operator_id": ann_id }] }),
    ];
    for body in &controls {
        // Signed by the application, acting as the member.
        let mut signed = json!({ "operator_id": "member1", "operator_id_type": 1, "instanceid": 1 });
        signed.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        let r = api.call("PUT", &format!("/v1/real-control/meetings/{id}/waiting-room"), signed).await;
        assert_eq!((r.status, error_code(&r)), (403, 10005), "{body}: {:?}", r.body);
        assert_eq!(r.body.as_object().map(|o| o.len()), Some(1), "the /v1 error body: {:?}", r.body);
        // Signed in as the member.
        let r = member.call("PUT", &format!("/v1/real-control/meetings/{id}/waiting-room"), body.clone()).await;
        assert_eq!((r.status, error_code(&r)), (403, 10005), "{body}: {:?}", r.body);
    }
    let r = member.call("PUT", &format!("/v1/real-control/meetings/{id}/status"), json!({ "auto_waiting_room": false })).await;
    assert_eq!((r.status, error_code(&r)), (403, 10005), "{:?}", r.body);
    for uri in [format!("/v1/meetings/{id}/waiting-room-participants"), format!("/v1/meeting/{id}/waiting-room")] {
        let r = member.call("GET", &uri, Value::Null).await;
        assert_eq!((r.status, error_code(&r)), (403, 10005), "{uri}: {:?}", r.body);
    }
    // Ann is still waiting: none of it took effect.
    assert_eq!(waiting_now(&api, &id).await["total_count"], 1);
    // A co-host may: the host appoints the member, who then admits Ann.
    let r = api.call("PUT", &format!("/v1/real-control/meetings/{id}/cohosts"), json!({ "operator_id": "dev-user", "operator_id_type": 1, "action": true, "user": { "to_operator_id": "member1" } })).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = member.call("PUT", &format!("/v1/real-control/meetings/{id}/waiting-room"), json!({ "operate_type": 1, "admit_all": true })).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(waiting_now(&api, &id).await["total_count"], 0);
}
