//! 3x-ui's outbound routes under `/panel/xray` and `/panel/api/xray`: `getOutboundsTraffic`,
//! `resetOutboundsTraffic` and `testOutbound`. Without `server_id` the traffic routes act on
//! the fleet (counters summed by tag, a reset on every server); `testOutbound` runs on the
//! server named, else the default server.

use std::sync::Arc;

use axum::extract::Query;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{de, pick_server, Body, Msg, ServerParam, XuiCall};
use crate::front::{reply_as, ApiError, Audit, Call};
use crate::model::outbounds;
use crate::model::servers::resolve;
use crate::store::ServerRow;
use crate::Controller;

/// 3x-ui's "every tag" in `resetOutboundsTraffic`.
const ALL_TAGS: &str = "-alltags-";

pub fn routes() -> Router<Arc<Controller>> {
    Router::new()
        .route(
            "/getOutboundsTraffic",
            get(outbounds_traffic).post(outbounds_traffic),
        )
        .route("/resetOutboundsTraffic", post(reset_outbounds_traffic))
        .route("/testOutbound", post(test_outbound))
}

/// The server `server_id` names, or none (the fleet).
async fn named_server(ctl: &Controller, q: &ServerParam) -> Result<Option<ServerRow>, ApiError> {
    match q.named() {
        Some(key) => Ok(Some(resolve(ctl, key).await?)),
        None => Ok(None),
    }
}

/// One row of 3x-ui's `outbound_traffics`.
#[derive(Serialize)]
struct TrafficRow {
    id: usize,
    tag: String,
    up: i64,
    down: i64,
    total: i64,
}

/// `[{id, tag, up, down, total}]`: that server's outbounds, or the fleet's summed by tag.
async fn outbounds_traffic(
    XuiCall(Call { ctl, .. }): XuiCall,
    Query(q): Query<ServerParam>,
) -> Json<Msg> {
    let result = async {
        let server = named_server(&ctl, &q).await?;
        let traffic = outbounds::traffic(&ctl, server.as_ref()).await?;
        Ok(traffic
            .fleet
            .into_iter()
            .enumerate()
            .map(|(i, o)| TrafficRow {
                id: i + 1,
                tag: o.tag,
                up: o.up,
                down: o.down,
                total: o.total,
            })
            .collect::<Vec<_>>())
    }
    .await;
    reply_as("", "Failed to get the outbounds' traffic", result)
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    tag: String,
}

/// Form `tag` (`-alltags-`: every tag) on the server named, else on every server.
async fn reset_outbounds_traffic(
    XuiCall(call): XuiCall,
    Query(q): Query<ServerParam>,
    Body(form): Body<ResetForm>,
) -> Json<Msg> {
    let ctl = &call.ctl;
    let tag = form.tag.trim();
    let tag = (tag != ALL_TAGS).then_some(tag);
    let target = q
        .named()
        .map_or("fleet".to_owned(), |s| format!("server:{s}"));
    let audit = Audit::new("outbounds.traffic.reset", target).with(json!({"tag": tag}));
    call.reply_as(
        audit,
        ("", "Failed to reset the outbounds' traffic"),
        async {
            let server = named_server(ctl, &q).await?;
            outbounds::reset_traffic(ctl, server.as_ref(), tag).await?;
            Ok(Value::Null)
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestForm {
    #[serde(default, deserialize_with = "de::json_text")]
    outbound: Value,
    #[serde(default, deserialize_with = "de::json_text")]
    all_outbounds: Value,
}

/// Form `outbound` (JSON) and optional `allOutbounds` (a JSON array): fetches
/// `xrayOutboundTestUrl` through the outbound in a temporary core on the server; answers
/// `{success, delay, statusCode?, error?}`.
async fn test_outbound(
    XuiCall(call): XuiCall,
    Query(q): Query<ServerParam>,
    Body(form): Body<TestForm>,
) -> Json<Msg> {
    let ctl = &call.ctl;
    let target = q
        .named()
        .map_or("default".to_owned(), |s| format!("server:{s}"));
    let audit = Audit::new("outbound.test", target)
        .with(json!({"protocol": form.outbound.get("protocol")}));
    call.reply_as(audit, ("", "Failed to test the outbound"), async {
        let server = pick_server(ctl, &q).await?;
        let request =
            outbounds::test_request(ctl, form.outbound, Some(form.all_outbounds), None).await?;
        Ok(outbounds::test(ctl, &server, &request).await?)
    })
    .await
}
