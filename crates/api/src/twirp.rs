//! LiveKit's server API: the Twirp `livekit.RoomService` and `livekit.Egress`, at
//! `POST /twirp/livekit.<Service>/<Method>`, in protobuf or JSON as the caller sends it.
//! Authorised by an access token with the room-admin grants, as the server SDKs send it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use huiyi_proto::lk;
use huiyi_proto::Message;
use huiyi_sfu_core::ServiceError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::Claims;
use crate::AppState;

/// A Twirp error: `{"code": "...", "msg": "..."}` with the matching HTTP status.
#[derive(Debug)]
pub struct TwirpError {
    status: StatusCode,
    code: &'static str,
    msg: String,
}

impl TwirpError {
    fn new(status: StatusCode, code: &'static str, msg: impl Into<String>) -> Self {
        Self { status, code, msg: msg.into() }
    }
    fn unauthenticated(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", msg)
    }
    fn permission_denied(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission_denied", msg)
    }
    fn malformed(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed", msg)
    }
    fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
}

impl From<ServiceError> for TwirpError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::RoomNotFound | ServiceError::ParticipantNotFound | ServiceError::TrackNotFound => {
                Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            ServiceError::InvalidArgument(_) => Self::new(StatusCode::BAD_REQUEST, "invalid_argument", e.to_string()),
        }
    }
}

impl From<huiyi_sfu::EngineGone> for TwirpError {
    fn from(_: huiyi_sfu::EngineGone) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "server shutting down")
    }
}

impl IntoResponse for TwirpError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "msg": self.msg });
        (self.status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}

/// The request's encoding, which the response mirrors.
#[derive(Clone, Copy)]
enum Encoding {
    Json,
    Protobuf,
}

fn decode<T: Message + Default + DeserializeOwned>(enc: Encoding, body: &[u8]) -> Result<T, TwirpError> {
    match enc {
        Encoding::Protobuf => T::decode(body).map_err(|e| TwirpError::malformed(format!("invalid protobuf body: {e}"))),
        Encoding::Json if body.is_empty() => Ok(T::default()),
        Encoding::Json => serde_json::from_slice(body).map_err(|e| TwirpError::malformed(format!("invalid JSON body: {e}"))),
    }
}

fn encode<T: Message + Serialize>(enc: Encoding, value: &T) -> Response {
    match enc {
        Encoding::Protobuf => ([(header::CONTENT_TYPE, "application/protobuf")], value.encode_to_vec()).into_response(),
        Encoding::Json => match serde_json::to_vec(value) {
            Ok(v) => ([(header::CONTENT_TYPE, "application/json")], v).into_response(),
            Err(e) => TwirpError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()).into_response(),
        },
    }
}

/// The request's encoding, from its Content-Type.
fn encoding(headers: &HeaderMap) -> Result<Encoding, TwirpError> {
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some(ct) if ct.starts_with("application/json") => Ok(Encoding::Json),
        Some(ct) if ct.starts_with("application/protobuf") || ct.starts_with("application/x-protobuf") => Ok(Encoding::Protobuf),
        _ => Err(TwirpError::malformed("Content-Type must be application/json or application/protobuf")),
    }
}

fn claims(state: &AppState, headers: &HeaderMap) -> Result<Claims, TwirpError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| TwirpError::unauthenticated("missing Authorization: Bearer <token>"))?;
    state.keys.verify(token).map_err(|e| TwirpError::unauthenticated(e.to_string()))
}

fn require(ok: bool, grant: &str) -> Result<(), TwirpError> {
    if ok {
        Ok(())
    } else {
        Err(TwirpError::permission_denied(format!("token lacks the {grant} grant")))
    }
}

/// Room admin for a named room: `roomAdmin` for exactly that room, as LiveKit requires.
fn require_admin(c: &Claims, room: &str) -> Result<(), TwirpError> {
    require(c.video.room_admin && c.video.room == room, "roomAdmin for this room")
}

pub async fn room_service(
    State(state): State<AppState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, TwirpError> {
    let enc = encoding(&headers)?;
    let c = claims(&state, &headers)?;
    let sfu = &state.sfu;
    let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    match method.as_str() {
        "CreateRoom" => {
            require(c.video.room_create, "roomCreate")?;
            let req: lk::CreateRoomRequest = decode(enc, &body)?;
            let ms = now_ms();
            let room = sfu.with_engine(move |e, now| e.create_room(now, ms, &req)).await??;
            Ok(encode(enc, &room))
        }
        "ListRooms" => {
            require(c.video.room_list, "roomList")?;
            let req: lk::ListRoomsRequest = decode(enc, &body)?;
            let rooms = sfu.with_engine(move |e, _| e.list_rooms(&req.names)).await?;
            Ok(encode(enc, &lk::ListRoomsResponse { rooms }))
        }
        "DeleteRoom" => {
            require(c.video.room_create, "roomCreate")?;
            let req: lk::DeleteRoomRequest = decode(enc, &body)?;
            sfu.with_engine(move |e, now| e.delete_room(now, &req.room)).await??;
            Ok(encode(enc, &lk::DeleteRoomResponse {}))
        }
        "ListParticipants" => {
            let req: lk::ListParticipantsRequest = decode(enc, &body)?;
            require_admin(&c, &req.room)?;
            let participants = sfu.with_engine(move |e, _| e.list_participants(&req.room)).await??;
            Ok(encode(enc, &lk::ListParticipantsResponse { participants }))
        }
        "GetParticipant" => {
            let req: lk::RoomParticipantIdentity = decode(enc, &body)?;
            require_admin(&c, &req.room)?;
            let p = sfu.with_engine(move |e, _| e.get_participant(&req.room, &req.identity)).await??;
            Ok(encode(enc, &p))
        }
        "RemoveParticipant" => {
            let req: lk::RoomParticipantIdentity = decode(enc, &body)?;
            require_admin(&c, &req.room)?;
            let room = req.room.clone();
            let person = sfu
                .with_engine(move |e, now| {
                    let target = e.get_participant(&req.room, &req.identity)?;
                    let person = crate::tencent::admission::person_of(&target.metadata, &target.identity);
                    e.remove_participant(now, &req.room, &req.identity)?;
                    // The same person's other devices go too.
                    for other in e.list_participants(&req.room).unwrap_or_default() {
                        if crate::tencent::admission::person_of(&other.metadata, &other.identity) == person {
                            let _ = e.remove_participant(now, &req.room, &other.identity);
                        }
                    }
                    Ok::<_, ServiceError>(person)
                })
                .await??;
            // In a meeting's room a removal is lasting: that person cannot come back with any
            // token until a host lets them back (`DELETE /v1/meetings/{id}/removed/{person}`).
            match state.store.meeting_for_room(&room).await {
                Ok(m) => {
                    if let Err(e) = state.store.remove_from_meeting(&m.meeting_id, &person, crate::unix_now()).await {
                        tracing::error!(%e, "could not record a removal");
                        return Err(TwirpError::internal());
                    }
                }
                Err(huiyi_store::StoreError::NotFound) => {}
                Err(e) => {
                    tracing::error!(%e, "could not look up the meeting of a room");
                    return Err(TwirpError::internal());
                }
            }
            Ok(encode(enc, &lk::RemoveParticipantResponse {}))
        }
        "MutePublishedTrack" => {
            let req: lk::MuteRoomTrackRequest = decode(enc, &body)?;
            require_admin(&c, &req.room)?;
            let track = sfu.with_engine(move |e, _| e.mute_published_track(&req.room, &req.identity, &req.track_sid, req.muted)).await??;
            Ok(encode(enc, &lk::MuteRoomTrackResponse { track: Some(track) }))
        }
        "UpdateParticipant" => {
            let req: lk::UpdateParticipantRequest = decode(enc, &body)?;
            require_admin(&c, &req.room)?;
            let p = sfu.with_engine(move |e, _| e.update_participant(&req)).await??;
            Ok(encode(enc, &p))
        }
        "UpdateSubscriptions" => {
            let req: lk::UpdateSubscriptionsRequest = decode(enc, &body)?;
            require_admin(&c, &req.room)?;
            sfu.with_engine(move |e, now| e.update_subscriptions(now, &req)).await??;
            Ok(encode(enc, &lk::UpdateSubscriptionsResponse {}))
        }
        "UpdateRoomMetadata" => {
            let req: lk::UpdateRoomMetadataRequest = decode(enc, &body)?;
            require_admin(&c, &req.room)?;
            let room = sfu.with_engine(move |e, _| e.update_room_metadata(&req.room, &req.metadata)).await??;
            Ok(encode(enc, &room))
        }
        "SendData" => {
            let req: lk::SendDataRequest = decode(enc, &body)?;
            require_admin(&c, &req.room)?;
            sfu.with_engine(move |e, now| e.send_data_from_server(now, &req)).await??;
            Ok(encode(enc, &lk::SendDataResponse {}))
        }
        _ => Err(TwirpError::new(StatusCode::NOT_FOUND, "bad_route", format!("no RoomService method {method}"))),
    }
}

impl From<crate::egress::EgressError> for TwirpError {
    fn from(e: crate::egress::EgressError) -> Self {
        use crate::egress::EgressError as E;
        let (status, code) = match &e {
            E::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "invalid_argument"),
            E::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            E::Unimplemented(_) => (StatusCode::NOT_IMPLEMENTED, "unimplemented"),
            E::ResourceExhausted(_) => (StatusCode::TOO_MANY_REQUESTS, "resource_exhausted"),
            E::Conflict(_) => (StatusCode::CONFLICT, "already_exists"),
            E::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            E::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self::new(status, code, e.to_string())
    }
}

/// LiveKit's `livekit.Egress` service: recordings and streams (`crate::egress`). Every method
/// needs the `roomRecord` grant, as in LiveKit.
pub async fn egress_service(
    State(state): State<AppState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, TwirpError> {
    let enc = encoding(&headers)?;
    let c = claims(&state, &headers)?;
    require(c.video.room_record, "roomRecord")?;
    let egress = &state.egress;
    match method.as_str() {
        "StartTrackEgress" => {
            let req: lk::TrackEgressRequest = decode(enc, &body)?;
            Ok(encode(enc, &egress.start_track(req).await?))
        }
        "StartRoomCompositeEgress" => {
            let req: lk::RoomCompositeEgressRequest = decode(enc, &body)?;
            Ok(encode(enc, &egress.start_room_composite(req).await?))
        }
        "StopEgress" => {
            let req: lk::StopEgressRequest = decode(enc, &body)?;
            Ok(encode(enc, &egress.stop(&req.egress_id).await?))
        }
        "ListEgress" => {
            let req: lk::ListEgressRequest = decode(enc, &body)?;
            let items = egress.list(&req).await?;
            Ok(encode(enc, &lk::ListEgressResponse { items, next_page_token: None }))
        }
        "UpdateStream" => {
            let req: lk::UpdateStreamRequest = decode(enc, &body)?;
            Ok(encode(enc, &egress.update_stream(req).await?))
        }
        "StartParticipantEgress" => {
            let req: lk::ParticipantEgressRequest = decode(enc, &body)?;
            Ok(encode(enc, &egress.start_participant(req).await?))
        }
        "UpdateLayout" => {
            let req: lk::UpdateLayoutRequest = decode(enc, &body)?;
            Ok(encode(enc, &egress.update_layout(req).await?))
        }
        "StartWebEgress" | "StartTrackCompositeEgress" | "StartEgress" | "ExportReplay" => {
            Err(TwirpError::new(StatusCode::NOT_IMPLEMENTED, "unimplemented", format!("Egress.{method} is not supported")))
        }
        _ => Err(TwirpError::new(StatusCode::NOT_FOUND, "bad_route", format!("no Egress method {method}"))),
    }
}

/// LiveKit's `livekit.Ingress` service, for WHIP only (`crate::ingress`). Every method needs
/// the `ingressAdmin` grant, as in LiveKit.
pub async fn ingress_service(
    State(state): State<AppState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, TwirpError> {
    let enc = encoding(&headers)?;
    let c = claims(&state, &headers)?;
    require(c.video.ingress_admin, "ingressAdmin")?;
    match method.as_str() {
        "CreateIngress" => {
            let req: lk::CreateIngressRequest = decode(enc, &body)?;
            Ok(encode(enc, &crate::ingress::create(&state, req).await?))
        }
        "ListIngress" => {
            let req: lk::ListIngressRequest = decode(enc, &body)?;
            let items = crate::ingress::list(&state, &req).await?;
            Ok(encode(enc, &lk::ListIngressResponse { items, next_page_token: None }))
        }
        "DeleteIngress" => {
            let req: lk::DeleteIngressRequest = decode(enc, &body)?;
            Ok(encode(enc, &crate::ingress::delete(&state, &req.ingress_id).await?))
        }
        "UpdateIngress" => Err(TwirpError::new(StatusCode::NOT_IMPLEMENTED, "unimplemented", "Ingress.UpdateIngress is not supported; delete and create")),
        _ => Err(TwirpError::new(StatusCode::NOT_FOUND, "bad_route", format!("no Ingress method {method}"))),
    }
}
