//! The OpenAPI 3.1 document of `/v1` and `/api/auth`, generated from the handlers' and types'
//! annotations, so it changes with the code. Served at `/v1/openapi.json`; CI runs
//! schemathesis against it (tests/schemathesis).

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{access, account, attendance, chat, credentials, invitees, join, meetings, notes, polls, real_control, records, stats, users, waiting_room, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Huiyi management API",
        description = "Tencent-Meeting-compatible REST API. Authenticate by signing each request \
            (X-TC-Key, X-TC-Timestamp, X-TC-Nonce, X-TC-Signature, AppId, SdkId; see \
            docs/tencent-api.md) or with the portal's session cookie plus the X-Huiyi-Csrf header \
            on requests other than GET.",
    ),
    paths(
        meetings::create, meetings::get, meetings::query, meetings::update, meetings::cancel, meetings::history,
        attendance::participants, attendance::real_time, attendance::dismiss, attendance::removed, attendance::readmit,
        stats::meeting_statistics, stats::attendance_csv, stats::invitation_ics, stats::enterprise_statistics,
        join::join,
        chat::list, chat::csv, polls::list, polls::csv, notes::markdown,
        invitees::list, invitees::replace, waiting_room::now, waiting_room::history, records::list, records::delete, records::addresses, records::address_of_file, records::control, records::live,
        real_control::kickout, real_control::status, real_control::mutes, real_control::video, real_control::screen_shared, real_control::cohosts, real_control::spotlight, real_control::host, real_control::names, waiting_room::control, notes::control,
        users::create, users::get, users::update, users::delete, users::list,
        credentials::list, credentials::create, credentials::revoke,
        webhooks::create, webhooks::list, webhooks::delete, webhooks::deliveries,
        account::signup, account::signin, account::signout, account::me_handler,
    ),
    modifiers(&Security),
    security(("signature" = []), ("session" = [])),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        // Handlers in different modules share names (`create`, `list`); operation ids must be
        // unique, so each is named by its method and path instead: `post_v1_meetings`.
        for (path, item) in doc.paths.paths.iter_mut() {
            let slug: String = path.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect::<String>().split('_').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("_");
            for (method, op) in [
                ("get", item.get.as_mut()),
                ("post", item.post.as_mut()),
                ("put", item.put.as_mut()),
                ("delete", item.delete.as_mut()),
            ] {
                if let Some(op) = op {
                    op.operation_id = Some(format!("{method}_{slug}"));
                }
            }
        }
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-TC-Key",
                "The SecretId; X-TC-Timestamp, X-TC-Nonce, X-TC-Signature, AppId and SdkId accompany it.",
            ))),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(access::SESSION_COOKIE, "The portal's session, from /api/auth/signin."))),
        );
    }
}

/// `GET /v1/openapi.json`
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_route_and_is_3_1() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        for p in ["/v1/meetings", "/v1/meetings/{meeting_id}", "/v1/users/list", "/v1/webhooks/{webhook_id}/deliveries", "/api/auth/signin", "/v1/real-control/meetings/{meeting_id}/notes", "/v1/meetings/{meeting_id}/notes.md"] {
            assert!(paths.contains_key(p), "{p} missing");
        }
        assert!(doc["components"]["schemas"]["MeetingInfo"].is_object());
        assert_eq!(doc["paths"]["/v1/webhooks"]["post"]["operationId"], "post_v1_webhooks");
        let mut ids: Vec<&str> = paths.values().flat_map(|p| p.as_object().unwrap().values()).filter_map(|op| op["operationId"].as_str()).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "operation ids are unique");
    }
}
