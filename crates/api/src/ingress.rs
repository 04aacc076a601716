//! LiveKit's Ingress API for WHIP (`CreateIngress`, `ListIngress`, `DeleteIngress`): an
//! ingress is a lasting stream key that publishes into a room as a fixed participant, which
//! is what a broadcaster like OBS wants (a LiveKit access token expires; a key does not).
//! `POST /whip` with `Authorization: Bearer <stream key>` joins as the ingress's participant
//! (`crate::whip`). RTMP and URL inputs are not served.

use huiyi_proto::lk;
use huiyi_sfu_core::{ChatRule, JoinParams, MuteOnEntry, ParticipantIdentity, RoomName};
use huiyi_store::{IngressRow, Store, StoreError};
use rand::distr::Alphanumeric;
use rand::Rng;
use tracing::{info, warn};

use crate::egress::EgressError;
use crate::webhook::Webhooks;
use crate::AppState;

fn random(len: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

fn now_ms() -> i64 {
    crate::rtc::unix_millis()
}

fn internal(e: StoreError) -> EgressError {
    warn!(%e, "ingress store error");
    EgressError::Internal
}

fn parse(row: &IngressRow) -> lk::IngressInfo {
    serde_json::from_str(&row.info).unwrap_or_default()
}

/// `CreateIngress` for `WHIP_INPUT`: a new stream key for `room_name` as `participant_identity`.
pub async fn create(state: &AppState, req: lk::CreateIngressRequest) -> Result<lk::IngressInfo, EgressError> {
    if req.input_type != lk::IngressInput::WhipInput as i32 {
        return Err(EgressError::Unimplemented("only WHIP ingress is supported (input_type WHIP_INPUT)".into()));
    }
    RoomName::parse(&req.room_name).map_err(|e| EgressError::InvalidArgument(format!("room_name {e}")))?;
    ParticipantIdentity::parse(&req.participant_identity).map_err(|e| EgressError::InvalidArgument(format!("participant_identity {e}")))?;
    if req.name.len() > 256 || req.participant_name.len() > 256 || req.participant_metadata.len() > 64 * 1024 {
        return Err(EgressError::InvalidArgument("name, participant_name (256 bytes) or participant_metadata (64 KiB) too long".into()));
    }
    let info = lk::IngressInfo {
        ingress_id: format!("IN_{}", random(12)),
        name: req.name,
        stream_key: random(24),
        url: format!("{}/whip", state.public_url),
        input_type: req.input_type,
        // WHIP is passed through, never transcoded, as LiveKit does for WHIP by default.
        enable_transcoding: Some(false),
        room_name: req.room_name,
        participant_identity: req.participant_identity,
        participant_name: req.participant_name,
        participant_metadata: req.participant_metadata,
        reusable: true,
        state: Some(lk::IngressState { status: lk::ingress_state::Status::EndpointInactive as i32, updated_at: now_ms() * 1_000_000, ..Default::default() }),
        enabled: Some(req.enabled.unwrap_or(true)),
        ..Default::default()
    };
    let row = IngressRow {
        ingress_id: info.ingress_id.clone(),
        stream_key: info.stream_key.clone(),
        room: info.room_name.clone(),
        info: serde_json::to_string(&info).unwrap_or_default(),
        created_at_ms: now_ms(),
    };
    match state.store.create_ingress(&row).await {
        Ok(()) => Ok(info),
        Err(StoreError::Conflict(_)) => Err(EgressError::ResourceExhausted(format!("the server holds {} ingresses; delete some first", huiyi_store::MAX_INGRESSES))),
        Err(e) => Err(internal(e)),
    }
}

/// `ListIngress`: a room's ingresses (every room's if empty), or one by id.
pub async fn list(state: &AppState, req: &lk::ListIngressRequest) -> Result<Vec<lk::IngressInfo>, EgressError> {
    let rows = state.store.list_ingresses(&req.room_name, &req.ingress_id).await.map_err(internal)?;
    Ok(rows.iter().map(parse).collect())
}

/// `DeleteIngress`: the key stops working, and a broadcast in progress ends.
pub async fn delete(state: &AppState, ingress_id: &str) -> Result<lk::IngressInfo, EgressError> {
    let one_at_a_time = STATE_CHANGES.lock().await;
    let row = match state.store.delete_ingress(ingress_id).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err(EgressError::NotFound(format!("ingress {ingress_id} not found"))),
        Err(e) => return Err(internal(e)),
    };
    drop(one_at_a_time);
    let mut info = parse(&row);
    let (room, identity) = (info.room_name.clone(), info.participant_identity.clone());
    let _ = state.sfu.with_engine(move |e, now| e.remove_participant(now, &room, &identity)).await;
    let was_publishing = info.state.as_ref().is_some_and(|s| s.status == lk::ingress_state::Status::EndpointPublishing as i32);
    if let Some(s) = info.state.as_mut() {
        s.status = lk::ingress_state::Status::EndpointComplete as i32;
        s.ended_at = now_ms() * 1_000_000;
    }
    // The row is gone, so the publisher's departure finds nothing: the end is announced here.
    if was_publishing {
        state.webhooks.livekit().ingress("ingress_ended", &info).await;
    }
    Ok(info)
}

/// The join a stream key stands for, if it names an enabled ingress.
pub async fn join_params(state: &AppState, key: &str, client: std::net::SocketAddr) -> Result<(JoinParams, String), (u16, String)> {
    let row = match state.store.ingress_by_key(key).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err((401, "unknown stream key".into())),
        Err(e) => {
            warn!(%e, "cannot look up a stream key");
            return Err((503, "cannot check the stream key right now".into()));
        }
    };
    let info = parse(&row);
    if info.enabled == Some(false) {
        return Err((403, "this ingress is disabled".into()));
    }
    let room = RoomName::parse(&info.room_name).map_err(|_| (500, "the ingress names no valid room".to_string()))?;
    let identity = ParticipantIdentity::parse(&info.participant_identity).map_err(|_| (500, "the ingress names no valid identity".to_string()))?;
    let params = JoinParams {
        room,
        identity,
        name: info.participant_name.clone(),
        metadata: info.participant_metadata.clone(),
        attributes: Default::default(),
        permission: lk::ParticipantPermission { can_publish: true, can_subscribe: false, can_publish_data: false, ..Default::default() },
        auto_subscribe: false,
        now_ms: now_ms(),
        client_addr: Some(client.ip().to_string()),
        mute_on_entry: MuteOnEntry::Never,
        chat: ChatRule::Free,
        waiting: false,
        may_rename: false,
    };
    Ok((params, row.ingress_id))
}

/// Records a broadcast starting (`publisher`: the participant sid that publishes, kept as the
/// state's `resource_id`) or ending (`None`) on an ingress (`state.status`), with LiveKit's
/// `ingress_started` or `ingress_ended` webhook. Ending an ingress that is not publishing does
/// nothing, so a DELETE and the publisher's departure announce one end between them.
pub async fn set_publishing(store: &Store, webhooks: &Webhooks, ingress_id: &str, publisher: Option<&str>) {
    let _one_at_a_time = STATE_CHANGES.lock().await;
    change_state(store, webhooks, ingress_id, publisher, None).await;
}

/// An ingress's state is read, changed and written back: one change at a time, so that a new
/// publisher's start and its predecessor's departure (OBS reconnecting with the same key) do not
/// overwrite each other. Held only across the row's read and write and the webhook's queueing.
static STATE_CHANGES: std::sync::LazyLock<tokio::sync::Mutex<()>> = std::sync::LazyLock::new(Default::default);

/// `set_publishing`, under the lock; with `only_if`, an end only while that sid publishes.
async fn change_state(store: &Store, webhooks: &Webhooks, ingress_id: &str, publisher: Option<&str>, only_if: Option<&str>) {
    let Ok(Some(row)) = store.list_ingresses("", ingress_id).await.map(|v| v.into_iter().next()) else { return };
    let mut info = parse(&row);
    if only_if.is_some_and(|sid| !publishes_as(&info, sid)) {
        return;
    }
    let now = now_ms() * 1_000_000;
    let s = info.state.get_or_insert_with(Default::default);
    let publishing = s.status == lk::ingress_state::Status::EndpointPublishing as i32;
    match publisher {
        Some(sid) => {
            s.status = lk::ingress_state::Status::EndpointPublishing as i32;
            s.started_at = now;
            s.ended_at = 0;
            s.resource_id = sid.to_owned();
        }
        None if publishing => {
            s.status = lk::ingress_state::Status::EndpointInactive as i32;
            s.ended_at = now;
        }
        None => return,
    }
    s.updated_at = now;
    if let Err(e) = store.update_ingress_info(ingress_id, &serde_json::to_string(&info).unwrap_or_default()).await {
        warn!(%e, "cannot record an ingress's state");
    }
    webhooks.livekit().ingress(if publisher.is_some() { "ingress_started" } else { "ingress_ended" }, &info).await;
}

/// The WHIP session that published as participant `sid` for ingress `ingress_id` ended: the
/// ingress stops publishing, unless a newer publisher (another sid) has taken the key since.
pub async fn publisher_ended(store: &Store, webhooks: &Webhooks, ingress_id: &str, sid: &str) {
    let _one_at_a_time = STATE_CHANGES.lock().await;
    change_state(store, webhooks, ingress_id, None, Some(sid)).await;
}

/// Whether the ingress is publishing, as participant `sid`.
fn publishes_as(info: &lk::IngressInfo, sid: &str) -> bool {
    info.state.as_ref().is_some_and(|s| s.status == lk::ingress_state::Status::EndpointPublishing as i32 && s.resource_id == sid)
}

/// A participant left `room`: if it was an ingress's publisher (a broadcaster that vanished
/// without DELETE, or was removed), the ingress stops publishing. A newer publisher of the same
/// ingress (another sid) is left alone.
pub async fn publisher_left(store: &Store, webhooks: &Webhooks, room: &str, identity: &str, sid: &str) {
    let Ok(rows) = store.list_ingresses(room, "").await else { return };
    for row in rows {
        let info = parse(&row);
        if info.participant_identity == identity && publishes_as(&info, sid) {
            info!(ingress_id = %info.ingress_id, identity, "the ingress's publisher left");
            // Checked again under the lock: its successor may have started meanwhile.
            publisher_ended(store, webhooks, &info.ingress_id, sid).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OBS reconnects with the same key: the new session's start and the old session's
    /// departure race. Whatever their order, the key ends up publishing as the new session.
    #[tokio::test]
    async fn a_successors_start_and_its_predecessors_departure_do_not_overwrite_each_other() {
        let dir = std::env::temp_dir().join(format!("huiyi-ingress-{}", rand::random::<u64>()));
        let store = Store::open_data_dir(&dir).await.unwrap();
        let webhooks = Webhooks::new(store.clone());
        for round in 0..20 {
            let id = format!("IN_race{round}");
            let info = lk::IngressInfo { ingress_id: id.clone(), room_name: "r".into(), participant_identity: "obs".into(), ..Default::default() };
            let row = IngressRow { ingress_id: id.clone(), stream_key: format!("key{round}"), room: "r".into(), info: serde_json::to_string(&info).unwrap(), created_at_ms: 0 };
            store.create_ingress(&row).await.unwrap();
            set_publishing(&store, &webhooks, &id, Some("PA_old")).await;
            if round % 2 == 0 {
                tokio::join!(set_publishing(&store, &webhooks, &id, Some("PA_new")), publisher_ended(&store, &webhooks, &id, "PA_old"));
            } else {
                tokio::join!(publisher_left(&store, &webhooks, "r", "obs", "PA_old"), set_publishing(&store, &webhooks, &id, Some("PA_new")));
            }
            let now = parse(&store.list_ingresses("", &id).await.unwrap()[0]);
            let s = now.state.unwrap();
            assert_eq!((s.status, s.resource_id.as_str()), (lk::ingress_state::Status::EndpointPublishing as i32, "PA_new"), "round {round}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
