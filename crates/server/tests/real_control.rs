//! Every in-meeting control, attempted by someone who does not run the meeting: a member of
//! the enterprise invited to it, signed in to the portal, and the same member named as the
//! operator of a signed request. Each is refused with 403 (10005) and changes nothing; then
//! the host runs the same control and it takes effect, so the refusal is not a broken route.

mod common;

use common::{error_code, join_room, start};
use serde_json::{json, Value};

#[tokio::test]
async fn no_control_runs_for_a_member_who_does_not_host() {
    let api = start().await;
    let r = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "instanceid": 1, "subject": "Review", "type": 1 })).await;
    let info = &r.body["meeting_info_list"][0];
    let (id, code) = (info["meeting_id"].as_str().unwrap().to_owned(), info["meeting_code"].as_str().unwrap().to_owned());
    let _ann = join_room(&api, &code, "Ann").await;
    let live = api.call("GET", &format!("/v1/meetings/{id}/real-time-participants?userid=dev-user"), Value::Null).await;
    let ann = live.body["participants"][0]["userid"].as_str().expect("Ann is in the meeting").to_owned();
    api.call("POST", "/v1/users", json!({ "userid": "member1", "username": "Member", "email": "member1@example.com", "password": "m quartz lantern", "role": "member" })).await;
    // Invited, so the member may read the meeting: the refusals are about running it.
    let r = api.call("PUT", &format!("/v1/meetings/{id}/invitees"), json!({ "operator_id": "dev-user", "operator_id_type": 1, "instanceid": 1, "invitees": [{ "userid": "member1" }] })).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let member = api.session("/api/auth/signin", json!({ "email": "member1@example.com", "password": "m quartz lantern" })).await;

    let user = json!({ "to_operator_id": ann, "to_operator_id_type": 1 });
    let controls: Vec<(&str, &str, Value)> = vec![
        ("PUT", "kickout", json!({ "users": [user.clone()], "allow_rejoin": false })),
        ("PUT", "status", json!({ "mute_all": true, "allow_unmute_by_self": false })),
        ("PUT", "status", json!({ "meeting_locked": true })),
        ("PUT", "status", json!({ "share_screen": false })),
        ("PUT", "status", json!({ "allow_chat": 3 })),
        ("PUT", "status", json!({ "auto_waiting_room": true })),
        ("PUT", "mutes", json!({ "user": user.clone(), "mute": true })),
        ("PUT", "video", json!({ "user": user.clone(), "video": false })),
        ("PUT", "screen-shared", json!({ "user": user.clone() })),
        ("PUT", "cohosts", json!({ "user": user.clone(), "action": true })),
        ("PUT", "names", json!({ "users": [{ "to_operator_id": ann, "nick_name": "Renamed" }] })),
        ("PUT", "spotlight", json!({ "user": user.clone(), "action": true })),
        ("PUT", "notes", json!({ "read_only": true })),
    ];
    for (method, control, body) in &controls {
        let uri = format!("/v1/real-control/meetings/{id}/{control}");
        let mut cookie_body = json!({ "instanceid": 5 });
        cookie_body.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        let r = member.call(method, &uri, cookie_body).await;
        assert_eq!((r.status, error_code(&r)), (403, 10005), "{control} {body} signed in: {:?}", r.body);
        let mut signed = json!({ "operator_id": "member1", "operator_id_type": 1, "instanceid": 1 });
        signed.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        let r = api.call(method, &uri, signed).await;
        assert_eq!((r.status, error_code(&r)), (403, 10005), "{control} {body} signed: {:?}", r.body);
    }
    // The notes' Markdown is the hosts' too.
    let r = member.call("GET", &format!("/v1/meetings/{id}/notes.md"), Value::Null).await;
    assert_eq!((r.status, error_code(&r)), (403, 10005), "notes.md: {:?}", r.body);
    let r = member.call("POST", &format!("/v1/meetings/{id}/dismiss"), json!({})).await;
    assert_eq!((r.status, error_code(&r)), (403, 10005), "dismiss: {:?}", r.body);
    // Nothing took effect: Ann is in, unrenamed, with no role or spotlight; no controls stored.
    let live = api.call("GET", &format!("/v1/meetings/{id}/real-time-participants?userid=dev-user"), Value::Null).await;
    assert_eq!(live.body["participants"].as_array().map(Vec::len), Some(1), "{:?}", live.body);
    assert_eq!(api.store.meeting_controls(&id).await.unwrap(), None, "no control was stored");

    // The host's spotlight and rename do take effect.
    for (control, body) in [("spotlight", json!({ "user": user.clone(), "action": true })), ("names", json!({ "users": [{ "to_operator_id": ann, "nick_name": "Renamed" }] }))] {
        let mut signed = json!({ "operator_id": "dev-user", "operator_id_type": 1, "instanceid": 1 });
        signed.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        let r = api.call("PUT", &format!("/v1/real-control/meetings/{id}/{control}"), signed).await;
        assert_eq!(r.status, 200, "{control}: {:?}", r.body);
    }
    let stored = api.store.meeting_controls(&id).await.unwrap().expect("the spotlight is stored");
    assert_eq!(stored["spotlight"], ann.as_str());
}

#[tokio::test]
async fn the_host_role_is_handed_to_someone_in_the_meeting_and_taken_back() {
    let api = start().await;
    let r = api.call("POST", "/v1/meetings", json!({ "userid": "dev-user", "instanceid": 1, "subject": "Hand-over", "type": 1 })).await;
    let info = &r.body["meeting_info_list"][0];
    let (id, code) = (info["meeting_id"].as_str().unwrap().to_owned(), info["meeting_code"].as_str().unwrap().to_owned());
    let _ann = join_room(&api, &code, "Ann").await;
    let _bob = join_room(&api, &code, "Bob").await;
    let roles = || async {
        let live = api.call("GET", &format!("/v1/meetings/{id}/real-time-participants?userid=dev-user"), Value::Null).await;
        live.body["participants"].as_array().unwrap().iter().map(|p| (p["userid"].as_str().unwrap().to_owned(), p["user_role"].as_i64().unwrap())).collect::<std::collections::HashMap<_, _>>()
    };
    let before = roles().await;
    assert_eq!(before.values().copied().collect::<Vec<_>>(), [4, 4], "two guests: {before:?}");
    let mut guests: Vec<String> = before.keys().cloned().collect();
    guests.sort();
    let (ann, bob) = (guests[0].clone(), guests[1].clone());
    let to = |who: &str, operator: &str| json!({ "operator_id": operator, "operator_id_type": 1, "instanceid": 1, "user": { "to_operator_id": who, "to_operator_id_type": 1 } });
    let uri = format!("/v1/real-control/meetings/{id}/host");

    // Someone who does not host the meeting cannot hand it over; nobody absent can take it.
    api.call("POST", "/v1/users", json!({ "userid": "member1", "username": "Member", "email": "member1@example.com", "password": "m quartz lantern", "role": "member" })).await;
    let r = api.call("PUT", &uri, to(&ann, "member1")).await;
    assert_eq!((r.status, error_code(&r)), (403, 10005), "{:?}", r.body);
    let r = api.call("PUT", &uri, to("guest-nobody", "dev-user")).await;
    assert_eq!(r.status, 404, "{:?}", r.body);

    // Handed to Ann: she hosts, Bob does not; a co-host made before stays one.
    let r = api.call("PUT", &format!("/v1/real-control/meetings/{id}/cohosts"), json!({ "operator_id": "dev-user", "operator_id_type": 1, "instanceid": 1, "action": true, "user": { "to_operator_id": bob } })).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = api.call("PUT", &uri, to(&ann, "dev-user")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let now = roles().await;
    assert_eq!((now[&ann], now[&bob]), (5, 6), "{now:?}");
    let stored = api.store.meeting_controls(&id).await.unwrap().unwrap();
    assert_eq!(stored["host"], ann.as_str());
    // The controls no longer apply to her: a mute-all leaves her microphone alone.
    let r = api.call("PUT", &format!("/v1/real-control/meetings/{id}/status"), json!({ "operator_id": "dev-user", "operator_id_type": 1, "instanceid": 1, "mute_all": true, "allow_unmute_by_self": false })).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // The scheduled host takes it back without being in the room.
    let r = api.call("PUT", &uri, to("dev-user", "dev-user")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let now = roles().await;
    assert_eq!((now[&ann], now[&bob]), (4, 6), "{now:?}");
    assert!(api.store.meeting_controls(&id).await.unwrap().unwrap()["host"].is_null());
}
