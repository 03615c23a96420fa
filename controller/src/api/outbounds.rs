//! `/api/v1/core/outbounds/…` and `/api/v1/servers/{server}/outbounds/test`: what each
//! server's outbounds carried (per server and summed across the fleet), its reset, and a
//! test of one outbound in a temporary core on a server's agent.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use serde::Deserialize;
use serde_json::{json, Value};
use xfleet_common::methods::OutboundTestAnswer;

use crate::front::{ok, ApiError, ApiResult, Audit, Call, JsonBody};
use crate::model::outbounds::{self, OutboundTraffic};
use crate::model::servers::resolve;
use crate::store::ServerRow;
use crate::Controller;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerQuery {
    server: Option<String>,
}

/// The server `key` names, if any (id or name).
async fn server_of(ctl: &Controller, key: Option<&str>) -> Result<Option<ServerRow>, ApiError> {
    match key.map(str::trim).filter(|k| !k.is_empty()) {
        Some(key) => Ok(Some(resolve(ctl, key).await?)),
        None => Ok(None),
    }
}

/// `?server=` one server, else every server; `fleet` sums the listed servers by tag.
pub(super) async fn traffic(
    Call { ctl, .. }: Call,
    query: Result<Query<ServerQuery>, QueryRejection>,
) -> ApiResult<OutboundTraffic> {
    let Query(q) = query?;
    let server = server_of(&ctl, q.server.as_deref()).await?;
    ok(outbounds::traffic(&ctl, server.as_ref()).await?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ResetRequest {
    /// Id or name; every server when absent.
    server: Option<String>,
    /// Every outbound when absent.
    tag: Option<String>,
}

/// Zeroes outbound counters; answers `{reset: <counters zeroed>}`.
pub(super) async fn reset_traffic(
    call: Call,
    JsonBody(req): JsonBody<ResetRequest>,
) -> ApiResult<Value> {
    let ctl = &call.ctl;
    let audit = Audit::new(
        "outbounds.traffic.reset",
        req.server
            .as_deref()
            .map_or("fleet".to_owned(), |s| format!("server:{s}")),
    )
    .with(json!({"tag": req.tag}));
    call.answer(audit, async {
        let server = server_of(ctl, req.server.as_deref()).await?;
        let reset = outbounds::reset_traffic(ctl, server.as_ref(), req.tag.as_deref()).await?;
        Ok(json!({"reset": reset}))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct TestRequest {
    outbound: Value,
    all_outbounds: Option<Value>,
    url: Option<String>,
}

/// Tests one outbound on the server's agent: `{success, delay, statusCode?, error?}`. The
/// host fetches a URL the caller names: audited.
pub(super) async fn test(
    call: Call,
    Path(key): Path<String>,
    JsonBody(req): JsonBody<TestRequest>,
) -> ApiResult<OutboundTestAnswer> {
    let ctl = &call.ctl;
    let audit = Audit::new("outbound.test", format!("server:{key}"))
        .with(json!({"protocol": req.outbound.get("protocol"), "url": req.url}));
    call.answer(audit, async {
        let server = resolve(ctl, &key).await?;
        let request =
            outbounds::test_request(ctl, req.outbound, req.all_outbounds, req.url.as_deref())
                .await?;
        Ok(outbounds::test(ctl, &server, &request).await?)
    })
    .await
}
